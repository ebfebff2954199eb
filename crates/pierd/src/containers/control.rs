//! Stop, kill, remove, wait, resize: operations on an existing container.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::error::{ContainerError, IoContext};
use super::record::Status;
use super::signal::{self, SIGKILL, SIGTERM};
use super::store::{Container, Lifecycle};
use crate::daemon::Daemon;
use crate::runtime::ShimRequest;

/// How long to wait for an exit after SIGKILL before giving up.
const KILL_WAIT: Duration = Duration::from_secs(15);

/// Waits until `pred` holds, or the timeout passes (`None` = forever).
/// Returns whether it holds.
async fn wait_until(
    c: &Container,
    timeout: Option<Duration>,
    pred: impl FnMut(&Lifecycle) -> bool,
) -> bool {
    let mut rx = c.watch();
    let fut = rx.wait_for(pred);
    match timeout {
        None => fut.await.is_ok(),
        Some(t) => matches!(tokio::time::timeout(t, fut).await, Ok(Ok(_))),
    }
}

async fn send_signal(c: &Container, sig: i32) -> Result<(), ContainerError> {
    let ctl = c.lock().shim.clone();
    match ctl {
        Some(ctl) => {
            let sent = ctl.send(ShimRequest::Signal(sig)).await.map_err(|e| {
                ContainerError::Runtime(format!("cannot signal container {}: {e}", c.id))
            });
            // A frozen container only sees the signal once thawed.
            crate::handlers::ops::thaw_after_signal(c);
            sent
        }
        None => Err(ContainerError::NotRunning(c.id.clone())),
    }
}

/// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after the
/// timeout. 304 when not running.
pub async fn stop(
    c: &Arc<Container>,
    signal_name: Option<&str>,
    timeout: Option<i64>,
) -> Result<(), ContainerError> {
    let _op = c.op.lock().await;
    let (stop_signal, stop_timeout) = {
        let g = c.lock();
        if !g.rec.state.running() && !g.rec.state.restarting {
            return Err(ContainerError::NotModified);
        }
        (g.rec.config.stop_signal.clone(), g.rec.config.stop_timeout)
    };
    super::restart::on_user_action(c, false);
    if !c.lock().rec.state.running() {
        // Only a pending restart to cancel.
        return c.persist().await;
    }
    let sig = match signal_name.or(stop_signal.as_deref()) {
        Some(s) => signal::parse(s)?,
        None => SIGTERM,
    };
    let secs = timeout.or(stop_timeout).unwrap_or(10);
    stop_locked(c, sig, secs).await
}

/// Stop with `op` already held.
async fn stop_locked(c: &Arc<Container>, sig: i32, secs: i64) -> Result<(), ContainerError> {
    if sig != SIGKILL && send_signal(c, sig).await.is_ok() && secs != 0 {
        let t = (secs > 0).then(|| Duration::from_secs(secs as u64));
        if wait_until(c, t, |l| !l.running).await {
            return Ok(());
        }
        tracing::info!(id = %c.id, "container did not stop in {secs}s, killing it");
    }
    kill_and_wait(c).await
}

async fn kill_and_wait(c: &Arc<Container>) -> Result<(), ContainerError> {
    if !c.watch().borrow().running {
        return Ok(());
    }
    // A failed send means the shim is gone; the monitor records the exit.
    let _ = send_signal(c, SIGKILL).await;
    if wait_until(c, Some(KILL_WAIT), |l| !l.running).await {
        Ok(())
    } else {
        Err(ContainerError::Runtime(format!(
            "tried to kill container {}, but did not receive an exit event",
            c.id
        )))
    }
}

/// `POST /containers/{id}/kill`. Not serialised with `op`, so a kill gets
/// through while a stop is waiting out its timeout.
pub async fn kill(c: &Arc<Container>, signal_name: Option<&str>) -> Result<(), ContainerError> {
    let sig = match signal_name.filter(|s| !s.is_empty()) {
        Some(s) => signal::parse(s)?,
        None => SIGKILL,
    };
    let (running, restarting) = {
        let g = c.lock();
        (g.rec.state.running(), g.rec.state.restarting)
    };
    if !running && restarting {
        // As dockerd: between two runs, a kill only cancels the restart.
        super::restart::on_user_action(c, false);
        return c.persist().await;
    }
    if !running {
        return Err(ContainerError::NotRunning(c.id.clone()));
    }
    super::restart::on_user_action(c, false);
    if sig == SIGKILL {
        return kill_and_wait(c).await;
    }
    send_signal(c, sig).await
}

