//! `pier volume create|ls|inspect|rm|prune`: docker's flags, tables and
//! messages over the `/volumes` endpoints.

use std::collections::BTreeMap;
use std::io::BufRead;

use clap::{Args, Subcommand};
use serde_json::{json, Value as Json};

use crate::client::{encode, Query};
use crate::commands::{filters_json, print_rendered, CmdError, CmdResult, Ctx};
use crate::format::template::{ObjKind, Object, Value};
use crate::format::{self, Format};
use crate::output;

#[derive(Debug, Subcommand)]
pub enum VolumeCmd {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, value_name = "string", default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Specify volume name
    #[arg(long, value_name = "string", hide = true)]
    pub name: Option<String>,
    /// Set driver specific options (default map[])
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    pub args: Vec<String>,
}

/// docker's `Use` lines of the volume commands.
pub fn use_line(sub: &str) -> Option<&'static str> {
    Some(match sub {
        "create" => "[OPTIONS] [VOLUME]",
        "ls" => "[OPTIONS]",
        "inspect" => "[OPTIONS] VOLUME [VOLUME...]",
        "rm" => "[OPTIONS] VOLUME [VOLUME...]",
        "prune" => "[OPTIONS]",
        _ => return None,
    })
}

pub async fn dispatch(ctx: &Ctx, cmd: VolumeCmd) -> CmdResult {
    match cmd {
        VolumeCmd::Create(a) => create(ctx, a).await,
        VolumeCmd::Ls(a) => ls(ctx, a).await,
        VolumeCmd::Inspect(a) => {
            ctx.require_min(&a.names, 1)?;
            crate::commands::system::inspect::inspect(
                ctx,
                &a.names,
                a.format.as_deref(),
                crate::commands::system::inspect::Kind::Volume,
                false,
            )
            .await
        }
        VolumeCmd::Rm(a) => rm(ctx, a).await,
        VolumeCmd::Prune(a) => prune(ctx, a).await,
    }
}

