//! `docker ps` formatting: the container context's fields (`ID`, `Image`,
//! `Command`, `CreatedAt`, `RunningFor`, `Ports`, `State`, `Status`, `Size`,
//! `Names`, `Labels`, `Label`, `Mounts`, `LocalVolumes`, `Networks`,
//! `Platform`) computed from `GET /containers/json` entries exactly as
//! docker's `formatter.ContainerContext` does.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::template::printf::quote;
use super::template::{method, ObjKind, Object, Value};
use super::{ellipsis, gotime, since, truncate_id};
use crate::reference;

pub const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// docker's `NewContainerFormat`.
pub fn format_string(source: &str, quiet: bool, size: bool) -> String {
    match source {
        "table" | "" => {
            if quiet {
                return "{{.ID}}".into();
            }
            let mut f = DEFAULT_TABLE.to_string();
            if size {
                f.push_str("\\t{{.Size}}");
            }
            f
        }
        "raw" => {
            if quiet {
                return "container_id: {{.ID}}".into();
            }
            let mut f = "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\ncreated_at: {{.CreatedAt}}\nstate: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\nnames: {{.Names}}\nlabels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n".to_string();
            if size {
                f.push_str("size: {{.Size}}\\n");
            }
            f
        }
        _ => {
            if quiet {
                "{{.ID}}".into()
            } else {
                source.to_string()
            }
        }
    }
}

pub fn header() -> Value {
    super::header(&[
        ("ID", "CONTAINER ID"),
        ("Names", "NAMES"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"),
        ("Ports", "PORTS"),
        ("State", "STATE"),
        ("Status", "STATUS"),
        ("Size", "SIZE"),
        ("Labels", "LABELS"),
        ("Mounts", "MOUNTS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Networks", "NETWORKS"),
        ("Platform", "PLATFORM"),
    ])
}

fn s<'a>(c: &'a Json, k: &str) -> &'a str {
    c.get(k).and_then(Json::as_str).unwrap_or_default()
}

fn i(c: &Json, k: &str) -> i64 {
    c.get(k).and_then(Json::as_i64).unwrap_or_default()
}

/// `Names` with the `/` prefix stripped; with truncation, only the first
/// name that is not a legacy link alias.
pub fn names(c: &Json, trunc: bool) -> String {
    let mut names: Vec<String> = c
        .get("Names")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Json::as_str)
                .map(|n| n.get(1..).unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    if trunc {
        if let Some(n) = names.iter().find(|n| !n.contains('/')) {
            names = vec![n.clone()];
        }
    }
    names.join(",")
}

fn image(c: &Json, trunc: bool) -> String {
    let img = s(c, "Image");
    if img.is_empty() {
        return "<no image>".into();
    }
    if trunc {
        let short = truncate_id(s(c, "ImageID"));
        if short == truncate_id(img) {
            return short;
        }
        if let Some(r) = reference::Reference::parse(img) {
            return r.familiar_without_digest();
        }
    }
    img.to_string()
}

fn labels_map(c: &Json) -> BTreeMap<String, String> {
    c.get("Labels")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

struct Port {
    ip: String,
    private: u16,
    public: u16,
    typ: String,
}

/// `formatter.DisplayablePorts`.
pub fn displayable_ports(ports: &[Json]) -> String {
    let mut ports: Vec<Port> = ports
        .iter()
        .map(|p| Port {
            ip: s(p, "IP").to_string(),
            private: i(p, "PrivatePort") as u16,
            public: i(p, "PublicPort") as u16,
            typ: s(p, "Type").to_string(),
        })
        .collect();
    ports.sort_by(|a, b| {
        a.private
            .cmp(&b.private)
            .then_with(|| a.ip.cmp(&b.ip))
            .then_with(|| a.public.cmp(&b.public))
            .then_with(|| a.typ.cmp(&b.typ))
    });
    let mut groups: BTreeMap<String, (u16, u16)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for p in &ports {
        let current = p.private;
        let mut key = p.typ.clone();
        if !p.ip.is_empty() {
            if p.public != current {
                host_mappings.push(format!(
                    "{}->{}/{}",
                    join_host_port(&p.ip, &p.public.to_string()),
                    p.private,
                    p.typ
                ));
                continue;
            }
            key = format!("{}/{}", p.ip, p.typ);
        }
        match groups.get_mut(&key) {
            None => {
                groups.insert(key.clone(), (current, current));
                order.push(key);
            }
            Some(g) if current == g.1.wrapping_add(1) => g.1 = current,
            Some(g) => {
                result.push(form_group(&key, g.0, g.1));
                *g = (current, current);
            }
        }
    }
    for key in &order {
        let g = groups[key];
        result.push(form_group(key, g.0, g.1));
    }
    result.extend(host_mappings);
    result.join(", ")
}

fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn form_group(key: &str, start: u16, last: u16) -> String {
    let parts: Vec<&str> = key.split('/').collect();
    let mut typ = parts[0];
    let mut ip = "";
    if parts.len() > 1 {
        ip = parts[0];
        typ = parts[1];
    }
    let mut group = start.to_string();
    if start != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{}->{group}", join_host_port(ip, &group));
    }
    format!("{group}/{typ}")
}

