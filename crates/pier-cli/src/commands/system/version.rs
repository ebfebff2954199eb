//! `pier version`: docker's default template over client and server
//! versions, aligned by a tabwriter (minwidth 20, padding 1).

use std::rc::Rc;

use crate::cli::VersionArgs;
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::format::tabwriter::TabWriter;
use crate::format::template::value::parse_json;
use crate::format::template::{funcs, ObjKind, Object, Template, Value};
use crate::output;

const DEFAULT_TEMPLATE: &str = r#"{{with .Client -}}
Client:{{if ne .Platform nil}}{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}{{end}}
 Version:	{{.Version}}
 API version:	{{.APIVersion}}{{if ne .APIVersion .DefaultAPIVersion}} (downgraded from {{.DefaultAPIVersion}}){{end}}
 Go version:	{{.GoVersion}}
 Git commit:	{{.GitCommit}}
 Built:	{{.BuildTime}}
 OS/Arch:	{{.Os}}/{{.Arch}}
 Context:	{{.Context}}
{{- end}}

{{- if ne .Server nil}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:	{{.Version}}
  API version:	{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Go version:	{{index .Details "GoVersion"}}
  Git commit:	{{index .Details "GitCommit"}}
  Built:	{{index .Details "BuildTime"}}
  OS/Arch:	{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:	{{index .Details "Experimental"}}
  {{- else }}
  Version:	{{$component.Version}}
  {{- $detailsOrder := getDetailsOrder $component}}
  {{- range $key := $detailsOrder}}
  {{$key}}:	{{index $component.Details $key}}
   {{- end}}
  {{- end}}
 {{- end}}
 {{- end}}{{- end}}"#;

pub const API_VERSION: &str = pier_api::version::API_VERSION;

/// Go's name for the architecture.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The client half, with docker's JSON field names.
pub fn client_object(api_version: &str) -> Object {
    let mut o = Object::new(ObjKind::Struct, "system.clientVersion")
        .with("Platform", Value::Nil)
        .with("Version", env!("CARGO_PKG_VERSION"))
        .with("ApiVersion", api_version)
        .with("DefaultAPIVersion", API_VERSION)
        .with(
            "GitCommit",
            option_env!("PIER_GIT_COMMIT").unwrap_or("unknown"),
        )
        .with("GoVersion", "n/a (rust)")
        .with("Os", "linux")
        .with("Arch", go_arch())
        .with("BuildTime", option_env!("PIER_BUILD_TIME").unwrap_or(""))
        .with("Context", "default");
    o.omit_empty = &[
        "Platform",
        "Version",
        "ApiVersion",
        "DefaultAPIVersion",
        "GitCommit",
        "GoVersion",
        "Os",
        "Arch",
        "BuildTime",
    ];
    o
}

/// `reformatDate`: RFC 3339 build times as `time.ANSIC`.
fn reformat_date(s: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) => t.format("%a %b %e %H:%M:%S %Y").to_string(),
        Err(_) => s.to_string(),
    }
}

/// min(client, server) API version, as version negotiation would give.
fn negotiated(server: Option<&str>) -> String {
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (a, b) = v.split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    match server.and_then(parse) {
        Some(s) if parse(API_VERSION).is_some_and(|c| s < c) => {
            server.unwrap_or(API_VERSION).to_string()
        }
        _ => API_VERSION.to_string(),
    }
}

fn server_value(mut v: serde_json::Value) -> Value {
    // Reformat the Engine's BuildTime; add an Engine component when missing.
    let mut found = false;
    if let Some(cs) = v.get_mut("Components").and_then(|c| c.as_array_mut()) {
        for c in cs.iter_mut() {
            if c.get("Name").and_then(|n| n.as_str()) == Some("Engine") {
                found = true;
                if let Some(bt) = c.pointer_mut("/Details/BuildTime") {
                    if let Some(s) = bt.as_str() {
                        *bt = serde_json::Value::from(reformat_date(s));
                    }
                }
            }
        }
    }
    if !found {
        let g = |k: &str| v.get(k).cloned().unwrap_or(serde_json::Value::from(""));
        let engine = serde_json::json!({
            "Name": "Engine", "Version": g("Version"),
            "Details": {"ApiVersion": g("ApiVersion"), "MinAPIVersion": g("MinAPIVersion"), "GitCommit": g("GitCommit"),
                        "GoVersion": g("GoVersion"), "Os": g("Os"), "Arch": g("Arch"), "KernelVersion": g("KernelVersion"),
                        "BuildTime": reformat_date(g("BuildTime").as_str().unwrap_or_default())}
        });
        match v.get_mut("Components").and_then(|c| c.as_array_mut()) {
            Some(a) => a.push(engine),
            None => {
                if let Some(o) = v.as_object_mut() {
                    o.insert("Components".into(), serde_json::json!([engine]));
                }
            }
        }
    }
    // types.Version, in Go field order.
    let g = |k: &str| v.get(k).cloned().unwrap_or(serde_json::Value::Null);
    let ordered = serde_json::json!([
        ["Platform", {"Name": v.pointer("/Platform/Name").cloned().unwrap_or(serde_json::Value::from(""))}],
        ["Components", g("Components")],
        ["Version", g("Version")],
        ["ApiVersion", g("ApiVersion")],
        ["MinAPIVersion", g("MinAPIVersion")],
        ["GitCommit", g("GitCommit")],
        ["GoVersion", g("GoVersion")],
        ["Os", g("Os")],
        ["Arch", g("Arch")],
        ["KernelVersion", g("KernelVersion")],
        ["Experimental", g("Experimental")],
        ["BuildTime", g("BuildTime")]
    ]);
    let to_value = |j: &serde_json::Value| {
        parse_json(&serde_json::to_vec(j).unwrap_or_default()).unwrap_or(Value::Nil)
    };
    let mut o = Object::new(ObjKind::Struct, "types.Version");
    for pair in ordered.as_array().into_iter().flatten() {
        let key = pair[0].as_str().unwrap_or_default().to_string();
        let val = if key == "Components" {
            let comps: Vec<Value> = pair[1]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    Value::from(
                        Object::new(ObjKind::Struct, "types.ComponentVersion")
                            .with("Name", to_value(&c["Name"]))
                            .with("Version", to_value(&c["Version"]))
                            .with("Details", to_value(&c["Details"])),
                    )
                })
                .collect();
            Value::from(comps)
        } else {
            to_value(&pair[1])
        };
        o.fields.push((key, val));
    }
    o.omit_empty = &["Experimental", "BuildTime"];
    Value::from(o)
}

