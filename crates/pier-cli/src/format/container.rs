//! `docker ps` formatting: the container context's fields (`ID`, `Image`,
//! `Command`, `CreatedAt`, `RunningFor`, `Ports`, `State`, `Status`, `Size`,
//! `Names`, `Labels`, `Label`, `Mounts`, `LocalVolumes`, `Networks`,
//! `Platform`) computed from `GET /containers/json` entries exactly as
//! docker's `formatter.ContainerContext` does.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value as Json;

use super::container_json::Port;
pub use super::container_json::Summary;
use super::template::printf::quote;
use super::template::{method, ObjKind, Object, Template, Value};
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

/// `Names` with the `/` prefix stripped; with truncation, only the first
/// name that is not a legacy link alias.
fn names(c: &Summary, trunc: bool) -> String {
    let names: Vec<&str> = c
        .names
        .iter()
        .map(|n| n.get(1..).unwrap_or_default())
        .collect();
    if trunc {
        if let Some(n) = names.iter().find(|n| !n.contains('/')) {
            return n.to_string();
        }
    }
    names.join(",")
}

fn image(c: &Summary, trunc: bool) -> String {
    let img = &*c.image;
    if img.is_empty() {
        return "<no image>".into();
    }
    if trunc {
        let short = truncate_id(&c.image_id);
        if short == truncate_id(img) {
            return short;
        }
        if let Some(r) = reference::Reference::parse(img) {
            return r.familiar_without_digest();
        }
    }
    img.to_string()
}

/// `formatter.DisplayablePorts` of `Ports` entries as JSON.
pub fn displayable_ports(ports: &[Json]) -> String {
    let ports: Vec<Port> = ports.iter().map(Port::from_value).collect();
    ports_text(&ports)
}

