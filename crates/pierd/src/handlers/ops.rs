//! `pause`, `unpause`, `top`, `stats`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::system::AppState;
use crate::cgroups::Cgroup;
use crate::containers::{Container, ContainerError};
use crate::daemon::Daemon;
use crate::server::error::{join_error, ApiError, ApiResult};
use crate::server::extract::Query;
use crate::server::middleware::json_response;
use crate::stats;

fn require_running(c: &Container) -> Result<(), ContainerError> {
    if c.lock().rec.state.running() {
        Ok(())
    } else {
        Err(ContainerError::NotRunning(c.id.clone()))
    }
}

async fn set_frozen(c: &Arc<Container>, frozen: bool) -> ApiResult<()> {
    let cg = Cgroup::of_container(&c.id);
    tokio::task::spawn_blocking(move || cg.set_frozen(frozen))
        .await
        .map_err(join_error)?
        .map_err(|e| {
            let verb = if frozen { "pause" } else { "unpause" };
            ApiError::Internal(format!("Cannot {verb} container {}: {e}", c.id))
        })
}

pub async fn pause(State(d): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let _op = c.op.lock().await;
    require_running(&c)?;
    if c.lock().rec.state.paused {
        return Err(ApiError::Conflict(format!(
            "Container {} is already paused",
            c.id
        )));
    }
    set_frozen(&c, true).await?;
    c.lock().rec.state.paused = true;
    c.persist().await?;
    crate::events::container(&d, &c, "pause", &[]);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn unpause(State(d): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let _op = c.op.lock().await;
    if !c.lock().rec.state.paused || !c.lock().rec.state.running() {
        return Err(ApiError::Conflict(format!(
            "Container {} is not paused",
            c.id
        )));
    }
    set_frozen(&c, false).await?;
    c.lock().rec.state.paused = false;
    c.persist().await?;
    crate::events::container(&d, &c, "unpause", &[]);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Thaws a paused container so a signal sent to it is delivered (Docker
/// does this for stop and kill). Called after the signal went out.
pub fn thaw_after_signal(c: &Container) {
    let paused = {
        let mut g = c.lock();
        std::mem::replace(&mut g.rec.state.paused, false)
    };
    if paused {
        if let Err(e) = Cgroup::of_container(&c.id).set_frozen(false) {
            tracing::warn!(id = %c.id, "thawing for a signal: {e}");
        }
    }
}

/// Docker's `top`: host `ps` with the given args, keeping the rows whose
/// PID is in the container's cgroup.
pub fn run_top(pids: &[i32], ps_args: &str) -> Result<serde_json::Value, String> {
    let args: Vec<&str> = ps_args.split_whitespace().collect();
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| format!("Error running ps: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ps: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    parse_ps(&String::from_utf8_lossy(&out.stdout), pids)
}

pub fn parse_ps(text: &str, pids: &[i32]) -> Result<serde_json::Value, String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let titles: Vec<&str> = header.split_whitespace().collect();
    let pid_col = titles
        .iter()
        .position(|t| *t == "PID")
        .ok_or_else(|| "Couldn't find PID field in ps output".to_string())?;
    let mut procs = Vec::new();
    for l in lines {
        let fields: Vec<&str> = l.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        // The last column (the command) keeps its spaces.
        let n = titles.len();
        let mut row: Vec<String> = fields
            .iter()
            .take(n.saturating_sub(1))
            .map(|s| s.to_string())
            .collect();
        if fields.len() >= n {
            row.push(fields[n - 1..].join(" "));
        }
        procs.push(row);
    }
    Ok(json!({ "Titles": titles, "Processes": procs }))
}

pub async fn top(State(d): AppState, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    require_running(&c)?;
    if c.lock().rec.state.paused {
        return Err(ApiError::Conflict(format!(
            "Container {} is paused, unpause the container before exec",
            c.id
        )));
    }
    let ps_args = q.get_nonempty("ps_args").unwrap_or("-ef").to_string();
    let cid = c.id.clone();
    let v = tokio::task::spawn_blocking(move || {
        let pids = Cgroup::of_container(&cid)
            .pids()
            .map_err(|e| format!("reading the container's processes: {e}"))?;
        run_top(&pids, &ps_args)
    })
    .await
    .map_err(join_error)?
    .map_err(ApiError::Internal)?;
    Ok(json_response(StatusCode::OK, &v))
}

fn sample_of(d: &Daemon, c: &Container) -> stats::Sample {
    let (running, pid) = {
        let g = c.lock();
        (g.rec.state.running(), g.rec.state.pid)
    };
    if !running {
        return stats::Sample::default();
    }
    stats::sample(&c.id, pid, d.host.mem_total.max(0) as u64)
}

pub async fn container_stats(
    State(d): AppState,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let stream = q
        .get("stream")
        .is_none_or(crate::server::extract::docker_bool);
    let one_shot = q.bool("one-shot");
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let take = |d: Arc<Daemon>, c: Arc<Container>| async move {
            tokio::task::spawn_blocking(move || sample_of(&d, &c))
                .await
                .unwrap_or_default()
        };
        let mut pre = stats::Sample::default();
        if !stream && !one_shot {
            // Like dockerd: a single answer still carries a previous sample.
            pre = take(d.clone(), c.clone()).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        loop {
            let cur = take(d.clone(), c.clone()).await;
            let mut line = serde_json::to_vec(&stats::to_json(&c.id, &c.name(), &cur, &pre))
                .unwrap_or_default();
            line.push(b'\n');
            if tx.send(Ok(bytes::Bytes::from(line))).await.is_err() || !stream {
                return;
            }
            pre = cur;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut resp = (StatusCode::OK, Body::from_stream(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_filtered_by_pid() {
        let text = "UID          PID    PPID  C STIME TTY          TIME CMD\nroot           1       0  0 10:00 ?        00:00:01 /sbin/init\nroot        4242       1  0 10:01 ?        00:00:00 sleep 600 now\n";
        let v = parse_ps(text, &[4242]).unwrap();
        assert_eq!(v["Titles"].as_array().unwrap().len(), 8);
        assert_eq!(v["Processes"][0][1], "4242");
        assert_eq!(v["Processes"][0][7], "sleep 600 now");
        assert_eq!(v["Processes"].as_array().unwrap().len(), 1);
        assert!(parse_ps("A B\n1 2\n", &[1]).is_err());
    }
}
