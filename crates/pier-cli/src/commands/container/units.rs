//! Value parsers for container flags, as docker's `opts` and go-units read
//! them: memory sizes, CPU decimals, Go durations, ports, ulimits, devices.

use serde_json::{json, Map, Value};

/// go-units `RAMInBytes`: `512m`, `1g`, `100k`, `1.5g` (binary units).
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid size: '{s}'"))?;
    let unit = unit.trim_end_matches('b');
    let mul: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(format!("invalid suffix: '{unit}'")),
    };
    Ok((n * mul) as i64)
}

/// `--memory-swap`: like [`ram_in_bytes`] but `-1` means unlimited.
pub fn mem_swap(s: &str) -> Result<i64, String> {
    if s == "-1" {
        return Ok(-1);
    }
    ram_in_bytes(s)
}

/// `--cpus 1.5` → NanoCPUs.
pub fn nano_cpus(s: &str) -> Result<i64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("failed to parse {s} as a rational number"))?;
    let n = (v * 1e9).round();
    if n < 0.0 || n > i64::MAX as f64 {
        return Err("value is too precise".into());
    }
    Ok(n as i64)
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn go_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("time: invalid duration \"{s}\"");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration \"{s}\""))?;
        if n_end == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..n_end].parse().map_err(|_| bad())?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mul = match &rest[..u_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            u => return Err(format!("time: unknown unit \"{u}\" in duration \"{s}\"")),
        };
        total += n * mul;
        rest = &rest[u_end..];
    }
    Ok(if neg { -(total as i64) } else { total as i64 })
}

/// `ExposedPorts` and `PortBindings` objects.
pub type PortMaps = (Map<String, Value>, Map<String, Value>);

fn parse_port_range(p: &str) -> Result<(u16, u16), String> {
    let (a, b) = p.split_once('-').unwrap_or((p, p));
    let start: u16 = a
        .parse()
        .map_err(|_| format!("invalid containerPort: {p}"))?;
    let end: u16 = b
        .parse()
        .map_err(|_| format!("invalid containerPort: {p}"))?;
    if end < start {
        return Err(format!("invalid range specified for container port: {p}"));
    }
    Ok((start, end))
}

/// Ports from `-p` and `--expose`: (ExposedPorts, PortBindings), as
/// `nat.ParsePortSpecs` builds them.
pub fn port_specs(publish: &[String], expose: &[String]) -> Result<PortMaps, String> {
    let mut exposed = Map::new();
    let mut bindings = Map::new();
    for spec in publish {
        let (raw, proto) = match spec.rsplit_once('/') {
            Some((r, p)) => (r, p.to_ascii_lowercase()),
            None => (spec.as_str(), "tcp".to_string()),
        };
        // [ip:][hostPort:]containerPort, ip may be [v6].
        let (ip, rest) = if let Some(r) = raw.strip_prefix('[') {
            let (ip, after) = r
                .split_once(']')
                .ok_or_else(|| format!("invalid IP address: {raw}"))?;
            (
                ip.to_string(),
                after.strip_prefix(':').unwrap_or(after).to_string(),
            )
        } else {
            let parts: Vec<&str> = raw.split(':').collect();
            match parts.len() {
                1 | 2 => (String::new(), raw.to_string()),
                3 => (parts[0].to_string(), format!("{}:{}", parts[1], parts[2])),
                _ => {
                    // IPv6 without brackets: last two parts are ports.
                    let n = parts.len();
                    (
                        parts[..n - 2].join(":"),
                        format!("{}:{}", parts[n - 2], parts[n - 1]),
                    )
                }
            }
        };
        let (host_port, container_port) = match rest.split_once(':') {
            Some((h, c)) => (h.to_string(), c.to_string()),
            None => (String::new(), rest.clone()),
        };
        if container_port.is_empty() {
            return Err(format!("no port specified: {spec}<empty>"));
        }
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(format!("invalid proto: {proto}"));
        }
        let (cs, ce) = parse_port_range(&container_port)?;
        let (hs, he) = if host_port.is_empty() {
            (0, 0)
        } else {
            let (a, b) = parse_port_range(&host_port)
                .map_err(|_| format!("invalid hostPort: {host_port}"))?;
            (a, b)
        };
        if !host_port.is_empty() && (he - hs) != (ce - cs) && he != hs {
            return Err(format!("invalid ranges specified for container and host Ports: {container_port} and {host_port}"));
        }
        for (i, cp) in (cs..=ce).enumerate() {
            let key = format!("{cp}/{proto}");
            exposed.insert(key.clone(), json!({}));
            let hp = if host_port.is_empty() {
                String::new()
            } else if hs == he && ce != cs {
                // A single host port for a container range: docker passes the range through.
                host_port.clone()
            } else {
                (hs as usize + i).to_string()
            };
            let entry = json!({"HostIp": ip, "HostPort": hp});
            match bindings.get_mut(&key) {
                Some(Value::Array(a)) => a.push(entry),
                _ => {
                    bindings.insert(key, json!([entry]));
                }
            }
        }
    }
    for e in expose {
        if e.contains(':') {
            return Err(format!("invalid port format for --expose: {e}"));
        }
        let (port, proto) = match e.rsplit_once('/') {
            Some((p, pr)) => (p, pr.to_ascii_lowercase()),
            None => (e.as_str(), "tcp".to_string()),
        };
        let (s, end) = parse_port_range(port)
            .map_err(|err| format!("invalid range format for --expose: {e}, error: {err}"))?;
        for p in s..=end {
            exposed.entry(format!("{p}/{proto}")).or_insert(json!({}));
        }
    }
    Ok((exposed, bindings))
}

