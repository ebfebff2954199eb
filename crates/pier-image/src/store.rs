//! The store itself: on-disk layout, in-memory index, lookups and tags.
//! Writers that add content live in `commit.rs`, removal in `remove.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use oci_spec::image::ImageConfiguration;
use pier_api::models;
use tracing::{info, warn};

use crate::digest::{is_hex64, parse_sha256, SHA256_PREFIX};
use crate::error::{ImageError, IoContext, Result};
use crate::fsutil::{atomic_write_json, remove_path};
use crate::records::{ImageRecord, LayerRecord, Repositories};
use crate::reference::Reference;

/// The image store rooted at `R/image`. Cheap to share: all methods take
/// `&self` and the metadata sits behind one mutex that is never held while
/// archives are read or layers unpacked.
pub struct ImageStore {
    pub(crate) paths: Paths,
    pub(crate) state: Mutex<State>,
    /// Held (flock) for the store's lifetime: `open()` wipes `tmp/`, so two
    /// stores on one root would destroy each other's staging.
    _lock: fs::File,
}

#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub root: PathBuf,
    pub blobs: PathBuf,
    pub layers: PathBuf,
    pub images: PathBuf,
    pub repositories: PathBuf,
    pub tmp: PathBuf,
}

impl Paths {
    fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            blobs: root.join("blobs").join("sha256"),
            layers: root.join("layers"),
            images: root.join("images"),
            repositories: root.join("repositories.json"),
            tmp: root.join("tmp"),
        }
    }

    pub fn blob(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.blobs.join(parse_sha256(digest)?))
    }

    pub fn layer_dir(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self.layers.join(parse_sha256(diff_id)?))
    }

    pub fn layer_json(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self.layers.join(format!("{}.json", parse_sha256(diff_id)?)))
    }

    pub fn image_json(&self, id: &str) -> Result<PathBuf> {
        Ok(self.images.join(format!("{}.json", parse_sha256(id)?)))
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub images: BTreeMap<String, ImageRecord>,
    /// familiar reference → image ID
    pub refs: Repositories,
    pub layers: HashMap<String, LayerRecord>,
}

impl State {
    pub fn visible(&self, id: &str) -> Option<&ImageRecord> {
        self.images.get(id).filter(|r| !r.ghost)
    }

    /// Re-derives `repo_tags`/`repo_digests` of `id` from `refs`.
    pub fn sync_refs(&mut self, id: &str) {
        let (tags, digests): (Vec<String>, Vec<String>) = self
            .refs
            .iter()
            .filter(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone())
            .partition(|k| !k.contains('@'));
        if let Some(rec) = self.images.get_mut(id) {
            rec.repo_tags = tags;
            rec.repo_digests = digests;
        }
    }

    pub fn children(&self, id: &str) -> Vec<String> {
        self.images
            .values()
            .filter(|r| !r.ghost && r.parent.as_deref() == Some(id))
            .map(|r| r.id.clone())
            .collect()
    }

