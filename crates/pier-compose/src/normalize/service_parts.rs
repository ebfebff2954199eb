//! The structured parts of a service: build, environment, networks,
//! depends_on, healthcheck, deploy, secrets/configs, ulimits, devices,
//! logging.

use indexmap::IndexMap;

use super::values::{
    boolean, bytes, child, duration, float, get, int, key_values, labels, map, opt_string, string,
    strings, uint, Result,
};
use super::Context;
use crate::error::ComposeError;
use crate::model::{
    Build, DependsCondition, DependsOn, Deploy, FileReference, Healthcheck, Logging,
    ResourceLimits, Resources, RestartPolicy, ServiceNetwork, Ulimit,
};
use crate::yaml::{Node, Value};

const BUILD_KEYS: &[&str] = &[
    "context",
    "dockerfile",
    "dockerfile_inline",
    "args",
    "target",
    "labels",
    "network",
    "extra_hosts",
    "tags",
    "no_cache",
    "pull",
    "shm_size",
    "platforms",
    "cache_from",
    "cache_to",
    "secrets",
    "ssh",
    "additional_contexts",
    "isolation",
    "privileged",
    "ulimits",
    "entitlements",
    "provenance",
    "sbom",
];

pub fn build(node: &Node, path: &str, ctx: &mut Context) -> Result<Build> {
    let mut build = Build::default();
    let entries = match &node.value {
        Value::Str(context) => {
            build.context = build_context(context, ctx);
            return Ok(build);
        }
        _ => map(node, path, BUILD_KEYS)?,
    };
    build.context = build_context(".", ctx);
    for (key, value) in entries {
        let path = &child(path, key);
        match key.as_str() {
            "context" => build.context = build_context(&string(value, path)?, ctx),
            "dockerfile" => build.dockerfile = opt_string(value, path)?,
            "dockerfile_inline" => build.dockerfile_inline = opt_string(value, path)?,
            "args" => build.args = key_values(value, path)?,
            "target" => build.target = opt_string(value, path)?,
            "labels" => build.labels = labels(value, path)?,
            "network" => build.network = opt_string(value, path)?,
            "extra_hosts" => build.extra_hosts = super::service::extra_hosts(value, path)?,
            "tags" => build.tags = strings(value, path)?,
            "no_cache" => build.no_cache = boolean(value, path)?,
            "pull" => build.pull = boolean(value, path)?,
            "shm_size" => build.shm_size = Some(bytes(value, path)?),
            "platforms" => build.platforms = strings(value, path)?,
            _ => {}
        }
    }
    // Build args without a value come from the environment, as compose does.
    for (key, value) in build.args.iter_mut() {
        if value.is_none() {
            *value = ctx.env.get(key).cloned();
        }
    }
    Ok(build)
}

fn build_context(context: &str, ctx: &Context) -> String {
    let remote = context.contains("://")
        || context.starts_with("git@")
        || context.starts_with("github.com/");
    if remote {
        context.to_string()
    } else {
        ctx.host_path(context).to_string_lossy().into_owned()
    }
}

