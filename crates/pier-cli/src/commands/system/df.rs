//! `pier system df [-v]`: docker 28's disk-usage summary and verbose
//! tables over `GET /system/df`.

use clap::Args;
use serde_json::Value as Json;

use crate::commands::volume::row as volume_row;
use crate::commands::{print_rendered, CmdError, CmdResult, Ctx};
use crate::format::template::{ObjKind, Object, Value};
use crate::format::{self, container, image, Format};
use crate::output;

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
    pub args: Vec<String>,
}

const SUMMARY_TABLE: &str =
    "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const SUMMARY_RAW: &str =
    "type: {{.Type}}\ntotal: {{.TotalCount}}\nactive: {{.Active}}\nsize: {{.Size}}\nreclaimable: {{.Reclaimable}}\n";
const IMAGES_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
const CONTAINERS_TABLE: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";
const VOLUMES_TABLE: &str = "table {{.Name}}\t{{.Links}}\t{{.Size}}";
const CACHE_TABLE: &str = "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}";

fn arr<'a>(v: &'a Json, key: &str) -> &'a [Json] {
    v.get(key)
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn int(v: &Json, key: &str) -> i64 {
    v.get(key).and_then(Json::as_i64).unwrap_or(0)
}

fn human(n: i64) -> String {
    pier_api::human::human_size(n.max(0) as u64)
}

/// `"<size> (<pct>%)"` when there is anything at all, as docker prints.
fn reclaimable(reclaim: i64, total: i64) -> String {
    if total > 0 {
        format!("{} ({}%)", human(reclaim), reclaim * 100 / total)
    } else {
        human(reclaim)
    }
}

fn summary_row(typ: &str, total: usize, active: usize, size: String, reclaim: String) -> Value {
    Value::from(
        Object::new(ObjKind::Struct, "*formatter.diskUsageContext")
            .with("Active", active.to_string())
            .with("Reclaimable", reclaim)
            .with("Size", size)
            .with("TotalCount", total.to_string())
            .with("Type", typ),
    )
}

fn active_state(c: &Json) -> bool {
    matches!(
        c.get("State").and_then(Json::as_str),
        Some("running" | "paused" | "restarting")
    )
}

/// The four summary rows (docker 28.2's `DiskUsageContext.Write`).
fn summary_rows(du: &Json) -> Vec<Value> {
    let images = arr(du, "Images");
    let layers = int(du, "LayersSize");
    let used: i64 = images
        .iter()
        .filter(|i| int(i, "Containers") != 0)
        .filter(|i| int(i, "Size") != -1 && int(i, "SharedSize") != -1)
        .map(|i| int(i, "Size") - int(i, "SharedSize"))
        .sum();
    let containers = arr(du, "Containers");
    let c_total: i64 = containers.iter().map(|c| int(c, "SizeRw")).sum();
    let c_reclaim: i64 = containers
        .iter()
        .filter(|c| !active_state(c))
        .map(|c| int(c, "SizeRw"))
        .sum();
    let volumes = arr(du, "Volumes");
    let usage = |v: &Json, k: &str| v.get("UsageData").map(|u| int(u, k)).unwrap_or(-1);
    let sized = volumes.iter().filter(|v| usage(v, "Size") != -1);
    let v_total: i64 = sized.clone().map(|v| usage(v, "Size")).sum();
    let v_reclaim: i64 = sized
        .filter(|v| usage(v, "RefCount") == 0)
        .map(|v| usage(v, "Size"))
        .sum();
    let cache = arr(du, "BuildCache");
    let cache_size: i64 = cache
        .iter()
        .filter(|b| !b.get("Shared").and_then(Json::as_bool).unwrap_or(false))
        .map(|b| int(b, "Size"))
        .sum();
    let in_use: i64 = cache
        .iter()
        .filter(|b| b.get("InUse").and_then(Json::as_bool).unwrap_or(false))
        .filter(|b| !b.get("Shared").and_then(Json::as_bool).unwrap_or(false))
        .map(|b| int(b, "Size"))
        .sum();
    vec![
        summary_row(
            "Images",
            images.len(),
            images.iter().filter(|i| int(i, "Containers") > 0).count(),
            human(layers),
            reclaimable(layers - used, layers),
        ),
        summary_row(
            "Containers",
            containers.len(),
            containers.iter().filter(|c| active_state(c)).count(),
            human(c_total),
            reclaimable(c_reclaim, c_total),
        ),
        summary_row(
            "Local Volumes",
            volumes.len(),
            volumes.iter().filter(|v| usage(v, "RefCount") > 0).count(),
            human(v_total),
            reclaimable(v_reclaim, v_total),
        ),
        summary_row(
            "Build Cache",
            cache.len(),
            cache
                .iter()
                .filter(|b| b.get("InUse").and_then(Json::as_bool).unwrap_or(false))
                .count(),
            human(cache_size),
            human(cache_size - in_use),
        ),
    ]
}

