//! `ContainerOpts` → the `POST /containers/create` body docker's CLI sends
//! (its `parse()` in opts.go), with the same defaults and nulls.

use serde_json::{json, Map, Value};

use super::opts::ContainerOpts;
use super::units;
use super::values::{
    duration_opt, kv_env, kv_map, mem, normalize_caps, read_kv_file, restart_policy, security_opts,
    str_list_or_null,
};

/// The parsed request plus the bits `run` needs to drive attach and wait.
#[derive(Debug, Clone)]
pub struct CreateConfig {
    pub body: Value,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub auto_remove: bool,
    pub attach_given: bool,
}

/// Flags docker only accepts for a Windows daemon (pier's are Linux).
pub fn windows_only_flags(o: &ContainerOpts) -> Result<(), String> {
    let mut errs = Vec::new();
    for (set, name) in [
        (o.cpu_count.is_some(), "cpu-count"),
        (o.cpu_percent.is_some(), "cpu-percent"),
        (o.io_maxbandwidth.is_some(), "io-maxbandwidth"),
        (o.io_maxiops.is_some(), "io-maxiops"),
    ] {
        if set {
            errs.push(format!(
                "\"--{name}\" is only supported on a Docker daemon running on windows, but the Docker daemon is running on linux"
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("\n"))
    }
}

/// docker's `parse()`: builds the create body.
pub fn build(o: &ContainerOpts, image: &str, args: &[String]) -> Result<CreateConfig, String> {
    let mut attach_stdin = false;
    let mut attach_stdout = false;
    let mut attach_stderr = false;
    for a in &o.attach {
        match a.to_ascii_lowercase().as_str() {
            "stdin" => attach_stdin = true,
            "stdout" => attach_stdout = true,
            "stderr" => attach_stderr = true,
            _ => return Err(format!("invalid argument \"{a}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR")),
        }
    }
    let stdin = o.interactive.unwrap_or(false);
    if stdin {
        attach_stdin = true;
    }
    if o.attach.is_empty() {
        attach_stdout = true;
        attach_stderr = true;
    }
    if let Some(mac) = &o.mac_address {
        let ok = mac.split(':').count() == 6
            && mac
                .split(':')
                .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
        if !ok {
            return Err(format!("{mac} is not a valid mac address"));
        }
    }
    let swappiness = o.memory_swappiness.unwrap_or(-1);
    if swappiness != -1 && !(0..=100).contains(&swappiness) {
        return Err(format!(
            "invalid value: {swappiness}. Valid memory swappiness range is 0-100"
        ));
    }

    // Volumes: with a source they are binds, without an anonymous volume.
    let mut binds = Vec::new();
    let mut volumes = Map::new();
    for v in &o.volume {
        let parts: Vec<&str> = v.split(':').collect();
        if parts.len() >= 2 && !parts[0].is_empty() {
            let mut host = parts[0].to_string();
            if host.starts_with('.') {
                if let Ok(cwd) = std::env::current_dir() {
                    host = cwd.join(&host).to_string_lossy().into_owned();
                }
            }
            binds.push(format!("{host}:{}", parts[1..].join(":")));
        } else if parts.len() == 1 && !parts[0].is_empty() {
            volumes.insert(parts[0].to_string(), json!({}));
        } else {
            return Err(format!("invalid volume specification: '{v}'"));
        }
    }
    let mut tmpfs = Map::new();
    for t in &o.tmpfs {
        let (k, v) = t.split_once(':').unwrap_or((t, ""));
        tmpfs.insert(k.to_string(), json!(v));
    }
    let cmd = if args.is_empty() {
        Value::Null
    } else {
        json!(args)
    };
    let entrypoint = match &o.entrypoint {
        Some(e) if !e.is_empty() => json!([e]),
        Some(_) => json!([""]),
        None => Value::Null,
    };
    let (exposed, bindings) = units::port_specs(&o.publish, &o.expose)?;
    let devices: Vec<Value> = o
        .device
        .iter()
        .map(|d| units::device(d))
        .collect::<Result<_, _>>()?;

    let mut env = Vec::new();
    for f in &o.env_file {
        env.extend(read_kv_file(f, true)?);
    }
    env.extend(o.env.iter().map(|e| kv_env(e, true)));
    let mut labels = Vec::new();
    for f in &o.label_file {
        labels.extend(read_kv_file(f, false)?);
    }
    labels.extend(o.label.iter().cloned());

    let check_mode = |v: &Option<String>,
                      flag: &str,
                      msg: &str,
                      valid: &dyn Fn(&str) -> bool|
     -> Result<String, String> {
        let s = v.clone().unwrap_or_default();
        if !valid(&s) {
            return Err(format!("--{flag}: invalid {msg} mode"));
        }
        Ok(s)
    };
    let ns_ok = |s: &str| s.is_empty() || s == "host" || s.starts_with("container:");
    let pid_mode = check_mode(&o.pid, "pid", "PID", &ns_ok)?;
    let uts_mode = check_mode(&o.uts, "uts", "UTS", &|s| s.is_empty() || s == "host")?;
    let userns_mode = check_mode(&o.userns, "userns", "USER", &|s| {
        s.is_empty() || s == "host"
    })?;
    let cgroupns_mode = check_mode(&o.cgroupns, "cgroupns", "CGROUP", &|s| {
        s.is_empty() || s == "host" || s == "private"
    })?;
    let restart = restart_policy(o.restart.as_deref())?;

    let mut log_config = Map::new();
    for l in &o.log_opt {
        let (k, v) = l
            .split_once('=')
            .ok_or_else(|| format!("invalid key value pair format in logging opts: {l}"))?;
        log_config.insert(k.to_string(), json!(v));
    }
    if o.log_driver.as_deref() == Some("none") && !o.log_opt.is_empty() {
        return Err("invalid logging opts for driver none".into());
    }
    let (sec_opts, system_paths) = security_opts(&o.security_opt)?;
    let mut storage_opt = Map::new();
    for s in &o.storage_opt {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("invalid storage option: {s}"))?;
        storage_opt.insert(k.to_string(), json!(v));
    }

    // docker's rules: a flag counts only with a non-zero value, the
    // conflict is checked before the signs.
    let health_cmd = o.health_cmd.as_deref().unwrap_or("");
    let health_interval = duration_opt(&o.health_interval, "health-interval")?;
    let health_timeout = duration_opt(&o.health_timeout, "health-timeout")?;
    let health_start_period = duration_opt(&o.health_start_period, "health-start-period")?;
    let health_start_interval = duration_opt(&o.health_start_interval, "health-start-interval")?;
    let health_retries = o.health_retries.unwrap_or(0);
    let have_health = !health_cmd.is_empty()
        || health_interval != 0
        || health_timeout != 0
        || health_start_period != 0
        || health_retries != 0
        || health_start_interval != 0;
    let healthcheck = if o.no_healthcheck {
        if have_health {
            return Err("--no-healthcheck conflicts with --health-* options".into());
        }
        Some(json!({"Test": ["NONE"]}))
    } else if have_health {
        if health_retries < 0 {
            return Err("--health-retries cannot be negative".into());
        }
        let mut h = Map::new();
        if !health_cmd.is_empty() {
            h.insert("Test".into(), json!(["CMD-SHELL", health_cmd]));
        }
        for (key, v) in [
            ("Interval", health_interval),
            ("Timeout", health_timeout),
            ("StartPeriod", health_start_period),
            ("StartInterval", health_start_interval),
            ("Retries", health_retries),
        ] {
            if v != 0 {
                h.insert(key.into(), json!(v));
            }
        }
        Some(Value::Object(h))
    } else {
        None
    };

    let ulimits: Vec<Value> = o
        .ulimit
        .iter()
        .map(|u| units::ulimit(u))
        .collect::<Result<_, _>>()?;
    let mounts: Vec<Value> = o
        .mount
        .iter()
        .map(|m| units::mount(m))
        .collect::<Result<_, _>>()?;
    let mut sysctls = Map::new();
    for s in &o.sysctl {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("sysctl '{s}' is not allowed"))?;
        sysctls.insert(k.to_string(), json!(v));
    }
    let annotations = kv_map(&o.annotation);
    let nano_cpus = match &o.cpus {
        Some(c) => units::nano_cpus(c)
            .map_err(|e| format!("invalid argument \"{c}\" for \"--cpus\" flag: {e}"))?,
        None => 0,
    };
    let memory_swap = match &o.memory_swap {
        Some(s) => units::mem_swap(s)
            .map_err(|e| format!("invalid argument \"{s}\" for \"--memory-swap\" flag: {e}"))?,
        None => 0,
    };

    let device_requests = match &o.gpus {
        Some(g) => json!([units::gpus(g)
            .map_err(|e| format!("invalid argument \"{g}\" for \"--gpus\" flag: {e}"))?]),
        None => Value::Null,
    };
    let auto_remove = o.rm.unwrap_or(false);
    if auto_remove && !matches!(restart["Name"].as_str(), Some("") | Some("no")) {
        return Err("conflicting options: cannot specify both --restart and --rm".into());
    }
    let tty = o.tty.unwrap_or(false);
    let stdin_once = stdin && attach_stdin;

    // Networking: the first --network is the mode; every network gets an endpoint.
    let network_mode = o
        .network
        .first()
        .cloned()
        .unwrap_or_else(|| "default".into());
    let mut endpoints = Map::new();
    let nets: Vec<String> = if o.network.is_empty() {
        vec!["default".into()]
    } else {
        o.network.clone()
    };
    for (i, n) in nets.iter().enumerate() {
        let first = i == 0;
        let mut ipam = Value::Null;
        if first && (o.ip.is_some() || o.ip6.is_some() || !o.link_local_ip.is_empty()) {
            let mut m = Map::new();
            if let Some(ip) = &o.ip {
                m.insert("IPv4Address".into(), json!(ip));
            }
            if let Some(ip) = &o.ip6 {
                m.insert("IPv6Address".into(), json!(ip));
            }
            if !o.link_local_ip.is_empty() {
                m.insert("LinkLocalIPs".into(), json!(o.link_local_ip));
            }
            ipam = Value::Object(m);
        }
        let user_defined = !matches!(n.as_str(), "default" | "bridge" | "host" | "none")
            && !n.starts_with("container:");
        let aliases = if first && !o.network_alias.is_empty() {
            if !user_defined {
                return Err(
                    "network-scoped aliases are only supported for user-defined networks".into(),
                );
            }
            json!(o.network_alias)
        } else {
            Value::Null
        };
        // For the default bridge `--link` is a legacy link, not an endpoint option.
        let links = if first && user_defined && !o.link.is_empty() {
            json!(o.link)
        } else {
            Value::Null
        };
        let has_options = ipam != Value::Null
            || aliases != Value::Null
            || links != Value::Null
            || (first && o.mac_address.is_some());
        // A single --network without options gets no endpoint config (docker
        // leaves that to the daemon); the implicit default one always does.
        if first && o.network.len() == 1 && !has_options {
            continue;
        }
        let mac = if first {
            o.mac_address.clone().unwrap_or_default()
        } else {
            String::new()
        };
        endpoints.insert(
            n.clone(),
            json!({"IPAMConfig": ipam, "Links": links, "Aliases": aliases, "MacAddress": mac, "DriverOpts": null,
                   "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                   "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null}),
        );
    }

    let mut body = json!({
        "Hostname": o.hostname.clone().unwrap_or_default(),
        "Domainname": o.domainname.clone().unwrap_or_default(),
        "User": o.user.clone().unwrap_or_default(),
        "AttachStdin": attach_stdin,
        "AttachStdout": attach_stdout,
        "AttachStderr": attach_stderr,
        "Tty": tty,
        "OpenStdin": stdin,
        "StdinOnce": stdin_once,
        "Env": str_list_or_null(&env),
        "Cmd": cmd,
        "Image": image,
        "Volumes": volumes,
        "WorkingDir": o.workdir.clone().unwrap_or_default(),
        "Entrypoint": entrypoint,
        "OnBuild": null,
        "Labels": kv_map(&labels),
        "HostConfig": {
            "Binds": str_list_or_null(&binds),
            "ContainerIDFile": o.cidfile.clone().unwrap_or_default(),
            "LogConfig": {"Type": o.log_driver.clone().unwrap_or_default(), "Config": log_config},
            "NetworkMode": network_mode,
            "PortBindings": bindings,
            "RestartPolicy": restart,
            "AutoRemove": auto_remove,
            "VolumeDriver": o.volume_driver.clone().unwrap_or_default(),
            "VolumesFrom": str_list_or_null(&o.volumes_from),
            "ConsoleSize": [0, 0],
            "CapAdd": str_list_or_null(&normalize_caps(&o.cap_add)),
            "CapDrop": str_list_or_null(&normalize_caps(&o.cap_drop)),
            "CgroupnsMode": cgroupns_mode,
            "Dns": o.dns,
            "DnsOptions": o.dns_option,
            "DnsSearch": o.dns_search,
            "ExtraHosts": str_list_or_null(&o.add_host.iter().map(|h| h.replacen('=', ":", 1)).collect::<Vec<_>>()),
            "GroupAdd": str_list_or_null(&o.group_add),
            "IpcMode": o.ipc.clone().unwrap_or_default(),
            "Cgroup": "",
            "Links": str_list_or_null(&o.link),
            "OomScoreAdj": o.oom_score_adj.unwrap_or(0),
            "PidMode": pid_mode,
            "Privileged": o.privileged.unwrap_or(false),
            "PublishAllPorts": o.publish_all.unwrap_or(false),
            "ReadonlyRootfs": o.read_only.unwrap_or(false),
            "SecurityOpt": str_list_or_null(&sec_opts),
            "UTSMode": uts_mode,
            "UsernsMode": userns_mode,
            "ShmSize": mem(&o.shm_size, "shm-size")?,
            "Isolation": o.isolation.clone().unwrap_or_default(),
            "CpuShares": o.cpu_shares.unwrap_or(0),
            "Memory": mem(&o.memory, "memory")?,
            "NanoCpus": nano_cpus,
            "CgroupParent": o.cgroup_parent.clone().unwrap_or_default(),
            "BlkioWeight": o.blkio_weight.unwrap_or(0),
            "BlkioWeightDevice": o.blkio_weight_device.iter().map(|d| units::weight_device(d)).collect::<Result<Vec<_>, _>>()?,
            "BlkioDeviceReadBps": o.device_read_bps.iter().map(|d| units::throttle_device(d, true)).collect::<Result<Vec<_>, _>>()?,
            "BlkioDeviceWriteBps": o.device_write_bps.iter().map(|d| units::throttle_device(d, true)).collect::<Result<Vec<_>, _>>()?,
            "BlkioDeviceReadIOps": o.device_read_iops.iter().map(|d| units::throttle_device(d, false)).collect::<Result<Vec<_>, _>>()?,
            "BlkioDeviceWriteIOps": o.device_write_iops.iter().map(|d| units::throttle_device(d, false)).collect::<Result<Vec<_>, _>>()?,
            "CpuPeriod": o.cpu_period.unwrap_or(0),
            "CpuQuota": o.cpu_quota.unwrap_or(0),
            "CpuRealtimePeriod": o.cpu_rt_period.unwrap_or(0),
            "CpuRealtimeRuntime": o.cpu_rt_runtime.unwrap_or(0),
            "CpusetCpus": o.cpuset_cpus.clone().unwrap_or_default(),
            "CpusetMems": o.cpuset_mems.clone().unwrap_or_default(),
            "Devices": devices,
            "DeviceCgroupRules": str_list_or_null(&o.device_cgroup_rule),
            "DeviceRequests": device_requests,
            "MemoryReservation": mem(&o.memory_reservation, "memory-reservation")?,
            "MemorySwap": memory_swap,
            "MemorySwappiness": swappiness,
            "OomKillDisable": o.oom_kill_disable.unwrap_or(false),
            "PidsLimit": o.pids_limit.unwrap_or(0),
            "Ulimits": ulimits,
            "CpuCount": o.cpu_count.unwrap_or(0),
            "CpuPercent": o.cpu_percent.unwrap_or(0),
            "IOMaximumIOps": o.io_maxiops.unwrap_or(0),
            "IOMaximumBandwidth": mem(&o.io_maxbandwidth, "io-maxbandwidth")?,
            "MaskedPaths": system_paths.clone().map(Value::from).unwrap_or(Value::Null),
            "ReadonlyPaths": system_paths.map(Value::from).unwrap_or(Value::Null),
        },
        "NetworkingConfig": {"EndpointsConfig": endpoints},
    });
    let obj = body.as_object_mut().ok_or("internal error")?;
    if !exposed.is_empty() {
        obj.insert("ExposedPorts".into(), Value::Object(exposed));
    }
    if let Some(h) = healthcheck {
        obj.insert("Healthcheck".into(), h);
    }
    if let Some(s) = &o.stop_signal {
        obj.insert("StopSignal".into(), json!(s));
    }
    if let Some(t) = o.stop_timeout {
        obj.insert("StopTimeout".into(), json!(t));
    }
    let hc = obj
        .get_mut("HostConfig")
        .and_then(Value::as_object_mut)
        .ok_or("internal error")?;
    if !tmpfs.is_empty() {
        hc.insert("Tmpfs".into(), Value::Object(tmpfs));
    }
    if !mounts.is_empty() {
        hc.insert("Mounts".into(), json!(mounts));
    }
    if !sysctls.is_empty() {
        hc.insert("Sysctls".into(), Value::Object(sysctls));
    }
    if !storage_opt.is_empty() {
        hc.insert("StorageOpt".into(), Value::Object(storage_opt));
    }
    if !annotations.is_empty() {
        hc.insert("Annotations".into(), Value::Object(annotations));
    }
    if let Some(init) = o.init {
        hc.insert("Init".into(), json!(init));
    }
    if let Some(rt) = &o.runtime {
        hc.insert("Runtime".into(), json!(rt));
    }
    if let Some(km) = &o.kernel_memory {
        hc.insert(
            "KernelMemory".into(),
            json!(mem(&Some(km.clone()), "kernel-memory")?),
        );
    }
    Ok(CreateConfig {
        body,
        tty,
        attach_stdin,
        attach_stdout,
        attach_stderr,
        auto_remove,
        attach_given: !o.attach.is_empty(),
    })
}