/// `--ulimit nofile=1024:2048`.
pub fn ulimit(s: &str) -> Result<Value, String> {
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit argument: {s}"))?;
    let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
    let soft: i64 = soft
        .parse()
        .map_err(|_| format!("invalid ulimit soft value: {soft}"))?;
    let hard: i64 = hard
        .parse()
        .map_err(|_| format!("invalid ulimit hard value: {hard}"))?;
    if soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(json!({"Name": name, "Hard": hard, "Soft": soft}))
}

/// `--device /dev/sda[:/dev/xvda[:rwm]]`.
pub fn device(s: &str) -> Result<Value, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, cont, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, c] if c.chars().all(|x| "rwm".contains(x)) && !c.starts_with('/') => (*h, *h, *c),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => (*h, *c, *p),
        _ => return Err(format!("invalid device specification: {s}")),
    };
    if !perms.chars().all(|x| "rwm".contains(x)) {
        return Err(format!("invalid device mode: {perms}"));
    }
    Ok(json!({"PathOnHost": host, "PathInContainer": cont, "CgroupPermissions": perms}))
}

/// `--blkio-weight-device /dev/sda:200` → `{Path, Weight}`.
pub fn weight_device(s: &str) -> Result<Value, String> {
    let (path, w) = s
        .split_once(':')
        .ok_or_else(|| format!("bad format: {s}"))?;
    if !path.starts_with("/dev/") {
        return Err(format!("bad format for device path: {s}"));
    }
    let w: u16 = w
        .parse()
        .map_err(|_| format!("invalid weight for device: {s}"))?;
    if w > 0 && !(10..=1000).contains(&w) {
        return Err(format!("invalid weight for device: {s}"));
    }
    Ok(json!({"Path": path, "Weight": w}))
}

/// `--device-read-bps /dev/sda:1mb` (or an IOPS number) → `{Path, Rate}`.
pub fn throttle_device(s: &str, bytes: bool) -> Result<Value, String> {
    let (path, r) = s
        .split_once(':')
        .ok_or_else(|| format!("bad format: {s}"))?;
    if !path.starts_with("/dev/") {
        return Err(format!("bad format for device path: {s}"));
    }
    let rate: i64 = if bytes {
        ram_in_bytes(r).map_err(|_| format!("invalid rate for device: {s}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb"))?
    } else {
        r.parse().map_err(|_| format!("invalid rate for device: {s}. The correct format is <device-path>:<number>. Number must be a positive integer"))?
    };
    Ok(json!({"Path": path, "Rate": rate}))
}