fn summary_header() -> Value {
    format::header(&[
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ])
}

fn cache_header() -> Value {
    format::header(&[
        ("ID", "CACHE ID"),
        ("CacheType", "CACHE TYPE"),
        ("Size", "SIZE"),
        ("CreatedSince", "CREATED"),
        ("LastUsedSince", "LAST USED"),
        ("UsageCount", "USAGE"),
        ("Shared", "SHARED"),
    ])
}

fn volume_header() -> Value {
    format::header(&[
        ("Name", "VOLUME NAME"),
        ("Links", "LINKS"),
        ("Size", "SIZE"),
    ])
}

/// docker's verbose tables, one per kind of object.
fn verbose_table(du: &Json) -> Result<String, CmdError> {
    let mut out = String::from("Images space usage:\n\n");
    // Only the first tag of each image is shown.
    let images: Vec<Json> = arr(du, "Images")
        .iter()
        .map(|i| {
            let mut i = i.clone();
            let first: Vec<Json> = arr(&i, "RepoTags").iter().take(1).cloned().collect();
            i["RepoTags"] = Json::Array(first);
            i["RepoDigests"] = Json::Array(vec![]);
            i
        })
        .collect();
    let rows = image::rows(&images, true, false, false);
    out.push_str(&format::render(
        &Format::new(IMAGES_TABLE),
        &image::header(),
        &rows,
    )?);
    out.push_str("\nContainers space usage:\n\n");
    let rows: Vec<Value> = arr(du, "Containers")
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c["SizeRootFs"] = Json::from(0);
            container::context(&c, true)
        })
        .collect();
    out.push_str(&format::render(
        &Format::new(CONTAINERS_TABLE),
        &container::header(),
        &rows,
    )?);
    out.push_str("\nLocal Volumes space usage:\n\n");
    let rows: Vec<Value> = arr(du, "Volumes").iter().map(volume_row).collect();
    out.push_str(&format::render(
        &Format::new(VOLUMES_TABLE),
        &volume_header(),
        &rows,
    )?);
    let cache_size: i64 = arr(du, "BuildCache")
        .iter()
        .filter(|b| !b.get("Shared").and_then(Json::as_bool).unwrap_or(false))
        .map(|b| int(b, "Size"))
        .sum();
    out.push_str(&format!("\nBuild cache usage: {}\n\n", human(cache_size)));
    out.push_str(&format::render(
        &Format::new(CACHE_TABLE),
        &cache_header(),
        &[],
    )?);
    Ok(out)
}

pub async fn run(ctx: &Ctx, a: DfArgs) -> CmdResult {
    ctx.no_args(&a.args)?;
    let du = ctx.client.get_json("/system/df").await?;
    let src = a
        .format
        .clone()
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| "table".into());
    if a.verbose {
        if src != "table" {
            return Err(CmdError::new(
                1,
                "pier system df: --format with --verbose is not supported",
            ));
        }
        output::out(&verbose_table(&du)?);
        return Ok(());
    }
    let fmt = match src.as_str() {
        "table" => SUMMARY_TABLE.to_string(),
        "raw" => SUMMARY_RAW.to_string(),
        other => other.to_string(),
    };
    let out = format::render(&Format::new(&fmt), &summary_header(), &summary_rows(&du))?;
    print_rendered(&out);
    Ok(())
}
