//! Keeps the kernel's cgroup-migration lock warm while containers start.
//!
//! Every container start (and every exec) moves a process into the
//! container's cgroups: libcontainer's intermediate process writes its pid
//! to `cgroup.procs`. That write takes the global
//! `cgroup_threadgroup_rwsem` for writing, and when nobody has taken it in
//! the last RCU grace period the kernel first waits for a full grace period
//! (`rcu_sync_enter` -> `synchronize_rcu`): 8-16 ms on this VM, a third of
//! a `run --rm`. Once one writer has waited, writers that follow within the
//! next grace period do not.
//!
//! So while starts are in flight, a background thread writes pierd's own pid
//! into pierd's own cgroup every few milliseconds: a migration to where the
//! process already is, which changes nothing but keeps the lock on its
//! already-synchronised path. The first write pays the grace period off the
//! start's critical path, in parallel with spawning the shim and mounting
//! the rootfs. The thread stops [`LINGER`] after the last [`warm`] call.
//! The kernel's own switch for this is the cgroup2 mount option
//! `favordynmods`, which changes the host for good; this does not.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Shorter than a grace period, so the lock never cools down in between.
const PERIOD: Duration = Duration::from_millis(4);
/// How long after the last start the thread keeps going.
const LINGER: Duration = Duration::from_millis(250);

static TARGET: OnceLock<Option<PathBuf>> = OnceLock::new();
static UNTIL: Mutex<Option<Instant>> = Mutex::new(None);
static RUNNING: AtomicBool = AtomicBool::new(false);

/// A container start or exec is coming: keep migrations fast for a while.
pub fn warm() {
    let Some(target) = TARGET.get_or_init(|| own_cgroup_procs(Path::new("/sys/fs/cgroup"))) else {
        return;
    };
    if let Ok(mut u) = UNTIL.lock() {
        *u = Some(Instant::now() + LINGER);
    }
    if RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    let target = target.clone();
    let spawned = std::thread::Builder::new()
        .name("cgroup-warm".into())
        .spawn(move || run(&target));
    if spawned.is_err() {
        RUNNING.store(false, Ordering::Release);
    }
}

fn run(target: &Path) {
    let pid = std::process::id().to_string();
    loop {
        // Failing writes (a v2 cgroup with controllers enabled for its
        // children refuses members) take the lock all the same.
        let _ = std::fs::write(target, &pid);
        std::thread::sleep(PERIOD);
        if !wanted() {
            RUNNING.store(false, Ordering::Release);
            // A warm() between the check and the store saw the thread
            // running and returned: take the work back if so.
            if !wanted() || RUNNING.swap(true, Ordering::AcqRel) {
                return;
            }
        }
    }
}

fn wanted() -> bool {
    UNTIL
        .lock()
        .ok()
        .and_then(|u| *u)
        .is_some_and(|u| Instant::now() < u)
}

/// `cgroup.procs` of this process' own cgroup: in the `pids` v1 hierarchy
/// (or any other v1 one), or in the unified hierarchy on a pure v2 host.
fn own_cgroup_procs(root: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    pick(root, &text)
}

fn pick(root: &Path, proc_cgroup: &str) -> Option<PathBuf> {
    let mut v1 = Vec::new();
    let mut v2 = None;
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        if names.is_empty() {
            v2 = Some(rel.to_string());
        } else if !names.starts_with("name=") {
            v1.push((names.to_string(), rel.to_string()));
        }
    }
    v1.sort_by_key(|(names, _)| names != "pids");
    let candidates = v1
        .into_iter()
        .map(|(names, rel)| root.join(names).join(rel))
        .chain(v2.map(|rel| root.join(rel)));
    candidates
        .map(|dir| dir.join("cgroup.procs"))
        .find(|p| p.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_pids_hierarchy_then_any_v1_then_v2() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["pids/system.slice/x", "cpu,cpuacct/system.slice/x", "sys/a"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
            std::fs::write(root.join(d).join("cgroup.procs"), "").unwrap();
        }
        let hybrid = "12:pids:/system.slice/x\n4:cpu,cpuacct:/system.slice/x\n1:name=systemd:/system.slice/x\n0::/system.slice/x\n";
        assert_eq!(
            pick(root, hybrid),
            Some(root.join("pids/system.slice/x/cgroup.procs"))
        );
        let no_pids = "4:cpu,cpuacct:/system.slice/x\n0::/y\n";
        assert_eq!(
            pick(root, no_pids),
            Some(root.join("cpu,cpuacct/system.slice/x/cgroup.procs"))
        );
        assert_eq!(
            pick(root, "0::/sys/a\n"),
            Some(root.join("sys/a/cgroup.procs"))
        );
        assert_eq!(pick(root, "0::/missing\n"), None);
    }
}