    pub fn refs_of(&self, id: &str) -> Vec<String> {
        self.refs
            .iter()
            .filter(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn layer_size(&self, layers: &[String]) -> u64 {
        layers
            .iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .filter_map(|d| self.layers.get(d))
            .map(|l| l.size)
            .sum()
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).ctx(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ImageError::io(
            format!("parsing {}", path.display()),
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    })
}

/// Files named `<64 hex><suffix>` in `dir`.
fn hex_entries(dir: &Path, suffix: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).ctx(|| format!("listing {}", dir.display()))? {
        let e = e.ctx(|| format!("listing {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp-") {
            // An atomic write interrupted by a crash.
            let _ = fs::remove_file(e.path());
            continue;
        }
        if let Some(hex) = name.strip_suffix(suffix) {
            if is_hex64(hex) {
                out.push((hex.to_string(), e.path()));
            }
        }
    }
    Ok(out)
}

impl ImageStore {
    /// Opens (creating if needed) the store at `root`, wipes `tmp/`, and drops
    /// whatever a crash left half-registered.
    pub fn open(root: impl AsRef<Path>) -> Result<ImageStore> {
        let paths = Paths::new(root.as_ref());
        for d in [
            &paths.root,
            &paths.blobs,
            &paths.layers,
            &paths.images,
            &paths.tmp,
        ] {
            fs::create_dir_all(d).ctx(|| format!("creating {}", d.display()))?;
        }
        let lock_path = paths.root.join("lock");
        let lock =
            fs::File::create(&lock_path).ctx(|| format!("creating {}", lock_path.display()))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
            |e| {
                ImageError::io(
                    format!(
                        "image store {} is already open (another pierd?)",
                        paths.root.display()
                    ),
                    e.into(),
                )
            },
        )?;
        crate::fsutil::spread_new_subdirs(&paths.tmp);
        for e in fs::read_dir(&paths.tmp).ctx(|| "listing tmp".to_string())? {
            let e = e.ctx(|| "listing tmp".to_string())?;
            remove_path(&e.path())?;
        }
        crate::writeback::settle_unsynced(&paths)?;
        // repositories.json is written next to its temp files in the root.
        hex_entries(&paths.root, ".json")?;
        let mut state = State::default();
        if paths.repositories.exists() {
            state.refs = read_json(&paths.repositories)?;
        }
        for (hex, path) in hex_entries(&paths.images, ".json")? {
            match read_json::<ImageRecord>(&path) {
                Ok(rec) if rec.id == format!("{SHA256_PREFIX}{hex}") => {
                    state.images.insert(rec.id.clone(), rec);
                }
                Ok(_) => warn!("ignoring {}: id does not match its name", path.display()),
                Err(e) => warn!("ignoring unreadable image record: {e}"),
            }
        }
        for (hex, path) in hex_entries(&paths.layers, ".json")? {
            match read_json::<LayerRecord>(&path) {
                Ok(rec) if rec.diff_id == format!("{SHA256_PREFIX}{hex}") => {
                    state.layers.insert(rec.diff_id.clone(), rec);
                }
                Ok(_) => warn!(
                    "ignoring {}: diff_id does not match its name",
                    path.display()
                ),
                Err(e) => warn!("ignoring unreadable layer record: {e}"),
            }
        }
        let store = ImageStore {
            paths,
            state: Mutex::new(state),
            _lock: lock,
        };
        store.recover()?;
        Ok(store)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the files inconsistent
        // (they are only ever replaced atomically), so keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Brings the index and the disk back in line after a crash: tags of
    /// missing images, layers and blobs nobody references.
    fn recover(&self) -> Result<()> {
        let mut st = self.lock();
        let before = st.refs.len();
        let images = st.images.clone();
        st.refs
            .retain(|_, id| images.get(id).is_some_and(|r| !r.ghost));
        if st.refs.len() != before {
            warn!("dropping {} tags of missing images", before - st.refs.len());
            atomic_write_json(&self.paths.repositories, &st.refs)?;
        }
        let ids: Vec<String> = st.images.keys().cloned().collect();
        for id in &ids {
            st.sync_refs(id);
        }
        let used_layers: HashSet<String> = st
            .images
            .values()
            .flat_map(|r| r.layers.iter().cloned())
            .collect();
        for rec in st.images.values() {
            for l in &rec.layers {
                if !st.layers.contains_key(l) {
                    warn!("image {} refers to missing layer {l}", rec.id);
                }
            }
        }
        // Unreferenced layer dirs and records: a load that crashed before
        // writing its image record.
        for e in fs::read_dir(&self.paths.layers).ctx(|| "listing layers".to_string())? {
            let e = e.ctx(|| "listing layers".to_string())?;
            let name = e.file_name().to_string_lossy().into_owned();
            let hex = name.strip_suffix(".json").unwrap_or(&name);
            let diff_id = format!("{SHA256_PREFIX}{hex}");
            if !is_hex64(hex) || !used_layers.contains(&diff_id) {
                info!("removing unreferenced layer entry {name}");
                remove_path(&e.path())?;
            }
        }
        st.layers.retain(|d, _| used_layers.contains(d));
        let mut used_blobs: HashSet<String> = HashSet::new();
        for rec in st.images.values() {
            used_blobs.insert(rec.config_digest.clone());
            if let Some(m) = &rec.manifest_digest {
                used_blobs.insert(m.clone());
            }
        }
        for l in st.layers.values() {
            used_blobs.insert(l.blob_digest.clone());
        }
        for e in fs::read_dir(&self.paths.blobs).ctx(|| "listing blobs".to_string())? {
            let e = e.ctx(|| "listing blobs".to_string())?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !used_blobs.contains(&format!("{SHA256_PREFIX}{name}")) {
                info!("removing unreferenced blob {name}");
                remove_path(&e.path())?;
            }
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.paths.root
    }

    /// All images, newest first.
    pub fn list(&self) -> Vec<ImageRecord> {
        let st = self.lock();
        let mut v: Vec<ImageRecord> = st.images.values().filter(|r| !r.ghost).cloned().collect();
        let t = |r: &ImageRecord| crate::query::unix_time(r.created.as_deref()).unwrap_or(0);
        v.sort_by(|a, b| t(b).cmp(&t(a)).then_with(|| a.id.cmp(&b.id)));
        v
    }

    /// Looks up `busybox`, `busybox:latest`, `busybox@sha256:...`,
    /// `sha256:<hex>`, `<hex>` or a unique ID prefix.
    pub fn get(&self, name_or_id: &str) -> Result<ImageRecord> {
        let st = self.lock();
        let id = resolve(&st, name_or_id)?;
        st.visible(&id)
            .cloned()
            .ok_or_else(|| not_found(name_or_id))
    }

    /// The parsed image config.
    pub fn config(&self, image: &ImageRecord) -> Result<ImageConfiguration> {
        let bytes = self.config_bytes(image)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            ImageError::io(
                format!("parsing config of {}", image.id),
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })
    }

    /// The config as raw JSON (keeps Docker-only fields such as Healthcheck).
    pub fn config_json(&self, image: &ImageRecord) -> Result<serde_json::Value> {
        let bytes = self.config_bytes(image)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            ImageError::io(
                format!("parsing config of {}", image.id),
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })
    }

    /// The `config` section in Docker's API shape (Cmd, Env, Healthcheck...).
    pub fn container_config(&self, image: &ImageRecord) -> Result<models::ImageConfig> {
        let v = self.config_json(image)?;
        Ok(crate::query::container_config_of(&v))
    }

    pub(crate) fn config_bytes(&self, image: &ImageRecord) -> Result<Vec<u8>> {
        let path = self.paths.blob(&image.config_digest)?;
        fs::read(&path).ctx(|| format!("reading config of {}", image.id))
    }

    /// The unpacked layer directories, bottom → top (overlayfs wants them
    /// top → bottom in `lowerdir=`, so reverse before joining).
    pub fn layer_dirs(&self, image: &ImageRecord) -> Result<Vec<PathBuf>> {
        let st = self.lock();
        image
            .layers
            .iter()
            .map(|d| {
                if !st.layers.contains_key(d) {
                    return Err(ImageError::io(
                        format!("layer {d} of image {}", image.id),
                        std::io::Error::new(std::io::ErrorKind::NotFound, "layer is missing"),
                    ));
                }
                self.paths.layer_dir(d)
            })
            .collect()
    }

    /// Points `target_ref` (`repo[:tag]`) at the image `source`, moving the
    /// tag away from any image that had it.
    pub fn tag(&self, source: &str, target_ref: &str) -> Result<()> {
        let target = Reference::parse(target_ref)?;
        if target.digest().is_some() {
            return Err(ImageError::InvalidArgument(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let mut st = self.lock();
        let id = resolve(&st, source)?;
        if st.visible(&id).is_none() {
            return Err(not_found(source));
        }
        self.set_ref_locked(&mut st, &target.familiar(), &id)?;
        atomic_write_json(&self.paths.repositories, &st.refs)
    }

    /// Sets one reference, keeping both images' records in step. Returns the
    /// image that lost the reference. Does not write `repositories.json`.
    pub(crate) fn set_ref_locked(
        &self,
        st: &mut State,
        familiar: &str,
        id: &str,
    ) -> Result<Option<String>> {
        let previous = st.refs.insert(familiar.to_string(), id.to_string());
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        if let Some(rec) = st.images.get_mut(id) {
            rec.last_tag_time = Some(now);
        }
        st.sync_refs(id);
        self.write_record(st, id)?;
        match previous {
            Some(old) if old != id => {
                st.sync_refs(&old);
                self.write_record(st, &old)?;
                Ok(Some(old))
            }
            _ => Ok(None),
        }
    }

    pub(crate) fn write_record(&self, st: &State, id: &str) -> Result<()> {
        match st.images.get(id) {
            Some(rec) => atomic_write_json(&self.paths.image_json(id)?, rec),
            None => Ok(()),
        }
    }
}

pub(crate) fn not_found(name: &str) -> ImageError {
    let shown = match Reference::parse(name) {
        Ok(r) if !name.starts_with(SHA256_PREFIX) => r.familiar(),
        _ => name.to_string(),
    };
    ImageError::NotFound(shown)
}

/// Docker's `GetImage` order: a full ID, then a reference, then an ID prefix.
pub(crate) fn resolve(st: &State, name: &str) -> Result<String> {
    if name.is_empty() {
        return Err(ImageError::NotFound(String::new()));
    }
    let hexpart = name.strip_prefix(SHA256_PREFIX);
    if let Some(hex) = hexpart.or(Some(name)).filter(|h| is_hex64(h)) {
        let id = format!("{SHA256_PREFIX}{hex}");
        return match st.visible(&id) {
            Some(_) => Ok(id),
            None => Err(not_found(name)),
        };
    }
    if hexpart.is_none() {
        if let Ok(r) = Reference::parse(name) {
            let key = match r.digest() {
                Some(d) => r.with_digest(d).familiar(),
                None => r.familiar(),
            };
            if let Some(id) = st.refs.get(&key) {
                if st.visible(id).is_some() {
                    return Ok(id.clone());
                }
            }
        }
    }
    let prefix = hexpart.unwrap_or(name);
    let is_hex = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if is_hex(prefix) {
        let matches: Vec<&String> = st
            .images
            .iter()
            .filter(|(id, r)| !r.ghost && id[SHA256_PREFIX.len()..].starts_with(prefix))
            .map(|(id, _)| id)
            .collect();
        if matches.len() == 1 {
            return Ok(matches[0].clone());
        }
    }
    Err(not_found(name))
}
