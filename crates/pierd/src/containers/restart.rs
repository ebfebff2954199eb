//! Restart policies (`no`, `always`, `on-failure[:N]`, `unless-stopped`)
//! with Docker's back-off: 100 ms, doubled on every restart, capped at one
//! minute, and reset once the container has run for 10 s. Applied when a
//! container exits, and again when pierd starts.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pier_api::models::{RestartPolicy, RestartPolicyNameEnum};

use super::record::{ContainerRecord, Status};
use super::store::Container;
use crate::daemon::Daemon;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off.
const RESET_AFTER: Duration = Duration::from_secs(10);

/// Per container: the current back-off and a generation that a user's
/// start/stop/remove bumps, cancelling a pending restart.
#[derive(Debug, Default, Clone, Copy)]
struct Backoff {
    timeout: Duration,
    generation: u64,
}

/// Keyed by container ID. A process runs one daemon, so a process-wide
/// table is enough and keeps this module out of the daemon struct.
static BACKOFFS: LazyLock<Mutex<HashMap<String, Backoff>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn backoffs() -> std::sync::MutexGuard<'static, HashMap<String, Backoff>> {
    BACKOFFS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The policy's name and maximum retry count.
pub fn policy(rec: &ContainerRecord) -> (RestartPolicyNameEnum, i64) {
    match &rec.host_config.restart_policy {
        Some(RestartPolicy {
            name: Some(n),
            maximum_retry_count,
        }) => (*n, maximum_retry_count.unwrap_or(0)),
        _ => (RestartPolicyNameEnum::NO, 0),
    }
}

/// Docker's `RestartManager.ShouldRestart` (while the daemon runs, a manual
/// stop cancels every policy).
pub fn should_restart(rec: &ContainerRecord, at_daemon_start: bool) -> bool {
    if rec.auto_remove() || rec.state.started_at.is_none() {
        return false;
    }
    let manual = rec.state.manually_stopped;
    let (name, max) = policy(rec);
    match name {
        RestartPolicyNameEnum::ALWAYS => at_daemon_start || !manual,
        RestartPolicyNameEnum::UNLESS_STOPPED => !manual,
        RestartPolicyNameEnum::ON_FAILURE => {
            (!manual || at_daemon_start)
                && rec.state.exit_code != 0
                && (max <= 0 || rec.restart_count < max)
        }
        _ => false,
    }
}

fn ran_for(started: Option<DateTime<Utc>>, finished: Option<DateTime<Utc>>) -> Duration {
    match (started, finished) {
        (Some(s), Some(f)) => (f - s).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

/// The next back-off for a container that ran for `ran`.
fn next_timeout(prev: Duration, ran: Duration) -> Duration {
    let prev = if ran >= RESET_AFTER {
        Duration::ZERO
    } else {
        prev
    };
    if prev.is_zero() {
        FIRST_BACKOFF
    } else {
        (prev * 2).min(MAX_BACKOFF)
    }
}

/// A user's start, restart, stop, kill or remove: cancels a pending
/// restart. `start` also resets the count and the manual-stop mark.
pub fn on_user_action(c: &Container, start: bool) {
    {
        let mut b = backoffs();
        let e = b.entry(c.id.clone()).or_default();
        e.generation += 1;
        e.timeout = Duration::ZERO;
    }
    let mut g = c.lock();
    g.rec.state.restarting = false;
    if start {
        g.rec.restart_count = 0;
        g.rec.state.manually_stopped = false;
    } else {
        g.rec.state.manually_stopped = true;
    }
}

/// Called with the exit recorded (not for AutoRemove containers): marks the
/// container "restarting" and schedules the restart if its policy says so.
/// The caller persists the record.
pub fn after_exit(d: &Arc<Daemon>, c: &Arc<Container>, at_daemon_start: bool) {
    let (restart, ran) = {
        let g = c.lock();
        (
            should_restart(&g.rec, at_daemon_start) && !g.removing,
            ran_for(g.rec.state.started_at, g.rec.state.finished_at),
        )
    };
    if !restart {
        return;
    }
    let (timeout, generation) = {
        let mut b = backoffs();
        let e = b.entry(c.id.clone()).or_default();
        e.timeout = if at_daemon_start {
            FIRST_BACKOFF
        } else {
            next_timeout(e.timeout, ran)
        };
        (e.timeout, e.generation)
    };
    c.lock().rec.state.restarting = true;
    tracing::info!(id = %c.id, ?timeout, "restarting container per its restart policy");
    let (d, c) = (d.clone(), c.clone());
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        // Claimed under the table's lock by bumping the generation, so two
        // schedules of the same exit never start the container twice.
        let still_wanted = {
            let mut b = backoffs();
            let g = c.lock();
            let ok = b.get(&c.id).is_some_and(|e| e.generation == generation)
                && g.rec.state.restarting
                && !g.removing
                && !c.is_removed()
                && g.rec.state.status != Status::Running;
            if ok {
                if let Some(e) = b.get_mut(&c.id) {
                    e.generation += 1;
                }
            }
            ok
        };
        if !still_wanted {
            return;
        }
        {
            let mut g = c.lock();
            g.rec.restart_count += 1;
        }
        match super::lifecycle::start(&d, &c).await {
            Ok(()) => {
                {
                    // A run that already ended has scheduled the next
                    // restart (after_exit): keep its mark.
                    let mut g = c.lock();
                    if g.rec.state.status == Status::Running {
                        g.rec.state.restarting = false;
                    }
                }
                if let Err(e) = c.persist().await {
                    tracing::error!(id = %c.id, "cannot record restart: {e}");
                }
            }
            Err(e) => {
                tracing::warn!(id = %c.id, "restart failed: {e}");
                {
                    let mut g = c.lock();
                    g.rec.state.restarting = false;
                    g.rec.state.finished_at = Some(Utc::now());
                }
                // A failed start counts as a failure for the policy.
                after_exit(&d, &c, false);
                let _ = c.persist().await;
            }
        }
    });
}

/// After recovery at daemon start: restarts the stopped containers whose
/// policy asks for it (Docker restarts `always` even after a manual stop).
pub async fn on_daemon_start(d: &Arc<Daemon>) {
    for c in d.containers.list() {
        // Already scheduled by recovery (it exited while pierd was down).
        let scheduled = backoffs().contains_key(&c.id);
        let pending = {
            let g = c.lock();
            g.rec.state.status == Status::Running || g.removing || scheduled
        };
        if pending {
            continue;
        }
        let was_restarting = {
            let mut g = c.lock();
            std::mem::replace(&mut g.rec.state.restarting, false)
        };
        let wanted = {
            let g = c.lock();
            should_restart(&g.rec, true)
        };
        if wanted {
            after_exit(d, &c, true);
        }
        if wanted || was_restarting {
            if let Err(e) = c.persist().await {
                tracing::error!(id = %c.id, "cannot record restart state: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_resets() {
        let short = Duration::from_secs(1);
        let mut t = Duration::ZERO;
        let mut seen = Vec::new();
        for _ in 0..4 {
            t = next_timeout(t, short);
            seen.push(t.as_millis());
        }
        assert_eq!(seen, [100, 200, 400, 800]);
        assert_eq!(next_timeout(t, Duration::from_secs(11)).as_millis(), 100);
        assert_eq!(next_timeout(Duration::from_secs(50), short), MAX_BACKOFF);
    }
}
