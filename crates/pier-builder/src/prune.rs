//! `builder prune`: forgets every cache entry and deletes the intermediate
//! images the cache kept alive (untagged, no children, not used by a
//! container). Tagged images and their parents stay.

use std::collections::BTreeSet;

use crate::error::Result;
use crate::executor::Builder;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// IDs of the deleted cache records (the step keys).
    pub caches_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

impl Builder {
    /// Blocking.
    pub fn prune(&self, in_use: &dyn Fn(&str) -> Option<String>) -> Result<PruneReport> {
        let entries = self.cache.entries();
        let mut report = PruneReport::default();
        let mut candidates: BTreeSet<String> = BTreeSet::new();
        for (key, id) in entries {
            self.cache.forget(&key);
            report.caches_deleted.push(key);
            candidates.insert(id);
        }
        // Remove leaves first; a parent becomes a leaf once its child is gone.
        loop {
            let mut progressed = false;
            for id in candidates.clone() {
                let Ok(rec) = self.store.get(&id) else {
                    candidates.remove(&id);
                    continue;
                };
                let has_children = self
                    .store
                    .list()
                    .iter()
                    .any(|r| r.parent.as_deref() == Some(rec.id.as_str()));
                if !rec.repo_tags.is_empty() || has_children || in_use(&rec.id).is_some() {
                    continue;
                }
                let parent_size = rec
                    .parent
                    .as_deref()
                    .and_then(|p| self.store.get(p).ok())
                    .map_or(0, |p| p.size);
                if self.store.remove(&rec.id, false, false, in_use).is_ok() {
                    report.space_reclaimed += rec.size.saturating_sub(parent_size);
                    candidates.remove(&id);
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
        Ok(report)
    }

    /// Number of cache entries and the bytes of the layers they added.
    pub fn usage(&self) -> (usize, u64) {
        let entries = self.cache.entries();
        let mut size = 0;
        for (_, id) in &entries {
            if let Ok(rec) = self.store.get(id) {
                let parent = rec
                    .parent
                    .as_deref()
                    .and_then(|p| self.store.get(p).ok())
                    .map_or(0, |p| p.size);
                size += rec.size.saturating_sub(parent);
            }
        }
        (entries.len(), size)
    }
}
