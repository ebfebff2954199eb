//! A service to the body of `POST /containers/create`, field by field, as
//! docker compose maps the compose spec onto the Engine API.

use std::collections::BTreeMap;

use pier_compose::{FileObject, Project, Service, VolumeType};
use serde_json::{json, Map, Value};

use super::labels;
use crate::commands::container::{units, values};

/// What varies between the containers of one service.
#[derive(Debug, Clone, Default)]
pub struct Instance {
    pub number: u32,
    pub name: String,
    pub oneoff: bool,
    /// The image ID the service's image resolved to (for the image label).
    pub image_id: Option<String>,
    pub config_hash: String,
    /// `run`: a command replacing the service's.
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// `run -e`: added after the service's environment.
    pub extra_env: Vec<String>,
    pub extra_labels: Vec<(String, String)>,
    /// `run` publishes ports only with `--service-ports`.
    pub publish_ports: bool,
    pub extra_ports: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: Option<bool>,
    pub stdin_open: Option<bool>,
    pub auto_remove: bool,
}

/// A secret or config whose content is written into the container after
/// create (they are not files on the host).
#[derive(Debug, Clone, PartialEq)]
pub struct InjectedFile {
    pub path: String,
    pub content: Vec<u8>,
    pub mode: u32,
}

/// The networks a service joins, highest priority first (stable otherwise).
pub fn service_networks(service: &Service) -> Vec<(String, pier_compose::ServiceNetwork)> {
    let mut v: Vec<_> = service
        .networks
        .iter()
        .map(|(k, n)| (k.clone(), n.clone()))
        .collect();
    v.sort_by_key(|(_, n)| -n.priority);
    v
}

/// The endpoint settings for one network: the service name, the container
/// name and the service's aliases, and a fixed address if asked.
pub fn endpoint(service: &Service, inst: &Instance, net: &pier_compose::ServiceNetwork) -> Value {
    let mut aliases = vec![service.name.clone()];
    if !inst.oneoff {
        aliases.push(inst.name.clone());
    }
    for a in &net.aliases {
        if !aliases.contains(a) {
            aliases.push(a.clone());
        }
    }
    let mut e = json!({ "Aliases": aliases });
    if net.ipv4_address.is_some() || net.ipv6_address.is_some() {
        e["IPAMConfig"] = json!({
            "IPv4Address": net.ipv4_address.clone().unwrap_or_default(),
            "IPv6Address": net.ipv6_address.clone().unwrap_or_default(),
        });
    }
    if let Some(mac) = &service.mac_address {
        e["MacAddress"] = json!(mac);
    }
    e
}

fn secret_target(r: &pier_compose::FileReference, config: bool) -> String {
    match &r.target {
        Some(t) if t.starts_with('/') => t.clone(),
        Some(t) if config => format!("/{t}"),
        Some(t) => format!("/run/secrets/{t}"),
        None if config => format!("/{}", r.source),
        None => format!("/run/secrets/{}", r.source),
    }
}

/// Bind mounts for `file:` secrets/configs, and the files to inject for
/// `environment:` / `content:` ones.
fn file_objects(
    refs: &[pier_compose::FileReference],
    objects: &indexmap::IndexMap<String, FileObject>,
    config: bool,
    mounts: &mut Vec<Value>,
    inject: &mut Vec<InjectedFile>,
) -> Result<(), String> {
    let kind = if config { "config" } else { "secret" };
    for r in refs {
        let Some(obj) = objects.get(&r.source) else {
            return Err(format!("{kind} {:?} is not defined", r.source));
        };
        let target = secret_target(r, config);
        if let Some(file) = &obj.file {
            mounts.push(json!({
                "Type": "bind",
                "Source": file.to_string_lossy(),
                "Target": target,
                "ReadOnly": true,
            }));
        } else if let Some(content) = &obj.content {
            inject.push(InjectedFile {
                path: target,
                content: content.clone().into_bytes(),
                mode: r.mode.unwrap_or(0o444),
            });
        } else if obj.external {
            return Err(format!(
                "unsupported external {kind} {}: external secrets need swarm",
                obj.name
            ));
        }
    }
    Ok(())
}

fn port_key(target: &str, proto: &str) -> String {
    if target.contains('/') {
        target.to_string()
    } else {
        format!("{target}/{proto}")
    }
}

