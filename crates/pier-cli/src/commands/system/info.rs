//! `pier info`: docker's layout for the fields `GET /info` gives, or a
//! `--format` template over docker's `dockerInfo` (the server's fields at
//! the top level plus `ClientInfo`).

use serde_json::Value as Json;

use crate::cli::InfoArgs;
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::format::bytes_size;
use crate::format::template::value::parse_json;
use crate::format::template::{Object, Template, Value};
use crate::output;

use super::version::client_object;

fn s<'a>(v: &'a Json, k: &str) -> &'a str {
    v.get(k).and_then(Json::as_str).unwrap_or_default()
}

fn go_val(v: Option<&Json>) -> String {
    match v {
        None | Some(Json::Null) => String::new(),
        Some(Json::String(s)) => s.clone(),
        Some(Json::Bool(b)) => b.to_string(),
        Some(Json::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
    }
}

fn list(v: &Json, ptr: &str) -> Vec<String> {
    v.pointer(ptr)
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Json::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// docker's `prettyPrintServerInfo`.
pub fn pretty_server(i: &Json) -> (String, Vec<String>) {
    let mut o = String::new();
    let mut line = |l: String| {
        o.push_str(&l);
        o.push('\n');
    };
    let non_empty = |line: &mut dyn FnMut(String), label: &str, val: &str| {
        if !val.is_empty() {
            line(format!("{label} {val}"));
        }
    };
    line(format!(" Containers: {}", go_val(i.get("Containers"))));
    line(format!("  Running: {}", go_val(i.get("ContainersRunning"))));
    line(format!("  Paused: {}", go_val(i.get("ContainersPaused"))));
    line(format!("  Stopped: {}", go_val(i.get("ContainersStopped"))));
    line(format!(" Images: {}", go_val(i.get("Images"))));
    non_empty(&mut line, " Server Version:", s(i, "ServerVersion"));
    non_empty(&mut line, " Storage Driver:", s(i, "Driver"));
    for (key, indent) in [("DriverStatus", "  "), ("SystemStatus", " ")] {
        if let Some(pairs) = i.get(key).and_then(Json::as_array) {
            for p in pairs {
                let a = p.get(0).and_then(Json::as_str).unwrap_or_default();
                let b = p.get(1).and_then(Json::as_str).unwrap_or_default();
                line(format!("{indent}{a}: {b}"));
            }
        }
    }
    non_empty(&mut line, " Logging Driver:", s(i, "LoggingDriver"));
    non_empty(&mut line, " Cgroup Driver:", s(i, "CgroupDriver"));
    non_empty(&mut line, " Cgroup Version:", s(i, "CgroupVersion"));
    line(" Plugins:".into());
    line(format!(
        "  Volume: {}",
        list(i, "/Plugins/Volume").join(" ")
    ));
    line(format!(
        "  Network: {}",
        list(i, "/Plugins/Network").join(" ")
    ));
    let authz = list(i, "/Plugins/Authorization");
    if !authz.is_empty() {
        line(format!("  Authorization: {}", authz.join(" ")));
    }
    line(format!("  Log: {}", list(i, "/Plugins/Log").join(" ")));
    let cdi = list(i, "/CDISpecDirs");
    if !cdi.is_empty() {
        line(" CDI spec directories:".into());
        for d in cdi {
            line(format!("  {d}"));
        }
    }
    if let Some(devs) = i
        .get("DiscoveredDevices")
        .and_then(Json::as_array)
        .filter(|d| !d.is_empty())
    {
        line(" Discovered Devices:".into());
        for d in devs {
            line(format!("  {}: {}", s(d, "Source"), s(d, "ID")));
        }
    }
    let swarm = i.get("Swarm").cloned().unwrap_or(Json::Null);
    let state = s(&swarm, "LocalNodeState");
    line(format!(" Swarm: {state}"));
    if !state.is_empty() && state != "inactive" && state != "locked" {
        line(format!("  NodeID: {}", s(&swarm, "NodeID")));
        if !s(&swarm, "Error").is_empty() {
            line(format!("  Error: {}", s(&swarm, "Error")));
        }
        line(format!(
            "  Is Manager: {}",
            go_val(swarm.get("ControlAvailable"))
        ));
        line(format!("  Node Address: {}", s(&swarm, "NodeAddr")));
    }
    if let Some(rt) = i
        .get("Runtimes")
        .and_then(Json::as_object)
        .filter(|r| !r.is_empty())
    {
        let names: Vec<&str> = rt.keys().map(String::as_str).collect();
        line(format!(" Runtimes: {}", names.join(" ")));
        line(format!(" Default Runtime: {}", s(i, "DefaultRuntime")));
    }
    let mut errs = Vec::new();
    if s(i, "OSType") == "linux" {
        line(format!(" Init Binary: {}", s(i, "InitBinary")));
        line(format!(
            " containerd version: {}",
            i.pointer("/ContainerdCommit/ID")
                .and_then(Json::as_str)
                .unwrap_or_default()
        ));
        line(format!(
            " runc version: {}",
            i.pointer("/RuncCommit/ID")
                .and_then(Json::as_str)
                .unwrap_or_default()
        ));
        line(format!(
            " init version: {}",
            i.pointer("/InitCommit/ID")
                .and_then(Json::as_str)
                .unwrap_or_default()
        ));
        let so = list(i, "/SecurityOptions");
        if !so.is_empty() {
            let mut parsed = Vec::new();
            for opt in &so {
                let mut name = String::new();
                let mut profile = None;
                for kv in opt.split(',') {
                    match kv.split_once('=') {
                        Some(("name", v)) => name = v.to_string(),
                        Some(("profile", v)) => profile = Some(v.to_string()),
                        Some(_) => {}
                        None => errs.push(format!("invalid security option {opt:?}")),
                    }
                }
                parsed.push((name, profile));
            }
            if errs.is_empty() {
                line(" Security Options:".into());
                for (name, profile) in parsed {
                    line(format!("  {name}"));
                    if let Some(p) = profile {
                        line(format!("   Profile: {p}"));
                    }
                }
            }
        }
    }
    if s(i, "OSType") == "windows" {
        line(format!(" Default Isolation: {}", s(i, "Isolation")));
    }
    non_empty(&mut line, " Kernel Version:", s(i, "KernelVersion"));
    non_empty(&mut line, " Operating System:", s(i, "OperatingSystem"));
    non_empty(&mut line, " OSType:", s(i, "OSType"));
    non_empty(&mut line, " Architecture:", s(i, "Architecture"));
    line(format!(" CPUs: {}", go_val(i.get("NCPU"))));
    line(format!(
        " Total Memory: {}",
        bytes_size(i.get("MemTotal").and_then(Json::as_f64).unwrap_or(0.0))
    ));
    non_empty(&mut line, " Name:", s(i, "Name"));
    non_empty(&mut line, " ID:", s(i, "ID"));
    line(format!(" Docker Root Dir: {}", s(i, "DockerRootDir")));
    let debug = i.get("Debug").and_then(Json::as_bool).unwrap_or(false);
    line(format!(" Debug Mode: {debug}"));
    if debug {
        line(format!("  File Descriptors: {}", go_val(i.get("NFd"))));
        line(format!("  Goroutines: {}", go_val(i.get("NGoroutines"))));
        line(format!("  System Time: {}", s(i, "SystemTime")));
        line(format!(
            "  EventsListeners: {}",
            go_val(i.get("NEventsListener"))
        ));
    }
    non_empty(&mut line, " HTTP Proxy:", s(i, "HttpProxy"));
    non_empty(&mut line, " HTTPS Proxy:", s(i, "HttpsProxy"));
    non_empty(&mut line, " No Proxy:", s(i, "NoProxy"));
    let labels = list(i, "/Labels");
    if !labels.is_empty() {
        line(" Labels:".into());
        for l in labels {
            line(format!("  {l}"));
        }
    }
    line(format!(
        " Experimental: {}",
        i.get("ExperimentalBuild")
            .and_then(Json::as_bool)
            .unwrap_or(false)
    ));
    if let Some(rc) = i.get("RegistryConfig").filter(|r| !r.is_null()) {
        let cidrs = list(rc, "/InsecureRegistryCIDRs");
        let index = rc.get("IndexConfigs").and_then(Json::as_object);
        if !cidrs.is_empty() || index.is_some_and(|m| !m.is_empty()) {
            line(" Insecure Registries:".into());
            if let Some(m) = index {
                for c in m.values() {
                    if !c.get("Secure").and_then(Json::as_bool).unwrap_or(false) {
                        line(format!("  {}", s(c, "Name")));
                    }
                }
            }
            for c in cidrs {
                line(format!("  {c}"));
            }
        }
        let mirrors = list(rc, "/Mirrors");
        if !mirrors.is_empty() {
            line(" Registry Mirrors:".into());
            for m in mirrors {
                line(format!("  {m}"));
            }
        }
    }
    line(format!(
        " Live Restore Enabled: {}",
        i.get("LiveRestoreEnabled")
            .and_then(Json::as_bool)
            .unwrap_or(false)
    ));
    if !s(i, "ProductLicense").is_empty() {
        line(format!(" Product License: {}", s(i, "ProductLicense")));
    }
    if let Some(pools) = i
        .get("DefaultAddressPools")
        .and_then(Json::as_array)
        .filter(|p| !p.is_empty())
    {
        line(" Default Address Pools:".into());
        for p in pools {
            line(format!(
                "   Base: {}, Size: {}",
                s(p, "Base"),
                go_val(p.get("Size"))
            ));
        }
    }
    line(String::new());
    (o, errs)
}

pub async fn run(ctx: &Ctx, a: InfoArgs) -> CmdResult {
    ctx.no_args(&a.args)?;
    let format = a.format.clone().unwrap_or_default();
    if format.is_empty() {
        let mut out = String::from("Client:\n");
        out.push_str(&format!(" Version:    {}\n", env!("CARGO_PKG_VERSION")));
        out.push_str(" Context:    default\n");
        out.push_str(&format!(" Debug Mode: {}\n", ctx.debug));
        out.push('\n');
        out.push_str("Server:\n");
        output::out(&out);
        let info = match ctx.client.get_bytes("/info").await {
            Ok(b) => b,
            Err(e @ crate::client::ClientError::Connect(_)) => return Err(e.into()),
            Err(e) => {
                output::errln(&format!("ERROR: {e}"));
                return Err(CmdError::new(1, "errors pretty printing info"));
            }
        };
        let v: Json = serde_json::from_slice(&info).map_err(|e| CmdError::new(1, e.to_string()))?;
        let (text, errs) = pretty_server(&v);
        output::out(&text);
        for w in list(&v, "/Warnings") {
            output::errln(&w);
        }
        for e in &errs {
            output::errln(&format!("ERROR: {e}"));
        }
        if !errs.is_empty() {
            return Err(CmdError::new(1, "errors pretty printing info"));
        }
        return Ok(());
    }
    let src = if format == "json" {
        "{{json .}}".to_string()
    } else {
        format
    };
    let tmpl = Template::parse(&src)
        .map_err(|e| CmdError::new(64, format!("template parsing error: {e}")))?;
    let raw = match ctx.client.get_bytes("/info").await {
        Ok(b) => b,
        // docker renders its (empty) server info, then reports the connection error.
        Err(e @ crate::client::ClientError::Connect(_)) => {
            output::outln("");
            return Err(e.into());
        }
        Err(e) => {
            // Other API errors are shown and the template still runs on the client info.
            output::errln(&e.to_string());
            bytes::Bytes::new()
        }
    };
    let mut data = match parse_json(&raw) {
        Ok(Value::Obj(o)) => (*o).clone(),
        _ => Object::new(
            crate::format::template::ObjKind::Struct,
            "system.dockerInfo",
        ),
    };
    data.type_name = "system.dockerInfo".into();
    let client = client_object(super::version::API_VERSION)
        .with("Debug", ctx.debug)
        .with("Plugins", Value::from(Vec::new()))
        .with("Warnings", Value::Nil);
    data.fields.push(("ClientInfo".into(), Value::from(client)));
    match tmpl.execute(&Value::from(data)) {
        Ok(s) => {
            output::outln(&s);
            Ok(())
        }
        Err(e) => {
            output::outln("");
            Err(CmdError::new(1, e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_docker() {
        let info = serde_json::json!({
            "Containers": 2, "ContainersRunning": 1, "ContainersPaused": 0, "ContainersStopped": 1, "Images": 1,
            "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]],
            "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": "1",
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Log": ["json-file"]},
            "Swarm": {"LocalNodeState": "inactive"}, "Runtimes": {"runc": {}}, "DefaultRuntime": "runc",
            "OSType": "linux", "InitBinary": "", "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin"], "KernelVersion": "6.1.0", "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
            "Architecture": "x86_64", "NCPU": 2, "MemTotal": 2_087_321_600_i64, "Name": "vm", "ID": "abc",
            "DockerRootDir": "/var/lib/pier", "Debug": false, "ExperimentalBuild": false, "LiveRestoreEnabled": true,
            "ServerVersion": "28.5.0"
        });
        let (out, errs) = pretty_server(&info);
        assert!(errs.is_empty());
        assert!(out.starts_with(" Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 1\n Server Version: 28.5.0\n Storage Driver: overlay2\n  Backing Filesystem: extfs\n"), "{out}");
        assert!(out.contains(" Plugins:\n  Volume: local\n  Network: bridge host null\n  Log: json-file\n Swarm: inactive\n Runtimes: runc\n"), "{out}");
        assert!(
            out.contains(" Security Options:\n  seccomp\n   Profile: builtin\n"),
            "{out}"
        );
        assert!(out.contains(" Total Memory: 1.944GiB\n"), "{out}");
        assert!(out.ends_with(" Live Restore Enabled: true\n\n"), "{out}");
    }
}