pub async fn run(ctx: &Ctx, a: VersionArgs) -> CmdResult {
    ctx.no_args(&a.args)?;
    let src = match a.format.as_deref() {
        None | Some("") => DEFAULT_TEMPLATE.to_string(),
        Some("json") => "{{json .}}".to_string(),
        Some(f) => f.to_string(),
    };
    let tmpl = Template::parse_with("version", &src, funcs_with_details())
        .map_err(|e| CmdError::new(64, format!("template parsing error: {e}")))?;
    let server = ctx.client.get_json("/version").await;
    let (server_val, api, err) = match server {
        Ok(v) => {
            let api = negotiated(v.get("ApiVersion").and_then(|s| s.as_str()));
            (server_value(v), api, None)
        }
        Err(e) => (Value::Nil, API_VERSION.to_string(), Some(e)),
    };
    let data = Value::from(
        Object::new(ObjKind::Struct, "system.versionInfo")
            .with("Client", Value::from(client_object(&api)))
            .with("Server", server_val),
    );
    let (text, exec_err) = tmpl.execute_partial(&data, &funcs_with_details());
    let tw = TabWriter {
        minwidth: 20,
        padding: 1,
    };
    output::out(&tw.format(&format!("{text}\n")));
    if let Some(e) = err {
        return Err(e.into());
    }
    if let Some(e) = exec_err {
        return Err(CmdError::new(1, e.to_string()));
    }
    Ok(())
}

fn funcs_with_details() -> funcs::Funcs {
    let mut fs = funcs::basic();
    fs.insert(
        "getDetailsOrder".into(),
        Rc::new(|a: &[Value]| {
            let mut keys: Vec<String> = match a.first() {
                Some(Value::Obj(o)) => match o.get("Details") {
                    Some(Value::Obj(d)) => d.fields.iter().map(|(k, _)| k.clone()).collect(),
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            keys.sort();
            Ok(Value::from(
                keys.into_iter().map(Value::from).collect::<Vec<_>>(),
            ))
        }),
    );
    fs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_template_layout() {
        let server = server_value(serde_json::json!({
            "Platform": {"Name": ""},
            "Components": [{"Name": "Engine", "Version": "28.5.0", "Details": {
                "ApiVersion": "1.51", "MinAPIVersion": "1.24", "GoVersion": "rust", "GitCommit": "abc",
                "BuildTime": "2026-11-23T08:00:00.000000000+00:00", "Os": "linux", "Arch": "amd64", "Experimental": "false"}}],
            "Version": "28.5.0", "ApiVersion": "1.51"
        }));
        let data = Value::from(
            Object::new(ObjKind::Struct, "v")
                .with("Client", Value::from(client_object("1.51")))
                .with("Server", server),
        );
        let t = Template::parse_with("version", DEFAULT_TEMPLATE, funcs_with_details()).unwrap();
        let text = t.execute(&data).unwrap();
        let out = TabWriter {
            minwidth: 20,
            padding: 1,
        }
        .format(&format!("{text}\n"));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "Client:");
        assert!(lines[1].starts_with(" Version:           "), "{out}");
        assert_eq!(lines[2], " API version:       1.51");
        assert!(
            out.contains("\nServer:\n Engine:\n  Version:          28.5.0\n"),
            "{out}"
        );
        assert!(
            out.contains("  API version:      1.51 (minimum version 1.24)\n"),
            "{out}"
        );
        assert!(
            out.contains("  Built:            Mon Nov 23 08:00:00 2026\n"),
            "{out}"
        );
        assert!(out.ends_with("  Experimental:     false\n"), "{out}");
        // The Go name reaches the JSON field through the alias table.
        let t = Template::parse("{{.Server.APIVersion}} {{.Client.APIVersion}}").unwrap();
        assert_eq!(t.execute(&data).unwrap(), "1.51 1.51");
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiated(Some("1.41")), "1.41");
        assert_eq!(negotiated(Some("1.60")), API_VERSION);
        assert_eq!(negotiated(None), API_VERSION);
    }
}
