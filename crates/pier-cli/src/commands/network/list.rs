//! `pier network ls`: docker's table (`NETWORK ID  NAME  DRIVER  SCOPE`),
//! sorted by name, `-q`, `--no-trunc`, `--filter` and `--format`.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::LsArgs;
use crate::client::Query;
use crate::commands::{filters_json, print_rendered, CmdResult, Ctx};
use crate::format::template::{method, ObjKind, Object, Value};
use crate::format::{self, gotime, truncate_id, Format};

pub const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

/// docker's `NewNetworkFormat`.
pub fn format_string(source: &str, quiet: bool) -> String {
    match source {
        "table" if quiet => "{{.ID}}".into(),
        "table" => DEFAULT_TABLE.into(),
        "raw" if quiet => "network_id: {{.ID}}".into(),
        "raw" => {
            "network_id: {{.ID}}\nname: {{.Name}}\ndriver: {{.Driver}}\nscope: {{.Scope}}\n".into()
        }
        other => other.into(),
    }
}

pub fn header() -> Value {
    format::header(&[
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("IPv4", "IPV4"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("Labels", "LABELS"),
        ("CreatedAt", "CREATED AT"),
    ])
}

fn row(n: &Json, trunc: bool) -> Value {
    let s = |k: &str| {
        n.get(k)
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let b = |k: &str| {
        n.get(k)
            .and_then(Json::as_bool)
            .unwrap_or(false)
            .to_string()
    };
    let id = s("Id");
    let labels: BTreeMap<String, String> = n
        .get("Labels")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let label_list: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut o = Object::new(ObjKind::Struct, "*formatter.networkContext")
        .with("CreatedAt", gotime::rfc3339_to_go(&s("Created")))
        .with("Driver", s("Driver"))
        .with("ID", if trunc { truncate_id(&id) } else { id.clone() })
        .with(
            "IPv4",
            n.get("EnableIPv4")
                .and_then(Json::as_bool)
                .unwrap_or(true)
                .to_string(),
        )
        .with("IPv6", b("EnableIPv6"))
        .with("Internal", b("Internal"))
        .with("Labels", label_list.join(","))
        .with("Name", s("Name"))
        .with("Scope", s("Scope"))
        .method(
            "Label",
            method(move |a| {
                if a.len() != 1 {
                    return Err(crate::format::template::funcs::arity_error(
                        "Label",
                        1,
                        a.len(),
                    ));
                }
                let k = a.first().and_then(Value::as_str).unwrap_or_default();
                Ok(Value::from(labels.get(k).cloned().unwrap_or_default()))
            }),
        );
    o.escape_html = true;
    Value::from(o)
}

/// Go's `sortorder.NaturalLess`: digit runs compare as numbers.
fn natural_less(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    while !x.is_empty() && !y.is_empty() {
        if x[0].is_ascii_digit() && y[0].is_ascii_digit() {
            let lx = x.iter().take_while(|c| c.is_ascii_digit()).count();
            let ly = y.iter().take_while(|c| c.is_ascii_digit()).count();
            let (dx, dy) = (&x[..lx], &y[..ly]);
            let tx: &[u8] = {
                let z = dx.iter().take_while(|c| **c == b'0').count();
                &dx[z..]
            };
            let ty: &[u8] = {
                let z = dy.iter().take_while(|c| **c == b'0').count();
                &dy[z..]
            };
            let ord = tx.len().cmp(&ty.len()).then(tx.cmp(ty)).then(lx.cmp(&ly));
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
            x = &x[lx..];
            y = &y[ly..];
        } else {
            if x[0] != y[0] {
                return x[0].cmp(&y[0]);
            }
            x = &x[1..];
            y = &y[1..];
        }
    }
    x.len().cmp(&y.len())
}

pub async fn run(ctx: &Ctx, a: LsArgs) -> CmdResult {
    ctx.no_args(&a.args)?;
    let filters = filters_json(ctx, &a.filter)?;
    let q = Query::new().add_if(
        filters.is_some(),
        "filters",
        filters.clone().unwrap_or_default(),
    );
    let list = ctx.client.get_json(&q.path("/networks")).await?;
    let mut items = list.as_array().cloned().unwrap_or_default();
    let name = |n: &Json| {
        n.get("Name")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string()
    };
    items.sort_by(|x, y| natural_less(&name(x), &name(y)));
    let mut src = a.format.clone().unwrap_or_default();
    if src.is_empty() {
        src = match crate::config::load().networks_format {
            Some(f) if !a.quiet => f,
            _ => "table".into(),
        };
    }
    let fmt = format_string(&src, a.quiet);
    let rows: Vec<Value> = items.iter().map(|n| row(n, !a.no_trunc)).collect();
    let out = format::render(&Format::new(&fmt), &header(), &rows)?;
    print_rendered(&out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_like_docker() {
        let items = [
            serde_json::json!({"Name": "bridge", "Id": "854a73c5ccb4cb98790ff242cbd4bb90", "Driver": "bridge", "Scope": "local", "Labels": {}}),
            serde_json::json!({"Name": "mynet", "Id": "39e8c1059f0948bec01a711bd3aac91c", "Driver": "bridge", "Scope": "local", "Labels": {"a": "b"}}),
        ];
        let rows: Vec<Value> = items.iter().map(|n| row(n, true)).collect();
        let out = format::render(&Format::new(DEFAULT_TABLE), &header(), &rows).unwrap();
        assert_eq!(
            out,
            "NETWORK ID     NAME      DRIVER    SCOPE\n854a73c5ccb4   bridge    bridge    local\n39e8c1059f09   mynet     bridge    local\n"
        );
        let out = format::render(
            &Format::new("{{.Name}} {{.Label \"a\"}} {{.Labels}}"),
            &header(),
            &rows[1..],
        )
        .unwrap();
        assert_eq!(out, "mynet b a=b\n");
        assert_eq!(natural_less("net10", "net9"), std::cmp::Ordering::Greater);
        assert_eq!(natural_less("a", "b"), std::cmp::Ordering::Less);
    }
}
