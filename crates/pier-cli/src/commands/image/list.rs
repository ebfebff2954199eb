//! `pier images` / `pier image ls`.

use crate::cli::ImagesArgs;
use crate::client::Query;
use crate::commands::{filters_json, print_rendered, CmdError, CmdResult, Ctx};
use crate::format::{self, image, Format};
use crate::output;

pub async fn run(ctx: &Ctx, a: ImagesArgs, called_as_images: bool) -> CmdResult {
    ctx.require_max(&a.args, 1)?;
    let mut filter = a.filter.clone();
    let match_name = a.args.first().cloned();
    if let Some(m) = &match_name {
        filter.push(format!("reference={m}"));
    }
    if a.tree {
        if a.quiet {
            return Err(CmdError::new(1, "--quiet is not yet supported with --tree"));
        }
        if a.no_trunc {
            return Err(CmdError::new(
                1,
                "--no-trunc is not yet supported with --tree",
            ));
        }
        if a.digests {
            return Err(CmdError::new(
                1,
                "--show-digest is not yet supported with --tree",
            ));
        }
        if a.format.is_some() {
            return Err(CmdError::new(
                1,
                "--format is not yet supported with --tree",
            ));
        }
        return Err(CmdError::new(1, "--tree is not supported by pier"));
    }
    let filters = filters_json(ctx, &filter)?;
    let q = Query::new().add_if(a.all, "all", "1").add_if(
        filters.is_some(),
        "filters",
        filters.clone().unwrap_or_default(),
    );
    let list = ctx.client.get_json(&q.path("/images/json")).await?;
    let items = list.as_array().cloned().unwrap_or_default();
    let mut src = a.format.clone().unwrap_or_default();
    if src.is_empty() {
        src = match crate::config::load().images_format {
            Some(f) if !a.quiet => f,
            _ => "table".into(),
        };
    }
    let fmt_string = image::format_string(&src, a.quiet, a.digests);
    let need_digest = a.digests || fmt_string.contains("{{.Digest}}");
    let rows = image::rows(&items, !a.no_trunc, a.digests, need_digest);
    let out = format::render(&Format::new(&fmt_string), &image::header(), &rows)?;
    print_rendered(&out);
    if let Some(m) = match_name {
        let ambiguous = matches!(
            m.as_str(),
            "build"
                | "history"
                | "import"
                | "inspect"
                | "list"
                | "load"
                | "ls"
                | "prune"
                | "pull"
                | "push"
                | "rm"
                | "save"
                | "tag"
        );
        if items.is_empty() && called_as_images && ambiguous {
            output::err_bytes(
                format!("\nNo images found matching {m:?}: did you mean \"docker image {m}\"?\n")
                    .as_bytes(),
            );
        }
    }
    Ok(())
}
