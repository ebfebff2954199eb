//! Cross-references in a normalised project: depends_on, networks, volumes,
//! secrets, configs and `service:` network modes must name something that
//! exists, and depends_on must not loop. Errors point at the referring key
//! in the (merged) tree.

use indexmap::IndexMap;

use crate::error::ComposeError;
use crate::model::{Project, VolumeType};
use crate::yaml::Node;

/// Where a key of a service was written (for error positions).
fn at<'n>(services: &'n IndexMap<String, Node>, service: &str, key: &str) -> Option<&'n Node> {
    let node = services.get(service)?;
    node.as_map().and_then(|m| m.get(key)).or(Some(node))
}

fn error(
    services: &IndexMap<String, Node>,
    service: &str,
    key: &str,
    message: String,
) -> ComposeError {
    let path = format!("services.{service}.{key}");
    match at(services, service, key) {
        Some(node) => ComposeError::node(node, &path, message),
        None => ComposeError::Invalid(format!("{path}: {message}")),
    }
}

pub fn references(
    project: &Project,
    services: &IndexMap<String, Node>,
) -> Result<(), ComposeError> {
    for (name, service) in &project.services {
        if service.container_name.is_some() && service.replicas() > 1 {
            return Err(error(
                services,
                name,
                "container_name",
                format!("can't set container_name and {name} as container name must be unique"),
            ));
        }
        if let Some(mode) = &service.network_mode {
            if let Some(other) = mode.strip_prefix("service:") {
                let known = project.services.contains_key(other)
                    || project.disabled_services.contains_key(other);
                if !known {
                    return Err(error(
                        services,
                        name,
                        "network_mode",
                        format!("service {name:?} refers to undefined service {other:?} in network_mode"),
                    ));
                }
            }
            if !service.networks.is_empty()
                && services
                    .get(name)
                    .and_then(|n| n.as_map())
                    .is_some_and(|m| m.contains_key("networks"))
            {
                return Err(error(
                    services,
                    name,
                    "network_mode",
                    "network_mode and networks cannot be combined".to_string(),
                ));
            }
        }
        for (dep, spec) in &service.depends_on {
            if project.services.contains_key(dep) {
                continue;
            }
            if project.disabled_services.contains_key(dep) {
                if spec.required {
                    return Err(error(
                        services,
                        name,
                        "depends_on",
                        format!(
                            "service {dep:?} was pulled in as a dependency of service {name:?} but is not enabled by the active profiles. You may fix this by adding a common profile to {dep:?} and {name:?}"
                        ),
                    ));
                }
                continue;
            }
            return Err(error(
                services,
                name,
                "depends_on",
                format!("service {name:?} depends on undefined service {dep:?}"),
            ));
        }
        for network in service.networks.keys() {
            if !project.networks.contains_key(network) {
                return Err(error(
                    services,
                    name,
                    "networks",
                    format!("service {name:?} refers to undefined network {network}"),
                ));
            }
        }
        for volume in &service.volumes {
            if volume.kind != VolumeType::Volume {
                continue;
            }
            if let Some(source) = &volume.source {
                if !project.volumes.contains_key(source) {
                    return Err(error(
                        services,
                        name,
                        "volumes",
                        format!("service {name:?} refers to undefined volume {source}"),
                    ));
                }
            }
        }
        for (kind, refs, defined) in [
            ("secret", &service.secrets, &project.secrets),
            ("config", &service.configs, &project.configs),
        ] {
            for reference in refs {
                if !defined.contains_key(&reference.source) {
                    return Err(error(
                        services,
                        name,
                        &format!("{kind}s"),
                        format!(
                            "service {name:?} refers to undefined {kind} {}",
                            reference.source
                        ),
                    ));
                }
            }
        }
    }
    cycles(project, services)
}

fn cycles(project: &Project, services: &IndexMap<String, Node>) -> Result<(), ComposeError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks: IndexMap<&str, Mark> = project
        .services
        .keys()
        .map(|k| (k.as_str(), Mark::New))
        .collect();
    fn visit<'p>(
        name: &'p str,
        project: &'p Project,
        marks: &mut IndexMap<&'p str, Mark>,
        path: &mut Vec<&'p str>,
    ) -> Option<Vec<String>> {
        match marks.get(name).copied() {
            Some(Mark::Done) | None => return None,
            Some(Mark::Active) => {
                let start = path.iter().position(|p| *p == name).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(name.to_string());
                return Some(cycle);
            }
            Some(Mark::New) => {}
        }
        marks.insert(name, Mark::Active);
        path.push(name);
        if let Some(service) = project.services.get(name) {
            for dep in service.depends_on.keys() {
                if let Some(cycle) = visit(dep, project, marks, path) {
                    return Some(cycle);
                }
            }
        }
        path.pop();
        marks.insert(name, Mark::Done);
        None
    }
    for name in project.services.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(name, project, &mut marks, &mut path) {
            let first = cycle.first().cloned().unwrap_or_default();
            return Err(error(
                services,
                &first,
                "depends_on",
                format!("dependency cycle detected: {}", cycle.join(" -> ")),
            ));
        }
    }
    Ok(())
}
