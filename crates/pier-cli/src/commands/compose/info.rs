//! Read-only verbs: `ps`, `ls`, `config`, `images`, `top`, `port`,
//! `version`, laid out as docker compose prints them.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{labels, Compose};
use crate::cli::{
    ComposeConfigArgs, ComposeImagesArgs, ComposeLsArgs, ComposePortArgs, ComposePsArgs,
    ComposeVersionArgs, ServicesArgs,
};
use crate::client::{encode, Client, Query};
use crate::commands::{CmdError, CmdResult};
use crate::format::{self, template::Value as TValue, Format};
use crate::output;

pub fn version(a: ComposeVersionArgs) -> CmdResult {
    let v = labels::COMPOSE_VERSION;
    if a.short {
        output::outln(v);
    } else if a.format.as_deref() == Some("json") {
        output::outln(&json!({ "version": format!("v{v}") }).to_string());
    } else {
        output::outln(&format!("Docker Compose version v{v}"));
    }
    Ok(())
}

fn render_table(fmt: &str, columns: &[(&str, &str)], rows: &[Value]) -> Result<String, CmdError> {
    let source = if fmt == "table" {
        let cols: Vec<String> = columns
            .iter()
            .map(|(k, _)| format!("{{{{.{k}}}}}"))
            .collect();
        format!("table {}", cols.join("\t"))
    } else {
        fmt.to_string()
    };
    let f = Format::new(&source);
    let header = format::header(columns);
    let rows: Vec<TValue> = rows
        .iter()
        .map(|r| {
            format::template::value::parse_json(&serde_json::to_vec(r).unwrap_or_default())
                .unwrap_or(TValue::Nil)
        })
        .collect();
    Ok(format::render(&f, &header, &rows)?)
}

fn quoted_command(c: &Value, trunc: bool) -> String {
    let cmd = c["Command"].as_str().unwrap_or_default();
    let cmd = if trunc {
        format::ellipsis(cmd, 20)
    } else {
        cmd.to_string()
    };
    format!("\"{cmd}\"")
}

