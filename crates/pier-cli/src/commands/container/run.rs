//! `pier run`: docker's sequence — create (pulling a missing image), attach
//! (hijacked), wait (registered before start), start, resize with a TTY —
//! and docker's exit statuses (the container's, or 125/126/127).

use crate::attach::{self, Outcome, Streams};
use crate::cli::RunArgs;
use crate::client::{encode, ClientError};
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::output;
use crate::tty;

use super::config;
use super::create::{create_container, validate_pull, with_help, CreateError};
use super::session;

/// docker's `toStatusError`: 127 for a missing executable, 126 for one that
/// cannot be run, 125 for everything else the daemon refuses.
pub fn status_error(err: &str) -> CmdError {
    let code = if err.contains("executable file not found")
        || err.contains("no such file or directory")
        || err.contains("system cannot find the file specified")
    {
        127
    } else if err.contains("permission denied") || err.contains("is a directory") {
        126
    } else {
        125
    };
    CmdError::new(code, with_help(err, "run"))
}

fn attach_path(id: &str, stdin: bool, stdout: bool, stderr: bool, keys: Option<&str>) -> String {
    let mut q = crate::client::Query::new();
    // Like docker: the daemon watches stdin for these keys (its default
    // ctrl-p,ctrl-q would otherwise detach a session that chose others).
    if let Some(k) = keys.filter(|k| !k.is_empty()) {
        q = q.add("detachKeys", k);
    }
    if stderr {
        q = q.add("stderr", "1");
    }
    if stdin {
        q = q.add("stdin", "1");
    }
    if stdout {
        q = q.add("stdout", "1");
    }
    q.add("stream", "1")
        .path(&format!("/containers/{}/attach", encode(id)))
}

pub async fn run(ctx: &Ctx, a: RunArgs) -> CmdResult {
    ctx.require_min(&a.args, 1)?;
    config::windows_only_flags(&a.create.opts).map_err(|e| CmdError::new(1, e))?;
    validate_pull(&a.create.pull).map_err(|e| CmdError::new(125, with_help(&e, "run")))?;
    let image = a.args[0].clone();
    let mut cfg = config::build(&a.create.opts, &image, &a.args[1..])
        .map_err(|e| CmdError::new(125, with_help(&e, "run")))?;
    let detach = a.detach.unwrap_or(false);
    if !detach {
        if cfg.tty && cfg.attach_stdin && !tty::stdin_is_terminal() {
            return Err(CmdError::new(1, "the input device is not a TTY"));
        }
    } else {
        if cfg.attach_given {
            return Err(CmdError::new(
                1,
                "conflicting options: cannot specify both --attach and --detach",
            ));
        }
        cfg.attach_stdin = false;
        cfg.attach_stdout = false;
        cfg.attach_stderr = false;
        if let Some(o) = cfg.body.as_object_mut() {
            o.insert("AttachStdin".into(), false.into());
            o.insert("AttachStdout".into(), false.into());
            o.insert("AttachStderr".into(), false.into());
            o.insert("StdinOnce".into(), false.into());
        }
    }

    let id = match create_container(ctx, &a.create, &cfg, &image).await {
        Ok(id) => id,
        Err(CreateError::Api(e)) => return Err(status_error(&e.to_string())),
        Err(CreateError::Other(e)) => return Err(status_error(&e)),
    };

    let attach = cfg.attach_stdin || cfg.attach_stdout || cfg.attach_stderr;
    if !attach {
        // Detached: docker prints the ID while starting.
        output::outln(&id);
        ctx.client
            .post(&format!("/containers/{}/start", encode(&id)))
            .await
            .map_err(|e| status_error(&e.to_string()))?;
        return Ok(());
    }
    if a.sig_proxy.unwrap_or(true) {
        session::forward_signals(&ctx.client, &id);
    } else if cfg.tty && cfg.attach_stdin {
        tty::restore_on_signals();
    }

    // The wait is registered while the attach connects (both before start).
    let wait = session::wait_exit_or_removed(&ctx.client, &id, cfg.auto_remove);
    let conn = ctx
        .client
        .hijack(&attach_path(
            &id,
            cfg.attach_stdin,
            cfg.attach_stdout,
            cfg.attach_stderr,
            attach::detach_keys_setting(a.detach_keys.as_deref()).as_deref(),
        ))
        .await
        .map_err(CmdError::from)?;
    let streams = Streams {
        stdin: cfg.attach_stdin,
        stdout: cfg.attach_stdout,
        stderr: cfg.attach_stderr,
        tty: cfg.tty,
        detach_keys: attach::detach_keys(a.detach_keys.as_deref()),
    };
    if streams.stdin && streams.tty {
        session::enter_raw_terminal()?;
    }
    let mut attach_task = tokio::spawn(attach::stream(conn, streams));

    let _ = wait.registered.await;
    let mut status_rx = wait.status;

    if let Err(e) = ctx
        .client
        .post(&format!("/containers/{}/start", encode(&id)))
        .await
    {
        attach_task.abort();
        tty::restore();
        if cfg.auto_remove {
            let _ = (&mut status_rx).await;
        }
        return Err(start_error(e));
    }
    if cfg.tty && tty::stdout_is_terminal() {
        session::monitor_tty_size(&ctx.client, session::container_resize(&id));
    }

    tokio::select! {
        r = &mut attach_task => {
            tty::restore();
            match r {
                Ok(Ok(Outcome::Detached)) => Ok(()),
                Ok(Ok(Outcome::Ended)) => {
                    let status = status_rx.await.unwrap_or(125);
                    if status != 0 { Err(CmdError::status(status)) } else { Ok(()) }
                }
                Ok(Err(e)) => Err(CmdError::new(1, e.to_string())),
                Err(_) => Err(CmdError::new(1, "attach stream failed")),
            }
        }
        status = &mut status_rx => {
            let status = status.unwrap_or(125);
            if !cfg.attach_stdout && !cfg.attach_stderr {
                attach_task.abort();
            } else {
                // Output may still be in flight: drain the stream.
                let _ = attach_task.await;
            }
            tty::restore();
            if status != 0 { Err(CmdError::status(status)) } else { Ok(()) }
        }
    }
}

fn start_error(e: ClientError) -> CmdError {
    status_error(&e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_docker() {
        let e = status_error("Error response from daemon: failed to create task: exec: \"nosuchcmd\": executable file not found in $PATH");
        assert_eq!(e.code, 127);
        assert!(
            e.message.starts_with("pier: Error response from daemon: "),
            "{}",
            e.message
        );
        assert!(e
            .message
            .ends_with("\n\nRun 'pier run --help' for more information"));
        assert_eq!(status_error("exec: \"/etc\": permission denied").code, 126);
        assert_eq!(status_error("exec: \"/etc\": is a directory").code, 126);
        assert_eq!(status_error("No such image: x").code, 125);
    }

    #[test]
    fn attach_query_matches_docker() {
        assert_eq!(
            attach_path("abc", false, true, true, None),
            "/containers/abc/attach?stderr=1&stdout=1&stream=1"
        );
        assert_eq!(
            attach_path("abc", true, true, true, None),
            "/containers/abc/attach?stderr=1&stdin=1&stdout=1&stream=1"
        );
    }
}
