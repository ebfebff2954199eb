//! `POST /containers/{id}/attach`: the hijacked stdio stream.
//!
//! Each attach has its own shim connection (SUBSCRIBE for output, STDIN
//! for input). An attach made before start is parked on the container and
//! subscribes before the starter sends START, so it sees the first byte.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use pier_api::stream::{encode_frame, StreamKind, MULTIPLEXED_CONTENT_TYPE, RAW_CONTENT_TYPE};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

use super::system::AppState;
use crate::containers::logfile::{open_at_tail, LogEntry, LogOptions};
use crate::containers::{AttachStart, Container, PendingAttach};
use crate::runtime::{ShimConnection, ShimEvent, ShimRequest};
use crate::server::error::ApiResult;
use crate::server::extract::Query;

#[derive(Debug, Clone)]
struct Opts {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    logs: bool,
    stream: bool,
    tty: bool,
    stdin_once: bool,
    log_path: Option<PathBuf>,
    /// The detach sequence watched for in stdin.
    detach_keys: Vec<u8>,
}

/// Where the session gets its shim socket from.
enum Plan {
    Now(PathBuf),
    Wait(oneshot::Receiver<AttachStart>),
}

/// Decided while handling the request (before the 101 goes out), so a
/// START racing right behind the attach still finds it parked.
fn plan(c: &Container) -> Plan {
    let mut g = c.lock();
    if let Some(ctl) = &g.shim {
        return Plan::Now(ctl.socket.clone());
    }
    if let Some(s) = &g.starting {
        return Plan::Now(s.clone());
    }
    let (tx, rx) = oneshot::channel();
    g.pending.push(PendingAttach { notify: tx });
    Plan::Wait(rx)
}

pub async fn attach(
    State(d): AppState,
    Path(id): Path<String>,
    q: Query,
    mut req: Request,
) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let rec = c.snapshot();
    let opts = Opts {
        stdin: q.bool("stdin"),
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        logs: q.bool("logs"),
        stream: q.bool("stream"),
        tty: rec.tty(),
        stdin_once: rec.config.stdin_once.unwrap_or(false),
        log_path: rec.log_path(&c.dir),
        detach_keys: crate::detachkeys::parse(q.get("detachKeys").unwrap_or(""))
            .map_err(crate::server::error::ApiError::BadRequest)?,
    };
    let content_type = HeaderValue::from_static(if opts.tty {
        RAW_CONTENT_TYPE
    } else {
        MULTIPLEXED_CONTENT_TYPE
    });
    let plan = opts.stream.then(|| plan(&c));
    let wants_upgrade = req.headers().contains_key(header::UPGRADE)
        || req
            .headers()
            .get(header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade"));

    if wants_upgrade {
        let on_upgrade = hyper::upgrade::on(&mut req);
        let c2 = c.clone();
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(up) => session(c2, TokioIo::new(up), opts, plan).await,
                Err(e) => tracing::debug!("attach upgrade failed: {e}"),
            }
        });
        let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, content_type);
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        return Ok(resp);
    }

    // No upgrade asked: output only, as an ordinary streamed body.
    let (client, server) = tokio::io::duplex(64 * 1024);
    let out_only = Opts {
        stdin: false,
        ..opts
    };
    tokio::spawn(session(c.clone(), server, out_only, plan));
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(client));
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    Ok(resp)
}

/// Replays the log (attach with `logs=1`).
async fn replay_logs<W: AsyncWrite + Unpin>(opts: &Opts, w: &mut W) -> std::io::Result<()> {
    let Some(path) = opts.log_path.clone() else {
        return Ok(());
    };
    let lo = LogOptions {
        stdout: opts.stdout,
        stderr: opts.stderr,
        ..Default::default()
    };
    let tty = opts.tty;
    let chunks = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        use std::io::BufRead;
        let mut out = Vec::new();
        if let Some((f, _)) = open_at_tail(&path, None)? {
            for line in std::io::BufReader::new(f).lines() {
                if let Ok(e) = serde_json::from_str::<LogEntry>(&line?) {
                    if let Some(b) = lo.render(&e, tty) {
                        out.extend_from_slice(&b);
                    }
                }
            }
        }
        Ok(out)
    })
    .await
    .map_err(std::io::Error::other)??;
    w.write_all(&chunks).await?;
    w.flush().await
}

