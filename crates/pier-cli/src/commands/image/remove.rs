//! `pier tag` and `pier rmi`.

use crate::cli::{RmiArgs, TagArgs};
use crate::client::{encode, ClientError, Query};
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::output;
use crate::reference::Reference;

pub async fn tag(ctx: &Ctx, a: TagArgs) -> CmdResult {
    ctx.require_exact(&a.args, 2)?;
    let (source, target) = (&a.args[0], &a.args[1]);
    let valid_source = Reference::parse(source).is_some()
        || (source.len() == 64 && source.bytes().all(|c| c.is_ascii_hexdigit()))
        || source.starts_with("sha256:");
    if !valid_source {
        return Err(CmdError::new(
            1,
            format!("Error parsing reference: {source:?} is not a valid repository/tag: invalid reference format"),
        ));
    }
    let Some(r) = Reference::parse(target) else {
        let why = Reference::parse_error(target);
        return Err(CmdError::new(
            1,
            format!("Error parsing reference: {target:?} is not a valid repository/tag: {why}"),
        ));
    };
    if r.digest.is_some() {
        return Err(CmdError::new(
            1,
            "refusing to create a tag with a digest reference",
        ));
    }
    let r = r.with_default_tag();
    let path = Query::new()
        .add("repo", r.name())
        .add("tag", r.tag.clone().unwrap_or_default())
        .path(&format!("/images/{}/tag", encode(source)));
    ctx.client.post(&path).await?;
    Ok(())
}

pub async fn rmi(ctx: &Ctx, a: RmiArgs) -> CmdResult {
    ctx.require_min(&a.images, 1)?;
    let mut errs: Vec<ClientError> = Vec::new();
    let mut fatal = false;
    for img in &a.images {
        let mut q = Query::new()
            .add_if(a.force, "force", "1")
            .add_if(a.no_prune, "noprune", "1");
        for p in &a.platform {
            let (os, rest) = p.split_once('/').unwrap_or((p, ""));
            let (arch, variant) = rest.split_once('/').unwrap_or((rest, ""));
            q = q.add(
                "platforms",
                serde_json::json!({"os": os, "architecture": arch, "variant": variant}).to_string(),
            );
        }
        match ctx
            .client
            .delete(&q.path(&format!("/images/{}", encode(img))))
            .await
        {
            Ok(body) => {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                for d in v.as_array().cloned().unwrap_or_default() {
                    let deleted = d
                        .get("Deleted")
                        .and_then(|x| x.as_str())
                        .unwrap_or_default();
                    if !deleted.is_empty() {
                        output::outln(&format!("Deleted: {deleted}"));
                    } else {
                        output::outln(&format!(
                            "Untagged: {}",
                            d.get("Untagged")
                                .and_then(|x| x.as_str())
                                .unwrap_or_default()
                        ));
                    }
                }
            }
            Err(e) => {
                if !e.is_not_found() {
                    fatal = true;
                }
                errs.push(e);
            }
        }
    }
    if errs.is_empty() {
        return Ok(());
    }
    let msg = errs
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    if !a.force || fatal {
        return Err(CmdError::new(1, msg));
    }
    output::errln(&msg);
    Ok(())
}
