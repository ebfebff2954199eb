//! One probe run (dockerd's `cmdProbe.run`): an exec in the container
//! through its shim, output of stdout and stderr together capped at
//! 4096 bytes, killed when it outlives the timeout.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use super::timefmt::go_duration;
use super::{Probe, ProbeResult, MAX_OUTPUT_LEN};
use crate::containers::Container;
use crate::daemon::Daemon;
use crate::runtime::{ExecSpec, ShimConnection, ShimEvent, ShimReader, ShimRequest};

/// dockerd gives a wedged exec start this long, apart from the probe's
/// own timeout.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a killed probe is waited for, so dying probes do not pile up
/// and a stuck one does not stall the monitor for ever.
const KILL_WAIT: Duration = Duration::from_secs(10);
const SIGKILL: i32 = 9;

/// Output kept up to [`MAX_OUTPUT_LEN`]; `...` marks a cut.
#[derive(Default)]
struct LimitedOutput {
    buf: Vec<u8>,
    truncated: bool,
}

impl LimitedOutput {
    fn push(&mut self, data: &[u8]) {
        let keep = MAX_OUTPUT_LEN
            .saturating_sub(self.buf.len())
            .min(data.len());
        self.buf.extend_from_slice(&data[..keep]);
        if keep < data.len() {
            self.truncated = true;
        }
    }

    fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if self.truncated {
            s.push_str("...");
        }
        s
    }
}

/// How a probe ended.
pub enum Outcome {
    Done(ProbeResult),
    /// The monitor was stopped (container stopped or paused): no result.
    Cancelled,
}

/// The exec spec dockerd uses for probes: the container's user and
/// working dir, the daemon's env plus the container's, no TTY, no stdin.
fn spec(c: &Container, cmd: &[String]) -> ExecSpec {
    let rec = c.snapshot();
    let mut env = vec![
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        format!(
            "HOSTNAME={}",
            rec.config.hostname.clone().unwrap_or_default()
        ),
    ];
    crate::exec::replace_or_append(&mut env, rec.config.env.as_deref().unwrap_or(&[]));
    ExecSpec {
        args: cmd.to_vec(),
        env,
        cwd: rec.config.working_dir.clone().unwrap_or_default(),
        user: rec.config.user.clone().unwrap_or_default(),
        tty: false,
        stdin: false,
        privileged: false,
        console: None,
    }
}

fn failed(start: chrono::DateTime<Utc>, output: String) -> Outcome {
    Outcome::Done(ProbeResult {
        start,
        end: Utc::now(),
        exit_code: -1,
        output,
    })
}

