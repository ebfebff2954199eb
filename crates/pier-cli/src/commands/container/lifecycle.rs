//! `pier stop`, `kill`, `rm`, `wait`: docker runs them in parallel and
//! prints each name that succeeded, in argument order.

use futures_util::future::join_all;

use crate::cli::{KillArgs, RmArgs, StopArgs, WaitArgs};
use crate::client::{encode, ClientError, Query};
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::output;

/// Runs `op` for every container concurrently; prints the names that
/// succeeded in order and joins the errors.
async fn each<'a, F, Fut>(names: &'a [String], op: F) -> Vec<(&'a String, Result<(), ClientError>)>
where
    F: Fn(&'a String) -> Fut,
    Fut: std::future::Future<Output = Result<(), ClientError>>,
{
    let results = join_all(names.iter().map(&op)).await;
    names.iter().zip(results).collect()
}

pub async fn stop(ctx: &Ctx, a: StopArgs) -> CmdResult {
    ctx.require_min(&a.containers, 1)?;
    if a.time.is_some() && a.timeout.is_some() {
        return Err(CmdError::new(
            1,
            "conflicting options: cannot specify both --timeout and --time",
        ));
    }
    let timeout = a.timeout.or(a.time);
    let client = &ctx.client;
    let sig = a.signal.clone();
    let results = each(&a.containers, |c| {
        let path = Query::new()
            .add_if(sig.is_some(), "signal", sig.clone().unwrap_or_default())
            .add_if(timeout.is_some(), "t", timeout.unwrap_or(0).to_string())
            .path(&format!("/containers/{}/stop", encode(c)));
        async move { client.post(&path).await.map(|_| ()) }
    })
    .await;
    report(results, false)
}

pub async fn kill(ctx: &Ctx, a: KillArgs) -> CmdResult {
    ctx.require_min(&a.containers, 1)?;
    let client = &ctx.client;
    let sig = a.signal.clone();
    let results = each(&a.containers, |c| {
        let path = Query::new()
            .add_if(sig.is_some(), "signal", sig.clone().unwrap_or_default())
            .path(&format!("/containers/{}/kill", encode(c)));
        async move { client.post(&path).await.map(|_| ()) }
    })
    .await;
    report(results, false)
}

pub async fn rm(ctx: &Ctx, a: RmArgs) -> CmdResult {
    ctx.require_min(&a.containers, 1)?;
    let client = &ctx.client;
    let results = each(&a.containers, |c| {
        let name = c.trim_matches('/').to_string();
        let path = Query::new()
            .add_if(a.volumes, "v", "1")
            .add_if(a.link, "link", "1")
            .add_if(a.force, "force", "1")
            .path(&format!("/containers/{}", encode(&name)));
        async move {
            if name.is_empty() {
                return Err(ClientError::Protocol(
                    "container name cannot be empty".into(),
                ));
            }
            client.delete(&path).await.map(|_| ())
        }
    })
    .await;
    report(results, a.force)
}

/// Prints successes in order; with `force`, "not found" errors go to stderr
/// without failing (docker's `rm -f`).
fn report(results: Vec<(&String, Result<(), ClientError>)>, force: bool) -> CmdResult {
    let mut errs = Vec::new();
    for (name, r) in results {
        match r {
            Ok(()) => output::outln(name),
            Err(e) if force && e.is_not_found() => output::errln(&e.to_string()),
            Err(e) => errs.push(e.to_string()),
        }
    }
    CmdError::join(errs)
}

pub async fn wait(ctx: &Ctx, a: WaitArgs) -> CmdResult {
    ctx.require_min(&a.containers, 1)?;
    let mut errs = Vec::new();
    for c in &a.containers {
        match ctx
            .client
            .post(&format!("/containers/{}/wait", encode(c)))
            .await
        {
            Ok(b) => {
                let v: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
                output::outln(
                    &v.get("StatusCode")
                        .and_then(|s| s.as_i64())
                        .unwrap_or(0)
                        .to_string(),
                );
            }
            Err(e) => errs.push(e.to_string()),
        }
    }
    CmdError::join(errs)
}
