//! Deleting the host-side veths of containers that have stopped, off the
//! request path.
//!
//! Deleting a link makes the kernel wait for an RCU barrier after it drops
//! the RTNL lock (`netdev_run_todo`). While other network namespaces are
//! being torn down (the previous container's, a moment earlier) that wait
//! measured 5-18 ms here. On the daemon's shared netlink connection it held
//! up every later link operation, among them the next container's wiring,
//! and blocked a runtime worker. The reaper deletes on a thread and a
//! netlink connection of its own; callers that need the links gone before
//! they answer (`rm`, `network rm`, a static address being reused,
//! shutdown) [`settle`](LinkReaper::settle) it first.
//!
//! Nothing depends on the deletion for addresses: IPAM hands addresses out
//! serially, so a released one is not reused at once, and a request for a
//! specific address settles the reaper before allocating.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tracing::warn;

use crate::bridge::BridgeDriver;

/// The thread exits after this long without work; the next deletion starts
/// a new one, so an idle daemon keeps no thread, runtime or socket for it.
const IDLE: Duration = Duration::from_secs(2);

/// Host-side links waiting to be deleted, and a thread deleting them.
pub(crate) struct LinkReaper {
    marker: String,
    queue: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    pending: Arc<Pending>,
}

/// A host-side link and the owner its alias names.
struct Job {
    name: String,
    owner: String,
}

/// How many queued deletions have not finished yet.
#[derive(Default)]
struct Pending {
    count: Mutex<usize>,
    idle: Notify,
}

impl Pending {
    fn add(&self) {
        *lock(&self.count) += 1;
    }

    fn done(&self) {
        let mut n = lock(&self.count);
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.idle.notify_waiters();
        }
    }

    fn is_idle(&self) -> bool {
        *lock(&self.count) == 0
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LinkReaper {
    /// Deletes only links carrying `marker` (see [`BridgeDriver::detach`]).
    pub(crate) fn new(marker: &str) -> Self {
        LinkReaper {
            marker: marker.to_string(),
            queue: Mutex::new(None),
            pending: Arc::new(Pending::default()),
        }
    }

    /// Queue the deletion of the host-side link `name`, made for `owner`
    /// (the container ID prefix in its alias).
    pub(crate) fn delete_later(&self, name: &str, owner: &str) {
        self.pending.add();
        let mut q = lock(&self.queue);
        let job = Job {
            name: name.to_string(),
            owner: owner.to_string(),
        };
        let job = match q.as_ref() {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                // The thread went idle and closed its queue: start another.
                Err(mpsc::error::SendError(j)) => j,
            },
            None => job,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(job);
        let marker = self.marker.clone();
        let pending = self.pending.clone();
        let spawned = std::thread::Builder::new()
            .name("pier-link-reaper".into())
            .spawn(move || run(&marker, rx, &pending));
        match spawned {
            Ok(_) => *q = Some(tx),
            Err(e) => {
                // The link goes with its namespace anyway; only a namespace
                // something else keeps alive would keep it.
                warn!(error = %e, "cannot start the link reaper thread");
                *q = None;
                self.pending.done();
            }
        }
    }

    /// Wait until every deletion queued so far has finished.
    pub(crate) async fn settle(&self) {
        loop {
            let idle = self.pending.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.pending.is_idle() {
                return;
            }
            idle.await;
        }
    }
}

fn run(marker: &str, mut rx: mpsc::UnboundedReceiver<Job>, pending: &Pending) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            warn!(error = %e, "link reaper: no runtime; leaving links to their namespaces");
            rx.close();
            while rx.try_recv().is_ok() {
                pending.done();
            }
            return;
        }
    };
    rt.block_on(async {
        let driver = BridgeDriver::new(marker);
        loop {
            let job = match tokio::time::timeout(IDLE, rx.recv()).await {
                Ok(Some(job)) => job,
                Ok(None) => return,
                Err(_) => {
                    // Refuse new work, then finish what was already sent.
                    rx.close();
                    match rx.recv().await {
                        Some(job) => job,
                        None => return,
                    }
                }
            };
            let name = &job.name;
            match &driver {
                Ok(d) => {
                    if let Err(e) = d.detach_owned(name, Some(&job.owner)).await {
                        warn!(link = %name, error = %e, "deleting a container's veth");
                    }
                }
                Err(e) => warn!(link = %name, error = %e, "link reaper has no netlink socket"),
            }
            pending.done();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settle_returns_at_once_when_nothing_is_queued() {
        let r = LinkReaper::new("pier-reaper-test");
        tokio::time::timeout(Duration::from_secs(5), r.settle())
            .await
            .expect("settle with an empty queue");
    }
}
