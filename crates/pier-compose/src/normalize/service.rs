//! One service's mapping to a [`Service`].

use indexmap::IndexMap;

use super::values::{
    boolean, bytes, child, duration, float, int, labels, map, opt_string, string, strings, uint,
    Result,
};
use super::{ports, service_parts as parts, volumes, Context};
use crate::error::ComposeError;
use crate::model::Service;
use crate::yaml::{Node, Value};

/// Keys the model holds.
const SUPPORTED: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "expose",
    "volumes",
    "tmpfs",
    "networks",
    "network_mode",
    "depends_on",
    "healthcheck",
    "restart",
    "deploy",
    "scale",
    "secrets",
    "configs",
    "labels",
    "container_name",
    "user",
    "working_dir",
    "hostname",
    "domainname",
    "read_only",
    "init",
    "privileged",
    "tty",
    "stdin_open",
    "cap_add",
    "cap_drop",
    "security_opt",
    "ulimits",
    "profiles",
    "stop_grace_period",
    "stop_signal",
    "extra_hosts",
    "dns",
    "dns_search",
    "sysctls",
    "devices",
    "links",
    "group_add",
    "pull_policy",
    "platform",
    "shm_size",
    "mem_limit",
    "memswap_limit",
    "mem_reservation",
    "cpus",
    "cpu_shares",
    "cpuset",
    "pids_limit",
    "logging",
    "mac_address",
    "extends",
];

/// Valid compose keys Pier does not act on: accepted with a warning.
const IGNORED: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "cgroup",
    "cgroup_parent",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "credential_spec",
    "develop",
    "device_cgroup_rules",
    "dns_opt",
    "external_links",
    "gpus",
    "ipc",
    "isolation",
    "label_file",
    "mem_swappiness",
    "models",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "post_start",
    "pre_stop",
    "provider",
    "runtime",
    "storage_opt",
    "userns_mode",
    "uts",
    "volumes_from",
    "use_api_socket",
    "lifecycle",
];

pub fn normalize(name: &str, node: &Node, ctx: &mut Context) -> Result<Service> {
    let path = format!("services.{name}");
    let allowed: Vec<&str> = SUPPORTED.iter().chain(IGNORED).copied().collect();
    let entries = match node.value {
        // `web:` with nothing under it: compose requires image or build.
        Value::Null => &IndexMap::new(),
        _ => map(node, &path, &allowed)?,
    };
    let mut service = Service {
        name: name.to_string(),
        ..Service::default()
    };
    for (key, value) in entries {
        if value.tag == Some(crate::yaml::MergeTag::Reset) || key.starts_with("x-") {
            continue;
        }
        if IGNORED.contains(&key.as_str()) {
            ctx.warnings.push(format!(
                "{}:{}: {}: not supported by pier, ignored",
                value.file,
                value.line,
                child(&path, key)
            ));
            continue;
        }
        set_field(&mut service, key, value, &child(&path, key), ctx)?;
    }
    if service.image.is_none() && service.build.is_none() {
        return Err(ComposeError::node(
            node,
            &path,
            format!("service {name:?} has neither an image nor a build context specified"),
        ));
    }
    service.environment = parts::environment(entries, &path, ctx)?;
    Ok(service)
}