/// `formatter.DisplayablePorts`.
fn ports_text(ports: &[Port]) -> String {
    let mut ports: Vec<(&str, u16, u16, &str)> = ports
        .iter()
        .map(|p| (&*p.ip, p.private_port as u16, p.public_port as u16, &*p.typ))
        .collect();
    // By private port, IP, public port, type.
    ports.sort_by(|a, b| {
        a.1.cmp(&b.1)
            .then_with(|| a.0.cmp(b.0))
            .then_with(|| a.2.cmp(&b.2))
            .then_with(|| a.3.cmp(b.3))
    });
    let mut groups: BTreeMap<String, (u16, u16)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for &(ip, private, public, typ) in &ports {
        let current = private;
        let mut key = typ.to_string();
        if !ip.is_empty() {
            if public != current {
                host_mappings.push(format!(
                    "{}->{}/{}",
                    join_host_port(ip, &public.to_string()),
                    private,
                    typ
                ));
                continue;
            }
            key = format!("{ip}/{typ}");
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

/// The context's fields and methods a template can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields(u32);

/// In the order of the context's fields (sorted: `{{json .}}` marshals
/// them as a sorted map), then its `Label` method.
const FIELD_NAMES: [&str; 16] = [
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
    "Status",
    "Label",
];

impl Fields {
    pub const ALL: Fields = Fields(u32::MAX);

    /// What `tmpl` can read: the fields it names, or all of them when it
    /// can reach the whole context (`{{json .}}`, `{{.}}`, `$`).
    pub fn used_by(tmpl: &Template) -> Fields {
        match tmpl.field_names() {
            None => Fields::ALL,
            Some(names) => Fields(
                FIELD_NAMES
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| names.contains(**f))
                    .fold(0, |bits, (i, _)| bits | 1 << i),
            ),
        }
    }

    fn has(self, name: &str) -> bool {
        FIELD_NAMES
            .iter()
            .position(|f| *f == name)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }
}

/// One `docker ps` row as a template value, from a JSON entry.
pub fn context(c: &Json, trunc: bool) -> Value {
    Rows::new(trunc, Fields::ALL).row(&Summary::from_value(c))
}

/// Builds the rows of one listing, remembering what repeats from row to
/// row (most containers share an image; many were created the same second).
pub struct Rows {
    trunc: bool,
    fields: Fields,
    /// (Image, ImageID) → the `Image` column.
    images: HashMap<(String, String), String>,
    /// Created → `RunningFor`.
    ages: HashMap<i64, String>,
}

impl Rows {
    /// Rows with only the given `fields` (the others are left out: the
    /// template cannot read them).
    pub fn new(trunc: bool, fields: Fields) -> Self {
        Self {
            trunc,
            fields,
            images: HashMap::new(),
            ages: HashMap::new(),
        }
    }

    /// One `docker ps` row as a template value.
    pub fn row(&mut self, c: &Summary) -> Value {
        let image = if self.fields.has("Image") {
            let key = (c.image.to_string(), c.image_id.to_string());
            let trunc = self.trunc;
            Some(
                self.images
                    .entry(key)
                    .or_insert_with(|| image(c, trunc))
                    .clone(),
            )
        } else {
            None
        };
        let running_for = if self.fields.has("RunningFor") {
            let created = c.created;
            Some(
                self.ages
                    .entry(created)
                    .or_insert_with(|| since(created))
                    .clone(),
            )
        } else {
            None
        };
        row(c, self.trunc, self.fields, image, running_for)
    }
}

fn row(
    c: &Summary,
    trunc: bool,
    fields: Fields,
    image: Option<String>,
    running_for: Option<String>,
) -> Value {
    let mut o = Object::new(ObjKind::Struct, "*formatter.ContainerContext");
    o.fields.reserve(FIELD_NAMES.len());
    let mut add = |name: &str, value: &dyn Fn() -> Value| {
        if fields.has(name) {
            o.fields.push((name.to_string(), value()));
        }
    };
    add("Command", &|| {
        if trunc {
            Value::from(quote(&ellipsis(&c.command, 20)))
        } else {
            Value::from(quote(&c.command))
        }
    });
    add("CreatedAt", &|| Value::from(gotime::unix_string(c.created)));
    add("ID", &|| {
        Value::from(if trunc {
            truncate_id(&c.id)
        } else {
            c.id.to_string()
        })
    });
    add("Image", &|| Value::from(image.clone().unwrap_or_default()));
    add("Labels", &|| {
        let list: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Value::from(list.join(","))
    });
    add("LocalVolumes", &|| {
        let local = c.mounts.iter().filter(|m| m.driver == "local").count();
        Value::from(local.to_string())
    });
    add("Mounts", &|| {
        let names: Vec<String> = c
            .mounts
            .iter()
            .map(|m| {
                let name = if m.name.is_empty() {
                    &m.source
                } else {
                    &m.name
                };
                if trunc {
                    ellipsis(name, 15)
                } else {
                    name.to_string()
                }
            })
            .collect();
        Value::from(names.join(","))
    });
    add("Names", &|| Value::from(names(c, trunc)));
    add("Networks", &|| {
        let names: Vec<&str> = c.networks.iter().map(|n| &**n).collect();
        Value::from(names.join(","))
    });
    add("Platform", &|| match &c.platform {
        Some(p) => {
            let mut f = format!("{}/{}", p.os, p.architecture);
            if !p.variant.is_empty() {
                f = format!("{f}/{}", p.variant);
            }
            Value::from(f)
        }
        None => Value::Nil,
    });
    add("Ports", &|| Value::from(ports_text(&c.ports)));
    add("RunningFor", &|| {
        Value::from(running_for.clone().unwrap_or_default())
    });
    add("Size", &|| {
        let srw = pier_api::human::human_size_precision(c.size_rw as f64, 3);
        Value::from(if c.size_root_fs > 0 {
            format!(
                "{srw} (virtual {})",
                pier_api::human::human_size_precision(c.size_root_fs as f64, 3)
            )
        } else {
            srw
        })
    });
    add("State", &|| Value::from(&*c.state));
    add("Status", &|| Value::from(&*c.status));
    if fields.has("Label") {
        let labels: BTreeMap<String, String> = c
            .labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        o.methods.push((
            "Label".to_string(),
            method(move |a| {
                if a.len() != 1 {
                    return Err(super::template::funcs::arity_error("Label", 1, a.len()));
                }
                let k = a.first().and_then(Value::as_str).unwrap_or_default();
                Ok(Value::from(labels.get(k).cloned().unwrap_or_default()))
            }),
        ));
    }
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

    /// Leaving out the fields a template does not read changes nothing.
    #[test]
    fn rows_with_only_the_used_fields_render_alike() {
        let mut c = sample();
        c["Ports"] =
            json!([{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}]);
        c["Mounts"] = json!([{"Name": "data", "Driver": "local"}]);
        c["ImageManifestDescriptor"] =
            json!({"platform": {"os": "linux", "architecture": "amd64"}});
        let summary = Summary::from_value(&c);
        for src in [
            DEFAULT_TABLE,
            "table {{.ID}}\t{{.Label \"tier\"}}\t{{.Mounts}}",
            "json",
            "{{.Names}} {{.Size}} {{.Platform}} {{.LocalVolumes}} {{.Networks}}",
            "{{.CreatedAt}} {{.State}} {{if .Labels}}{{.Labels}}{{end}}",
            "{{.}}",
            "{{.Nope}}",
            "{{.Label}}",
        ] {
            let fmt = Format::new(src);
            let tmpl = Template::parse(&fmt.text).unwrap();
            let fields = Fields::used_by(&tmpl);
            for trunc in [true, false] {
                let all = render(
                    &fmt,
                    &header(),
                    &[Rows::new(trunc, Fields::ALL).row(&summary)],
                );
                let some = render(&fmt, &header(), &[Rows::new(trunc, fields).row(&summary)]);
                assert_eq!(format!("{all:?}"), format!("{some:?}"), "{src}");
            }
        }
        assert_ne!(
            Fields::used_by(&Template::parse("{{.ID}}").unwrap()),
            Fields::ALL
        );
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
        let image = |c: &Json, trunc| image(&Summary::from_value(c), trunc);
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
