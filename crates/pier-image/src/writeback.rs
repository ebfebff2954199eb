//! Deferred durability of pulled layers.
//!
//! Waiting for a pulled layer's data to reach the disk (a `syncfs` before
//! it is renamed into view) cost most of a pull here: the whole unpacked
//! tree is written back at disk speed, plus whatever else is dirty on the
//! filesystem. Docker does not wait at all. Pier publishes a verified layer
//! at once but first writes (durably) a mark `unsynced/<diffid hex>` holding
//! the boot ID; a background `syncfs` then clears the marks. At `open()`:
//! - a mark from this boot means pierd died but the kernel kept the data
//!   (page cache): flush and clear it;
//! - a mark from an earlier boot means the system went down before the
//!   writeback finished, so the layer may hold truncated files: the layer
//!   and every image record using it are dropped (the blob, now
//!   unreferenced, goes with `recover()`), and a new pull fetches it again.
//!
//! So a crash still leaves either nothing or complete, verified layers.

use std::fs;
use std::path::{Path, PathBuf};

use tracing::warn;

use crate::commit::sync_filesystem;
use crate::digest::{is_hex64, parse_sha256, SHA256_PREFIX};
use crate::error::{IoContext, Result};
use crate::fsutil::{atomic_write, fsync_dir, remove_path};
use crate::records::ImageRecord;
use crate::store::{ImageStore, Paths};

fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn marks_dir(root: &Path) -> PathBuf {
    root.join("unsynced")
}

fn clear_marks(root: &Path, diff_ids: &[String]) {
    let dir = marks_dir(root);
    for d in diff_ids {
        if let Ok(hex) = parse_sha256(d) {
            let _ = fs::remove_file(dir.join(hex));
        }
    }
    let _ = fsync_dir(&dir);
}

impl ImageStore {
    /// Durably notes that layer `diff_id` is published before its data is
    /// known to be on disk.
    pub(crate) fn mark_unsynced(&self, diff_id: &str) -> Result<()> {
        let dir = marks_dir(&self.paths.root);
        fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
        atomic_write(&dir.join(parse_sha256(diff_id)?), boot_id().as_bytes())
    }