/// `--gpus all|N|device=0,1|capabilities=...` → a `DeviceRequest`.
pub fn gpus(v: &str) -> Result<Value, String> {
    // CSV: a quoted field may hold commas (`"device=0,1"`).
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in v.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    let count = |s: &str| -> Result<i64, String> {
        if s == "all" {
            return Ok(-1);
        }
        s.parse::<i64>()
            .map_err(|_| format!("invalid count ({s}): value must be either \"all\" or an integer"))
    };
    let mut req = Map::new();
    let mut seen: Vec<String> = Vec::new();
    for f in fields {
        let (k, val) = match f.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (f.clone(), None),
        };
        if seen.contains(&k) {
            return Err(format!("gpu request key '{k}' can be specified only once"));
        }
        seen.push(k.clone());
        let Some(val) = val else {
            seen.push("count".into());
            req.insert("Count".into(), json!(count(&k)?));
            continue;
        };
        match k.as_str() {
            "driver" => {
                req.insert("Driver".into(), json!(val));
            }
            "count" => {
                req.insert("Count".into(), json!(count(&val)?));
            }
            "device" => {
                req.insert(
                    "DeviceIDs".into(),
                    json!(val.split(',').collect::<Vec<_>>()),
                );
            }
            "capabilities" => {
                let mut caps: Vec<&str> = val.split(',').collect();
                caps.push("gpu");
                req.insert("Capabilities".into(), json!([caps]));
            }
            "options" => {
                let mut m = Map::new();
                for kv in val.split(',') {
                    let (a, b) = kv.split_once('=').unwrap_or((kv, ""));
                    m.insert(a.to_string(), json!(b));
                }
                req.insert("Options".into(), Value::Object(m));
            }
            _ => return Err(format!("unexpected key '{k}' in '{f}'")),
        }
    }
    if !seen.iter().any(|k| k == "count") && !req.contains_key("DeviceIDs") {
        req.insert("Count".into(), json!(1));
    }
    let get = |k: &str, d: Value| req.get(k).cloned().unwrap_or(d);
    Ok(json!({
        "Driver": get("Driver", json!("")),
        "Count": get("Count", json!(0)),
        "DeviceIDs": get("DeviceIDs", Value::Null),
        "Capabilities": get("Capabilities", json!([["gpu"]])),
        "Options": get("Options", json!({})),
    }))
}

