//! The in-memory set of containers (by ID and by name) and their
//! crash-safe persistence under `R/containers/<id>/container.json`.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use tokio::sync::watch;

use super::error::{ContainerError, IoContext};
use super::names;
use super::record::ContainerRecord;
use crate::runtime::ShimControl;

/// What waiters (`/wait`, `logs -f`, attach) watch: a snapshot published
/// on every exit and on removal.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    /// Bumped on every exit (and on a failed start), so `next-exit` waiters
    /// can tell a new exit from an old one.
    pub exits: u64,
    pub running: bool,
    pub exit_code: i64,
    pub error: Option<String>,
    pub removed: bool,
}

/// An attach parked until the container starts: the starter hands it the
/// shim socket, and the attach answers once it has subscribed, so that
/// START is sent only after every parked attach can see the first byte.
pub struct PendingAttach {
    pub notify: tokio::sync::oneshot::Sender<AttachStart>,
}

pub struct AttachStart {
    pub socket: PathBuf,
    pub subscribed: tokio::sync::oneshot::Sender<()>,
}

pub struct Inner {
    pub rec: ContainerRecord,
    /// Control channel to the shim while the container runs.
    pub shim: Option<Arc<ShimControl>>,
    /// Socket of a shim that was launched but not yet told to START.
    pub starting: Option<PathBuf>,
    pub pending: Vec<PendingAttach>,
    pub removing: bool,
    /// Set when the shim reported EXITED and becomes `true` once it is gone
    /// (its connection hit EOF): it still deletes the libcontainer state,
    /// so the next start of this container waits for it.
    pub retiring: Option<watch::Receiver<bool>>,
    /// `docker restart` is stopping the container: its exit must not
    /// trigger AutoRemove (dockerd's `HasBeenManuallyRestarted`).
    pub manual_restart: bool,
}

pub struct Container {
    pub id: String,
    pub dir: PathBuf,
    inner: Mutex<Inner>,
    lifecycle: watch::Sender<Lifecycle>,
    /// Serialises start/stop/kill/remove of this container.
    pub op: tokio::sync::Mutex<()>,
    /// Serialises writes of container.json so the last state always wins.
    save: Mutex<()>,
}

impl Container {
    fn new(rec: ContainerRecord, dir: PathBuf) -> Self {
        let life = Lifecycle {
            exits: 0,
            running: rec.state.running(),
            exit_code: rec.state.exit_code,
            error: (!rec.state.error.is_empty()).then(|| rec.state.error.clone()),
            removed: false,
        };
        Self {
            id: rec.id.clone(),
            dir,
            inner: Mutex::new(Inner {
                rec,
                shim: None,
                starting: None,
                pending: Vec::new(),
                removing: false,
                retiring: None,
                manual_restart: false,
            }),
            lifecycle: watch::Sender::new(life),
            op: tokio::sync::Mutex::new(()),
            save: Mutex::new(()),
        }
    }

    /// The lock is only ever held for short, non-blocking sections; a
    /// poisoned lock (a panic elsewhere) still holds consistent data.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn snapshot(&self) -> ContainerRecord {
        self.lock().rec.clone()
    }

    pub fn name(&self) -> String {
        self.lock().rec.name.clone()
    }

    pub fn watch(&self) -> watch::Receiver<Lifecycle> {
        self.lifecycle.subscribe()
    }

    pub fn publish(&self, f: impl FnOnce(&mut Lifecycle)) {
        self.lifecycle.send_modify(f);
    }

    pub fn is_removed(&self) -> bool {
        self.lifecycle.borrow().removed
    }

    /// Writes container.json (temp file, fsync, rename, fsync dir). An
    /// AutoRemove container's record skips the fsyncs: it only has to
    /// survive pierd dying (the page cache does), because after an OS crash
    /// the container is no longer running and would be removed anyway.
    pub fn persist_blocking(&self) -> Result<(), ContainerError> {
        let _g = self.save.lock().unwrap_or_else(|p| p.into_inner());
        if self.is_removed() || self.lock().removing {
            return Ok(());
        }
        let rec = self.snapshot();
        let bytes = serde_json::to_vec(&rec)
            .map_err(|e| ContainerError::Runtime(format!("encoding container record: {e}")))?;
        let durable = !rec.auto_remove();
        atomic_write(&self.dir.join("container.json"), &bytes, durable)
            .ctx(|| format!("writing record of container {}", self.id))
    }

    /// Runs `f` (the removal of the directory) while no record write can
    /// be in flight, so none recreates a file in a directory being deleted.
    pub fn with_save_lock<T>(&self, f: impl FnOnce() -> T) -> T {
        let _g = self.save.lock().unwrap_or_else(|p| p.into_inner());
        f()
    }

    /// Persists off the async runtime.
    pub async fn persist(self: &Arc<Self>) -> Result<(), ContainerError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.persist_blocking())
            .await
            .map_err(|e| ContainerError::Runtime(format!("persist task failed: {e}")))?
    }
}