/// `expose:` entries (`"80"`, `"8000-8002/udp"`) as port keys.
fn expose_keys(e: &str) -> Vec<String> {
    let (ports, proto) = e.split_once('/').unwrap_or((e, "tcp"));
    match ports.split_once('-') {
        Some((a, b)) => match (a.parse::<u16>(), b.parse::<u16>()) {
            (Ok(a), Ok(b)) if a <= b => (a..=b).map(|p| format!("{p}/{proto}")).collect(),
            _ => vec![format!("{ports}/{proto}")],
        },
        None => vec![format!("{ports}/{proto}")],
    }
}

/// The create body for one container of `service`.
pub fn create_body(
    project: &Project,
    service: &Service,
    inst: &Instance,
) -> Result<(Value, Vec<InjectedFile>), String> {
    let image = labels::image_name(project, service);
    let mut env: Vec<String> = service
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    env.extend(inst.extra_env.iter().cloned());

    let mut lbl: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &service.labels {
        lbl.insert(k.clone(), v.clone());
    }
    if let Some(d) = &service.deploy {
        for (k, v) in &d.labels {
            lbl.insert(k.clone(), v.clone());
        }
    }
    let files = project
        .config_files
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(",");
    for (k, v) in [
        (labels::PROJECT, project.name.clone()),
        (labels::SERVICE, service.name.clone()),
        (labels::NUMBER, inst.number.to_string()),
        (
            labels::ONEOFF,
            if inst.oneoff { "True" } else { "False" }.into(),
        ),
        (labels::CONFIG_HASH, inst.config_hash.clone()),
        (
            labels::WORKING_DIR,
            project.working_dir.to_string_lossy().into_owned(),
        ),
        (labels::CONFIG_FILES, files),
        (labels::VERSION, labels::COMPOSE_VERSION.into()),
        (labels::DEPENDS_ON, labels::depends_on(service)),
    ] {
        lbl.insert(k.to_string(), v);
    }
    if let Some(id) = &inst.image_id {
        lbl.insert(labels::IMAGE.into(), id.clone());
    }
    for (k, v) in &inst.extra_labels {
        lbl.insert(k.clone(), v.clone());
    }

    // Ports.
    let mut exposed = Map::new();
    let mut bindings = Map::new();
    for e in &service.expose {
        for k in expose_keys(e) {
            exposed.insert(k, json!({}));
        }
    }
    if inst.publish_ports {
        for p in &service.ports {
            let key = port_key(&p.target.to_string(), &p.protocol);
            exposed.insert(key.clone(), json!({}));
            let entry = bindings.entry(key).or_insert_with(|| json!([]));
            if let Some(a) = entry.as_array_mut() {
                a.push(json!({
                    "HostIp": p.host_ip.clone().unwrap_or_default(),
                    "HostPort": p.published.clone().unwrap_or_default(),
                }));
            }
        }
    }
    if !inst.extra_ports.is_empty() {
        let (more_exposed, more_bindings) = units::port_specs(&inst.extra_ports, &[])?;
        for (k, v) in more_exposed {
            exposed.insert(k, v);
        }
        for (k, v) in more_bindings {
            bindings.insert(k, v);
        }
    }

    // Mounts: volumes, binds, tmpfs, then secrets and configs.
    let mut mounts = Vec::new();
    for v in &service.volumes {
        let m = match v.kind {
            VolumeType::Volume => {
                let mut m = json!({"Type": "volume", "Target": v.target, "ReadOnly": v.read_only});
                if let Some(src) = &v.source {
                    let name = project
                        .volumes
                        .get(src)
                        .map(|vol| vol.name.clone())
                        .ok_or_else(|| {
                            format!(
                                "service {:?} refers to undefined volume {src}: invalid compose project",
                                service.name
                            )
                        })?;
                    m["Source"] = json!(name);
                }
                if let Some(o) = &v.volume {
                    let mut vo = json!({"NoCopy": o.nocopy});
                    if let Some(sp) = &o.subpath {
                        vo["Subpath"] = json!(sp);
                    }
                    m["VolumeOptions"] = vo;
                }
                m
            }
            VolumeType::Bind => {
                let src = v.source.clone().unwrap_or_default();
                let create = v.bind.as_ref().is_none_or(|b| b.create_host_path);
                if create && !std::path::Path::new(&src).exists() {
                    // The engine is local (Unix socket): create the host
                    // directory as docker compose asks the engine to.
                    let _ = std::fs::create_dir_all(&src);
                }
                let mut m = json!({"Type": "bind", "Source": src, "Target": v.target, "ReadOnly": v.read_only});
                if let Some(p) = v.bind.as_ref().and_then(|b| b.propagation.clone()) {
                    m["BindOptions"] = json!({"Propagation": p});
                }
                m
            }
            VolumeType::Tmpfs => {
                let mut m = json!({"Type": "tmpfs", "Target": v.target, "ReadOnly": v.read_only});
                if let Some(t) = &v.tmpfs {
                    let mut o = Map::new();
                    if let Some(s) = t.size {
                        o.insert("SizeBytes".into(), json!(s));
                    }
                    if let Some(mode) = t.mode {
                        o.insert("Mode".into(), json!(mode));
                    }
                    if !o.is_empty() {
                        m["TmpfsOptions"] = Value::Object(o);
                    }
                }
                m
            }
        };
        mounts.push(m);
    }
    let mut inject = Vec::new();
    file_objects(
        &service.secrets,
        &project.secrets,
        false,
        &mut mounts,
        &mut inject,
    )?;
    file_objects(
        &service.configs,
        &project.configs,
        true,
        &mut mounts,
        &mut inject,
    )?;

    let mut tmpfs = Map::new();
    for t in &service.tmpfs {
        let (path, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
        tmpfs.insert(path.to_string(), json!(opts));
    }

    // Networks: the first at create, the others connected after.
    let nets = service_networks(service);
    let (network_mode, endpoints) = match service.network_mode.as_deref() {
        Some(m) => {
            let mode = match m.strip_prefix("service:") {
                Some(s) => format!("container:{}-{s}-1", project.name),
                None => m.to_string(),
            };
            (mode, Map::new())
        }
        None => match nets.first() {
            Some((key, n)) => {
                let name = project
                    .networks
                    .get(key)
                    .map(|x| x.name.clone())
                    .ok_or_else(|| {
                        format!(
                            "service {:?} refers to undefined network {key}: invalid compose project",
                            service.name
                        )
                    })?;
                let mut m = Map::new();
                m.insert(name.clone(), endpoint(service, inst, n));
                (name, m)
            }
            None => ("none".to_string(), Map::new()),
        },
    };

    let restart = match (
        &service.restart,
        service
            .deploy
            .as_ref()
            .and_then(|d| d.restart_policy.as_ref()),
    ) {
        (Some(r), _) => values::restart_policy(Some(r))?,
        (None, Some(p)) => {
            let name = match p.condition.as_str() {
                "none" => "no",
                "on-failure" => "on-failure",
                _ => "always",
            };
            json!({"Name": name, "MaximumRetryCount": if name == "on-failure" { p.max_attempts.unwrap_or(0) } else { 0 }})
        }
        (None, None) => json!({"Name": "no", "MaximumRetryCount": 0}),
    };

    let limits = service
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.clone())
        .unwrap_or_default();
    let reservations = service
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.reservations.clone())
        .unwrap_or_default();
    let memory = limits.memory.or(service.mem_limit).unwrap_or(0);
    let cpus = limits.cpus.or(service.cpus).unwrap_or(0.0);
    let pids = limits.pids.or(service.pids_limit);
    let mut host = json!({
        "NetworkMode": network_mode,
        "RestartPolicy": restart,
        "PortBindings": bindings,
        "Mounts": mounts,
        "Privileged": service.privileged,
        "ReadonlyRootfs": service.read_only,
        "CapAdd": service.cap_add,
        "CapDrop": service.cap_drop,
        "SecurityOpt": service.security_opt,
        "ExtraHosts": service.extra_hosts,
        "Dns": service.dns,
        "DnsSearch": service.dns_search,
        "GroupAdd": service.group_add,
        "Memory": memory,
        "NanoCpus": (cpus * 1e9).round() as i64,
        "AutoRemove": inst.auto_remove,
    });
    if let Some(p) = pids {
        host["PidsLimit"] = json!(p);
    }
    if let Some(m) = reservations.memory.or(service.mem_reservation) {
        host["MemoryReservation"] = json!(m);
    }
    if let Some(s) = service.memswap_limit {
        host["MemorySwap"] = json!(s);
    }
    if let Some(s) = service.cpu_shares {
        host["CpuShares"] = json!(s);
    }
    if let Some(s) = &service.cpuset {
        host["CpusetCpus"] = json!(s);
    }
    if let Some(s) = service.shm_size {
        host["ShmSize"] = json!(s);
    }
    if let Some(i) = service.init {
        host["Init"] = json!(i);
    }
    if !tmpfs.is_empty() {
        host["Tmpfs"] = Value::Object(tmpfs);
    }
    if !service.sysctls.is_empty() {
        host["Sysctls"] = json!(service.sysctls);
    }
    if !service.ulimits.is_empty() {
        host["Ulimits"] = Value::Array(
            service
                .ulimits
                .iter()
                .map(|(n, u)| json!({"Name": n, "Soft": u.soft, "Hard": u.hard}))
                .collect(),
        );
    }
    if !service.devices.is_empty() {
        let devs = service
            .devices
            .iter()
            .map(|d| units::device(d))
            .collect::<Result<Vec<_>, _>>()?;
        host["Devices"] = Value::Array(devs);
    }
    if let Some(l) = &service.logging {
        host["LogConfig"] = json!({
            "Type": l.driver.clone().unwrap_or_default(),
            "Config": l.options,
        });
    }

    let mut body = json!({
        "Image": image,
        "Env": env,
        "Labels": lbl,
        "Tty": inst.tty.unwrap_or(service.tty),
        "OpenStdin": inst.stdin_open.unwrap_or(service.stdin_open),
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "ExposedPorts": exposed,
        "HostConfig": host,
        "NetworkingConfig": {"EndpointsConfig": endpoints},
    });
    if let Some(c) = inst.command.as_ref().or(service.command.as_ref()) {
        body["Cmd"] = json!(c);
    }
    if let Some(e) = inst.entrypoint.as_ref().or(service.entrypoint.as_ref()) {
        body["Entrypoint"] = json!(e);
    }
    if let Some(h) = &service.hostname {
        body["Hostname"] = json!(h);
    }
    if let Some(d) = &service.domainname {
        body["Domainname"] = json!(d);
    }
    if let Some(u) = inst.user.as_ref().or(service.user.as_ref()) {
        body["User"] = json!(u);
    }
    if let Some(w) = inst.workdir.as_ref().or(service.working_dir.as_ref()) {
        body["WorkingDir"] = json!(w);
    }
    if let Some(s) = &service.stop_signal {
        body["StopSignal"] = json!(s);
    }
    if let Some(g) = service.stop_grace_period {
        body["StopTimeout"] = json!(g.as_nanos() / 1_000_000_000);
    }
    if let Some(h) = &service.healthcheck {
        let test = if h.disable {
            vec!["NONE".to_string()]
        } else {
            h.test.clone()
        };
        let mut hc = json!({ "Test": test });
        let ns = |d: Option<pier_compose::GoDuration>| d.map(|d| d.as_nanos()).unwrap_or(0);
        hc["Interval"] = json!(ns(h.interval));
        hc["Timeout"] = json!(ns(h.timeout));
        hc["StartPeriod"] = json!(ns(h.start_period));
        hc["StartInterval"] = json!(ns(h.start_interval));
        hc["Retries"] = json!(h.retries.unwrap_or(0));
        body["Healthcheck"] = hc;
    }
    Ok((body, inject))
}

/// A GNU header with every numeric field written: a fresh header leaves
/// uid, gid and mtime blank, which the engine's tar reader refuses.
fn root_owned_header() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    h
}

/// A tar (rooted at `/`) holding the injected files, for
/// `PUT /containers/{id}/archive?path=/`.
pub fn inject_tar(files: &[InjectedFile]) -> Result<Vec<u8>, String> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    for f in files {
        let rel = f.path.trim_start_matches('/');
        let mut acc = String::new();
        let parts: Vec<&str> = rel.split('/').collect();
        for p in &parts[..parts.len().saturating_sub(1)] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(p);
            if dirs.insert(acc.clone()) {
                let mut h = root_owned_header();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                tar.append_data(&mut h, format!("{acc}/"), std::io::empty())
                    .map_err(|e| e.to_string())?;
            }
        }
        let mut h = root_owned_header();
        h.set_size(f.content.len() as u64);
        h.set_mode(f.mode);
        tar.append_data(&mut h, rel, f.content.as_slice())
            .map_err(|e| e.to_string())?;
    }
    tar.into_inner().map_err(|e| e.to_string())
}