/// Runs the probe once. `cancel` turning true kills it.
pub async fn run(
    d: &Arc<Daemon>,
    c: &Arc<Container>,
    probe: &Probe,
    cancel: &mut watch::Receiver<bool>,
) -> Outcome {
    let start = Utc::now();
    let socket = {
        let g = c.lock();
        match (&g.shim, g.rec.state.running()) {
            (Some(ctl), true) => ctl.socket.clone(),
            _ => return Outcome::Cancelled,
        }
    };
    if probe.cmd.is_empty() {
        return failed(
            start,
            format!("healthcheck for container {} has no command", c.id),
        );
    }
    let exec_id = hex::encode(rand::random::<[u8; 32]>());
    // dockerd's action text: entrypoint, a space, the args joined.
    let (entry, args) = probe
        .cmd
        .split_first()
        .map_or(("", &[][..]), |(e, a)| (e.as_str(), a));
    let shown = format!("{entry} {}", args.join(" "));
    let id_attr = [("execID", exec_id.clone())];
    crate::events::container(d, c, &format!("exec_create: {shown}"), &id_attr);

    let mut conn = match ShimConnection::connect(&socket).await {
        Ok(conn) => conn,
        Err(e) => return failed(start, e.to_string()),
    };
    crate::events::container(d, c, &format!("exec_start: {shown}"), &id_attr);
    if let Err(e) = conn
        .send(&ShimRequest::Exec(Box::new(spec(c, &probe.cmd))))
        .await
    {
        return failed(start, e.to_string());
    }
    let mut output = LimitedOutput::default();

    // Starting the exec does not count towards the probe's timeout.
    let started = tokio::time::timeout(START_TIMEOUT, async {
        loop {
            match crate::runtime::next_event_conn(&mut conn).await {
                Some(ShimEvent::ExecStarted { .. }) => return Ok(()),
                Some(ShimEvent::ExecFailed(f)) => {
                    return Err(crate::exec::session::failure_text(&f))
                }
                Some(ShimEvent::Error(m)) => return Err(m),
                Some(ShimEvent::Stdout(b)) | Some(ShimEvent::Stderr(b)) => output.push(&b),
                Some(_) => continue,
                None => return Err("the container's monitor went away".to_string()),
            }
        }
    });
    let started = tokio::select! {
        r = started => r,
        _ = stopped(cancel) => return Outcome::Cancelled,
    };
    match started {
        Ok(Ok(())) => {}
        Ok(Err(msg)) => return failed(start, msg),
        Err(_) => {
            return failed(
                start,
                format!("timed out starting health check for container {}", c.id),
            )
        }
    }
    let (mut reader, mut writer) = conn.into_split();

    let deadline = tokio::time::sleep(probe.timeout);
    tokio::pin!(deadline);
    let exit = loop {
        tokio::select! {
            ev = crate::runtime::next_event(&mut reader) => match ev {
                Some(ShimEvent::Stdout(b)) | Some(ShimEvent::Stderr(b)) => output.push(&b),
                Some(ShimEvent::ExecExited { exit_code }) => break Some(exit_code as i64),
                Some(_) => continue,
                None => break None,
            },
            _ = &mut deadline => {
                let _ = writer.send(&ShimRequest::Signal(SIGKILL)).await;
                if let Some(code) = wait_exit(&mut reader).await {
                    crate::events::exec_die(d, c, &exec_id, code);
                }
                let out = output.text();
                let limit = go_duration(probe.timeout);
                let msg = if out.is_empty() {
                    format!("Health check exceeded timeout ({limit})")
                } else {
                    format!("Health check exceeded timeout ({limit}): {out}")
                };
                return failed(start, msg);
            }
            _ = stopped(cancel) => {
                let _ = writer.send(&ShimRequest::Signal(SIGKILL)).await;
                if let Some(code) = wait_exit(&mut reader).await {
                    crate::events::exec_die(d, c, &exec_id, code);
                }
                return Outcome::Cancelled;
            }
        }
    };
    match exit {
        Some(code) => {
            crate::events::exec_die(d, c, &exec_id, code);
            Outcome::Done(ProbeResult {
                start,
                end: Utc::now(),
                exit_code: code,
                output: output.text(),
            })
        }
        // The shim went away: the container is ending.
        None => Outcome::Cancelled,
    }
}

/// Resolves once the monitor's stop switch is on (the borrow it takes is
/// dropped inside, so the caller's future stays `Send`).
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Waits (bounded) for a killed probe's exit code.
async fn wait_exit(reader: &mut ShimReader) -> Option<i64> {
    tokio::time::timeout(KILL_WAIT, async {
        loop {
            match crate::runtime::next_event(reader).await {
                Some(ShimEvent::ExecExited { exit_code }) => return Some(exit_code as i64),
                Some(_) => continue,
                None => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_capped_with_an_ellipsis() {
        let mut o = LimitedOutput::default();
        o.push(b"ok\n");
        assert_eq!(o.text(), "ok\n");
        o.push(&vec![b'x'; 5000]);
        let t = o.text();
        assert_eq!(t.len(), MAX_OUTPUT_LEN + 3);
        assert!(t.ends_with("xx..."));
    }
}
