//! `container prune`, `image prune`, `system prune`, `system df`.

use std::io::BufRead;

use pier_api::filters::Filters;
use pier_api::human::human_size;
use serde_json::Value;

use crate::cli::PruneArgs;
use crate::client::Query;
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::output;

/// docker's confirmation prompt; false unless the answer is y/yes.
fn confirm(warning: &str) -> bool {
    output::out(&format!(
        "{warning}\nAre you sure you want to continue? [y/N] "
    ));
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

fn filters(a: &PruneArgs, extra: &[&str]) -> Result<String, CmdError> {
    let mut f = Filters::from_pairs(a.filter.iter().map(String::as_str))
        .map_err(|e| CmdError::new(1, e.to_string()))?;
    for kv in extra {
        if let Some((k, v)) = kv.split_once('=') {
            f.add(k, v);
        }
    }
    Ok(f.to_json())
}

async fn post(ctx: &Ctx, path: &str, filters: &str) -> Result<Value, CmdError> {
    let q = Query::new().add_if(filters != "{}", "filters", filters);
    let b = ctx.client.post(&q.path(path)).await?;
    Ok(crate::client::parse_json(&b)?)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Prunes containers; returns (report text, reclaimed bytes).
async fn run_containers(ctx: &Ctx, a: &PruneArgs) -> Result<(String, u64), CmdError> {
    let v = post(ctx, "/containers/prune", &filters(a, &[])?).await?;
    let mut out = String::new();
    let ids: Vec<&str> = v["ContainersDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !ids.is_empty() {
        out.push_str("Deleted Containers:\n");
        for id in ids {
            out.push_str(id);
            out.push('\n');
        }
        out.push('\n');
    }
    Ok((out, u(&v["SpaceReclaimed"])))
}

async fn run_images(ctx: &Ctx, a: &PruneArgs) -> Result<(String, u64), CmdError> {
    let extra: &[&str] = if a.all { &["dangling=false"] } else { &[] };
    let v = post(ctx, "/images/prune", &filters(a, extra)?).await?;
    let mut out = String::new();
    let items: Vec<&Value> = v["ImagesDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    if !items.is_empty() {
        out.push_str("Deleted Images:\n");
        for it in items {
            if let Some(t) = it["Untagged"].as_str() {
                out.push_str(&format!("untagged: {t}\n"));
            }
            if let Some(d) = it["Deleted"].as_str() {
                out.push_str(&format!("deleted: {d}\n"));
            }
        }
        out.push('\n');
    }
    Ok((out, u(&v["SpaceReclaimed"])))
}

pub async fn containers(ctx: &Ctx, a: PruneArgs) -> CmdResult {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.") {
        return Ok(());
    }
    let (text, n) = run_containers(ctx, &a).await?;
    output::out(&format!("{text}Total reclaimed space: {}\n", human_size(n)));
    Ok(())
}

pub async fn images(ctx: &Ctx, a: PruneArgs) -> CmdResult {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !confirm(warning) {
        return Ok(());
    }
    let (text, n) = run_images(ctx, &a).await?;
    output::out(&format!("{text}Total reclaimed space: {}\n", human_size(n)));
    Ok(())
}

pub async fn system(ctx: &Ctx, a: PruneArgs) -> CmdResult {
    if !a.force {
        let mut w = String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
        if a.volumes {
            w.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        if a.all {
            w.push_str("  - all images without at least one container associated to them\n  - all build cache\n");
        } else {
            w.push_str("  - all dangling images\n  - unused build cache\n");
        }
        if !confirm(&w) {
            return Ok(());
        }
    }
    let (c_text, c_n) = run_containers(ctx, &a).await?;
    let f = filters(&a, &[])?;
    post(ctx, "/networks/prune", &f).await?;
    let mut v_n = 0;
    if a.volumes {
        v_n = u(&post(ctx, "/volumes/prune", "{}").await?["SpaceReclaimed"]);
    }
    let (i_text, i_n) = run_images(ctx, &a).await?;
    let b = post(ctx, "/build/prune", &f).await?;
    output::out(&format!(
        "{c_text}{i_text}Total reclaimed space: {}\n",
        human_size(c_n + v_n + i_n + u(&b["SpaceReclaimed"]))
    ));
    Ok(())
}