/// `POST /containers/{id}/restart`.
pub async fn restart(
    d: &Arc<Daemon>,
    c: &Arc<Container>,
    signal_name: Option<&str>,
    timeout: Option<i64>,
) -> Result<(), ContainerError> {
    c.lock().manual_restart = true;
    let stopped = stop(c, signal_name, timeout).await;
    let res = match stopped {
        Ok(()) | Err(ContainerError::NotModified) => super::lifecycle::start(d, c).await,
        Err(e) => Err(e),
    };
    c.lock().manual_restart = false;
    res
}

/// `DELETE /containers/{id}`: refuses a running container unless `force`
/// (then kills it first); removes the directory, including the RW layer.
/// Anonymous volumes go too for an AutoRemove container.
pub async fn remove(
    d: &Arc<Daemon>,
    c: &Arc<Container>,
    force: bool,
) -> Result<(), ContainerError> {
    remove_with_volumes(d, c, force, false).await
}

/// `remove`, plus `v`: also remove the container's anonymous volumes
/// (`rm -v`).
pub async fn remove_with_volumes(
    d: &Arc<Daemon>,
    c: &Arc<Container>,
    force: bool,
    volumes: bool,
) -> Result<(), ContainerError> {
    let _op = c.op.lock().await;
    if c.is_removed() {
        return Ok(());
    }
    let (running, paused, restarting, name) = {
        let g = c.lock();
        if g.removing {
            return Err(ContainerError::RemovalInProgress(c.id.clone()));
        }
        let st = &g.rec.state;
        (st.running(), st.paused, st.restarting, g.rec.name.clone())
    };
    // Docker counts a restarting container as running here.
    if !force && running && paused {
        return Err(ContainerError::RemovePaused(name));
    }
    if !force && running {
        return Err(ContainerError::RemoveRunning(name));
    }
    if !force && restarting {
        return Err(ContainerError::RemoveRestarting(name));
    }
    if restarting {
        super::restart::on_user_action(c, false);
    }
    if running {
        kill_and_wait(c).await?;
    }
    let prev = {
        let mut g = c.lock();
        g.removing = true;
        g.pending.clear();
        std::mem::replace(&mut g.rec.state.status, Status::Removing)
    };
    let me = c.clone();
    let removed =
        tokio::task::spawn_blocking(move || me.with_save_lock(|| remove_container_dir(&me.dir)))
            .await
            .map_err(|e| ContainerError::Runtime(format!("remove task failed: {e}")))
            .and_then(|r| r);
    if let Err(e) = removed {
        // Docker marks such a container Dead; it can be removed again.
        {
            let mut g = c.lock();
            g.removing = false;
            g.rec.state.status = if prev == Status::Created {
                Status::Created
            } else {
                Status::Dead
            };
            g.rec.state.error = e.to_string();
        }
        let _ = c.persist().await;
        crate::network::attach::release(d, &c.id).await;
        return Err(e);
    }
    d.containers.forget(&c.id);
    {
        let rec = c.snapshot();
        let anonymous_too = volumes || rec.auto_remove();
        let dd = d.clone();
        let id = c.id.clone();
        let _ = tokio::task::spawn_blocking(move || {
            super::mounts::release(&dd, &id, &rec.mount_points, anonymous_too)
        })
        .await;
    }
    crate::events::container(d, c, "destroy", &[]);
    d.execs.forget_container(&c.id);
    // Like Docker's SetRemoved: removal clears the error, so `removed`
    // waiters see a plain exit code.
    c.publish(|l| {
        l.removed = true;
        l.running = false;
        l.error = None;
    });
    // Off the `run --rm` path but before DELETE answers. The networking
    // lock is taken in this same poll, so any network call made after
    // `removed` was seen (a new run, `network rm`) finds the endpoints gone.
    crate::network::attach::release(d, &c.id).await;
    tracing::info!(id = %c.id, "container removed");
    collect_image_garbage(d);
    Ok(())
}

/// Images force-removed while this container used them can go now. Off
/// the request path: nobody waits for it.
fn collect_image_garbage(d: &Arc<Daemon>) {
    let d = d.clone();
    tokio::task::spawn_blocking(move || {
        let users: Vec<(String, String)> = d
            .containers
            .list()
            .iter()
            .map(|c| {
                let g = c.lock();
                (g.rec.image_id.clone(), c.id.clone())
            })
            .collect();
        let in_use = |image_id: &str| {
            users
                .iter()
                .find(|(i, _)| i == image_id)
                .map(|(_, c)| c.clone())
        };
        if let Err(e) = d.images.collect_garbage(&in_use) {
            tracing::warn!("image garbage collection: {e}");
        }
    });
}

