//! Restart recovery: containers outlive pierd (their shims own them), so on
//! start pierd reconnects to every live shim and records the exits that
//! happened while it was down.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::lifecycle::{exit_from_record, monitor, on_exit};
use super::record::Status;
use super::store::Container;
use crate::daemon::Daemon;
use crate::runtime::{ShimConnection, ShimControl, ShimEvent, ShimReader, ShimRequest};
use pier_runtime::ShimState;

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn recover_all(d: &Arc<Daemon>) {
    let all = d.containers.list();
    let mut tasks = Vec::new();
    for c in all {
        let d = d.clone();
        tasks.push(tokio::spawn(async move { recover_one(&d, &c).await }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn recover_one(d: &Arc<Daemon>, c: &Arc<Container>) {
    let (status, auto_remove) = {
        let g = c.lock();
        (g.rec.state.status, g.rec.auto_remove())
    };
    let socket = d.paths.shim_socket(&c.id);
    match status {
        Status::Removing => {
            // Interrupted removal: finish it.
            if let Err(e) = super::control::remove(d, c, true).await {
                tracing::warn!(id = %c.id, "finishing interrupted removal: {e}");
            }
            return;
        }
        Status::Running => {}
        // A shim may exist for a "created" record if pierd died between
        // START and writing the record (that write is off the start path);
        // likewise an exit record means it ran, and ended, meanwhile.
        Status::Created if socket.exists() => {}
        Status::Created if c.dir.join("exit.json").exists() => {
            let (code, oom, finished) = exit_from_record(&c.dir);
            on_exit(d, c, code, oom, finished).await;
            return;
        }
        _ => return,
    }
    match probe(&socket).await {
        Some(Probed::NeverStarted) => abandon_created(d, c).await,
        Some(Probed::Live(pid, reader, ctl)) => {
            {
                let mut g = c.lock();
                g.shim = Some(ctl);
                let st = &mut g.rec.state;
                if st.status != Status::Running {
                    st.status = Status::Running;
                    st.started_at.get_or_insert_with(Utc::now);
                }
                if pid > 0 {
                    st.pid = pid as i64;
                }
            }
            c.publish(|l| l.running = true);
            tracing::info!(id = %c.id, pid, "reconnected to running container");
            tokio::spawn(monitor(d.clone(), c.clone(), reader));
            super::health::monitor::on_restore(d, c);
        }
        None if status == Status::Running => {
            let (code, oom, finished) = exit_from_record(&c.dir);
            tracing::info!(id = %c.id, code, auto_remove, "container exited while pierd was down");
            on_exit(d, c, code, oom, finished).await;
        }
        None => {}
    }
}

/// A start cut short by pierd's death: the shim created the container but
/// START never came. Like dockerd, which deletes a task it finds "created"
/// at restore, kill it and leave the container "created" (and startable);
/// the caller never got an answer, so nobody expects it to run.
async fn abandon_created(d: &Arc<Daemon>, c: &Arc<Container>) {
    let socket = d.paths.shim_socket(&c.id);
    crate::network::attach::abort_created(&socket).await;
    // The shim recorded the kill; this run never happened.
    let _ = tokio::fs::remove_file(c.dir.join("exit.json")).await;
    super::mounts::on_stop(d, &c.snapshot());
    let changed = {
        let mut g = c.lock();
        let st = &mut g.rec.state;
        let changed = st.status != Status::Created || st.pid != 0;
        st.status = Status::Created;
        st.pid = 0;
        changed
    };
    if changed {
        if let Err(e) = c.persist().await {
            tracing::error!(id = %c.id, "cannot record abandoned start: {e}");
        }
    }
    tracing::info!(id = %c.id, "removed a container whose start pierd's death cut short");
}

enum Probed {
    Live(u32, ShimReader, Arc<ShimControl>),
    NeverStarted,
}

/// Connects to a shim and asks for its STATUS.
async fn probe(socket: &std::path::Path) -> Option<Probed> {
    let mut conn = ShimConnection::connect(socket).await.ok()?;
    conn.send(&ShimRequest::Status).await.ok()?;
    let reply = tokio::time::timeout(PROBE_TIMEOUT, async {
        loop {
            match crate::runtime::next_event_conn(&mut conn).await? {
                ShimEvent::Status(s) => return Some(Some(s)),
                // Exited between connect and STATUS: let the caller read exit.json.
                ShimEvent::Exited { .. } => return Some(None),
                _ => continue,
            }
        }
    })
    .await
    .ok()
    .flatten()
    .flatten()?;
    if reply.state == ShimState::Created {
        return Some(Probed::NeverStarted);
    }
    let (reader, writer) = conn.into_split();
    Some(Probed::Live(
        reply.pid,
        reader,
        Arc::new(ShimControl::new(socket.to_path_buf(), writer)),
    ))
}
