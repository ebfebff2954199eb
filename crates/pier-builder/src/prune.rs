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

/// A cache entry as `system df` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRecord {
    pub id: String,
    pub image: String,
    /// Bytes of the layer the step added.
    pub size: u64,
    pub created: String,
    pub description: String,
    /// The step's image is tagged (so pruning keeps it).
    pub in_use: bool,
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

    /// One record per live cache entry (for `system df`). Blocking.
    pub fn cache_records(&self) -> Vec<CacheRecord> {
        let mut out = Vec::new();
        for (key, id) in self.cache.entries() {
            let Ok(rec) = self.store.get(&id) else {
                continue;
            };
            let parent = rec
                .parent
                .as_deref()
                .and_then(|p| self.store.get(p).ok())
                .map_or(0, |p| p.size);
            let description = self
                .store
                .config_json(&rec)
                .ok()
                .and_then(|c| {
                    c.pointer("/history")
                        .and_then(|h| h.as_array())
                        .and_then(|h| h.last())
                        .and_then(|e| e.get("created_by"))
                        .and_then(|s| s.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            out.push(CacheRecord {
                id: key,
                image: rec.id.clone(),
                size: rec.size.saturating_sub(parent),
                created: rec.created.clone().unwrap_or_default(),
                description,
                in_use: !rec.repo_tags.is_empty(),
            });
        }
        out
    }
}
