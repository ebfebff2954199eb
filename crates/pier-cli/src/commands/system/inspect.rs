//! `pier inspect`, `container inspect`, `image inspect`: the daemon's JSON
//! as an indented array (re-indented from the raw bytes, like docker), or
//! `--format` templates over it.

use bytes::Bytes;

use crate::client::{encode, ClientError};
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::format::json;
use crate::format::template::Template;
use crate::output;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Any,
    Container,
    Image,
    Network,
    Volume,
}

const ALL_TYPES: &str = "\"config\", \"container\", \"image\", \"network\", \"node\", \"plugin\", \"secret\", \"service\", \"task\", \"volume\"";

pub fn parse_kind(t: Option<&str>) -> Result<Kind, CmdError> {
    Ok(match t.unwrap_or("") {
        "" => Kind::Any,
        "container" => Kind::Container,
        "image" => Kind::Image,
        "network" => Kind::Network,
        "volume" => Kind::Volume,
        "config" | "node" | "plugin" | "secret" | "service" | "task" => Kind::Any,
        other => {
            return Err(CmdError::new(
                1,
                format!("unknown type: {other:?}: must be one of {ALL_TYPES}"),
            ))
        }
    })
}

async fn fetch(ctx: &Ctx, kind: Kind, name: &str, size: bool) -> Result<Bytes, ClientError> {
    let n = encode(name);
    let path = match kind {
        Kind::Container => format!("/containers/{n}/json{}", if size { "?size=1" } else { "" }),
        Kind::Image => format!("/images/{n}/json"),
        Kind::Network => format!("/networks/{n}"),
        Kind::Volume => format!("/volumes/{n}"),
        Kind::Any => unreachable_any(),
    };
    ctx.client.get_bytes(&path).await
}

fn unreachable_any() -> String {
    // `Kind::Any` is resolved by trying each kind in turn.
    String::from("/_ping")
}

fn skippable(e: &ClientError) -> bool {
    let s = e.to_string();
    e.is_not_found()
        || e.status() == Some(405)
        || s.contains("not supported")
        || s.contains("invalid reference format")
        || s.contains("page not found")
}

async fn get_ref(ctx: &Ctx, kind: Kind, name: &str, size: bool) -> Result<Bytes, String> {
    if kind != Kind::Any {
        return fetch(ctx, kind, name, size)
            .await
            .map_err(|e| e.to_string());
    }
    for k in [Kind::Container, Kind::Image, Kind::Network, Kind::Volume] {
        match fetch(ctx, k, name, size && k == Kind::Container).await {
            Ok(b) => {
                if size && k != Kind::Container {
                    output::errln(&format!(
                        "WARNING: --size ignored for {}",
                        if k == Kind::Image {
                            "image"
                        } else if k == Kind::Network {
                            "network"
                        } else {
                            "volume"
                        }
                    ));
                }
                return Ok(b);
            }
            Err(e) if skippable(&e) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!("Error: No such object: {name}"))
}

/// docker's `inspect.Inspect`.
pub async fn inspect(
    ctx: &Ctx,
    names: &[String],
    format: Option<&str>,
    kind: Kind,
    size: bool,
) -> CmdResult {
    let format = format.unwrap_or("");
    let tmpl = parse_format(format)?;
    let mut found = Vec::with_capacity(names.len());
    for name in names {
        found.push(get_ref(ctx, kind, name, size).await);
    }
    let (out, errs) = render(&found, format, tmpl.as_ref());
    output::out_bytes(&out);
    CmdError::join(errs)
}

/// The template for `--format`, if it is one (not empty, not `json`).
pub fn parse_format(format: &str) -> Result<Option<Template>, CmdError> {
    if format.is_empty() || format == "json" {
        return Ok(None);
    }
    Template::parse(format)
        .map(Some)
        .map_err(|e| CmdError::new(64, format!("template parsing error: {e}")))
}

/// What docker's inspectors print for the objects found (stdout bytes) and
/// the errors to report.
pub fn render(
    found: &[Result<Bytes, String>],
    format: &str,
    tmpl: Option<&Template>,
) -> (Vec<u8>, Vec<String>) {
    let mut errs = Vec::new();
    let mut raws: Vec<&Bytes> = Vec::new();
    let mut buffer = String::new();
    for r in found {
        let raw = match r {
            Ok(r) => r,
            Err(e) => {
                errs.push(e.clone());
                continue;
            }
        };
        match tmpl {
            None => raws.push(raw),
            Some(t) => {
                let v = match crate::format::template::value::parse_json(raw) {
                    Ok(v) => v,
                    Err(e) => {
                        errs.push(format!("unable to read inspect data: {e}"));
                        continue;
                    }
                };
                match t.execute(&v) {
                    Ok(s) => {
                        buffer.push_str(&s);
                        buffer.push('\n');
                    }
                    Err(e) => errs.push(format!("template parsing error: {e}")),
                }
            }
        }
    }
    if tmpl.is_some() {
        if buffer.is_empty() {
            buffer.push('\n');
        }
        return (buffer.into_bytes(), errs);
    }
    if raws.is_empty() {
        return (b"[]\n".to_vec(), errs);
    }
    let mut all = Vec::with_capacity(raws.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
    all.push(b'[');
    for (i, r) in raws.iter().enumerate() {
        if i > 0 {
            all.push(b',');
        }
        all.extend_from_slice(r);
    }
    all.push(b']');
    let formatted = if format == "json" {
        json::compact(&all)
    } else {
        json::indent(&all, "    ")
    };
    match formatted {
        Ok(mut out) => {
            out.push(b'\n');
            (out, errs)
        }
        Err(e) => {
            errs.push(e.to_string());
            (Vec::new(), errs)
        }
    }
}