pub async fn ps(c: &Compose, a: ComposePsArgs) -> CmdResult {
    let services = c.select(&a.service_names)?;
    let mut cs = c.service_containers(&services, a.all).await?;
    if a.all {
        // `-a` includes one-off containers of `run`.
        for x in c.containers(true, true).await? {
            if x.oneoff && (a.service_names.is_empty() || a.service_names.contains(&x.service)) {
                cs.push(x);
            }
        }
    }
    let mut statuses = a.status.clone();
    if let Some(f) = &a.filter {
        if let Some(s) = f.strip_prefix("status=") {
            statuses.push(s.to_string());
        } else {
            return Err(CmdError::new(1, format!("unknown filter {f}")));
        }
    }
    if !statuses.is_empty() {
        cs.retain(|x| statuses.contains(&x.state));
    }
    cs.sort_by(|x, y| x.name.cmp(&y.name));
    if a.quiet {
        for x in &cs {
            output::outln(&x.id);
        }
        return Ok(());
    }
    if a.services {
        let mut seen = Vec::new();
        for x in &cs {
            if !seen.contains(&x.service) {
                output::outln(&x.service);
                seen.push(x.service.clone());
            }
        }
        return Ok(());
    }
    let mut rows = Vec::new();
    for x in &cs {
        let s = &x.summary;
        let ports = s["Ports"].as_array().cloned().unwrap_or_default();
        let created = s["Created"].as_i64().unwrap_or(0);
        let status = s["Status"].as_str().unwrap_or_default().to_string();
        let health = if status.contains("(healthy)") {
            "healthy"
        } else if status.contains("(unhealthy)") {
            "unhealthy"
        } else if status.contains("(health: starting)") {
            "starting"
        } else {
            ""
        };
        let exit_code = status
            .strip_prefix("Exited (")
            .and_then(|r| r.split(')').next())
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0);
        let publishers: Vec<Value> = ports
            .iter()
            .map(|p| {
                json!({
                    "URL": p["IP"].as_str().unwrap_or_default(),
                    "TargetPort": p["PrivatePort"],
                    "PublishedPort": p["PublicPort"].as_u64().unwrap_or(0),
                    "Protocol": p["Type"],
                })
            })
            .collect();
        let labels_str = s["Labels"]
            .as_object()
            .map(|m| {
                let b: BTreeMap<_, _> = m.iter().collect();
                b.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        // As compose's summary: mount names (volume name, else source)
        // and how many use the local driver.
        let mounts = s["Mounts"].as_array().cloned().unwrap_or_default();
        let local_volumes = mounts.iter().filter(|m| m["Driver"] == "local").count();
        let mounts: Vec<String> = mounts
            .iter()
            .map(|m| {
                let name = m["Name"].as_str().unwrap_or_default();
                let name = if name.is_empty() {
                    m["Source"].as_str().unwrap_or_default()
                } else {
                    name
                };
                if a.no_trunc {
                    name.to_string()
                } else {
                    format::ellipsis(name, 15)
                }
            })
            .collect();
        let id = if a.no_trunc {
            x.id.clone()
        } else {
            x.id.chars().take(12).collect()
        };
        rows.push(json!({
            "ID": id,
            "Name": x.name,
            "Names": x.name,
            "Image": s["Image"],
            "Command": quoted_command(s, !a.no_trunc),
            "Project": c.project.name,
            "Service": x.service,
            "Created": created,
            "CreatedAt": format::gotime::unix_string(created),
            "RunningFor": format::since(created),
            "State": x.state,
            "Status": status,
            "Health": health,
            "ExitCode": exit_code,
            "Ports": format::container::displayable_ports(&ports),
            "Publishers": publishers,
            "Labels": labels_str,
            "LocalVolumes": local_volumes.to_string(),
            "Mounts": mounts.join(","),
            "Networks": s.pointer("/NetworkSettings/Networks").and_then(Value::as_object).map(|n| n.keys().cloned().collect::<Vec<_>>().join(",")).unwrap_or_default(),
            "Size": "0B",
        }));
    }
    let out = match a.format.as_str() {
        "json" => {
            let mut s = String::new();
            for r in &rows {
                s.push_str(&r.to_string());
                s.push('\n');
            }
            s
        }
        f => render_table(
            f,
            &[
                ("Name", "NAME"),
                ("Image", "IMAGE"),
                ("Command", "COMMAND"),
                ("Service", "SERVICE"),
                ("RunningFor", "CREATED"),
                ("Status", "STATUS"),
                ("Ports", "PORTS"),
            ],
            &rows,
        )?,
    };
    output::out(&out);
    Ok(())
}

pub async fn ls(client: &Client, a: ComposeLsArgs) -> CmdResult {
    // As compose: without -a only running containers are listed, so
    // only they are counted.
    let q = Query::new()
        .add_if(a.all, "all", "1")
        .add("filters", json!({"label": [labels::PROJECT]}).to_string());
    let v = client.get_json(&q.path("/containers/json")).await?;
    // project -> (states, config files)
    let mut projects: BTreeMap<String, (BTreeMap<String, u32>, String)> = BTreeMap::new();
    for x in v.as_array().cloned().unwrap_or_default() {
        let l = &x["Labels"];
        let name = l[labels::PROJECT].as_str().unwrap_or_default().to_string();
        let e = projects.entry(name).or_default();
        *e.0.entry(x["State"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
        if e.1.is_empty() {
            e.1 = l[labels::CONFIG_FILES]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
    }
    let mut rows = Vec::new();
    for (name, (states, files)) in projects {
        let status = states
            .iter()
            .map(|(s, n)| format!("{s}({n})"))
            .collect::<Vec<_>>()
            .join(", ");
        rows.push(json!({"Name": name, "Status": status, "ConfigFiles": files}));
    }
    if a.quiet {
        for r in &rows {
            output::outln(r["Name"].as_str().unwrap_or_default());
        }
        return Ok(());
    }
    let out = match a.format.as_str() {
        // compose marshals its struct: keys in field order, not sorted.
        "json" => json_in_field_order(
            &rows,
            &[
                ("Name", "Name"),
                ("Status", "Status"),
                ("ConfigFiles", "ConfigFiles"),
            ],
        ),
        f => render_table(
            f,
            &[
                ("Name", "NAME"),
                ("Status", "STATUS"),
                ("ConfigFiles", "CONFIG FILES"),
            ],
            &rows,
        )?,
    };
    output::out(&out);
    Ok(())
}

/// One of `config`'s listing flags and the project method behind it.
type NameList = fn(&pier_compose::Project) -> Vec<String>;

pub fn config(c: &Compose, a: ComposeConfigArgs) -> CmdResult {
    let p = &c.project;
    if a.quiet {
        return Ok(());
    }
    let lists: [(bool, NameList); 4] = [
        (a.services, pier_compose::Project::service_names),
        (a.volumes, pier_compose::Project::volume_names),
        (a.networks, pier_compose::Project::network_names),
        (a.profiles, pier_compose::Project::profile_names),
    ];
    for (wanted, names) in lists {
        if wanted {
            for n in names(p) {
                output::outln(&n);
            }
            return Ok(());
        }
    }
    if a.images {
        for s in p.services.values() {
            output::outln(&labels::image_name(p, s));
        }
        return Ok(());
    }
    let mut shown = p.clone();
    if !a.services_filter.is_empty() {
        shown.services.retain(|k, _| a.services_filter.contains(k));
    }
    if a.format == "json" {
        output::outln(&serde_json::to_string_pretty(&shown).unwrap_or_default());
    } else {
        output::out(&pier_compose::to_yaml(&shown));
    }
    Ok(())
}

pub async fn images(c: &Compose, a: ComposeImagesArgs) -> CmdResult {
    let services = c.select(&a.services)?;
    let cs = c.service_containers(&services, true).await?;
    let mut rows = Vec::new();
    for x in &cs {
        let image = x.summary["Image"].as_str().unwrap_or_default().to_string();
        let img = c
            .client
            .get_json(&format!("/images/{}/json", encode(&image)))
            .await
            .unwrap_or(Value::Null);
        let id = img["Id"].as_str().unwrap_or_default().to_string();
        let (repo, tag) = match image.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
            _ => (image.clone(), "latest".to_string()),
        };
        let size = img["Size"].as_f64().unwrap_or(0.0);
        rows.push(json!({
            "ContainerName": x.name,
            "Repository": repo,
            "Tag": tag,
            "ID": format::truncate_id(&id),
            "Size": crate::format::bytes_size(size),
            "SizeBytes": img["Size"].as_i64().unwrap_or(0),
            "FullID": id,
        }));
    }
    if a.quiet {
        for r in &rows {
            output::outln(r["FullID"].as_str().unwrap_or_default());
        }
        return Ok(());
    }
    let out = match a.format.as_str() {
        // compose marshals its struct: keys in field order, not sorted.
        "json" => json_in_field_order(
            &rows,
            &[
                ("ID", "FullID"),
                ("ContainerName", "ContainerName"),
                ("Repository", "Repository"),
                ("Tag", "Tag"),
                ("Size", "SizeBytes"),
            ],
        ),
        f => render_table(
            f,
            &[
                ("ContainerName", "CONTAINER"),
                ("Repository", "REPOSITORY"),
                ("Tag", "TAG"),
                ("ID", "IMAGE ID"),
                ("Size", "SIZE"),
            ],
            &rows,
        )?,
    };
    output::out(&out);
    Ok(())
}

pub async fn top(c: &Compose, a: ServicesArgs) -> CmdResult {
    let services = c.select(&a.services)?;
    for x in c.service_containers(&services, false).await? {
        let v = c
            .client
            .get_json(&format!("/containers/{}/top", encode(&x.id)))
            .await?;
        let titles: Vec<String> = v["Titles"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|t| t.as_str().unwrap_or_default().to_string())
            .collect();
        let mut table = titles.join("\t");
        table.push('\n');
        for p in v["Processes"].as_array().cloned().unwrap_or_default() {
            let cells: Vec<String> = p
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|t| t.as_str().unwrap_or_default().to_string())
                .collect();
            table.push_str(&cells.join("\t"));
            table.push('\n');
        }
        output::outln(&x.name);
        output::out(
            &format::tabwriter::TabWriter {
                minwidth: 5,
                padding: 3,
            }
            .format(&table),
        );
        output::outln("");
    }
    Ok(())
}

pub async fn port(c: &Compose, a: ComposePortArgs) -> CmdResult {
    if a.args.len() != 2 {
        return Err(CmdError::new(
            1,
            "requires 2 arguments: SERVICE PRIVATE_PORT",
        ));
    }
    let service = &a.args[0];
    c.service(service)?;
    let index = if a.index == 0 { 1 } else { a.index };
    let cs = c
        .service_containers(std::slice::from_ref(service), false)
        .await?;
    let Some(x) = cs.iter().find(|x| x.number == index) else {
        return Err(CmdError::new(
            1,
            format!("service {service:?} is not running container #{index}"),
        ));
    };
    let private: u64 = a.args[1]
        .parse()
        .map_err(|_| CmdError::new(1, format!("invalid port {}", a.args[1])))?;
    for p in x.summary["Ports"].as_array().cloned().unwrap_or_default() {
        if p["PrivatePort"].as_u64() == Some(private)
            && p["Type"].as_str() == Some(a.protocol.as_str())
        {
            if let Some(public) = p["PublicPort"].as_u64() {
                let ip = p["IP"].as_str().unwrap_or("0.0.0.0");
                output::outln(&format!("{ip}:{public}"));
                return Ok(());
            }
        }
    }
    Err(CmdError::new(
        1,
        format!(
            "no port {}/{} for container {}",
            private, a.protocol, x.name
        ),
    ))
}

/// A JSON array of rows with the keys in the given order (compose marshals
/// Go structs: field order, not sorted): `(output key, row key)` pairs.
fn json_in_field_order(rows: &[serde_json::Value], fields: &[(&str, &str)]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            let body: Vec<String> = fields
                .iter()
                .map(|(out, key)| format!("{}:{}", serde_json::Value::from(*out), r[*key]))
                .collect();
            format!("{{{}}}", body.join(","))
        })
        .collect();
    format!("[{}]\n", items.join(","))
}