async fn session<IO>(c: Arc<Container>, io: IO, opts: Opts, plan: Option<Plan>)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    if opts.logs {
        if let Err(e) = replay_logs(&opts, &mut wr).await {
            tracing::debug!(id = %c.id, "attach log replay: {e}");
        }
    }
    let Some(plan) = plan else {
        let _ = wr.shutdown().await;
        return;
    };
    let (socket, ack) = match plan {
        Plan::Now(s) => (s, None),
        Plan::Wait(rx) => match rx.await {
            Ok(AttachStart { socket, subscribed }) => (socket, Some(subscribed)),
            // Start failed or the container was removed.
            Err(_) => {
                let _ = wr.shutdown().await;
                return;
            }
        },
    };
    let mut conn = match ShimConnection::connect(&socket).await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::debug!(id = %c.id, "attach: shim gone: {e}");
            let _ = wr.shutdown().await;
            return;
        }
    };
    let mut early = Vec::new();
    let subscribed = async {
        if opts.stdout || opts.stderr {
            conn.send(&ShimRequest::Subscribe).await?;
        }
        if let Some(ack) = ack {
            // STATUS is answered after SUBSCRIBE was processed (same
            // connection, in order): then the starter may send START.
            conn.send(&ShimRequest::Status).await?;
            loop {
                match crate::runtime::next_event_conn(&mut conn).await {
                    Some(ShimEvent::Status(_)) | None => break,
                    Some(ev) => early.push(ev),
                }
            }
            let _ = ack.send(());
        }
        Ok::<_, crate::runtime::RuntimeError>(())
    };
    if let Err(e) = subscribed.await {
        tracing::debug!(id = %c.id, "attach: subscribe failed: {e}");
        let _ = wr.shutdown().await;
        return;
    }
    let (mut reader, writer) = conn.into_split();
    let writer = Arc::new(tokio::sync::Mutex::new(writer));

    // Input: client → container stdin. The writer stays alive until the
    // output side ends (closing it could end the whole shim connection).
    let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
    let input = opts.stdin.then(|| {
        let writer = writer.clone();
        let stdin_once = opts.stdin_once;
        let mut scan = crate::detachkeys::Scanner::new(opts.detach_keys.clone());
        let mut life = c.watch();
        let before_start = !life.borrow().running;
        tokio::spawn(async move {
            // Input is held back until the process runs: stdin sent to a
            // shim that has not started the process yet is not guaranteed
            // to reach it.
            if before_start {
                let seen = life.borrow().exits;
                if life
                    .wait_for(|l| l.running || l.removed || l.exits > seen)
                    .await
                    .map(|l| !l.running)
                    .unwrap_or(true)
                {
                    return;
                }
            }
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
                            // The client detaches; the container runs on.
                            let _ = detach_tx.send(());
                            return;
                        }
                    }
                }
            }
            if stdin_once {
                let _ = writer.lock().await.send(&ShimRequest::CloseStdin).await;
            }
        })
    });

    // Output: container → client, until the container exits.
    let mut frame = Vec::with_capacity(8 * 1024);
    let mut pending_events = early.into_iter();
    let mut detach_armed = input.is_some();
    loop {
        let ev = match pending_events.next() {
            Some(ev) => Some(ev),
            None => tokio::select! {
                ev = crate::runtime::next_event(&mut reader) => ev,
                res = &mut detach_rx, if detach_armed => {
                    if res.is_ok() {
                        break;
                    }
                    detach_armed = false;
                    continue;
                }
            },
        };
        let (kind, data) = match ev {
            Some(ShimEvent::Stdout(b)) if opts.stdout => (StreamKind::Stdout, b),
            Some(ShimEvent::Stderr(b)) if opts.stderr => (StreamKind::Stderr, b),
            Some(ShimEvent::Exited { .. }) | None => break,
            Some(_) => continue,
        };
        let res = if opts.tty {
            wr.write_all(&data).await
        } else {
            frame.clear();
            encode_frame(kind, &data, &mut frame);
            wr.write_all(&frame).await
        };
        if res.is_err() || wr.flush().await.is_err() {
            break;
        }
    }
    if let Some(t) = input {
        t.abort();
    }
    let _ = wr.shutdown().await;
    drop(writer);
}
