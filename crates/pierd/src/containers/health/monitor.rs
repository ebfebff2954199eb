//! The per-container probe loop (dockerd's health `monitor`): started
//! with the container, stopped when it exits, started again when pierd
//! reconnects to a running container after a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use tokio::sync::watch;

use super::probe::{self, Outcome};
use super::{HealthState, HealthStatus, Probe};
use crate::containers::Container;
use crate::daemon::Daemon;

/// The stop switches of running monitors, by container ID.
#[derive(Default)]
pub struct Monitors {
    by_id: Mutex<HashMap<String, watch::Sender<bool>>>,
}

impl Monitors {
    fn map(&self) -> MutexGuard<'_, HashMap<String, watch::Sender<bool>>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stop(&self, id: &str) {
        if let Some(tx) = self.map().remove(id) {
            let _ = tx.send(true);
        }
    }
}

/// The container started (or was restarted): health becomes `starting`
/// with a zero streak, the log is kept, and probing starts
/// (dockerd's `initHealthMonitor`). Call after the state is `running`.
pub fn on_start(d: &Arc<Daemon>, c: &Arc<Container>) {
    let probe = {
        let mut g = c.lock();
        let Some(probe) = Probe::of(&g.rec.config) else {
            return;
        };
        let h = g.rec.state.health.get_or_insert_with(HealthState::starting);
        h.status = HealthStatus::Starting;
        h.failing_streak = 0;
        probe
    };
    d.health.stop(&c.id);
    let (tx, rx) = watch::channel(false);
    d.health.map().insert(c.id.clone(), tx.clone());
    tokio::spawn(run(d.clone(), c.clone(), probe, tx, rx));
}

/// pierd reconnected to a running container: dockerd restores its
/// health monitor the same way a start does.
pub fn on_restore(d: &Arc<Daemon>, c: &Arc<Container>) {
    on_start(d, c);
}

/// The container stopped or is being removed: no more probes.
pub fn on_stop(d: &Daemon, id: &str) {
    d.health.stop(id);
}

async fn run(
    d: Arc<Daemon>,
    c: Arc<Container>,
    probe: Probe,
    me: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    tracing::debug!(id = %c.id, "health monitor started");
    loop {
        let (started_at, status) = {
            let g = c.lock();
            if !g.rec.state.running() || c.is_removed() {
                break;
            }
            let status = g
                .rec
                .state
                .health
                .as_ref()
                .map_or(HealthStatus::Starting, |h| h.status);
            (g.rec.state.started_at.unwrap_or_else(Utc::now), status)
        };
        let elapsed = (Utc::now() - started_at).to_std().unwrap_or_default();
        let wait = probe.next_wait(elapsed, status);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = probe::stopped(&mut stop) => break,
        }
        // A paused container is not probed (dockerd stops its monitor
        // until it is unpaused).
        if c.lock().rec.state.paused {
            continue;
        }
        let result = match probe::run(&d, &c, &probe, &mut stop).await {
            Outcome::Done(r) => r,
            Outcome::Cancelled => {
                if *stop.borrow() {
                    break;
                }
                continue;
            }
        };
        let changed = {
            let mut g = c.lock();
            // Stopped, paused or restarted meanwhile: the result is stale.
            if *stop.borrow() || !g.rec.state.running() || g.rec.state.paused {
                None
            } else {
                let started_at = g.rec.state.started_at.unwrap_or(result.start);
                let h = g.rec.state.health.get_or_insert_with(HealthState::starting);
                let changed = h.record(result, &probe, started_at);
                Some(changed)
            }
        };
        let Some(changed) = changed else {
            if *stop.borrow() {
                break;
            }
            continue;
        };
        if let Some(status) = changed {
            tracing::info!(id = %c.id, status = status.as_str(), "health status changed");
            crate::events::container(&d, &c, &format!("health_status: {}", status.as_str()), &[]);
        }
        // Kept with the record so inspect shows it after a pierd restart.
        if let Err(e) = c.persist().await {
            tracing::warn!(id = %c.id, "cannot record health: {e}");
        }
    }
    // Forget our switch unless a newer monitor replaced it.
    let mut map = d.health.map();
    if map.get(&c.id).is_some_and(|tx| tx.same_channel(&me)) {
        map.remove(&c.id);
    }
    tracing::debug!(id = %c.id, "health monitor stopped");
}