/// `k=v` (or bare `k`) flags as a map, like docker's `ConvertKVStringsToMap`.
fn kv_map(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|i| {
            let (k, v) = i.split_once('=').unwrap_or((i, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

async fn create(ctx: &Ctx, a: CreateArgs) -> CmdResult {
    ctx.require_max(&a.args, 1)?;
    let mut name = a.name.clone().unwrap_or_default();
    if let Some(pos) = a.args.first() {
        if !name.is_empty() && &name != pos {
            return Err(CmdError::new(
                1,
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg",
            ));
        }
        name = pos.clone();
    }
    let mut opts = BTreeMap::new();
    for o in &a.opt {
        let Some((k, v)) = o.split_once('=') else {
            return Err(ctx.flag_error(&format!(
                "invalid argument \"{o}\" for \"-o, --opt\" flag: invalid key value pair format in driver options"
            )));
        };
        opts.insert(k.to_string(), v.to_string());
    }
    // docker 28 leaves empty fields out (`omitempty`): a volume created
    // without labels or options shows `null` for them.
    let mut body = serde_json::Map::new();
    if !a.driver.is_empty() {
        body.insert("Driver".into(), json!(a.driver));
    }
    if !opts.is_empty() {
        body.insert("DriverOpts".into(), json!(opts));
    }
    let labels = kv_map(&a.label);
    if !labels.is_empty() {
        body.insert("Labels".into(), json!(labels));
    }
    if !name.is_empty() {
        body.insert("Name".into(), json!(name));
    }
    let body = Json::Object(body);
    let resp = ctx.client.post_json("/volumes/create", &body).await?;
    let v: Json = serde_json::from_slice(&resp).unwrap_or_default();
    output::outln(v.get("Name").and_then(Json::as_str).unwrap_or_default());
    Ok(())
}

fn header() -> Value {
    format::header(&[
        ("ID", "ID"),
        ("Name", "VOLUME NAME"),
        ("Group", "GROUP"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("Availability", "AVAILABILITY"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Labels", "LABELS"),
        ("Links", "LINKS"),
        ("Size", "SIZE"),
        ("Status", "STATUS"),
    ])
}

/// One row of docker's `volumeContext`.
pub fn row(v: &Json) -> Value {
    let s = |k: &str| {
        v.get(k)
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let labels: BTreeMap<String, String> = v
        .get("Labels")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, x)| (k.clone(), x.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let joined: Vec<String> = labels.iter().map(|(k, x)| format!("{k}={x}")).collect();
    let usage = v.get("UsageData").filter(|u| !u.is_null());
    let (links, size) = match usage {
        Some(u) => (
            u.get("RefCount")
                .and_then(Json::as_i64)
                .unwrap_or(0)
                .to_string(),
            pier_api::human::human_size(
                u.get("Size").and_then(Json::as_i64).unwrap_or(0).max(0) as u64
            ),
        ),
        None => ("N/A".to_string(), "N/A".to_string()),
    };
    let mut o = Object::new(ObjKind::Struct, "*formatter.volumeContext")
        .with("Availability", "N/A")
        .with("Driver", s("Driver"))
        .with("Group", "N/A")
        .with("Labels", joined.join(","))
        .with("Links", links)
        .with("Mountpoint", s("Mountpoint"))
        .with("Name", s("Name"))
        .with("Scope", s("Scope"))
        .with("Size", size)
        .with("Status", "N/A");
    o.methods.push((
        "Label".into(),
        format::template::method(move |a| {
            let name = a.first().and_then(Value::as_str).unwrap_or_default();
            Ok(Value::from(labels.get(name).cloned().unwrap_or_default()))
        }),
    ));
    Value::from(o)
}

/// docker's `NewVolumeFormat`.
fn format_string(source: &str, quiet: bool) -> String {
    match source {
        "table" if quiet => "{{.Name}}".into(),
        "table" => "table {{.Driver}}\t{{.Name}}".into(),
        "raw" if quiet => "name: {{.Name}}".into(),
        "raw" => "name: {{.Name}}\ndriver: {{.Driver}}\n".into(),
        other => other.into(),
    }
}

async fn ls(ctx: &Ctx, a: LsArgs) -> CmdResult {
    ctx.no_args(&a.args)?;
    let filters = filters_json(ctx, &a.filter)?;
    let q = Query::new().add_if(filters.is_some(), "filters", filters.unwrap_or_default());
    let list = ctx.client.get_json(&q.path("/volumes")).await?;
    let mut vols = list
        .get("Volumes")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    vols.sort_by(|x, y| {
        let n = |v: &Json| {
            v.get("Name")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string()
        };
        natural_cmp(&n(x), &n(y))
    });
    for w in list
        .get("Warnings")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        output::errln(w.as_str().unwrap_or_default());
    }
    let src = match a.format.as_deref() {
        Some(f) if !f.is_empty() => f.to_string(),
        _ => "table".to_string(),
    };
    let rows: Vec<Value> = vols.iter().map(row).collect();
    let out = format::render(
        &Format::new(&format_string(&src, a.quiet)),
        &header(),
        &rows,
    )?;
    print_rendered(&out);
    Ok(())
}

/// `sortorder.NaturalLess`: digit runs compare by value.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    while !x.is_empty() && !y.is_empty() {
        if x[0].is_ascii_digit() && y[0].is_ascii_digit() {
            let nx = x.iter().take_while(|c| c.is_ascii_digit()).count();
            let ny = y.iter().take_while(|c| c.is_ascii_digit()).count();
            let (dx, dy) = (&x[..nx], &y[..ny]);
            let tx = dx.iter().skip_while(|c| **c == b'0').count();
            let ty = dy.iter().skip_while(|c| **c == b'0').count();
            let ord = tx.cmp(&ty).then_with(|| dx[nx - tx..].cmp(&dy[ny - ty..]));
            if ord.is_ne() {
                return ord;
            }
            x = &x[nx..];
            y = &y[ny..];
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

async fn rm(ctx: &Ctx, a: RmArgs) -> CmdResult {
    ctx.require_min(&a.names, 1)?;
    let mut errs = Vec::new();
    for name in &a.names {
        let path = Query::new()
            .add_if(a.force, "force", "1")
            .path(&format!("/volumes/{}", encode(name)));
        match ctx.client.delete(&path).await {
            Ok(_) => output::outln(name),
            Err(e) => errs.push(e.to_string()),
        }
    }
    CmdError::join(errs)
}

const UNUSED_WARNING: &str = "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?";
const ALL_WARNING: &str = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?";

/// docker's `prompt.Confirm`: `[y/N]`, only "y"/"Y" confirms; end of
/// input declines.
fn confirm(message: &str) -> bool {
    output::out(&format!("{message} [y/N] "));
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y")
}

async fn prune(ctx: &Ctx, a: PruneArgs) -> CmdResult {
    ctx.no_args(&a.args)?;
    let mut filter = a.filter.clone();
    let mut warning = UNUSED_WARNING;
    if a.all {
        if filter.iter().any(|f| f.split('=').next() == Some("all")) {
            return Err(CmdError::new(
                1,
                "conflicting options: cannot specify both --all and --filter all=1",
            ));
        }
        filter.push("all=true".into());
        warning = ALL_WARNING;
    }
    if !a.force && !confirm(warning) {
        // docker treats a declined prompt as a cancellation: status 0,
        // nothing printed.
        return Ok(());
    }
    let filters = filters_json(ctx, &filter)?;
    let q = Query::new().add_if(filters.is_some(), "filters", filters.unwrap_or_default());
    let resp = ctx.client.post(&q.path("/volumes/prune")).await?;
    let v: Json = serde_json::from_slice(&resp).unwrap_or_default();
    let deleted: Vec<&str> = v
        .get("VolumesDeleted")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    let mut reclaimed = 0u64;
    if !deleted.is_empty() {
        let mut out = String::from("Deleted Volumes:\n");
        for d in &deleted {
            out.push_str(d);
            out.push('\n');
        }
        output::outln(&out);
        reclaimed = v.get("SpaceReclaimed").and_then(Json::as_u64).unwrap_or(0);
    }
    output::outln(&format!(
        "Total reclaimed space: {}",
        pier_api::human::human_size(reclaimed)
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_templates() {
        let vols = [
            json!({"Name": "vol10", "Driver": "local", "Scope": "local", "Labels": {"b": "2", "a": "1"}, "Mountpoint": "/m"}),
            json!({"Name": "vol9", "Driver": "local", "Scope": "local", "Labels": null, "Mountpoint": "/n",
                   "UsageData": {"Size": 2048, "RefCount": 1}}),
        ];
        let rows: Vec<Value> = vols.iter().map(row).collect();
        let out = format::render(
            &Format::new(&format_string("table", false)),
            &header(),
            &rows,
        )
        .unwrap();
        assert_eq!(
            out,
            "DRIVER    VOLUME NAME\nlocal     vol10\nlocal     vol9\n"
        );
        let out = format::render(
            &Format::new("{{.Name}} {{.Labels}} {{.Label \"a\"}} {{.Links}} {{.Size}}"),
            &header(),
            &rows,
        )
        .unwrap();
        assert_eq!(out, "vol10 a=1,b=2 1 N/A N/A\nvol9   1 2.048kB\n");
        assert!(natural_cmp("vol9", "vol10").is_lt());
        assert!(natural_cmp("a", "b").is_lt());
    }
}
