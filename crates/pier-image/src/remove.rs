//! `docker rmi` semantics, following moby's daemon/images/image_delete.go:
//! removing a tag untags, removing the last reference or an ID deletes, and
//! containers, child images and multiple repositories cause conflicts.

use std::path::PathBuf;

use pier_api::models::ImageDeleteResponseItem;

use crate::commit::bury;
use crate::digest::{short_id, SHA256_PREFIX};
use crate::error::{ImageError, Result};
use crate::fsutil::atomic_write_json;
use crate::records::ImageUser;
use crate::reference::Reference;
use crate::store::{not_found, resolve, ImageStore, State};

struct DeleteConflict {
    hard: bool,
    used: bool,
    message: String,
}

#[derive(Clone, Copy)]
struct Mask {
    children: bool,
    running: bool,
    references: bool,
    stopped: bool,
}

impl Mask {
    const HARD: Mask = Mask {
        children: true,
        running: true,
        references: false,
        stopped: false,
    };
    const ALL: Mask = Mask {
        children: true,
        running: true,
        references: true,
        stopped: true,
    };
}

fn untagged(r: String) -> ImageDeleteResponseItem {
    ImageDeleteResponseItem {
        untagged: Some(r),
        deleted: None,
    }
}

fn deleted(r: String) -> ImageDeleteResponseItem {
    ImageDeleteResponseItem {
        untagged: None,
        deleted: Some(r),
    }
}

/// Docker's `isImageIDPrefix`.
fn is_id_prefix(id: &str, given: &str) -> bool {
    id.starts_with(given)
        || id
            .strip_prefix(SHA256_PREFIX)
            .is_some_and(|h| h.starts_with(given))
}

/// Docker's `isSingleReference`: one tag at most, and every digest reference
/// in that tag's repository.
fn is_single_reference(refs: &[String]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let parsed: Vec<Reference> = refs
        .iter()
        .filter_map(|r| Reference::parse_named(r).ok())
        .collect();
    let mut single: Option<&Reference> = None;
    let mut digest_repos = std::collections::HashSet::new();
    for r in &parsed {
        if r.digest().is_some() {
            digest_repos.insert(r.name());
        } else if single.is_none() {
            single = Some(r);
        } else {
            return false;
        }
    }
    let Some(single) = single.or(parsed.first()) else {
        return false;
    };
    digest_repos.len() == 1 && digest_repos.contains(&single.name())
}

