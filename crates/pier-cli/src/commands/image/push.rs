//! `pier push`.

use crate::cli::PushArgs;
use crate::client::Query;
use crate::commands::image::registry_auth::headers_for;
use crate::commands::{display_json_stream, CmdError, CmdResult, Ctx};
use crate::output;
use crate::reference::Reference;

pub async fn run(ctx: &Ctx, a: PushArgs) -> CmdResult {
    ctx.require_exact(&a.args, 1)?;
    let remote = &a.args[0];
    let r =
        Reference::parse(remote).ok_or_else(|| CmdError::new(1, Reference::parse_error(remote)))?;
    if r.digest.is_some() {
        return Err(CmdError::new(1, "cannot push a digest reference"));
    }
    if a.all_tags && r.tag.is_some() {
        return Err(CmdError::new(1, "tag can't be used with --all-tags/-a"));
    }
    let r = if !a.all_tags && r.tag.is_none() {
        if !a.quiet {
            output::outln("Using default tag: latest");
        }
        r.with_default_tag()
    } else {
        r
    };
    let q = Query::new()
        .add_if(r.tag.is_some(), "tag", r.tag.clone().unwrap_or_default())
        .add_if(
            a.platform.is_some(),
            "platform",
            a.platform.clone().unwrap_or_default(),
        );
    let path = q.path(&format!("/images/{}/push", r.name()));
    let resp = ctx
        .client
        .send_with_headers(
            hyper::Method::POST,
            &path,
            crate::client::empty(),
            None,
            &headers_for(&r.domain),
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
        output::outln(&r.familiar_string());
    } else if crate::tty::is_terminal(1) {
        crate::commands::image::progress_tty::display(resp).await?;
    } else {
        display_json_stream(resp, false).await?;
    }
    Ok(())
}