/// `env_file` files in order, then `environment:` on top; entries without
/// a value take the project environment's, or stay `None`.
pub fn environment(
    entries: &IndexMap<String, Node>,
    path: &str,
    ctx: &mut Context,
) -> Result<IndexMap<String, Option<String>>> {
    let mut env: IndexMap<String, Option<String>> = IndexMap::new();
    if let Some(node) = get(entries, "env_file") {
        let path = &child(path, "env_file");
        let items = match &node.value {
            Value::Seq(items) => items.clone(),
            Value::Null => Vec::new(),
            _ => vec![node.clone()],
        };
        for item in &items {
            let (file, required, raw) = match &item.value {
                Value::Map(_) => {
                    let fields = map(item, path, &["path", "required", "format"])?;
                    let file = fields.get("path").ok_or_else(|| {
                        ComposeError::node(item, path, "env_file entry needs a path")
                    })?;
                    let required = match fields.get("required") {
                        Some(r) => boolean(r, &child(path, "required"))?,
                        None => true,
                    };
                    let raw = match fields.get("format") {
                        Some(f) => string(f, &child(path, "format"))? == "raw",
                        None => false,
                    };
                    (string(file, path)?, required, raw)
                }
                _ => (string(item, path)?, true, false),
            };
            let absolute = ctx.host_path(&file);
            let text = match std::fs::read_to_string(&absolute) {
                Ok(text) => text,
                Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(ComposeError::node(
                        item,
                        path,
                        format!("env file {} not found: {e}", absolute.display()),
                    ))
                }
            };
            let values = if raw {
                raw_env_file(&text)
            } else {
                crate::dotenv::parse(&text, &absolute.display().to_string(), ctx.env)
                    .map_err(|e| ComposeError::node(item, path, e))?
            };
            for (key, value) in values {
                let value = value.or_else(|| ctx.env.get(&key).cloned());
                if value.is_some() {
                    env.insert(key, value);
                }
            }
        }
    }
    if let Some(node) = get(entries, "environment") {
        for (key, value) in key_values(node, &child(path, "environment"))? {
            let value = value.or_else(|| ctx.env.get(&key).cloned());
            env.insert(key, value);
        }
    }
    Ok(env)
}

/// `format: raw`: `KEY=VALUE` lines taken literally (no quotes, no
/// interpolation, no comments after values).
fn raw_env_file(text: &str) -> IndexMap<String, Option<String>> {
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|line| match line.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), Some(v.to_string())),
            None => (line.trim().to_string(), None),
        })
        .collect()
}

pub fn networks(node: &Node, path: &str) -> Result<IndexMap<String, ServiceNetwork>> {
    let mut out = IndexMap::new();
    match &node.value {
        Value::Null => {}
        Value::Seq(items) => {
            for item in items {
                out.insert(string(item, path)?, ServiceNetwork::default());
            }
        }
        Value::Map(entries) => {
            for (name, value) in entries {
                let path = &child(path, name);
                let mut network = ServiceNetwork::default();
                if !matches!(value.value, Value::Null) {
                    let allowed = [
                        "aliases",
                        "ipv4_address",
                        "ipv6_address",
                        "priority",
                        "link_local_ips",
                        "mac_address",
                        "driver_opts",
                        "gw_priority",
                        "interface_name",
                    ];
                    for (key, field) in map(value, path, &allowed)? {
                        let path = &child(path, key);
                        match key.as_str() {
                            "aliases" => network.aliases = strings(field, path)?,
                            "ipv4_address" => network.ipv4_address = opt_string(field, path)?,
                            "ipv6_address" => network.ipv6_address = opt_string(field, path)?,
                            "priority" => network.priority = int(field, path)? as i32,
                            _ => {}
                        }
                    }
                }
                out.insert(name.clone(), network);
            }
        }
        _ => return Err(ComposeError::node(node, path, "must be a list or mapping")),
    }
    Ok(out)
}

pub fn depends_on(node: &Node, path: &str) -> Result<IndexMap<String, DependsOn>> {
    let started = DependsOn {
        condition: DependsCondition::ServiceStarted,
        restart: false,
        required: true,
    };
    let mut out = IndexMap::new();
    match &node.value {
        Value::Null => {}
        Value::Seq(items) => {
            for item in items {
                out.insert(string(item, path)?, started.clone());
            }
        }
        Value::Map(entries) => {
            for (name, value) in entries {
                let path = &child(path, name);
                let mut dep = started.clone();
                if !matches!(value.value, Value::Null) {
                    for (key, field) in map(value, path, &["condition", "restart", "required"])? {
                        let path = &child(path, key);
                        match key.as_str() {
                            "condition" => {
                                dep.condition = match string(field, path)?.as_str() {
                                    "service_started" => DependsCondition::ServiceStarted,
                                    "service_healthy" => DependsCondition::ServiceHealthy,
                                    "service_completed_successfully" => {
                                        DependsCondition::ServiceCompletedSuccessfully
                                    }
                                    other => {
                                        return Err(ComposeError::node(
                                            field,
                                            path,
                                            format!("invalid condition {other:?}"),
                                        ))
                                    }
                                }
                            }
                            "restart" => dep.restart = boolean(field, path)?,
                            "required" => dep.required = boolean(field, path)?,
                            _ => {}
                        }
                    }
                }
                out.insert(name.clone(), dep);
            }
        }
        _ => return Err(ComposeError::node(node, path, "must be a list or mapping")),
    }
    Ok(out)
}