impl ImageStore {
    /// `DELETE /images/{name}` with a simple usage callback: `in_use(image_id)`
    /// names a container using the image, which is treated as running (Docker
    /// then refuses even with force). Use [`remove_with_usage`](Self::remove_with_usage)
    /// to distinguish stopped containers, which `force` overrides.
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        prune_children: bool,
        in_use: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        let usage = |id: &str| {
            in_use(id).map(|c| ImageUser {
                container_id: c,
                running: true,
            })
        };
        self.remove_with_usage(name, force, prune_children, &usage)
    }

    /// Like [`remove`](Self::remove) with Docker's full rules: a running user is
    /// a hard conflict, a stopped one a soft conflict that `force` overrides
    /// (the image is then hidden but its layers are kept until
    /// [`collect_garbage`](Self::collect_garbage) finds it unused).
    pub fn remove_with_usage(
        &self,
        name: &str,
        force: bool,
        prune_children: bool,
        usage: &dyn Fn(&str) -> Option<ImageUser>,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        let mut tombs = Vec::new();
        let result = {
            let mut st = self.lock();
            self.remove_locked(&mut st, name, force, prune_children, usage, &mut tombs)
        };
        bury(tombs);
        result
    }

    fn remove_locked(
        &self,
        st: &mut State,
        name: &str,
        force: bool,
        prune: bool,
        usage: &dyn Fn(&str) -> Option<ImageUser>,
        tombs: &mut Vec<PathBuf>,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        let id = resolve(st, name)?;
        if st.visible(&id).is_none() {
            return Err(not_found(name));
        }
        let mut records = Vec::new();
        let mut refs = st.refs_of(&id);
        let mut removed_repository_ref = false;
        if !is_id_prefix(&id, name) {
            if !force && is_single_reference(&refs) {
                if let Some(u) = usage(&id) {
                    return Err(ImageError::Conflict(format!(
                        "conflict: unable to remove repository reference {name:?} (must force) - container {} is using its referenced image {}",
                        short_id(&u.container_id),
                        short_id(&id)
                    )));
                }
            }
            let parsed = Reference::parse(name)?;
            let key = match parsed.digest() {
                Some(d) => parsed.with_digest(d).familiar(),
                None => parsed.familiar(),
            };
            st.refs.remove(&key);
            records.push(untagged(key));
            refs = st.refs_of(&id);
            if parsed.digest().is_none() {
                let same_repo = |r: &Reference| r.name() == parsed.name();
                let parsed_refs: Vec<(String, Reference)> = refs
                    .iter()
                    .filter_map(|r| Reference::parse_named(r).ok().map(|p| (r.clone(), p)))
                    .collect();
                let tag_left = parsed_refs
                    .iter()
                    .any(|(_, r)| r.digest().is_none() && same_repo(r));
                if !tag_left {
                    for (key, r) in &parsed_refs {
                        if r.digest().is_some() && same_repo(r) {
                            st.refs.remove(key);
                            records.push(untagged(key.clone()));
                        }
                    }
                    refs = st.refs_of(&id);
                }
            }
            self.after_untag(st, &id)?;
            if !refs.is_empty() {
                return Ok(records);
            }
            removed_repository_ref = true;
        } else if is_single_reference(&refs) {
            let mut mask = Mask::HARD;
            if !force {
                mask.stopped = true;
            }
            if let Some(c) = self.conflict(st, &id, mask, usage) {
                return Err(conflict_error(&id, c));
            }
            for r in refs {
                st.refs.remove(&r);
                records.push(untagged(r));
            }
            self.after_untag(st, &id)?;
        }
        self.delete_helper(
            st,
            &id,
            &mut records,
            force,
            prune,
            removed_repository_ref,
            usage,
            tombs,
        )?;
        Ok(records)
    }

    fn after_untag(&self, st: &mut State, id: &str) -> Result<()> {
        st.sync_refs(id);
        self.write_record(st, id)?;
        atomic_write_json(&self.paths.repositories, &st.refs)
    }

    #[allow(clippy::too_many_arguments)]
    fn delete_helper(
        &self,
        st: &mut State,
        id: &str,
        records: &mut Vec<ImageDeleteResponseItem>,
        force: bool,
        prune: bool,
        quiet: bool,
        usage: &dyn Fn(&str) -> Option<ImageUser>,
        tombs: &mut Vec<PathBuf>,
    ) -> Result<()> {
        let mask = if force { Mask::HARD } else { Mask::ALL };
        if let Some(c) = self.conflict(st, id, mask, usage) {
            let dangling = st.refs_of(id).is_empty() && st.children(id).is_empty();
            if quiet && (!dangling || c.used) {
                return Ok(());
            }
            return Err(conflict_error(id, c));
        }
        let parent = st.images.get(id).and_then(|r| r.parent.clone());
        for r in st.refs_of(id) {
            st.refs.remove(&r);
            records.push(untagged(r));
        }
        atomic_write_json(&self.paths.repositories, &st.refs)?;
        // Only reachable with force and a stopped user: keep its layers.
        let keep = usage(id).is_some();
        let removed = self.delete_locked(st, id, keep, tombs)?;
        records.push(deleted(id.to_string()));
        records.extend(removed.into_iter().map(deleted));
        match parent {
            Some(p) if prune && st.visible(&p).is_some() => {
                self.delete_helper(st, &p, records, false, true, true, usage, tombs)
            }
            _ => Ok(()),
        }
    }

    fn conflict(
        &self,
        st: &State,
        id: &str,
        mask: Mask,
        usage: &dyn Fn(&str) -> Option<ImageUser>,
    ) -> Option<DeleteConflict> {
        if mask.children && !st.children(id).is_empty() {
            return Some(DeleteConflict {
                hard: true,
                used: false,
                message: "image has dependent child images".into(),
            });
        }
        let user = usage(id);
        if mask.running {
            if let Some(u) = user.as_ref().filter(|u| u.running) {
                return Some(DeleteConflict {
                    hard: true,
                    used: true,
                    message: format!(
                        "image is being used by running container {}",
                        short_id(&u.container_id)
                    ),
                });
            }
        }
        if mask.references && !st.refs_of(id).is_empty() {
            return Some(DeleteConflict {
                hard: false,
                used: false,
                message: "image is referenced in multiple repositories".into(),
            });
        }
        if mask.stopped {
            if let Some(u) = user.as_ref().filter(|u| !u.running) {
                return Some(DeleteConflict {
                    hard: false,
                    used: true,
                    message: format!(
                        "image is being used by stopped container {}",
                        short_id(&u.container_id)
                    ),
                });
            }
        }
        None
    }

    /// Deletes images that were removed while containers used them
    /// (`ghosts`) once `in_use` no longer reports a container. Call after a
    /// container is removed and at daemon start.
    pub fn collect_garbage(&self, in_use: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>> {
        let mut tombs = Vec::new();
        let mut gone = Vec::new();
        let result = (|| {
            let mut st = self.lock();
            let ghosts: Vec<String> = st
                .images
                .values()
                .filter(|r| r.ghost)
                .map(|r| r.id.clone())
                .collect();
            for id in ghosts {
                if in_use(&id).is_none() {
                    self.delete_locked(&mut st, &id, false, &mut tombs)?;
                    gone.push(id);
                }
            }
            Ok(())
        })();
        bury(tombs);
        result.map(|()| gone)
    }
}

fn conflict_error(id: &str, c: DeleteConflict) -> ImageError {
    let force = if c.hard {
        "cannot be forced"
    } else {
        "must be forced"
    };
    ImageError::Conflict(format!(
        "conflict: unable to delete {} ({force}) - {}",
        short_id(id),
        c.message
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_reference() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(!is_single_reference(&[]));
        assert!(is_single_reference(&["busybox:latest".into()]));
        assert!(!is_single_reference(&[
            "busybox:latest".into(),
            "busybox:1".into()
        ]));
        assert!(is_single_reference(&[
            "busybox:latest".into(),
            format!("busybox@{d}")
        ]));
        assert!(!is_single_reference(&[
            "busybox:latest".into(),
            format!("other@{d}")
        ]));
    }

    #[test]
    fn id_prefix() {
        let id = format!("sha256:{}", "ab".repeat(32));
        assert!(is_id_prefix(&id, "abab"));
        assert!(is_id_prefix(&id, "sha256:ab"));
        assert!(!is_id_prefix(&id, "busybox"));
    }
}