/// `--mount type=bind,source=/a,target=/b,readonly`.
pub fn mount(s: &str) -> Result<Value, String> {
    let mut m = Map::new();
    let mut typ = "volume".to_string();
    let mut bind_opts = Map::new();
    let mut vol_opts = Map::new();
    let mut tmpfs_opts = Map::new();
    for field in s.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let truthy = |v: &Option<String>| -> Result<bool, String> {
            match v.as_deref() {
                None | Some("1") | Some("true") => Ok(true),
                Some("0") | Some("false") => Ok(false),
                Some(o) => Err(format!("invalid value for {k}: {o}")),
            }
        };
        match k.as_str() {
            "type" => typ = v.unwrap_or_default(),
            "source" | "src" => {
                m.insert("Source".into(), json!(v.unwrap_or_default()));
            }
            "target" | "dst" | "destination" => {
                m.insert("Target".into(), json!(v.unwrap_or_default()));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(truthy(&v)?));
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(v.unwrap_or_default()));
            }
            "bind-propagation" => {
                bind_opts.insert("Propagation".into(), json!(v.unwrap_or_default()));
            }
            "bind-recursive" => {}
            "volume-nocopy" => {
                vol_opts.insert("NoCopy".into(), json!(truthy(&v)?));
            }
            "volume-subpath" => {
                vol_opts.insert("Subpath".into(), json!(v.unwrap_or_default()));
            }
            "volume-driver" => {
                let dc = vol_opts.entry("DriverConfig").or_insert_with(|| json!({}));
                dc["Name"] = json!(v.unwrap_or_default());
            }
            "volume-opt" | "volume-label" => {
                let val = v.unwrap_or_default();
                let (ok, ov) = val.split_once('=').unwrap_or((val.as_str(), ""));
                let map = if k == "volume-opt" {
                    let dc = vol_opts.entry("DriverConfig").or_insert_with(|| json!({}));
                    if dc.get("Options").is_none() {
                        dc["Options"] = json!({});
                    }
                    &mut dc["Options"]
                } else {
                    vol_opts.entry("Labels").or_insert_with(|| json!({}))
                };
                if !ok.is_empty() {
                    map[ok] = json!(ov);
                }
            }
            "bind-create-src" => {
                bind_opts.insert("CreateMountpoint".into(), json!(truthy(&v)?));
            }
            "tmpfs-size" => {
                tmpfs_opts.insert(
                    "SizeBytes".into(),
                    json!(ram_in_bytes(&v.unwrap_or_default())?),
                );
            }
            "tmpfs-mode" => {
                let mode =
                    i64::from_str_radix(&v.unwrap_or_default(), 8).map_err(|e| e.to_string())?;
                tmpfs_opts.insert("Mode".into(), json!(mode));
            }
            _ => return Err(format!("unexpected key '{k}' in '{field}'")),
        }
    }
    m.insert("Type".into(), json!(typ));
    if !m.contains_key("Target") {
        return Err("target is required".into());
    }
    if !bind_opts.is_empty() {
        m.insert("BindOptions".into(), Value::Object(bind_opts));
    }
    if !vol_opts.is_empty() {
        m.insert("VolumeOptions".into(), Value::Object(vol_opts));
    }
    if !tmpfs_opts.is_empty() {
        m.insert("TmpfsOptions".into(), Value::Object(tmpfs_opts));
    }
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(ram_in_bytes("512m").unwrap(), 512 * 1024 * 1024);
        assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("100").unwrap(), 100);
        assert_eq!(ram_in_bytes("64MB").unwrap(), 64 << 20);
        assert!(ram_in_bytes("abc").is_err());
        assert_eq!(mem_swap("-1").unwrap(), -1);
        assert_eq!(nano_cpus("1.5").unwrap(), 1_500_000_000);
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration("30s").unwrap(), 30_000_000_000);
        assert_eq!(go_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(go_duration("250ms").unwrap(), 250_000_000);
        assert_eq!(go_duration("0").unwrap(), 0);
        assert!(go_duration("5").is_err());
    }

    #[test]
    fn ports() {
        let (e, b) = port_specs(
            &[
                "8080:80".into(),
                "127.0.0.1:53:53/udp".into(),
                "9000".into(),
            ],
            &["7000-7001".into()],
        )
        .unwrap();
        assert_eq!(b["80/tcp"], json!([{"HostIp": "", "HostPort": "8080"}]));
        assert_eq!(
            b["53/udp"],
            json!([{"HostIp": "127.0.0.1", "HostPort": "53"}])
        );
        assert_eq!(b["9000/tcp"], json!([{"HostIp": "", "HostPort": ""}]));
        assert!(e.contains_key("7001/tcp") && e.contains_key("80/tcp"));
        let (_, b) = port_specs(&["[::1]:8080:80".into()], &[]).unwrap();
        assert_eq!(b["80/tcp"], json!([{"HostIp": "::1", "HostPort": "8080"}]));
        assert!(port_specs(&["x:y".into()], &[]).is_err());
    }

    #[test]
    fn misc() {
        assert_eq!(
            ulimit("nofile=1024:2048").unwrap(),
            json!({"Name": "nofile", "Hard": 2048, "Soft": 1024})
        );
        assert_eq!(device("/dev/fuse").unwrap()["PathInContainer"], "/dev/fuse");
        let m = mount("type=volume,src=v,dst=/d,volume-driver=local,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-label=a=b,volume-nocopy").unwrap();
        assert_eq!(
            m["VolumeOptions"],
            json!({"NoCopy": true, "Labels": {"a": "b"}, "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs"}}})
        );
        let m = mount("type=bind,src=/a,dst=/b,readonly").unwrap();
        assert_eq!(
            m,
            json!({"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": true})
        );
    }
}
