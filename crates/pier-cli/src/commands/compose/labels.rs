//! The `com.docker.compose.*` labels docker compose puts on the objects it
//! creates, which are how later commands find them again, and the config
//! hash that tells `up` whether a container still matches its service.

use pier_compose::{Project, Service};
use sha2::{Digest, Sha256};

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const VERSION: &str = "com.docker.compose.version";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
pub const IMAGE: &str = "com.docker.compose.image";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";

/// The docker compose release whose behaviour Pier follows; printed by
/// `compose version` and stored in the version label.
pub const COMPOSE_VERSION: &str = "2.29.7";

/// sha256 of the service's normalised config. Replica counts are left out
/// (scaling must not recreate), as docker compose does; everything that
/// reaches the container (including the resolved secret and config sources)
/// is in.
pub fn config_hash(project: &Project, service: &Service) -> String {
    let mut s = service.clone();
    s.scale = None;
    if let Some(d) = s.deploy.as_mut() {
        d.replicas = None;
    }
    if s.deploy
        .as_ref()
        .is_some_and(|d| *d == pier_compose::Deploy::default())
    {
        s.deploy = None;
    }
    let mut v = serde_json::to_value(&s).unwrap_or_default();
    let mut extra = serde_json::Map::new();
    for r in service.secrets.iter() {
        if let Some(o) = project.secrets.get(&r.source) {
            extra.insert(
                format!("secret:{}", r.source),
                serde_json::to_value(o).unwrap_or_default(),
            );
        }
    }
    for r in service.configs.iter() {
        if let Some(o) = project.configs.get(&r.source) {
            extra.insert(
                format!("config:{}", r.source),
                serde_json::to_value(o).unwrap_or_default(),
            );
        }
    }
    for (key, _) in service.networks.iter() {
        if let Some(n) = project.networks.get(key) {
            extra.insert(
                format!("network:{key}"),
                serde_json::Value::String(n.name.clone()),
            );
        }
    }
    if !extra.is_empty() {
        if let Some(o) = v.as_object_mut() {
            o.insert("x-pier-resolved".into(), serde_json::Value::Object(extra));
        }
    }
    let bytes = serde_json::to_vec(&v).unwrap_or_default();
    hex(&Sha256::digest(&bytes))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `db:service_healthy:false,cache:service_started:true`, as compose writes it.
pub fn depends_on(service: &Service) -> String {
    service
        .depends_on
        .iter()
        .map(|(name, d)| {
            let cond = match d.condition {
                pier_compose::DependsCondition::ServiceStarted => "service_started",
                pier_compose::DependsCondition::ServiceHealthy => "service_healthy",
                pier_compose::DependsCondition::ServiceCompletedSuccessfully => {
                    "service_completed_successfully"
                }
            };
            format!("{name}:{cond}:{}", d.restart)
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `project-service-N`, or the service's `container_name`.
pub fn container_name(project: &Project, service: &Service, number: u32) -> String {
    match &service.container_name {
        Some(n) => n.clone(),
        None => format!("{}-{}-{number}", project.name, service.name),
    }
}

/// The image a service runs: `image:`, or `project-service` for a build.
pub fn image_name(project: &Project, service: &Service) -> String {
    match &service.image {
        Some(i) => i.clone(),
        None => format!("{}-{}", project.name, service.name),
    }
}

/// A `project=NAME` label filter for the list endpoints.
pub fn project_filter(project: &str, extra: &[String]) -> String {
    let mut labels = vec![format!("{PROJECT}={project}")];
    labels.extend(extra.iter().cloned());
    serde_json::json!({ "label": labels }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pier_compose::{DependsCondition, DependsOn, Deploy};

    fn project() -> Project {
        Project {
            name: "demo".into(),
            ..Project::default()
        }
    }

    #[test]
    fn hash_ignores_replicas_but_not_config() {
        let p = project();
        let mut s = Service {
            name: "web".into(),
            image: Some("busybox".into()),
            ..Service::default()
        };
        let h1 = config_hash(&p, &s);
        s.deploy = Some(Deploy {
            replicas: Some(3),
            ..Deploy::default()
        });
        s.scale = Some(2);
        assert_eq!(config_hash(&p, &s), h1);
        s.command = Some(vec!["true".into()]);
        assert_ne!(config_hash(&p, &s), h1);
        assert_eq!(h1.len(), 64);
    }

    #[test]
    fn names_and_depends_on_label() {
        let p = project();
        let mut s = Service {
            name: "web".into(),
            ..Service::default()
        };
        assert_eq!(container_name(&p, &s, 2), "demo-web-2");
        assert_eq!(image_name(&p, &s), "demo-web");
        s.depends_on.insert(
            "db".into(),
            DependsOn {
                condition: DependsCondition::ServiceHealthy,
                restart: true,
                required: true,
            },
        );
        assert_eq!(depends_on(&s), "db:service_healthy:true");
        s.container_name = Some("custom".into());
        assert_eq!(container_name(&p, &s, 1), "custom");
    }
}