/// Replaces `path` through a temp file and rename, so readers never see a
/// torn file; `durable` adds the fsyncs that make it survive an OS crash.
pub fn atomic_write(path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("path has no parent"))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    if durable {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    if durable {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[derive(Default)]
struct Maps {
    by_id: HashMap<String, Arc<Container>>,
    /// `/name` → id
    names: HashMap<String, String>,
}

pub struct ContainerStore {
    root: PathBuf,
    maps: RwLock<Maps>,
}

impl ContainerStore {
    /// Loads every `container.json` under `root` (unreadable ones are
    /// logged and skipped so one bad record cannot keep pierd down).
    pub fn load(root: &Path) -> Result<Self, ContainerError> {
        fs::create_dir_all(root).ctx(|| format!("creating {}", root.display()))?;
        let store = Self {
            root: root.to_path_buf(),
            maps: RwLock::new(Maps::default()),
        };
        let entries = fs::read_dir(root).ctx(|| format!("reading {}", root.display()))?;
        for entry in entries.flatten() {
            let dir = entry.path();
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(super::control::TRASH_PREFIX)
            {
                // A removal cut short by a crash.
                let _ = fs::remove_dir_all(&dir);
                continue;
            }
            let file = dir.join("container.json");
            if entry.file_type().is_ok_and(|t| t.is_dir()) && !file.exists() {
                // A create cut short before its record was written: the
                // container never existed for anyone.
                tracing::info!("removing half-created {}", dir.display());
                let _ = fs::remove_dir_all(&dir);
                continue;
            }
            let rec: ContainerRecord = match fs::read(&file)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("skipping {}: {e}", file.display());
                    continue;
                }
            };
            let mut maps = store.write();
            maps.names.insert(rec.name.clone(), rec.id.clone());
            maps.by_id
                .insert(rec.id.clone(), Arc::new(Container::new(rec, dir)));
        }
        Ok(store)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        self.maps.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        self.maps.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Registers a new container, choosing or checking its name atomically.
    pub fn insert_new(
        &self,
        mut rec: ContainerRecord,
        name: Option<&str>,
    ) -> Result<Arc<Container>, ContainerError> {
        let wanted = name
            .filter(|n| !n.is_empty())
            .map(names::validate)
            .transpose()?;
        let mut maps = self.write();
        let name = match wanted {
            Some(n) => {
                if let Some(id) = maps.names.get(&n) {
                    return Err(ContainerError::NameInUse {
                        name: n,
                        id: id.clone(),
                    });
                }
                n
            }
            None => {
                let mut chosen = None;
                for attempt in 0..6 {
                    let n = format!("/{}", names::random_name(attempt));
                    if !maps.names.contains_key(&n) {
                        chosen = Some(n);
                        break;
                    }
                }
                chosen.unwrap_or_else(|| format!("/{}", rec.short_id()))
            }
        };
        rec.name = name.clone();
        let dir = self.dir_of(&rec.id);
        let c = Arc::new(Container::new(rec, dir));
        maps.names.insert(name, c.id.clone());
        maps.by_id.insert(c.id.clone(), c.clone());
        Ok(c)
    }

    /// Forgets a container (its name becomes free).
    pub fn forget(&self, id: &str) {
        let mut maps = self.write();
        if let Some(c) = maps.by_id.remove(id) {
            let name = c.name();
            if maps.names.get(&name).is_some_and(|i| i == id) {
                maps.names.remove(&name);
            }
        }
    }

    /// Docker's look-up order: full ID, exact name, unique ID prefix.
    pub fn get(&self, key: &str) -> Result<Arc<Container>, ContainerError> {
        if key.is_empty() {
            return Err(ContainerError::NotFound(key.to_string()));
        }
        let maps = self.read();
        if let Some(c) = maps.by_id.get(key) {
            return Ok(c.clone());
        }
        let as_name = if key.starts_with('/') {
            key.to_string()
        } else {
            format!("/{key}")
        };
        if let Some(id) = maps.names.get(&as_name) {
            if let Some(c) = maps.by_id.get(id) {
                return Ok(c.clone());
            }
        }
        let mut found: Option<&Arc<Container>> = None;
        for (id, c) in &maps.by_id {
            if id.starts_with(key) {
                if found.is_some() {
                    return Err(ContainerError::Ambiguous(key.to_string()));
                }
                found = Some(c);
            }
        }
        found
            .cloned()
            .ok_or_else(|| ContainerError::NotFound(key.to_string()))
    }

    pub fn list(&self) -> Vec<Arc<Container>> {
        self.read().by_id.values().cloned().collect()
    }

    /// Renames under the same lock that guards name uniqueness.
    pub fn rename(&self, c: &Container, new: &str) -> Result<(), ContainerError> {
        let new = names::validate(new)?;
        let mut maps = self.write();
        if let Some(id) = maps.names.get(&new) {
            if id != &c.id {
                return Err(ContainerError::NameInUse {
                    name: new,
                    id: id.clone(),
                });
            }
            return Ok(());
        }
        let old = std::mem::replace(&mut c.lock().rec.name, new.clone());
        maps.names.remove(&old);
        maps.names.insert(new, c.id.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::record::{ContainerRecord, StateRecord};

    fn rec(id: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.into(),
            name: String::new(),
            created: chrono::Utc::now(),
            path: "true".into(),
            args: vec![],
            config: Default::default(),
            host_config: Default::default(),
            image: "busybox".into(),
            image_id: "sha256:00".into(),
            layers: vec![],
            state: StateRecord::default(),
            restart_count: 0,
            mount_points: vec![],
            endpoints_config: Default::default(),
        }
    }

    #[test]
    fn names_ids_and_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let s = ContainerStore::load(dir.path()).unwrap();
        let a = format!("abc{}", "0".repeat(61));
        let b = format!("abd{}", "1".repeat(61));
        s.insert_new(rec(&a), Some("web")).unwrap();
        s.insert_new(rec(&b), None).unwrap();
        assert_eq!(s.get(&a).unwrap().id, a);
        assert_eq!(s.get("web").unwrap().id, a);
        assert_eq!(s.get("/web").unwrap().id, a);
        assert_eq!(s.get("abc").unwrap().id, a);
        assert!(matches!(s.get("ab"), Err(ContainerError::Ambiguous(_))));
        let e = s.get("nosuch").err().unwrap();
        assert_eq!(e.to_string(), "No such container: nosuch");
        let e = s
            .insert_new(rec(&"f".repeat(64)), Some("web"))
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            format!("Conflict. The container name \"/web\" is already in use by container \"{a}\". You have to remove (or rename) that container to be able to reuse that name.")
        );
        s.forget(&a);
        assert!(s.get("web").is_err());
        s.insert_new(rec(&"f".repeat(64)), Some("web")).unwrap();
    }

    #[test]
    fn records_persist_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let s = ContainerStore::load(dir.path()).unwrap();
        let id = "e".repeat(64);
        let c = s.insert_new(rec(&id), Some("keep")).unwrap();
        fs::create_dir_all(&c.dir).unwrap();
        c.persist_blocking().unwrap();
        let s2 = ContainerStore::load(dir.path()).unwrap();
        assert_eq!(s2.get("keep").unwrap().id, id);
    }
}