    /// Flushes the filesystem on a background thread a little later, then
    /// clears the marks of `diff_ids`. Not at once: a `syncfs` running
    /// beside the rest of the pull would stall its own fsyncs (configs,
    /// records) behind the layer's writeback; after the delay the kernel
    /// has written most of it anyway. Pulls in the meantime share one flush.
    pub(crate) fn sync_later(&self, diff_ids: Vec<String>) {
        if diff_ids.is_empty() {
            return;
        }
        let mut pending = lock_pending();
        let start = pending.is_empty();
        pending.extend(diff_ids.into_iter().map(|d| (self.paths.root.clone(), d)));
        drop(pending);
        if !start {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("pier-writeback".into())
            .spawn(|| {
                std::thread::sleep(WRITEBACK_DELAY);
                let due = std::mem::take(&mut *lock_pending());
                let mut roots: Vec<PathBuf> = due.iter().map(|(r, _)| r.clone()).collect();
                roots.sort();
                roots.dedup();
                for root in roots {
                    sync_filesystem(&root);
                    let ids: Vec<String> = due
                        .iter()
                        .filter(|(r, _)| *r == root)
                        .map(|(_, d)| d.clone())
                        .collect();
                    clear_marks(&root, &ids);
                }
            });
        if let Err(e) = spawned {
            // The marks stay: the next open() of this boot flushes them.
            warn!("cannot start the layer writeback thread: {e}");
            lock_pending().clear();
        }
    }
}

/// How long published layers wait for their flush (see `sync_later`).
const WRITEBACK_DELAY: std::time::Duration = std::time::Duration::from_secs(30);

/// (store root, diff ID) of layers waiting for the scheduled flush.
static PENDING: std::sync::Mutex<Vec<(PathBuf, String)>> = std::sync::Mutex::new(Vec::new());

fn lock_pending() -> std::sync::MutexGuard<'static, Vec<(PathBuf, String)>> {
    PENDING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Settles the marks left by an earlier run (see the module docs), before
/// the store reads its records. Returns the dropped layers.
pub(crate) fn settle_unsynced(paths: &Paths) -> Result<Vec<String>> {
    let dir = marks_dir(&paths.root);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let now = boot_id();
    let (mut ours, mut lost) = (Vec::new(), Vec::new());
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !is_hex64(&name) {
            // A mark's interrupted atomic write.
            let _ = fs::remove_file(e.path());
            continue;
        }
        let diff_id = format!("{SHA256_PREFIX}{name}");
        match fs::read_to_string(e.path()) {
            Ok(b) if !now.is_empty() && b.trim() == now => ours.push(diff_id),
            _ => lost.push(diff_id),
        }
    }
    if !ours.is_empty() {
        sync_filesystem(&paths.root);
        clear_marks(&paths.root, &ours);
    }
    if lost.is_empty() {
        return Ok(lost);
    }
    for d in &lost {
        warn!("layer {d} was pulled just before a system crash and may be incomplete: dropping it");
        remove_path(&paths.layer_dir(d)?)?;
        remove_path(&paths.layer_json(d)?)?;
    }
    for e in fs::read_dir(&paths.images)
        .ctx(|| format!("listing {}", paths.images.display()))?
        .flatten()
    {
        let uses_lost = fs::read(e.path())
            .ok()
            .and_then(|b| serde_json::from_slice::<ImageRecord>(&b).ok())
            .is_some_and(|r| r.layers.iter().any(|l| lost.contains(l)));
        if uses_lost {
            warn!(
                "dropping image record {} (its layer was lost)",
                e.path().display()
            );
            remove_path(&e.path())?;
        }
    }
    fsync_dir(&paths.images)?;
    fsync_dir(&paths.layers)?;
    clear_marks(&paths.root, &lost);
    Ok(lost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_of_an_earlier_boot_drop_the_layer_and_its_images() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let paths = store.paths.clone();
        drop(store);
        let lost = format!("{SHA256_PREFIX}{}", "a".repeat(64));
        let kept = format!("{SHA256_PREFIX}{}", "b".repeat(64));
        fs::create_dir_all(paths.layer_dir(&lost).unwrap()).unwrap();
        fs::write(paths.layer_json(&lost).unwrap(), b"{}").unwrap();
        fs::create_dir_all(paths.layer_dir(&kept).unwrap()).unwrap();
        let img = |layer: &str| {
            serde_json::json!({
                "id": format!("{SHA256_PREFIX}{}", "c".repeat(64)),
                "config_digest": format!("{SHA256_PREFIX}{}", "c".repeat(64)),
                "layers": [layer],
                "size": 0,
                "added": "2026-01-01T00:00:00Z",
            })
        };
        let rec_path = paths.images.join(format!("{}.json", "c".repeat(64)));
        fs::write(&rec_path, serde_json::to_vec(&img(&lost)).unwrap()).unwrap();
        let marks = marks_dir(&paths.root);
        fs::create_dir_all(&marks).unwrap();
        fs::write(marks.join("a".repeat(64)), b"some-other-boot").unwrap();
        fs::write(marks.join("b".repeat(64)), boot_id()).unwrap();
        let dropped = settle_unsynced(&paths).unwrap();
        assert_eq!(dropped, vec![lost.clone()]);
        assert!(!paths.layer_dir(&lost).unwrap().exists());
        assert!(!paths.layer_json(&lost).unwrap().exists());
        assert!(
            paths.layer_dir(&kept).unwrap().exists(),
            "this boot's layer stays"
        );
        assert!(
            !rec_path.exists(),
            "the image using the lost layer is dropped"
        );
        assert_eq!(fs::read_dir(&marks).unwrap().count(), 0, "marks cleared");
    }
}
