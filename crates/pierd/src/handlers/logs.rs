//! `GET /containers/{id}/logs`: the json-file log as multiplexed frames
//! (raw with a TTY), optionally following until the container stops.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pier_api::stream::{MULTIPLEXED_CONTENT_TYPE, RAW_CONTENT_TYPE};
use tokio::io::AsyncBufReadExt;

use super::system::AppState;
use crate::containers::logfile::{open_at_tail, parse_tail, parse_time, LogEntry, LogOptions};
use crate::containers::{Container, ContainerError};
use crate::server::body::{channel_body, BodyTx};
use crate::server::error::{ApiError, ApiResult};
use crate::server::extract::Query;

/// How often a follower looks for new lines. Followers are not on any
/// latency-critical path; the container's exit wakes them at once.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

pub async fn logs(State(d): AppState, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let time = |k: &str| match q.get_nonempty(k) {
        Some(v) => parse_time(v).map_err(ApiError::BadRequest),
        None => Ok(None),
    };
    let opts = LogOptions {
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        timestamps: q.bool("timestamps"),
        since: time("since")?,
        until: time("until")?,
        tail: parse_tail(q.get("tail")),
        follow: q.bool("follow"),
        details: q.bool("details"),
    };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::BadRequest(
            "Bad parameters: you must choose at least one stream".into(),
        ));
    }
    let rec = c.snapshot();
    let path = rec
        .log_path(&c.dir)
        .ok_or(ContainerError::LogsNotSupported)?;
    let tty = rec.tty();
    let (tx, body) = channel_body(32);
    tokio::spawn(async move {
        if let Err(e) = stream_logs(&c, path, opts, tty, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if tty {
            RAW_CONTENT_TYPE
        } else {
            MULTIPLEXED_CONTENT_TYPE
        }),
    );
    Ok(resp)
}

async fn stream_logs(
    c: &Arc<Container>,
    path: PathBuf,
    opts: LogOptions,
    tty: bool,
    tx: &BodyTx,
) -> std::io::Result<()> {
    let mut life = c.watch();
    let mut reader: Option<tokio::io::BufReader<tokio::fs::File>> = None;
    let mut partial: Vec<u8> = Vec::new();
    let mut last_pass = false;
    // Rotated files first (oldest first), then the live file.
    let (p, tail) = (path.clone(), opts.tail);
    let older =
        tokio::task::spawn_blocking(move || crate::containers::logrotated::older_lines(&p, tail))
            .await
            .map_err(std::io::Error::other)?;
    let mut out = Vec::new();
    for line in older {
        if let Ok(e) = serde_json::from_slice::<LogEntry>(&line) {
            if opts.until.is_some_and(|u| e.time > u) {
                return flush(tx, &mut out).await;
            }
            if let Some(b) = opts.render(&e, tty) {
                out.extend_from_slice(&b);
            }
        }
        if out.len() >= 32 * 1024 {
            flush(tx, &mut out).await?;
        }
    }
    flush(tx, &mut out).await?;
    let mut tail = opts.tail;
    let mut inode = 0u64;
    loop {
        if reader.is_none() {
            let p = path.clone();
            let opened = tokio::task::spawn_blocking(move || open_at_tail(&p, tail))
                .await
                .map_err(std::io::Error::other)??;
            // A reopen after a rotation starts at the top of the new file.
            tail = None;
            reader = opened.map(|(f, _)| {
                use std::os::unix::fs::MetadataExt;
                inode = f.metadata().map(|m| m.ino()).unwrap_or(0);
                tokio::io::BufReader::new(tokio::fs::File::from_std(f))
            });
        }
        if let Some(r) = reader.as_mut() {
            let mut out = Vec::new();
            loop {
                let n = r.read_until(b'\n', &mut partial).await?;
                if n == 0 || partial.last() != Some(&b'\n') {
                    // EOF, possibly inside a line the shim is still writing.
                    break;
                }
                if let Ok(e) = serde_json::from_slice::<LogEntry>(&partial) {
                    if opts.until.is_some_and(|u| e.time > u) {
                        flush(tx, &mut out).await?;
                        return Ok(());
                    }
                    if let Some(b) = opts.render(&e, tty) {
                        out.extend_from_slice(&b);
                        if out.len() >= 32 * 1024 {
                            flush(tx, &mut out).await?;
                        }
                    }
                }
                partial.clear();
            }
            flush(tx, &mut out).await?;
        }
        if !opts.follow || last_pass {
            return Ok(());
        }
        // Rotated under us: the live file is a new one; read it from the start.
        if reader.is_some() && partial.is_empty() {
            use std::os::unix::fs::MetadataExt;
            let now = tokio::fs::metadata(&path)
                .await
                .map(|m| m.ino())
                .unwrap_or(inode);
            if now != inode {
                reader = None;
                continue;
            }
        }
        let running = {
            let l = life.borrow();
            l.running && !l.removed
        };
        if !running {
            // One more pass picks up what was written before the exit.
            last_pass = true;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
            _ = life.changed() => {}
            _ = tx.closed() => return Ok(()),
        }
    }
}

async fn flush(tx: &BodyTx, out: &mut Vec<u8>) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let chunk = Bytes::from(std::mem::take(out));
    tx.send(Ok(chunk))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
}
