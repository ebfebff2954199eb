//! `POST /exec/{id}/start`: asks the container's shim to run the process
//! on a connection of its own, then relays stdio between that connection
//! and the client's hijacked stream (raw with a TTY, multiplexed frames
//! without), until the shim reports the exit.

use std::sync::Arc;

use pier_api::stream::{encode_frame, StreamKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{spec_for, Exec, ExecError};
use crate::containers::{Container, ContainerError};
use crate::daemon::Daemon;
use crate::runtime::{ExecFailure, ShimConnection, ShimEvent, ShimReader, ShimRequest};

/// Checked before answering the request, so errors are plain HTTP errors.
pub struct Ready {
    pub exec: Arc<Exec>,
    pub container: Arc<Container>,
    pub socket: std::path::PathBuf,
    pub tty: bool,
}

/// Validates a start and marks the exec started.
pub fn prepare(d: &Daemon, id: &str, tty: Option<bool>) -> Result<Ready, ExecError> {
    let exec = d.execs.get(id)?;
    let container = d.containers.get(&exec.container_id)?;
    let socket = {
        let g = container.lock();
        if g.rec.state.paused {
            return Err(ExecError::Paused(container.id.clone()));
        }
        match (&g.shim, g.rec.state.running()) {
            (Some(ctl), true) => ctl.socket.clone(),
            _ => return Err(ContainerError::NotRunning(container.id.clone()).into()),
        }
    };
    {
        let mut s = exec.lock();
        if s.running {
            return Err(ExecError::AlreadyRunning(exec.id.clone()));
        }
        if s.started {
            return Err(ExecError::AlreadyRan(exec.id.clone()));
        }
        s.started = true;
    }
    let tty = tty.unwrap_or(exec.opts.tty) || exec.opts.tty;
    Ok(Ready {
        exec,
        container,
        socket,
        tty,
    })
}

/// docker's text for a process that could not be started.
pub fn failure_text(f: &ExecFailure) -> String {
    format!(
        "OCI runtime exec failed: exec failed: unable to start container process: {}: unknown",
        f.error
    )
}

fn finish(d: &Daemon, r: &Ready, code: i64) {
    {
        let mut s = r.exec.lock();
        s.running = false;
        s.exit_code = Some(code);
        s.control = None;
        s.finished_at = Some(std::time::Instant::now());
    }
    crate::events::exec_die(d, &r.container, &r.exec.id, code);
}

/// Connects to the shim and starts the process. On failure the exec is
/// finished with the failure's exit code.
async fn launch(
    d: &Daemon,
    r: &Ready,
) -> Result<
    (
        ShimReader,
        Arc<tokio::sync::Mutex<crate::runtime::ShimWriter>>,
    ),
    ExecFailure,
> {
    // The exec's process joins the container's cgroups.
    pier_runtime::attach_warm::warm();
    let spec = spec_for(&r.exec, &r.container, Some(r.tty));
    let fail = |error: String| ExecFailure {
        error,
        exit_code: 126,
    };
    let mut conn = ShimConnection::connect(&r.socket)
        .await
        .map_err(|e| fail(e.to_string()))?;
    conn.send(&ShimRequest::Exec(Box::new(spec)))
        .await
        .map_err(|e| fail(e.to_string()))?;
    crate::events::exec_start(d, &r.container, &r.exec);
    loop {
        match crate::runtime::next_event_conn(&mut conn).await {
            Some(ShimEvent::ExecStarted { pid }) => {
                let (reader, writer) = conn.into_split();
                let writer = Arc::new(tokio::sync::Mutex::new(writer));
                let pending = {
                    let mut s = r.exec.lock();
                    s.running = true;
                    s.pid = pid as i64;
                    s.control = Some(writer.clone());
                    s.pending_size.take()
                };
                if let Some((rows, cols)) = pending {
                    let _ = writer
                        .lock()
                        .await
                        .send(&ShimRequest::Resize { rows, cols })
                        .await;
                }
                return Ok((reader, writer));
            }
            Some(ShimEvent::ExecFailed(f)) => return Err(f),
            Some(ShimEvent::Error(m)) => return Err(fail(m)),
            Some(_) => continue,
            None => return Err(fail("the container's monitor went away".into())),
        }
    }
}

/// `Detach: true`: start, answer, and collect the exit in the background.
pub async fn start_detached(d: Arc<Daemon>, r: Ready) -> Result<(), String> {
    match launch(&d, &r).await {
        Ok((mut reader, writer)) => {
            tokio::spawn(async move {
                let code = loop {
                    match crate::runtime::next_event(&mut reader).await {
                        Some(ShimEvent::ExecExited { exit_code }) => break exit_code as i64,
                        Some(_) => continue,
                        None => break 137,
                    }
                };
                drop(writer);
                finish(&d, &r, code);
            });
            Ok(())
        }
        Err(f) => {
            finish(&d, &r, f.exit_code as i64);
            Err(failure_text(&f))
        }
    }
}

/// The hijacked stream of an attached exec.
pub async fn run<IO>(d: Arc<Daemon>, r: Ready, io: IO)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let tty = r.tty;
    let write_out = |kind: StreamKind, data: &[u8], frame: &mut Vec<u8>| {
        frame.clear();
        if tty {
            frame.extend_from_slice(data);
        } else {
            encode_frame(kind, data, frame);
        }
    };
    let mut frame = Vec::with_capacity(8 * 1024);
    let (mut reader, writer) = match launch(&d, &r).await {
        Ok(x) => x,
        Err(f) => {
            let text = format!("{}\r\n", failure_text(&f));
            write_out(StreamKind::Stdout, text.as_bytes(), &mut frame);
            let _ = wr.write_all(&frame).await;
            let _ = wr.shutdown().await;
            finish(&d, &r, f.exit_code as i64);
            return;
        }
    };

    // Input: client → exec stdin, watching for the detach keys.
    let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
    let input = r.exec.opts.attach_stdin.then(|| {
        let writer = writer.clone();
        let keys = crate::detachkeys::parse(&r.exec.opts.detach_keys).unwrap_or_default();
        tokio::spawn(async move {
            let mut scan = crate::detachkeys::Scanner::new(keys);
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let (data, detached) = scan.feed(&buf[..n]);
                        if !data.is_empty()
                            && writer
                                .lock()
                                .await
                                .send(&ShimRequest::Stdin(data))
                                .await
                                .is_err()
                        {
                            return;
                        }
                        if detached {
                            let _ = detach_tx.send(());
                            return;
                        }
                    }
                }
            }
            let _ = writer.lock().await.send(&ShimRequest::CloseStdin).await;
        })
    });

    // Armed while the input task may still report the detach keys.
    let mut detach_armed = input.is_some();
    let code = loop {
        let ev = tokio::select! {
            ev = crate::runtime::next_event(&mut reader) => ev,
            res = &mut detach_rx, if detach_armed => {
                if res.is_err() {
                    // Input ended without the detach keys.
                    detach_armed = false;
                    continue;
                }
                // Detached: the process keeps running; its exit is still
                // collected for `exec inspect`.
                let _ = wr.shutdown().await;
                let d2 = d.clone();
                tokio::spawn(async move {
                    let code = loop {
                        match crate::runtime::next_event(&mut reader).await {
                            Some(ShimEvent::ExecExited { exit_code }) => break exit_code as i64,
                            Some(_) => continue,
                            None => break 137,
                        }
                    };
                    drop(writer);
                    finish(&d2, &r, code);
                });
                return;
            }
        };
        let (kind, data) = match ev {
            Some(ShimEvent::Stdout(b)) => (StreamKind::Stdout, b),
            Some(ShimEvent::Stderr(b)) => (StreamKind::Stderr, b),
            Some(ShimEvent::ExecExited { exit_code }) => break exit_code as i64,
            Some(_) => continue,
            None => break 137,
        };
        let wanted = match kind {
            StreamKind::Stderr => r.exec.opts.attach_stderr,
            _ => r.exec.opts.attach_stdout,
        };
        if !wanted {
            continue;
        }
        write_out(kind, &data, &mut frame);
        if wr.write_all(&frame).await.is_err() || wr.flush().await.is_err() {
            // The client is gone; keep collecting the exit.
            continue;
        }
    };
    finish(&d, &r, code);
    if let Some(t) = input {
        t.abort();
    }
    let _ = wr.shutdown().await;
    drop(writer);
}

/// `POST /exec/{id}/resize`.
pub async fn resize(d: &Daemon, id: &str, h: u16, w: u16) -> Result<(), ExecError> {
    let exec = d.execs.get(id)?;
    let ctl = {
        let mut s = exec.lock();
        if s.control.is_none() {
            s.pending_size = Some((h, w));
        }
        s.control.clone()
    };
    if let Some(ctl) = ctl {
        let _ = ctl
            .lock()
            .await
            .send(&ShimRequest::Resize { rows: h, cols: w })
            .await;
    }
    Ok(())
}
