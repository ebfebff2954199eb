//! `pier pull`.

use crate::cli::PullArgs;
use crate::client::Query;
use crate::commands::{display_json_stream, CmdError, CmdResult, Ctx};
use crate::output;
use crate::reference::Reference;

pub async fn run(ctx: &Ctx, a: PullArgs) -> CmdResult {
    ctx.require_exact(&a.args, 1)?;
    let remote = &a.args[0];
    let r =
        Reference::parse(remote).ok_or_else(|| CmdError::new(1, Reference::parse_error(remote)))?;
    let name_only = r.tag.is_none() && r.digest.is_none();
    if a.all_tags && !name_only {
        return Err(CmdError::new(1, "tag can't be used with --all-tags/-a"));
    }
    let r = if !a.all_tags && name_only {
        let r = r.with_default_tag();
        if !a.quiet {
            output::outln(&format!(
                "Using default tag: {}",
                r.tag.clone().unwrap_or_default()
            ));
        }
        r
    } else {
        r
    };
    let tag = r
        .digest
        .clone()
        .or_else(|| r.tag.clone())
        .unwrap_or_default();
    let q = Query::new()
        .add("fromImage", r.name())
        .add_if(!tag.is_empty(), "tag", &tag)
        .add_if(
            a.platform.is_some(),
            "platform",
            a.platform.clone().unwrap_or_default(),
        );
    let resp = ctx
        .client
        .send_with_headers(
            hyper::Method::POST,
            &q.path("/images/create"),
            crate::client::empty(),
            None,
            &crate::commands::image::registry_auth::headers_for(&r.domain),
        )
        .await?;
    if a.quiet {
        let b = crate::client::read_all(resp).await?;
        for v in serde_json::Deserializer::from_slice(&b)
            .into_iter::<serde_json::Value>()
            .flatten()
        {
            if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
                return Err(CmdError::new(1, e));
            }
        }
    } else if crate::tty::is_terminal(1) {
        crate::commands::image::progress_tty::display(resp).await?;
    } else {
        display_json_stream(resp, false).await?;
    }
    let mut full = r.name();
    if let Some(t) = &r.tag {
        full.push(':');
        full.push_str(t);
    }
    if let Some(d) = &r.digest {
        full.push('@');
        full.push_str(d);
    }
    output::outln(&full);
    Ok(())
}
