//! `pier history`.

use crate::cli::HistoryArgs;
use crate::client::encode;
use crate::commands::{print_rendered, CmdResult, Ctx};
use crate::format::{self, history, Format};

pub async fn run(ctx: &Ctx, a: HistoryArgs) -> CmdResult {
    ctx.require_exact(&a.args, 1)?;
    let mut path = format!("/images/{}/history", encode(&a.args[0]));
    if let Some(p) = &a.platform {
        let (os, rest) = p.split_once('/').unwrap_or((p, ""));
        let (arch, variant) = rest.split_once('/').unwrap_or((rest, ""));
        let plat = serde_json::json!({"os": os, "architecture": arch, "variant": variant});
        path = crate::client::Query::new()
            .add("platform", plat.to_string())
            .path(&path);
    }
    let list = ctx.client.get_json(&path).await?;
    let items = list.as_array().cloned().unwrap_or_default();
    let human = a.human.unwrap_or(true);
    let src = a
        .format
        .clone()
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| "table".into());
    let fmt = Format::new(&history::format_string(&src, a.quiet, human));
    let rows: Vec<_> = items
        .iter()
        .map(|h| history::row(h, !a.no_trunc, human))
        .collect();
    let out = format::render(&fmt, &history::header(), &rows)?;
    print_rendered(&out);
    Ok(())
}
