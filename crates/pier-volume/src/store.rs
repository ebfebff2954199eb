//! `VolumeStore`: the `local` driver's volumes under `R/volumes/<name>/`
//! (`_data` is what containers see, `volume.json` the record), which
//! containers reference each volume, and which running containers keep a
//! mounted (`-o type=...`) volume mounted.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result, VolumeError};
use crate::{copy, options};

/// The label Docker puts on anonymous volumes; `prune` without `all=true`
/// removes only volumes carrying it.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
/// The only driver.
pub const DRIVER: &str = "local";

const DATA_DIR: &str = "_data";
const RECORD_FILE: &str = "volume.json";
const STAGING_PREFIX: &str = ".creating-";
const TRASH_PREFIX: &str = ".removing-";

/// `volume.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    pub created_at: DateTime<Utc>,
    /// `None` when created without any (Docker then shows `null`).
    #[serde(default)]
    pub labels: Option<HashMap<String, String>>,
    /// Driver options (`-o`), as given; `None` as for labels.
    #[serde(default)]
    pub options: Option<HashMap<String, String>>,
}

static NO_ENTRIES: std::sync::LazyLock<HashMap<String, String>> =
    std::sync::LazyLock::new(HashMap::new);

impl VolumeRecord {
    pub fn is_anonymous(&self) -> bool {
        self.labels().contains_key(ANONYMOUS_LABEL)
    }

    pub fn labels(&self) -> &HashMap<String, String> {
        self.labels.as_ref().unwrap_or(&NO_ENTRIES)
    }

    pub fn options(&self) -> &HashMap<String, String> {
        self.options.as_ref().unwrap_or(&NO_ENTRIES)
    }
}

/// A volume as callers see it: the record and where its data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    pub record: VolumeRecord,
    pub mountpoint: PathBuf,
    /// Containers (running or not) that reference it.
    pub refs: Vec<String>,
}

/// `POST /volumes/create` and volumes created on first use.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// `None` or empty: an anonymous volume with a random 64-hex name.
    pub name: Option<String>,
    pub driver: Option<String>,
    /// `None`: none given (shown as `null`, unlike an empty map).
    pub labels: Option<HashMap<String, String>>,
    pub options: Option<HashMap<String, String>>,
    /// Registered as a reference at once (creation by a container).
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub deleted: Vec<String>,
    pub reclaimed: u64,
}

#[derive(Default)]
struct State {
    volumes: HashMap<String, VolumeRecord>,
    /// name → containers referencing it.
    refs: HashMap<String, BTreeSet<String>>,
    /// name → running containers that need it mounted.
    active: HashMap<String, BTreeSet<String>>,
}

pub struct VolumeStore {
    root: PathBuf,
    state: Mutex<State>,
    pruning: AtomicBool,
}