fn set_field(
    service: &mut Service,
    key: &str,
    value: &Node,
    path: &str,
    ctx: &mut Context,
) -> Result<()> {
    let null = matches!(value.value, Value::Null);
    match key {
        "image" => service.image = opt_string(value, path)?,
        "build" => service.build = Some(parts::build(value, path, ctx)?),
        "command" => service.command = command(value, path)?,
        "entrypoint" => service.entrypoint = command(value, path)?,
        // Read together with env_file once all keys are seen.
        "environment" | "env_file" | "extends" => {}
        "ports" => service.ports = ports::ports(value, path)?,
        "expose" => service.expose = ports::expose(value, path)?,
        "volumes" => service.volumes = volumes::service_volumes(value, path, ctx)?,
        "tmpfs" => service.tmpfs = strings(value, path)?,
        "networks" => service.networks = parts::networks(value, path)?,
        "network_mode" => service.network_mode = opt_string(value, path)?,
        "depends_on" => service.depends_on = parts::depends_on(value, path)?,
        "healthcheck" => service.healthcheck = Some(parts::healthcheck(value, path)?),
        "restart" => service.restart = restart(value, path)?,
        "deploy" => service.deploy = Some(parts::deploy(value, path)?),
        "scale" => service.scale = Some(uint(value, path)?),
        "secrets" => service.secrets = parts::file_references(value, path)?,
        "configs" => service.configs = parts::file_references(value, path)?,
        "labels" => service.labels = labels(value, path)?,
        "container_name" => service.container_name = opt_string(value, path)?,
        "user" => service.user = opt_string(value, path)?,
        "working_dir" => service.working_dir = opt_string(value, path)?,
        "hostname" => service.hostname = opt_string(value, path)?,
        "domainname" => service.domainname = opt_string(value, path)?,
        "read_only" => service.read_only = !null && boolean(value, path)?,
        "init" => {
            service.init = if null {
                None
            } else {
                Some(boolean(value, path)?)
            }
        }
        "privileged" => service.privileged = !null && boolean(value, path)?,
        "tty" => service.tty = !null && boolean(value, path)?,
        "stdin_open" => service.stdin_open = !null && boolean(value, path)?,
        "cap_add" => service.cap_add = strings(value, path)?,
        "cap_drop" => service.cap_drop = strings(value, path)?,
        "security_opt" => service.security_opt = strings(value, path)?,
        "ulimits" => service.ulimits = parts::ulimits(value, path)?,
        "profiles" => service.profiles = strings(value, path)?,
        "stop_grace_period" => service.stop_grace_period = Some(duration(value, path)?),
        "stop_signal" => service.stop_signal = opt_string(value, path)?,
        "extra_hosts" => service.extra_hosts = extra_hosts(value, path)?,
        "dns" => service.dns = strings(value, path)?,
        "dns_search" => service.dns_search = strings(value, path)?,
        "sysctls" => service.sysctls = labels(value, path)?,
        "devices" => service.devices = parts::devices(value, path)?,
        "links" => service.links = strings(value, path)?,
        "group_add" => service.group_add = strings(value, path)?,
        "pull_policy" => service.pull_policy = pull_policy(value, path)?,
        "platform" => service.platform = opt_string(value, path)?,
        "shm_size" => service.shm_size = Some(bytes(value, path)?),
        "mem_limit" => service.mem_limit = Some(bytes(value, path)?),
        "memswap_limit" => {
            service.memswap_limit = Some(match int(value, path) {
                Ok(n) => n,
                Err(_) => bytes(value, path)? as i64,
            })
        }
        "mem_reservation" => service.mem_reservation = Some(bytes(value, path)?),
        "cpus" => service.cpus = Some(float(value, path)?),
        "cpu_shares" => service.cpu_shares = Some(int(value, path)?),
        "cpuset" => service.cpuset = opt_string(value, path)?,
        "pids_limit" => service.pids_limit = Some(int(value, path)?),
        "logging" => service.logging = Some(parts::logging(value, path)?),
        "mac_address" => service.mac_address = opt_string(value, path)?,
        _ => {}
    }
    Ok(())
}

/// A string is split as a shell would; a list is taken as is; `""`/`[]`
/// is an explicit empty command.
pub fn command(node: &Node, path: &str) -> Result<Option<Vec<String>>> {
    match &node.value {
        Value::Null => Ok(None),
        Value::Seq(_) => Ok(Some(strings(node, path)?)),
        _ => {
            let text = string(node, path)?;
            shlex::split(&text).map(Some).ok_or_else(|| {
                ComposeError::node(node, path, format!("invalid command line {text:?}"))
            })
        }
    }
}

fn restart(node: &Node, path: &str) -> Result<Option<String>> {
    let Some(text) = opt_string(node, path)? else {
        return Ok(None);
    };
    let valid = match text.split_once(':') {
        Some(("on-failure", count)) => count.parse::<u32>().is_ok(),
        Some(_) => false,
        None => matches!(
            text.as_str(),
            "no" | "always" | "on-failure" | "unless-stopped"
        ),
    };
    if !valid {
        return Err(ComposeError::node(
            node,
            path,
            format!("invalid restart policy {text:?}"),
        ));
    }
    Ok(Some(text))
}

fn pull_policy(node: &Node, path: &str) -> Result<Option<String>> {
    let Some(text) = opt_string(node, path)? else {
        return Ok(None);
    };
    let normal = match text.as_str() {
        "always" | "never" | "missing" | "build" => text,
        "if_not_present" => "missing".to_string(),
        daily if daily == "daily" || daily == "weekly" || daily.starts_with("every_") => {
            daily.to_string()
        }
        _ => {
            return Err(ComposeError::node(
                node,
                path,
                format!("invalid pull policy {text:?}"),
            ))
        }
    };
    Ok(Some(normal))
}

/// `["host:ip", "host=ip"]` or `{host: ip}`, as `host:ip`.
pub(crate) fn extra_hosts(node: &Node, path: &str) -> Result<Vec<String>> {
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .map(|(host, ip)| {
                let ips = strings(ip, &child(path, host))?;
                Ok(ips
                    .iter()
                    .map(|ip| format!("{host}:{ip}"))
                    .collect::<Vec<_>>())
            })
            .collect::<Result<Vec<_>>>()
            .map(|v| v.concat()),
        _ => Ok(strings(node, path)?
            .into_iter()
            .map(|entry| match entry.split_once('=') {
                Some((host, ip)) => format!("{host}:{ip}"),
                None => entry,
            })
            .collect()),
    }
}
