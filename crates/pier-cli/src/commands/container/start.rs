//! `pier start [-a] [-i]`.

use crate::attach::{self, Outcome, Streams};
use crate::cli::StartArgs;
use crate::client::{encode, Query};
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::output;
use crate::tty;

use super::session;

pub async fn run(ctx: &Ctx, a: StartArgs) -> CmdResult {
    ctx.require_min(&a.containers, 1)?;
    if !(a.attach || a.interactive) && a.checkpoint.is_some() {
        if a.containers.len() > 1 {
            return Err(CmdError::new(
                1,
                "you cannot restore multiple containers at once",
            ));
        }
        let path = Query::new()
            .add("checkpoint", a.checkpoint.clone().unwrap_or_default())
            .add_if(
                a.checkpoint_dir.is_some(),
                "checkpoint-dir",
                a.checkpoint_dir.clone().unwrap_or_default(),
            )
            .path(&format!("/containers/{}/start", encode(&a.containers[0])));
        ctx.client.post(&path).await?;
        return Ok(());
    }
    if !(a.attach || a.interactive) {
        let mut failed = Vec::new();
        for c in &a.containers {
            match ctx
                .client
                .post(&format!("/containers/{}/start", encode(c)))
                .await
            {
                Ok(_) => output::outln(c),
                Err(e) => {
                    output::errln(&e.to_string());
                    failed.push(c.clone());
                }
            }
        }
        if !failed.is_empty() {
            return Err(CmdError::new(
                1,
                format!("Error: failed to start containers: {}", failed.join(", ")),
            ));
        }
        return Ok(());
    }
    if a.containers.len() > 1 {
        return Err(CmdError::new(
            1,
            "you cannot start and attach multiple containers at once",
        ));
    }
    let c = ctx
        .client
        .get_json(&format!("/containers/{}/json", encode(&a.containers[0])))
        .await?;
    let id = c["Id"].as_str().unwrap_or_default().to_string();
    let is_tty = c
        .pointer("/Config/Tty")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let open_stdin = c
        .pointer("/Config/OpenStdin")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let auto_remove = c
        .pointer("/HostConfig/AutoRemove")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    if !is_tty {
        session::forward_signals(&ctx.client, &id);
    } else {
        tty::restore_on_signals();
    }
    let stdin = a.interactive && open_stdin;
    let keys = crate::attach::detach_keys_setting(a.detach_keys.as_deref());
    let path = Query::new()
        .add("stderr", "1")
        .add_if(stdin, "stdin", "1")
        .add("stdout", "1")
        .add("stream", "1")
        .add_if(
            keys.is_some(),
            "detachKeys",
            keys.clone().unwrap_or_default(),
        )
        .path(&format!("/containers/{}/attach", encode(&id)));
    let wait = session::wait_exit_or_removed(&ctx.client, &id, auto_remove);
    let conn = ctx.client.hijack(&path).await?;
    let streams = Streams {
        stdin,
        stdout: true,
        stderr: true,
        tty: is_tty,
        detach_keys: attach::detach_keys(a.detach_keys.as_deref()),
    };
    if stdin && is_tty {
        session::enter_raw_terminal()?;
    }
    let attach_task = tokio::spawn(attach::stream(conn, streams));
    let _ = wait.registered.await;
    if let Err(e) = ctx
        .client
        .post(&format!("/containers/{}/start", encode(&id)))
        .await
    {
        attach_task.abort();
        tty::restore();
        if auto_remove {
            let _ = wait.status.await;
        }
        return Err(e.into());
    }
    if is_tty && tty::stdout_is_terminal() {
        session::monitor_tty_size(&ctx.client, session::container_resize(&id));
    }
    let r = attach_task.await;
    tty::restore();
    match r {
        Ok(Ok(Outcome::Detached)) => return Ok(()),
        Ok(Err(e)) => return Err(CmdError::new(1, e.to_string())),
        Err(_) => return Err(CmdError::new(1, "attach stream failed")),
        Ok(Ok(Outcome::Ended)) => {}
    }
    let status = wait.status.await.unwrap_or(125);
    if status != 0 {
        return Err(CmdError::status(status));
    }
    Ok(())
}