#[cfg(test)]
fn labels_of(body: &Value) -> std::collections::BTreeMap<String, String> {
    body["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_docker_body() {
        let c = build(
            &ContainerOpts::default(),
            "busybox",
            &["echo".into(), "hi".into()],
        )
        .unwrap();
        let b = &c.body;
        assert_eq!(b["Cmd"], json!(["echo", "hi"]));
        assert_eq!(b["Env"], Value::Null);
        assert_eq!(b["Entrypoint"], Value::Null);
        assert_eq!(b["Labels"], json!({}));
        assert_eq!(b["Volumes"], json!({}));
        assert_eq!(b["AttachStdout"], true);
        assert_eq!(b["AttachStdin"], false);
        assert_eq!(b["HostConfig"]["NetworkMode"], "default");
        assert_eq!(
            b["HostConfig"]["RestartPolicy"],
            json!({"Name": "no", "MaximumRetryCount": 0})
        );
        assert_eq!(b["HostConfig"]["MemorySwappiness"], -1);
        assert!(b["NetworkingConfig"]["EndpointsConfig"]["default"].is_object());
        assert!(b.get("ExposedPorts").is_none());
        assert!(!c.tty && !c.auto_remove);
    }

    #[test]
    fn flags_map_to_fields() {
        let o = ContainerOpts {
            interactive: Some(true),
            tty: Some(true),
            rm: Some(true),
            env: vec!["A=1".into()],
            label: vec!["tier=front".into(), "flag".into()],
            entrypoint: Some(String::new()),
            network: vec!["none".into()],
            workdir: Some("/tmp".into()),
            user: Some("1000:1000".into()),
            hostname: Some("box".into()),
            publish: vec!["8080:80".into()],
            ..Default::default()
        };
        let c = build(&o, "busybox", &[]).unwrap();
        let b = &c.body;
        assert_eq!(b["Env"], json!(["A=1"]));
        assert_eq!(labels_of(b).get("flag").map(String::as_str), Some(""));
        assert_eq!(b["Entrypoint"], json!([""]));
        assert_eq!(b["OpenStdin"], true);
        assert_eq!(b["StdinOnce"], true);
        assert_eq!(b["AttachStdin"], true);
        assert_eq!(b["HostConfig"]["NetworkMode"], "none");
        assert_eq!(b["HostConfig"]["AutoRemove"], true);
        assert_eq!(b["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(b["Hostname"], "box");
        assert!(c.tty && c.auto_remove && c.attach_stdin);
    }

    #[test]
    fn validation_errors() {
        let o = ContainerOpts {
            attach: vec!["bogus".into()],
            ..Default::default()
        };
        assert!(build(&o, "x", &[])
            .unwrap_err()
            .contains("valid streams are STDIN, STDOUT and STDERR"));
        let o = ContainerOpts {
            rm: Some(true),
            restart: Some("always".into()),
            ..Default::default()
        };
        assert_eq!(
            build(&o, "x", &[]).unwrap_err(),
            "conflicting options: cannot specify both --restart and --rm"
        );
        let o = ContainerOpts {
            memory_swappiness: Some(200),
            ..Default::default()
        };
        assert!(build(&o, "x", &[]).is_err());
    }
}