pub fn healthcheck(node: &Node, path: &str) -> Result<Healthcheck> {
    let allowed = [
        "test",
        "interval",
        "timeout",
        "retries",
        "start_period",
        "start_interval",
        "disable",
    ];
    let mut check = Healthcheck::default();
    for (key, value) in map(node, path, &allowed)? {
        let path = &child(path, key);
        match key.as_str() {
            "test" => {
                check.test = match &value.value {
                    Value::Seq(_) => strings(value, path)?,
                    Value::Null => Vec::new(),
                    _ => vec!["CMD-SHELL".to_string(), string(value, path)?],
                };
                if let Some(first) = check.test.first() {
                    if !matches!(first.as_str(), "CMD" | "CMD-SHELL" | "NONE") {
                        return Err(ComposeError::node(
                            value,
                            path,
                            format!("test must start with CMD, CMD-SHELL or NONE, not {first:?}"),
                        ));
                    }
                }
            }
            "interval" => check.interval = Some(duration(value, path)?),
            "timeout" => check.timeout = Some(duration(value, path)?),
            "retries" => check.retries = Some(uint(value, path)?),
            "start_period" => check.start_period = Some(duration(value, path)?),
            "start_interval" => check.start_interval = Some(duration(value, path)?),
            "disable" => check.disable = boolean(value, path)?,
            _ => {}
        }
    }
    Ok(check)
}

pub fn deploy(node: &Node, path: &str) -> Result<Deploy> {
    let allowed = [
        "mode",
        "replicas",
        "labels",
        "resources",
        "restart_policy",
        "placement",
        "update_config",
        "rollback_config",
        "endpoint_mode",
    ];
    let mut deploy = Deploy::default();
    for (key, value) in map(node, path, &allowed)? {
        let path = &child(path, key);
        match key.as_str() {
            "replicas" => deploy.replicas = Some(uint(value, path)?),
            "labels" => deploy.labels = labels(value, path)?,
            "resources" => {
                let mut resources = Resources::default();
                for (key, value) in map(value, path, &["limits", "reservations"])? {
                    let limits = Some(resource_limits(value, &child(path, key))?);
                    if key == "limits" {
                        resources.limits = limits;
                    } else {
                        resources.reservations = limits;
                    }
                }
                deploy.resources = Some(resources);
            }
            "restart_policy" => {
                let fields = map(
                    value,
                    path,
                    &["condition", "delay", "max_attempts", "window"],
                )?;
                let mut policy = RestartPolicy {
                    condition: "any".to_string(),
                    max_attempts: None,
                };
                if let Some(c) = fields.get("condition") {
                    policy.condition = string(c, &child(path, "condition"))?;
                }
                if let Some(m) = fields.get("max_attempts") {
                    policy.max_attempts = Some(uint(m, &child(path, "max_attempts"))?);
                }
                deploy.restart_policy = Some(policy);
            }
            _ => {}
        }
    }
    Ok(deploy)
}

fn resource_limits(node: &Node, path: &str) -> Result<ResourceLimits> {
    let allowed = ["cpus", "memory", "pids", "devices", "generic_resources"];
    let mut limits = ResourceLimits::default();
    for (key, value) in map(node, path, &allowed)? {
        let path = &child(path, key);
        match key.as_str() {
            "cpus" => limits.cpus = Some(float(value, path)?),
            "memory" => limits.memory = Some(bytes(value, path)?),
            "pids" => limits.pids = Some(int(value, path)?),
            _ => {}
        }
    }
    Ok(limits)
}

