//! `pier exec` and `pier attach`.

use serde_json::json;

use crate::attach::{self, Outcome, Streams};
use crate::cli::{AttachArgs, ExecArgs};
use crate::client::{encode, ClientError};
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::tty;

use super::session;
use super::values::{kv_env, read_kv_file};

pub async fn exec(ctx: &Ctx, a: ExecArgs) -> CmdResult {
    ctx.require_min(&a.args, 2)?;
    let container = &a.args[0];
    let detach = a.detach;
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(read_kv_file(f, true).map_err(|e| CmdError::new(1, e))?);
    }
    env.extend(a.env.iter().map(|e| kv_env(e, true)));
    let attach_stdin = !detach && a.interactive;
    let attach_out = !detach;
    ctx.client
        .get_bytes(&format!("/containers/{}/json", encode(container)))
        .await?;
    if !detach && a.tty && attach_stdin && !tty::stdin_is_terminal() {
        return Err(CmdError::new(1, "the input device is not a TTY"));
    }
    let console = if a.tty {
        tty::size(1)
            .map(|(h, w)| json!([h, w]))
            .unwrap_or(json!([0, 0]))
    } else {
        serde_json::Value::Null
    };
    let body = json!({
        "User": a.user.clone().unwrap_or_default(),
        "Privileged": a.privileged,
        "Tty": a.tty,
        "ConsoleSize": console,
        "AttachStdin": attach_stdin,
        "AttachStderr": attach_out,
        "AttachStdout": attach_out,
        "Detach": detach,
        "DetachKeys": a.detach_keys.clone().unwrap_or_default(),
        "Env": if env.is_empty() { serde_json::Value::Null } else { json!(env) },
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "Cmd": &a.args[1..],
    });
    let resp = ctx
        .client
        .post_json(&format!("/containers/{}/exec", encode(container)), &body)
        .await?;
    let v = crate::client::parse_json(&resp)?;
    let exec_id = v["Id"].as_str().unwrap_or_default().to_string();
    if exec_id.is_empty() {
        return Err(CmdError::new(1, "exec ID empty"));
    }
    let start = json!({"Detach": detach, "Tty": a.tty, "ConsoleSize": console});
    let start_path = format!("/exec/{}/start", encode(&exec_id));
    if detach {
        ctx.client.post_json(&start_path, &start).await?;
        return Ok(());
    }
    let conn = ctx.client.hijack_with(&start_path, Some(&start)).await?;
    let streams = Streams {
        stdin: attach_stdin,
        stdout: true,
        stderr: true,
        tty: a.tty,
        detach_keys: attach::detach_keys(a.detach_keys.as_deref()),
    };
    if streams.stdin && streams.tty {
        session::enter_raw_terminal()?;
        tty::restore_on_signals();
    }
    let task = tokio::spawn(attach::stream(conn, streams));
    if a.tty && tty::stdin_is_terminal() {
        session::monitor_tty_size(&ctx.client, session::exec_resize(&exec_id));
    }
    let r = task.await;
    tty::restore();
    match r {
        Ok(Ok(Outcome::Detached)) => return Ok(()),
        Ok(Err(e)) => return Err(CmdError::new(1, e.to_string())),
        Err(_) => return Err(CmdError::new(1, "exec stream failed")),
        Ok(Ok(Outcome::Ended)) => {}
    }
    match ctx
        .client
        .get_json(&format!("/exec/{}/json", encode(&exec_id)))
        .await
    {
        Ok(v) => match v.get("ExitCode").and_then(|c| c.as_i64()).unwrap_or(0) {
            0 => Ok(()),
            code => Err(CmdError::status(code as i32)),
        },
        Err(ClientError::Connect(_)) => Err(CmdError::status(-1)),
        Err(e) => Err(e.into()),
    }
}

/// docker's `inspectContainerAndCheckState`.
async fn running_container(ctx: &Ctx, name: &str) -> Result<serde_json::Value, CmdError> {
    let c = ctx
        .client
        .get_json(&format!("/containers/{}/json", encode(name)))
        .await?;
    let state = |k: &str| {
        c.pointer(&format!("/State/{k}"))
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    };
    if !state("Running") {
        return Err(CmdError::new(
            1,
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if state("Paused") {
        return Err(CmdError::new(
            1,
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    if state("Restarting") {
        return Err(CmdError::new(
            1,
            "You cannot attach to a restarting container, wait until it is running",
        ));
    }
    Ok(c)
}

pub async fn attach(ctx: &Ctx, a: AttachArgs) -> CmdResult {
    ctx.require_exact(&a.args, 1)?;
    let name = &a.args[0];
    // docker waits (condition "not-running") before attaching.
    let wait_path = format!("/containers/{}/wait", encode(name));
    let client = ctx.client.clone();
    let waiter = tokio::spawn(async move { client.post(&wait_path).await });
    let c = running_container(ctx, name).await?;
    let is_tty = c
        .pointer("/Config/Tty")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let open_stdin = c
        .pointer("/Config/OpenStdin")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let id = c["Id"].as_str().unwrap_or_default().to_string();
    if is_tty && !a.no_stdin && !tty::stdin_is_terminal() {
        return Err(CmdError::new(1, "the input device is not a TTY"));
    }
    let stdin = !a.no_stdin && open_stdin;
    if a.sig_proxy.unwrap_or(true) && !is_tty {
        session::forward_signals(&ctx.client, &id);
    }
    let path = crate::client::Query::new()
        .add("stderr", "1")
        .add_if(stdin, "stdin", "1")
        .add("stdout", "1")
        .add("stream", "1")
        .add_if(
            a.detach_keys.is_some(),
            "detachKeys",
            a.detach_keys.clone().unwrap_or_default(),
        )
        .path(&format!("/containers/{}/attach", encode(&id)));
    let conn = ctx.client.hijack(&path).await?;
    running_container(ctx, name).await?;
    let streams = Streams {
        stdin,
        stdout: true,
        stderr: true,
        tty: is_tty,
        detach_keys: attach::detach_keys(a.detach_keys.as_deref()),
    };
    if stdin && is_tty {
        session::enter_raw_terminal()?;
        tty::restore_on_signals();
    }
    let task = tokio::spawn(attach::stream(conn, streams));
    if is_tty && tty::stdout_is_terminal() {
        // docker nudges the size (+1 then back) so the program redraws.
        session::resize_to_terminal(&ctx.client, &session::container_resize(&id), 1).await;
        session::monitor_tty_size(&ctx.client, session::container_resize(&id));
    }
    let r = task.await;
    tty::restore();
    match r {
        Ok(Ok(Outcome::Detached)) => return Ok(()),
        Ok(Err(e)) => return Err(CmdError::new(1, e.to_string())),
        Err(_) => return Err(CmdError::new(1, "attach stream failed")),
        Ok(Ok(Outcome::Ended)) => {}
    }
    match waiter.await {
        Ok(Ok(b)) => {
            let v: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
            if let Some(m) = v
                .pointer("/Error/Message")
                .and_then(|m| m.as_str())
                .filter(|m| !m.is_empty())
            {
                return Err(CmdError::new(1, m));
            }
            match v.get("StatusCode").and_then(|c| c.as_i64()).unwrap_or(0) {
                0 => Ok(()),
                code => Err(CmdError::status(code as i32)),
            }
        }
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Ok(()),
    }
}