/// One `docker ps` row as a template value.
pub fn context(c: &Json, trunc: bool) -> Value {
    let id = s(c, "Id");
    let labels = labels_map(c);
    let command = s(c, "Command");
    let command = if trunc {
        ellipsis(command, 20)
    } else {
        command.to_string()
    };
    let size_rw = i(c, "SizeRw");
    let size_root = i(c, "SizeRootFs");
    let srw = pier_api::human::human_size_precision(size_rw as f64, 3);
    let size = if size_root > 0 {
        format!(
            "{srw} (virtual {})",
            pier_api::human::human_size_precision(size_root as f64, 3)
        )
    } else {
        srw
    };
    let mounts: Vec<&Json> = c
        .get("Mounts")
        .and_then(Json::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let name = if s(m, "Name").is_empty() {
                s(m, "Source")
            } else {
                s(m, "Name")
            };
            if trunc {
                ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect();
    let local_volumes = mounts.iter().filter(|m| s(m, "Driver") == "local").count();
    let networks: Vec<String> = c
        .pointer("/NetworkSettings/Networks")
        .and_then(Json::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let platform = c
        .pointer("/ImageManifestDescriptor/platform")
        .and_then(Json::as_object)
        .map(|p| {
            let g = |k: &str| p.get(k).and_then(Json::as_str).unwrap_or_default();
            let mut f = format!("{}/{}", g("os"), g("architecture"));
            if !g("variant").is_empty() {
                f = format!("{f}/{}", g("variant"));
            }
            Value::from(f)
        })
        .unwrap_or(Value::Nil);
    let label_list: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let ports = c
        .get("Ports")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let created = i(c, "Created");

    // Fields in sorted order: `{{json .}}` marshals them as a sorted map.
    let mut o = Object::new(ObjKind::Struct, "*formatter.ContainerContext")
        .with("Command", quote(&command))
        .with("CreatedAt", gotime::unix_string(created))
        .with(
            "ID",
            if trunc {
                truncate_id(id)
            } else {
                id.to_string()
            },
        )
        .with("Image", image(c, trunc))
        .with("Labels", label_list.join(","))
        .with("LocalVolumes", local_volumes.to_string())
        .with("Mounts", mount_names.join(","))
        .with("Names", names(c, trunc))
        .with("Networks", networks.join(","))
        .with("Platform", platform)
        .with("Ports", displayable_ports(&ports))
        .with("RunningFor", since(created))
        .with("Size", size)
        .with("State", s(c, "State"))
        .with("Status", s(c, "Status"))
        .method(
            "Label",
            method(move |a| {
                if a.len() != 1 {
                    return Err(super::template::funcs::arity_error("Label", 1, a.len()));
                }
                let k = a.first().and_then(Value::as_str).unwrap_or_default();
                Ok(Value::from(labels.get(k).cloned().unwrap_or_default()))
            }),
        );
    o.escape_html = true;
    Value::from(o)
}

/// Whether a `--format` template uses `.Size` (docker then asks for sizes).
pub fn uses_size(format: &str) -> bool {
    format.contains(".Size")
}

#[cfg(test)]
mod tests {
    use super::super::{render, Format};
    use super::*;
    use serde_json::json;

    fn sample() -> Json {
        json!({
            "Id": "8dfafdbc3a40b7a3e1b9c0d0f5cfd1a5e2f3d4c5b6a7980112233445566778899",
            "Names": ["/web"],
            "Image": "busybox",
            "ImageID": "sha256:b6a645e87829498c59675dc73662ffe878da464e810e7a32fbbdfffb6dde85e8",
            "Command": "sh -c 'echo out; echo err >&2; sleep 30'",
            "Created": 0,
            "Ports": [],
            "Labels": {"tier": "front", "a": "b"},
            "State": "running",
            "Status": "Up 5 seconds",
            "NetworkSettings": {"Networks": {"bridge": {}}},
            "Mounts": []
        })
    }

    #[test]
    fn fields_match_docker() {
        let v = context(&sample(), true);
        let f = |t: &str| render(&Format::new(t), &header(), std::slice::from_ref(&v)).unwrap();
        assert_eq!(f("{{.ID}}"), "8dfafdbc3a40\n");
        assert_eq!(f("{{.Command}}"), "\"sh -c 'echo out; ec…\"\n");
        assert_eq!(f("{{.Labels}}"), "a=b,tier=front\n");
        assert_eq!(f("{{.Label \"tier\"}}|{{.Label \"x\"}}"), "front|\n");
        assert_eq!(
            f("{{.Networks}} {{.LocalVolumes}} {{.Size}}"),
            "bridge 0 0B\n"
        );
        let no_trunc = context(&sample(), false);
        let out = render(&Format::new("{{.Command}}"), &header(), &[no_trunc]).unwrap();
        assert_eq!(out, "\"sh -c 'echo out; echo err >&2; sleep 30'\"\n");
    }

    #[test]
    fn default_table_matches_docker_bytes() {
        let mut c = sample();
        c["Command"] = json!("sleep 60");
        c["Status"] = json!("Up 5 hours");
        c["Created"] = json!(chrono::Utc::now().timestamp() - 5 * 3600);
        let v = context(&c, true);
        let out = render(&Format::new(DEFAULT_TABLE), &header(), &[v]).unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE     COMMAND      CREATED       STATUS       PORTS     NAMES\n\
             8dfafdbc3a40   busybox   \"sleep 60\"   5 hours ago   Up 5 hours             web\n"
        );
    }

    #[test]
    fn json_keys_sorted_like_docker() {
        let v = context(&sample(), true);
        let out = render(&Format::new("json"), &header(), &[v]).unwrap();
        let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, Json>>(out.trim())
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            keys,
            [
                "Command",
                "CreatedAt",
                "ID",
                "Image",
                "Labels",
                "LocalVolumes",
                "Mounts",
                "Names",
                "Networks",
                "Platform",
                "Ports",
                "RunningFor",
                "Size",
                "State",
                "Status"
            ]
        );
        assert!(out.starts_with("{\"Command\":\"\\\"sh -c"), "{out}");
    }

    #[test]
    fn ports_like_docker() {
        let p = |ip: &str, private: u16, public: u16, t: &str| json!({"IP": ip, "PrivatePort": private, "PublicPort": public, "Type": t});
        assert_eq!(
            displayable_ports(&[p("0.0.0.0", 80, 8080, "tcp"), p("", 9988, 0, "tcp")]),
            "9988/tcp, 0.0.0.0:8080->80/tcp"
        );
        assert_eq!(
            displayable_ports(&[
                p("", 80, 0, "tcp"),
                p("", 81, 0, "tcp"),
                p("", 82, 0, "tcp")
            ]),
            "80-82/tcp"
        );
        assert_eq!(
            displayable_ports(&[p("0.0.0.0", 80, 80, "tcp")]),
            "0.0.0.0:80->80/tcp"
        );
        assert_eq!(
            displayable_ports(&[p("::", 80, 8080, "tcp")]),
            "[::]:8080->80/tcp"
        );
    }

    #[test]
    fn image_names() {
        let mut c = sample();
        c["Image"] = json!("docker.io/library/busybox:latest@sha256:abcd");
        assert_eq!(image(&c, true), "busybox:latest");
        c["Image"] = json!("busybox@sha256:abcd");
        assert_eq!(image(&c, true), "busybox");
        c["Image"] =
            json!("sha256:b6a645e87829498c59675dc73662ffe878da464e810e7a32fbbdfffb6dde85e8");
        assert_eq!(image(&c, true), "b6a645e87829");
        assert_eq!(
            image(&c, false),
            "sha256:b6a645e87829498c59675dc73662ffe878da464e810e7a32fbbdfffb6dde85e8"
        );
    }
}