fn valid_name(name: &str) -> std::result::Result<(), String> {
    if name.len() == 1 {
        return Err(
            "volume name is too short, names should be at least two alphanumeric characters".into(),
        );
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !(first_ok && rest_ok) {
        return Err(format!(
            "{name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        ));
    }
    Ok(())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("path has no parent"))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    fs::File::open(dir)?.sync_all()
}

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

impl VolumeStore {
    /// Opens (or creates) the store at `root` (`R/volumes`). Leftovers of
    /// creations and removals cut short by a crash are deleted.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o701)
            .create(&root)
            .ctx(|| format!("creating {}", root.display()))?;
        let mut state = State::default();
        for entry in fs::read_dir(&root).ctx(|| format!("reading {}", root.display()))? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            let dir = entry.path();
            if name.starts_with(crate::imageview::SCRATCH_PREFIX) {
                // A copy-up cut short by a crash.
                crate::imageview::clean_scratch(&dir);
                continue;
            }
            if name.starts_with(STAGING_PREFIX) || name.starts_with(TRASH_PREFIX) {
                remove_tree(&dir);
                continue;
            }
            if !dir.is_dir() {
                continue;
            }
            match fs::read(dir.join(RECORD_FILE))
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<VolumeRecord>(&b).map_err(|e| e.to_string()))
            {
                Ok(rec) if rec.name == name => {
                    state.volumes.insert(name, rec);
                }
                Ok(_) => tracing::warn!("skipping volume dir {name}: record names another volume"),
                Err(e) => tracing::warn!("skipping volume dir {name}: {e}"),
            }
        }
        Ok(Self {
            root,
            state: Mutex::new(state),
            pruning: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Also the scratch dir for copy-up mounts (`imageview`), which
    /// `open` cleans up after a crash.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `R/volumes/<name>/_data`.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.root.join(name).join(DATA_DIR)
    }

    fn info(&self, st: &State, rec: &VolumeRecord) -> VolumeInfo {
        VolumeInfo {
            mountpoint: self.data_path(&rec.name),
            refs: st
                .refs
                .get(&rec.name)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default(),
            record: rec.clone(),
        }
    }

    /// Creates a volume, or returns the existing one of that name (Docker
    /// ignores the new labels and options then).
    pub fn create(&self, req: CreateOptions) -> Result<VolumeInfo> {
        let mut labels = req.labels;
        let name = match req.name.filter(|n| !n.is_empty()) {
            Some(n) => n,
            None => {
                labels
                    .get_or_insert_with(HashMap::new)
                    .insert(ANONYMOUS_LABEL.to_string(), String::new());
                hex::encode(rand::random::<[u8; 32]>())
            }
        };
        let fail = |msg: String| VolumeError::InvalidParameter(format!("create {name}: {msg}"));
        match req.driver.as_deref() {
            None | Some("") | Some(DRIVER) => {}
            Some(other) => {
                return Err(VolumeError::PluginNotFound {
                    name,
                    driver: other.to_string(),
                })
            }
        }
        valid_name(&name).map_err(fail)?;
        options::validate(req.options.as_ref().unwrap_or(&HashMap::new())).map_err(fail)?;

        let mut st = self.lock();
        if let Some(rec) = st.volumes.get(&name).cloned() {
            if let Some(c) = req.reference {
                st.refs.entry(name).or_default().insert(c);
            }
            return Ok(self.info(&st, &rec));
        }
        let rec = VolumeRecord {
            name: name.clone(),
            driver: DRIVER.into(),
            created_at: Utc::now(),
            labels,
            options: req.options,
        };
        self.write_new(&rec)?;
        st.volumes.insert(name.clone(), rec.clone());
        if let Some(c) = req.reference {
            st.refs.entry(name).or_default().insert(c);
        }
        tracing::info!(volume = %rec.name, "volume created");
        Ok(self.info(&st, &rec))
    }

    /// Builds the volume dir under a staging name and renames it into
    /// place, so a crash leaves either no volume or a complete one.
    fn write_new(&self, rec: &VolumeRecord) -> Result<()> {
        let staging = self.root.join(format!(
            "{STAGING_PREFIX}{}",
            hex::encode(rand::random::<[u8; 8]>())
        ));
        let build = || -> std::io::Result<()> {
            fs::DirBuilder::new().mode(0o701).create(&staging)?;
            fs::set_permissions(&staging, fs::Permissions::from_mode(0o701))?;
            let data = staging.join(DATA_DIR);
            fs::DirBuilder::new().mode(0o755).create(&data)?;
            fs::set_permissions(&data, fs::Permissions::from_mode(0o755))?;
            let bytes = serde_json::to_vec_pretty(rec).map_err(std::io::Error::other)?;
            write_atomic(&staging.join(RECORD_FILE), &bytes)?;
            fs::rename(&staging, self.root.join(&rec.name))?;
            fsync_dir(&self.root)
        };
        build().map_err(|e| {
            remove_tree(&staging);
            VolumeError::io(
                format!(
                    "error while creating volume root path '{}'",
                    self.root.join(&rec.name).display()
                ),
                e,
            )
        })
    }

    pub fn get(&self, name: &str) -> Result<VolumeInfo> {
        let st = self.lock();
        st.volumes
            .get(name)
            .map(|r| self.info(&st, r))
            .ok_or_else(|| VolumeError::NotFound {
                op: "get",
                name: name.to_string(),
            })
    }

    /// Every volume, unfiltered, sorted by name.
    pub fn all(&self) -> Vec<VolumeInfo> {
        let st = self.lock();
        let mut v: Vec<VolumeInfo> = st.volumes.values().map(|r| self.info(&st, r)).collect();
        v.sort_by(|a, b| a.record.name.cmp(&b.record.name));
        v
    }

    /// Records that container `id` uses volume `name` (until `release`).
    pub fn reference(&self, name: &str, id: &str) {
        self.lock()
            .refs
            .entry(name.to_string())
            .or_default()
            .insert(id.to_string());
    }

    pub fn release(&self, name: &str, id: &str) {
        let mut st = self.lock();
        if let Some(s) = st.refs.get_mut(name) {
            s.remove(id);
            if s.is_empty() {
                st.refs.remove(name);
            }
        }
    }

    /// Makes the volume's data available for container `id` and returns
    /// its path: a volume with a device or type is mounted by its first
    /// user (Docker's `localVolume.Mount`).
    pub fn mount(&self, name: &str, id: &str) -> Result<PathBuf> {
        let mut st = self.lock();
        let rec = st
            .volumes
            .get(name)
            .cloned()
            .ok_or_else(|| VolumeError::NotFound {
                op: "get",
                name: name.to_string(),
            })?;
        let data = self.data_path(name);
        if options::needs_mount(rec.options()) {
            let users = st.active.entry(name.to_string()).or_default();
            if users.is_empty() && !options::is_mount_point(&data) {
                options::mount_device(rec.options(), &data)?;
                tracing::info!(volume = %name, "volume mounted");
            }
            users.insert(id.to_string());
        }
        Ok(data)
    }

    /// Container `id` no longer runs: the last user unmounts.
    pub fn unmount(&self, name: &str, id: &str) -> Result<()> {
        let mut st = self.lock();
        let Some(rec) = st.volumes.get(name).cloned() else {
            return Ok(());
        };
        if !options::needs_mount(rec.options()) {
            return Ok(());
        }
        let users = st.active.entry(name.to_string()).or_default();
        users.remove(id);
        if users.is_empty() {
            st.active.remove(name);
            options::unmount(&self.data_path(name))?;
            tracing::info!(volume = %name, "volume unmounted");
        }
        Ok(())
    }

    /// At daemon start: container `id` still runs with this volume mounted.
    pub fn restore_active(&self, name: &str, id: &str) {
        let mut st = self.lock();
        if st.volumes.contains_key(name) {
            st.active
                .entry(name.to_string())
                .or_default()
                .insert(id.to_string());
        }
    }

    /// At daemon start, after `restore_active`: mounts nobody uses any
    /// more (their containers ended while the daemon was down) go.
    pub fn unmount_unused(&self) {
        let st = self.lock();
        for rec in st.volumes.values() {
            let data = self.data_path(&rec.name);
            if options::needs_mount(rec.options())
                && st.active.get(&rec.name).is_none_or(BTreeSet::is_empty)
                && options::is_mount_point(&data)
            {
                if let Err(e) = options::unmount(&data) {
                    tracing::warn!(volume = %rec.name, "{e}");
                }
            }
        }
    }

    /// `DELETE /volumes/{name}`: refused while any container references
    /// it; `force` only turns "no such volume" into success, as in Docker.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let mut st = self.lock();
        if !st.volumes.contains_key(name) {
            if force {
                return Ok(());
            }
            return Err(VolumeError::NotFound {
                op: "get",
                name: name.to_string(),
            });
        }
        if let Some(refs) = st.refs.get(name).filter(|r| !r.is_empty()) {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                refs: refs.iter().cloned().collect(),
            });
        }
        let trash = self.delete_locked(&mut st, name)?;
        drop(st);
        remove_tree(&trash);
        Ok(())
    }

    /// Moves the volume out of the store; returns the trash dir for the
    /// caller to delete once the lock is released (a big volume takes a
    /// while to delete).
    fn delete_locked(&self, st: &mut State, name: &str) -> Result<PathBuf> {
        let dir = self.root.join(name);
        let data = dir.join(DATA_DIR);
        if options::is_mount_point(&data) {
            options::unmount(&data)?;
            // Never delete through a mount: it could be a host directory.
            if options::is_mount_point(&data) {
                return Err(VolumeError::io(
                    format!("remove {name}"),
                    std::io::Error::other("volume data is still mounted"),
                ));
            }
        }
        let trash = self.root.join(format!(
            "{TRASH_PREFIX}{}",
            hex::encode(rand::random::<[u8; 8]>())
        ));
        fs::rename(&dir, &trash).ctx(|| format!("remove {name}"))?;
        let _ = fsync_dir(&self.root);
        st.volumes.remove(name);
        st.refs.remove(name);
        st.active.remove(name);
        tracing::info!(volume = %name, "volume removed");
        Ok(trash)
    }

    /// Removes unreferenced local volumes without driver options that
    /// `keep` does not protect. The caller decides which volumes qualify
    /// (filters); sizes are measured before deletion.
    pub fn prune(&self, selected: impl Fn(&VolumeInfo) -> bool) -> Result<PruneReport> {
        if self.pruning.swap(true, Ordering::SeqCst) {
            return Err(VolumeError::PruneRunning);
        }
        struct Reset<'a>(&'a AtomicBool);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::SeqCst);
            }
        }
        let _reset = Reset(&self.pruning);
        let mut report = PruneReport::default();
        for v in self.all() {
            if !v.refs.is_empty() || !v.record.options().is_empty() || !selected(&v) {
                continue;
            }
            let size = copy::tree_size(&v.mountpoint);
            let mut st = self.lock();
            // Re-checked under the lock: a container may have taken it.
            if st.refs.get(&v.record.name).is_some_and(|r| !r.is_empty()) {
                continue;
            }
            let deleted = self.delete_locked(&mut st, &v.record.name);
            drop(st);
            match deleted {
                Ok(trash) => {
                    remove_tree(&trash);
                    report.deleted.push(v.record.name.clone());
                    report.reclaimed += size.max(0) as u64;
                }
                Err(e) => tracing::warn!(volume = %v.record.name, "could not remove volume: {e}"),
            }
        }
        Ok(report)
    }

    /// Bytes used by a volume's data.
    pub fn size(&self, name: &str) -> i64 {
        copy::tree_size(&self.data_path(name))
    }
}

/// Deletes a tree, never crossing into a mount point below it.
fn remove_tree(dir: &Path) {
    let data = dir.join(DATA_DIR);
    if options::is_mount_point(&data) {
        tracing::warn!("not deleting {}: its data is mounted", dir.display());
        return;
    }
    if let Err(e) = fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("removing {}: {e}", dir.display());
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
