//! The merged tree to a [`Project`]: top-level sections, services, profiles,
//! the default network, then cross-reference checks.

use std::path::PathBuf;

use indexmap::IndexMap;

use crate::error::ComposeError;
use crate::model::{DependsCondition, DependsOn, Network, Project, ServiceNetwork};
use crate::normalize::values::{child, get, map};
use crate::normalize::{service, top_level, Context};
use crate::yaml::{Node, Value};

pub struct Assembly<'a> {
    pub name: String,
    pub config_files: Vec<PathBuf>,
    pub profiles: &'a [String],
}

pub fn build(tree: &Node, assembly: Assembly, ctx: &mut Context) -> Result<Project, ComposeError> {
    let empty = IndexMap::new();
    let top = match tree.value {
        Value::Null => &empty,
        _ => map(tree, "", top_level::TOP_LEVEL_KEYS)?,
    };
    let project_name = assembly.name;
    let mut project = Project {
        name: project_name.clone(),
        working_dir: ctx.project_dir.clone(),
        config_files: assembly.config_files,
        ..Project::default()
    };
    project.networks = top_level::networks(get(top, "networks"), &project_name)?;
    project.volumes = top_level::volumes(get(top, "volumes"), &project_name)?;
    project.secrets = top_level::file_objects(get(top, "secrets"), "secrets", &project_name, ctx)?;
    project.configs = top_level::file_objects(get(top, "configs"), "configs", &project_name, ctx)?;

    let services_tree = match get(top, "services") {
        Some(node) if !matches!(node.value, Value::Null) => map(node, "services", &[])?.clone(),
        _ => IndexMap::new(),
    };
    let all_profiles = assembly.profiles.iter().any(|p| p == "*");
    for (name, node) in &services_tree {
        if !valid_service_name(name) {
            return Err(ComposeError::node(
                node,
                &child("services", name),
                "service names must be made of [a-zA-Z0-9._-] and start with a letter or digit",
            ));
        }
        let mut service = service::normalize(name, node, ctx)?;
        implicit_dependencies(&mut service);
        let enabled = service.profiles.is_empty()
            || all_profiles
            || service
                .profiles
                .iter()
                .any(|p| assembly.profiles.contains(p));
        // Disabled services get it too: `run` of one by name must find it.
        if service.network_mode.is_none() && service.networks.is_empty() {
            service
                .networks
                .insert("default".to_string(), ServiceNetwork::default());
        }
        if enabled {
            project.services.insert(name.clone(), service);
        } else {
            project.disabled_services.insert(name.clone(), service);
        }
    }
    let uses_default = project
        .services
        .values()
        .chain(project.disabled_services.values())
        .any(|s| s.networks.contains_key("default"));
    if uses_default && !project.networks.contains_key("default") {
        project.networks.insert(
            "default".to_string(),
            Network {
                name: format!("{project_name}_default"),
                ..Network::default()
            },
        );
    }
    crate::validate::references(&project, &services_tree)?;
    Ok(project)
}

fn valid_service_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// `links:` and `network_mode: service:x` need the other service running
/// first; compose adds them to depends_on (restarting along with it).
fn implicit_dependencies(service: &mut crate::model::Service) {
    let mut needed: Vec<String> = service
        .links
        .iter()
        .map(|link| link.split(':').next().unwrap_or(link).to_string())
        .collect();
    if let Some(other) = service
        .network_mode
        .as_deref()
        .and_then(|m| m.strip_prefix("service:"))
    {
        needed.push(other.to_string());
    }
    for name in needed {
        service.depends_on.entry(name).or_insert(DependsOn {
            condition: DependsCondition::ServiceStarted,
            restart: true,
            required: true,
        });
    }
}
