//! Top-level `networks`, `volumes`, `secrets` and `configs`, with the names
//! the engine uses: `<project>_<key>` unless `name:` or external.

use indexmap::IndexMap;

use super::values::{boolean, child, labels, map, opt_string, string, Result};
use super::Context;
use crate::error::ComposeError;
use crate::model::{FileObject, Ipam, IpamPool, Network, Volume};
use crate::yaml::{Node, Value};

/// `external: true`, or the legacy `external: {name: x}`. Returns the
/// external flag and a legacy name.
fn external(node: &Node, path: &str) -> Result<(bool, Option<String>)> {
    match &node.value {
        Value::Map(_) => {
            let fields = map(node, path, &["name"])?;
            let name = fields
                .get("name")
                .map(|n| string(n, &child(path, "name")))
                .transpose()?;
            Ok((true, name))
        }
        _ => Ok((boolean(node, path)?, None)),
    }
}

fn engine_name(project: &str, key: &str, name: Option<String>, external: bool) -> String {
    match name {
        Some(name) => name,
        None if external => key.to_string(),
        None => format!("{project}_{key}"),
    }
}

pub fn networks(node: Option<&Node>, project: &str) -> Result<IndexMap<String, Network>> {
    let mut out = IndexMap::new();
    let Some(node) = node.filter(|n| !matches!(n.value, Value::Null)) else {
        return Ok(out);
    };
    let allowed = [
        "name",
        "driver",
        "driver_opts",
        "external",
        "internal",
        "attachable",
        "enable_ipv6",
        "enable_ipv4",
        "ipam",
        "labels",
    ];
    for (key, value) in map(node, "networks", &[])? {
        let path = child("networks", key);
        let mut network = Network::default();
        let mut name = None;
        if !matches!(value.value, Value::Null) {
            for (field, v) in map(value, &path, &allowed)? {
                let path = &child(&path, field);
                match field.as_str() {
                    "name" => name = opt_string(v, path)?,
                    "driver" => network.driver = opt_string(v, path)?,
                    "driver_opts" => network.driver_opts = labels(v, path)?,
                    "external" => {
                        let (ext, legacy) = external(v, path)?;
                        network.external = ext;
                        name = name.or(legacy);
                    }
                    "internal" => network.internal = boolean(v, path)?,
                    "attachable" => network.attachable = boolean(v, path)?,
                    "enable_ipv6" => network.enable_ipv6 = boolean(v, path)?,
                    "ipam" => network.ipam = Some(ipam(v, path)?),
                    "labels" => network.labels = labels(v, path)?,
                    _ => {}
                }
            }
        }
        network.name = engine_name(project, key, name, network.external);
        out.insert(key.clone(), network);
    }
    Ok(out)
}

fn ipam(node: &Node, path: &str) -> Result<Ipam> {
    let mut ipam = Ipam::default();
    for (key, value) in map(node, path, &["driver", "config", "options"])? {
        let path = &child(path, key);
        match key.as_str() {
            "driver" => ipam.driver = opt_string(value, path)?,
            "options" => ipam.options = labels(value, path)?,
            "config" => {
                let Value::Seq(items) = &value.value else {
                    return Err(ComposeError::node(value, path, "must be a list"));
                };
                for item in items {
                    let allowed = ["subnet", "ip_range", "gateway", "aux_addresses"];
                    let mut pool = IpamPool::default();
                    for (key, v) in map(item, path, &allowed)? {
                        let path = &child(path, key);
                        match key.as_str() {
                            "subnet" => pool.subnet = opt_string(v, path)?,
                            "ip_range" => pool.ip_range = opt_string(v, path)?,
                            "gateway" => pool.gateway = opt_string(v, path)?,
                            "aux_addresses" => pool.aux_addresses = labels(v, path)?,
                            _ => {}
                        }
                    }
                    ipam.config.push(pool);
                }
            }
            _ => {}
        }
    }
    Ok(ipam)
}

pub fn volumes(node: Option<&Node>, project: &str) -> Result<IndexMap<String, Volume>> {
    let mut out = IndexMap::new();
    let Some(node) = node.filter(|n| !matches!(n.value, Value::Null)) else {
        return Ok(out);
    };
    let allowed = ["name", "driver", "driver_opts", "external", "labels"];
    for (key, value) in map(node, "volumes", &[])? {
        let path = child("volumes", key);
        let mut volume = Volume::default();
        let mut name = None;
        if !matches!(value.value, Value::Null) {
            for (field, v) in map(value, &path, &allowed)? {
                let path = &child(&path, field);
                match field.as_str() {
                    "name" => name = opt_string(v, path)?,
                    "driver" => volume.driver = opt_string(v, path)?,
                    "driver_opts" => volume.driver_opts = labels(v, path)?,
                    "external" => {
                        let (ext, legacy) = external(v, path)?;
                        volume.external = ext;
                        name = name.or(legacy);
                    }
                    "labels" => volume.labels = labels(v, path)?,
                    _ => {}
                }
            }
        }
        volume.name = engine_name(project, key, name, volume.external);
        out.insert(key.clone(), volume);
    }
    Ok(out)
}

/// Top-level `secrets` (`section` = "secrets") or `configs`.
pub fn file_objects(
    node: Option<&Node>,
    section: &str,
    project: &str,
    ctx: &mut Context,
) -> Result<IndexMap<String, FileObject>> {
    let mut out = IndexMap::new();
    let Some(node) = node.filter(|n| !matches!(n.value, Value::Null)) else {
        return Ok(out);
    };
    let allowed = [
        "name",
        "file",
        "environment",
        "content",
        "external",
        "labels",
        "driver",
        "driver_opts",
        "template_driver",
    ];
    for (key, value) in map(node, section, &[])? {
        let path = child(section, key);
        let mut object = FileObject::default();
        let mut name = None;
        for (field, v) in map(value, &path, &allowed)? {
            let path = &child(&path, field);
            match field.as_str() {
                "name" => name = opt_string(v, path)?,
                "file" => object.file = Some(ctx.host_path(&string(v, path)?)),
                "environment" => {
                    let variable = string(v, path)?;
                    object.content = ctx.env.get(&variable).cloned();
                    if object.content.is_none() {
                        ctx.warnings.push(format!(
                            "{}:{}: {path}: variable {variable:?} is not set",
                            v.file, v.line
                        ));
                    }
                    object.environment = Some(variable);
                }
                "content" => object.content = Some(string(v, path)?),
                "external" => {
                    let (ext, legacy) = external(v, path)?;
                    object.external = ext;
                    name = name.or(legacy);
                }
                _ => {}
            }
        }
        let sources = [
            object.file.is_some(),
            object.environment.is_some(),
            fields_has(value, "content"),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if !object.external && sources != 1 {
            return Err(ComposeError::node(
                value,
                &path,
                "exactly one of file, environment or content is required unless external",
            ));
        }
        object.name = engine_name(project, key, name, object.external);
        out.insert(key.clone(), object);
    }
    Ok(out)
}

fn fields_has(node: &Node, key: &str) -> bool {
    node.as_map().is_some_and(|m| m.contains_key(key))
}

/// Top-level keys compose accepts.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "version", "name", "services", "networks", "volumes", "secrets", "configs", "include", "models",
];