/// Service `secrets:` / `configs:`: names, or `{source, target, uid, gid,
/// mode}`.
pub fn file_references(node: &Node, path: &str) -> Result<Vec<FileReference>> {
    let Value::Seq(items) = &node.value else {
        if matches!(node.value, Value::Null) {
            return Ok(Vec::new());
        }
        return Err(ComposeError::node(node, path, "must be a list"));
    };
    let mut out = Vec::new();
    for item in items {
        let mut reference = FileReference::default();
        match &item.value {
            Value::Map(_) => {
                let fields = map(item, path, &["source", "target", "uid", "gid", "mode"])?;
                for (key, value) in fields {
                    let path = &child(path, key);
                    match key.as_str() {
                        "source" => reference.source = string(value, path)?,
                        "target" => reference.target = opt_string(value, path)?,
                        "uid" => reference.uid = opt_string(value, path)?,
                        "gid" => reference.gid = opt_string(value, path)?,
                        "mode" => reference.mode = Some(file_mode(value, path)?),
                        _ => {}
                    }
                }
                if reference.source.is_empty() {
                    return Err(ComposeError::node(item, path, "source is required"));
                }
            }
            _ => reference.source = string(item, path)?,
        }
        out.push(reference);
    }
    Ok(out)
}

/// A file mode: an integer (`0440` is octal in YAML as compose reads it)
/// or an octal string.
pub fn file_mode(node: &Node, path: &str) -> Result<u32> {
    match &node.value {
        Value::Str(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8)
            .map_err(|_| ComposeError::node(node, path, format!("invalid file mode {s:?}"))),
        _ => uint(node, path),
    }
}

pub fn ulimits(node: &Node, path: &str) -> Result<IndexMap<String, Ulimit>> {
    let mut out = IndexMap::new();
    for (name, value) in map(node, path, &[])? {
        let path = &child(path, name);
        let limit = match &value.value {
            Value::Map(_) => {
                let fields = map(value, path, &["soft", "hard"])?;
                let get_limit = |key: &str| -> Result<i64> {
                    match fields.get(key) {
                        Some(v) => int(v, &child(path, key)),
                        None => Err(ComposeError::node(
                            value,
                            path,
                            format!("{key} is required"),
                        )),
                    }
                };
                Ulimit {
                    soft: get_limit("soft")?,
                    hard: get_limit("hard")?,
                }
            }
            _ => {
                let n = int(value, path)?;
                Ulimit { soft: n, hard: n }
            }
        };
        out.insert(name.clone(), limit);
    }
    Ok(out)
}

/// Devices as `--device` strings; the long form is joined to that.
pub fn devices(node: &Node, path: &str) -> Result<Vec<String>> {
    let Value::Seq(items) = &node.value else {
        return strings(node, path);
    };
    let mut out = Vec::new();
    for item in items {
        match &item.value {
            Value::Map(_) => {
                let fields = map(item, path, &["source", "target", "permissions"])?;
                let field = |key: &str| -> Result<Option<String>> {
                    fields
                        .get(key)
                        .map(|v| string(v, &child(path, key)))
                        .transpose()
                };
                let source = field("source")?
                    .ok_or_else(|| ComposeError::node(item, path, "source is required"))?;
                let mut text = source.clone();
                let target = field("target")?;
                let permissions = field("permissions")?;
                if target.is_some() || permissions.is_some() {
                    text.push(':');
                    text.push_str(target.as_deref().unwrap_or(&source));
                }
                if let Some(permissions) = permissions {
                    text.push(':');
                    text.push_str(&permissions);
                }
                out.push(text);
            }
            _ => out.push(string(item, path)?),
        }
    }
    Ok(out)
}

pub fn logging(node: &Node, path: &str) -> Result<Logging> {
    let mut logging = Logging::default();
    for (key, value) in map(node, path, &["driver", "options"])? {
        let path = &child(path, key);
        match key.as_str() {
            "driver" => logging.driver = opt_string(value, path)?,
            "options" => logging.options = labels(value, path)?,
            _ => {}
        }
    }
    Ok(logging)
}