/// Removes a container directory, refusing while its rootfs is still a
/// mount point: deleting through a live overlay would delete image layers.
pub fn remove_container_dir(dir: &Path) -> Result<(), ContainerError> {
    let rootfs = dir.join("rootfs");
    if rootfs.exists() {
        // The shim unmounts on exit; this covers a shim that died first.
        let _ = rustix::mount::unmount(&rootfs, rustix::mount::UnmountFlags::DETACH);
        if is_mount_point(&rootfs, dir) {
            return Err(ContainerError::Runtime(format!(
                "cannot remove {}: its rootfs is still mounted",
                dir.display()
            )));
        }
    }
    // Renamed out of the way first (one syscall), deleted afterwards off
    // the request path: `wait?condition=removed` (every `run --rm`) need
    // not wait for the RW layer to be deleted. Leftovers of a crash are
    // deleted when pierd starts.
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let trash = dir.with_file_name(format!("{TRASH_PREFIX}{name}"));
    match std::fs::rename(dir, &trash) {
        Ok(()) => {
            let delete = move || {
                if let Err(e) = std::fs::remove_dir_all(&trash) {
                    tracing::warn!("removing {}: {e}", trash.display());
                }
            };
            match tokio::runtime::Handle::try_current() {
                Ok(h) => drop(h.spawn_blocking(delete)),
                Err(_) => delete(),
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r.ctx(|| format!("removing {}", dir.display())),
        },
    }
}

/// Prefix of container directories being deleted.
pub const TRASH_PREFIX: &str = ".removing-";

fn is_mount_point(path: &Path, parent: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        std::fs::symlink_metadata(path),
        std::fs::symlink_metadata(parent),
    ) {
        (Ok(a), Ok(b)) => a.dev() != b.dev(),
        _ => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: Option<&str>) -> Result<Self, ContainerError> {
        match s.unwrap_or("") {
            "" | "not-running" => Ok(Self::NotRunning),
            "next-exit" => Ok(Self::NextExit),
            "removed" => Ok(Self::Removed),
            other => Err(ContainerError::InvalidParameter(format!(
                "invalid condition: \"{other}\""
            ))),
        }
    }
}

/// Resolves when the condition is met: (exit code, error text).
/// Removal wakes every waiter, as in Docker.
pub async fn wait(c: Arc<Container>, cond: WaitCondition) -> (i64, Option<String>) {
    let mut rx = c.watch();
    let start = rx.borrow().clone();
    let res = match cond {
        WaitCondition::NotRunning => {
            if !start.running {
                return (start.exit_code, start.error);
            }
            rx.wait_for(|l| !l.running || l.removed)
                .await
                .map(|l| l.clone())
        }
        WaitCondition::NextExit => {
            let seen = start.exits;
            rx.wait_for(|l| l.exits > seen || l.removed)
                .await
                .map(|l| l.clone())
        }
        WaitCondition::Removed => rx.wait_for(|l| l.removed).await.map(|l| l.clone()),
    };
    match res {
        Ok(l) => (l.exit_code, l.error),
        // The sender lives as long as the container, which we hold.
        Err(_) => (-1, Some("wait aborted".into())),
    }
}

/// `POST /containers/{id}/resize`.
pub async fn resize(c: &Arc<Container>, h: u16, w: u16) -> Result<(), ContainerError> {
    let ctl = c.lock().shim.clone();
    match ctl {
        Some(ctl) => ctl
            .send(ShimRequest::Resize { rows: h, cols: w })
            .await
            .map_err(|e| ContainerError::Runtime(format!("cannot resize: {e}"))),
        None => Err(ContainerError::NotRunning(c.id.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_dir_is_removed_and_trash_is_skipped_on_load() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("c".repeat(64));
        std::fs::create_dir_all(dir.join("diff/a/b")).unwrap();
        std::fs::write(dir.join("diff/a/b/f"), "x").unwrap();
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        remove_container_dir(&dir).unwrap();
        assert!(!dir.exists());
        // Outside a runtime the trash is deleted at once.
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
        // A crash mid-delete leaves trash that load() cleans up.
        let trash = root.path().join(format!("{TRASH_PREFIX}x"));
        std::fs::create_dir_all(&trash).unwrap();
        let s = crate::containers::ContainerStore::load(root.path()).unwrap();
        assert!(s.list().is_empty());
        assert!(!trash.exists());
        assert_eq!(
            WaitCondition::parse(Some("bogus")).unwrap_err().to_string(),
            "invalid condition: \"bogus\""
        );
    }
}
