//! Adding content: turning staged blobs into verified, unpacked layers
//! (outside the lock), then publishing layers, configs, records and tags
//! (under the lock) in an order that a crash at any point cannot corrupt.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Read;
use std::path::PathBuf;

use tracing::{debug, warn};

use crate::compress::{self, Compression};
use crate::digest::{chain_ids, parse_sha256, sha256_digest, HashingReader, TeeReader};
use crate::error::{ImageError, IoContext, Result};
use crate::fsutil::{
    atomic_write, atomic_write_json, fsync_dir, random_suffix, remove_path, StagingDir,
};
use crate::records::{ImageRecord, LayerRecord};
use crate::reference::Reference;
use crate::store::{ImageStore, State};
use crate::unpack::LayerUnpacker;

/// A blob file sitting in `tmp/`, with what we know about it.
#[derive(Debug, Clone)]
pub(crate) struct StagedBlob {
    pub path: PathBuf,
    pub digest: String,
    pub size: u64,
}

/// A verified layer, unpacked in `tmp/` unless the store already had it.
pub(crate) struct NewLayer {
    pub diff_id: String,
    pub dir: Option<StagingDir>,
    pub blob: StagedBlob,
    /// Keeps a blob staged on its own alive until commit.
    pub blob_guard: Option<StagingDir>,
    pub media_type: String,
    pub size: u64,
    pub tar_size: u64,
}

pub(crate) struct NewImage {
    pub config: Vec<u8>,
    pub diff_ids: Vec<String>,
    pub tags: Vec<Reference>,
    pub parent: Option<String>,
    /// (digest, bytes) of the OCI manifest it came with.
    pub manifest: Option<(String, Vec<u8>)>,
    pub created: Option<String>,
}

/// What committing one image did.
pub(crate) struct Committed {
    pub record: ImageRecord,
    /// (familiar tag, image that lost it)
    pub tags: Vec<(String, Option<String>)>,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl ImageStore {
    pub(crate) fn staging(&self, prefix: &str) -> Result<StagingDir> {
        StagingDir::new(&self.paths.tmp, prefix)
    }

    pub(crate) fn has_layer(&self, diff_id: &str) -> bool {
        self.lock().layers.contains_key(diff_id)
    }

    /// Reads a staged blob (any compression), checks its uncompressed digest
    /// against `expected` and unpacks it into `tmp/` unless the store already
    /// has that layer.
    pub(crate) fn ingest_layer(
        &self,
        blob: StagedBlob,
        expected: &str,
        what: &str,
    ) -> Result<NewLayer> {
        let file = File::open(&blob.path).ctx(|| format!("opening {}", blob.path.display()))?;
        let (plain, kind) = compress::decompress(std::io::BufReader::new(file))?;
        let mut hashing = HashingReader::new(plain);
        let mut dir = None;
        let mut size = 0;
        if !self.has_layer(expected) {
            let staged = self.staging("layer")?;
            size = LayerUnpacker::unpack(&mut hashing, staged.path())
                .map_err(|e| prefix_err(e, what))?
                .bytes;
            dir = Some(staged);
        }
        let (diff_id, tar_size) = hashing
            .finish()
            .map_err(|e| ImageError::bad(format!("reading {what}: {e}")))?;
        if expected != diff_id {
            return Err(ImageError::bad(format!(
                "invalid diffID for {what}: expected {expected:?}, got {diff_id:?}"
            )));
        }
        debug!("verified {what} ({diff_id}, {tar_size} bytes uncompressed)");
        Ok(NewLayer {
            diff_id,
            dir,
            blob,
            blob_guard: None,
            media_type: kind.layer_media_type().to_string(),
            size,
            tar_size,
        })
    }

    /// Decompresses `src` into a staged plain-tar blob while unpacking it, in
    /// one pass (import, commit, build).
    pub(crate) fn ingest_stream(&self, src: &mut dyn Read) -> Result<NewLayer> {
        let guard = self.staging("blob")?;
        let blob_path = guard.path().join("layer.tar");
        let file = File::create(&blob_path).ctx(|| format!("creating {}", blob_path.display()))?;
        let (plain, _) = compress::decompress(src)?;
        let mut tee = HashingReader::new(TeeReader::new(plain, file));
        let dir = self.staging("layer")?;
        let stats = LayerUnpacker::unpack(&mut tee, dir.path())?;
        let (diff_id, tar_size, inner) = tee
            .finish_into()
            .map_err(|e| ImageError::bad(format!("reading layer: {e}")))?;
        let (_, file) = inner.into_parts();
        file.sync_all()
            .ctx(|| "fsync of staged layer blob".to_string())?;
        Ok(NewLayer {
            diff_id: diff_id.clone(),
            dir: Some(dir),
            // A plain tar: the blob digest is the diff_id.
            blob: StagedBlob {
                path: blob_path,
                digest: diff_id,
                size: tar_size,
            },
            blob_guard: Some(guard),
            media_type: Compression::None.layer_media_type().to_string(),
            size: stats.bytes,
            tar_size,
        })
    }

    /// Publishes layers, then configs and image records, then tags. Staged
    /// data only becomes visible by rename, after a `syncfs`, so a crash
    /// leaves either nothing or complete files; `open()` collects the rest.
    pub(crate) fn commit(
        &self,
        layers: Vec<NewLayer>,
        images: Vec<NewImage>,
    ) -> Result<Vec<Committed>> {
        let mut trash: Vec<StagingDir> = Vec::new();
        let result = self.commit_inner(layers, images, &mut trash, false);
        drop(trash);
        result
    }

    /// Publishes pulled layers without waiting for their writeback: each
    /// is marked unsynced first (durably), a background `syncfs` clears
    /// the marks, and `open()` after a reboot drops layers still marked
    /// (see `writeback.rs`). Their blobs are digest-verified, so this only
    /// defers durability; nothing unverified is ever published.
    pub(crate) fn commit_layers_deferred(&self, layers: Vec<NewLayer>) -> Result<()> {
        let staged: Vec<String> = layers
            .iter()
            .filter(|l| l.dir.is_some())
            .map(|l| l.diff_id.clone())
            .collect();
        for d in &staged {
            self.mark_unsynced(d)?;
        }
        let mut trash: Vec<StagingDir> = Vec::new();
        let result = self.commit_inner(layers, Vec::new(), &mut trash, true);
        drop(trash);
        self.sync_later(staged);
        result.map(|_| ())
    }

    fn commit_inner(
        &self,
        layers: Vec<NewLayer>,
        images: Vec<NewImage>,
        trash: &mut Vec<StagingDir>,
        deferred: bool,
    ) -> Result<Vec<Committed>> {
        // Only staged layer data needs it: configs and records are written
        // with their own fsyncs.
        if !deferred && layers.iter().any(|l| l.dir.is_some()) {
            sync_filesystem(&self.paths.tmp);
        }
        let mut st = self.lock();
        for img in &images {
            for d in &img.diff_ids {
                let coming = layers.iter().any(|l| &l.diff_id == d && l.dir.is_some());
                if !coming && !st.layers.contains_key(d) {
                    return Err(ImageError::Conflict(format!(
                        "layer {d} was removed while the image was being added; retry"
                    )));
                }
            }
        }
        let mut published = false;
        for layer in layers {
            let Some(dir) = layer.dir else { continue };
            if st.layers.contains_key(&layer.diff_id) {
                trash.push(dir);
                continue;
            }
            let blob_dst = self.paths.blob(&layer.blob.digest)?;
            if !blob_dst.exists() {
                fs::rename(&layer.blob.path, &blob_dst)
                    .ctx(|| format!("publishing blob {}", layer.blob.digest))?;
            }
            let dst = self.paths.layer_dir(&layer.diff_id)?;
            if dst.exists() {
                // Left by a crash between rename and record: ours is verified.
                remove_path(&dst)?;
            }
            fs::rename(dir.path(), &dst).ctx(|| format!("publishing layer {}", layer.diff_id))?;
            dir.disarm();
            published = true;
            let rec = LayerRecord {
                diff_id: layer.diff_id.clone(),
                size: layer.size,
                tar_size: layer.tar_size,
                blob_digest: layer.blob.digest.clone(),
                blob_size: layer.blob.size,
                media_type: layer.media_type.clone(),
            };
            st.layers.insert(layer.diff_id.clone(), rec);
            if let Some(g) = layer.blob_guard {
                trash.push(g);
            }
        }
        if published && !deferred {
            fsync_dir(&self.paths.blobs)?;
            fsync_dir(&self.paths.layers)?;
        }
        // Layer records only after their directories are durable.
        let mut written = HashSet::new();
        for img in &images {
            for d in &img.diff_ids {
                if written.insert(d.clone()) && !self.paths.layer_json(d)?.exists() {
                    if let Some(rec) = st.layers.get(d) {
                        atomic_write_json(&self.paths.layer_json(d)?, rec)?;
                    }
                }
            }
        }
        let mut out = Vec::new();
        let mut refs_changed = false;
        for img in images {
            let id = sha256_digest(&img.config);
            let cfg = self.paths.blob(&id)?;
            if !cfg.exists() {
                atomic_write(&cfg, &img.config)?;
            }
            if let Some((digest, bytes)) = &img.manifest {
                let p = self.paths.blob(digest)?;
                if !p.exists() {
                    atomic_write(&p, bytes)?;
                }
            }
            let size = st.layer_size(&img.diff_ids);
            let record = match st.images.get(&id) {
                Some(existing) => ImageRecord {
                    ghost: false,
                    parent: img.parent.clone().or_else(|| existing.parent.clone()),
                    manifest_digest: existing
                        .manifest_digest
                        .clone()
                        .or_else(|| img.manifest.as_ref().map(|m| m.0.clone())),
                    size,
                    ..existing.clone()
                },
                None => ImageRecord {
                    id: id.clone(),
                    config_digest: id.clone(),
                    repo_tags: Vec::new(),
                    repo_digests: Vec::new(),
                    created: img.created.clone(),
                    size,
                    layers: img.diff_ids.clone(),
                    parent: img.parent.clone(),
                    manifest_digest: img.manifest.as_ref().map(|m| m.0.clone()),
                    added: now_rfc3339(),
                    last_tag_time: None,
                    ghost: false,
                },
            };
            st.images.insert(id.clone(), record);
            self.write_record(&st, &id)?;
            let mut tags = Vec::new();
            for t in &img.tags {
                let familiar = t.familiar();
                let replaced = self.set_ref_locked(&mut st, &familiar, &id)?;
                refs_changed = true;
                tags.push((familiar, replaced));
            }
            st.sync_refs(&id);
            let record = st
                .images
                .get(&id)
                .cloned()
                .ok_or_else(|| ImageError::NotFound(id.clone()))?;
            out.push(Committed { record, tags });
        }
        if refs_changed {
            atomic_write_json(&self.paths.repositories, &st.refs)?;
        }
        Ok(out)
    }

    /// Drops an image whose references are already gone. With `keep_layers`
    /// it becomes a ghost (a container still needs its layers). Returns the
    /// chain IDs of the layers that were deleted, as Docker reports them.
    /// Layer data is moved into `tombs` (under `tmp/`) for the caller to delete
    /// once the lock is released.
    pub(crate) fn delete_locked(
        &self,
        st: &mut State,
        id: &str,
        keep_layers: bool,
        tombs: &mut Vec<PathBuf>,
    ) -> Result<Vec<String>> {
        for r in st.refs_of(id) {
            st.refs.remove(&r);
        }
        let Some(mut rec) = st.images.remove(id) else {
            return Ok(Vec::new());
        };
        if keep_layers {
            rec.ghost = true;
            rec.repo_tags.clear();
            rec.repo_digests.clear();
            st.images.insert(id.to_string(), rec);
            self.write_record(st, id)?;
            return Ok(Vec::new());
        }
        remove_path(&self.paths.image_json(id)?)?;
        fsync_dir(&self.paths.images)?;
        let still_used: HashSet<&String> =
            st.images.values().flat_map(|r| r.layers.iter()).collect();
        let chains = chain_ids(&rec.layers);
        let mut removed = Vec::new();
        let mut freed_blobs = vec![rec.config_digest.clone()];
        freed_blobs.extend(rec.manifest_digest.clone());
        let mut seen = HashSet::new();
        let doomed: Vec<(usize, String)> = rec
            .layers
            .iter()
            .enumerate()
            .filter(|(_, d)| !still_used.contains(d) && seen.insert((*d).clone()))
            .map(|(i, d)| (i, d.clone()))
            .collect();
        for (i, d) in doomed {
            let dir = self.paths.layer_dir(&d)?;
            // Move it out of sight first: a crash mid-delete must not leave a
            // half-emptied layer where overlayfs would find it.
            let tomb = self.paths.tmp.join(format!("del-{}", random_suffix()));
            if dir.exists() {
                fs::rename(&dir, &tomb).ctx(|| format!("removing layer {d}"))?;
            }
            remove_path(&self.paths.layer_json(&d)?)?;
            if let Some(l) = st.layers.remove(&d) {
                freed_blobs.push(l.blob_digest);
            }
            tombs.push(tomb);
            removed.push(chains.get(i).cloned().unwrap_or(d));
        }
        for b in freed_blobs {
            let used = st.layers.values().any(|l| l.blob_digest == b)
                || st.images.values().any(|r| {
                    r.config_digest == b || r.manifest_digest.as_deref() == Some(b.as_str())
                });
            if !used && parse_sha256(&b).is_ok() {
                remove_path(&self.paths.blob(&b)?)?;
            }
        }
        Ok(removed)
    }
}

/// Deletes moved-away layer data (slow for big layers, so done unlocked).
pub(crate) fn bury(tombs: Vec<PathBuf>) {
    for t in tombs {
        if let Err(e) = remove_path(&t) {
            warn!("could not delete {}: {e}", t.display());
        }
    }
}

fn prefix_err(e: ImageError, what: &str) -> ImageError {
    match e {
        ImageError::BadArchive(m) => ImageError::BadArchive(format!("{what}: {m}")),
        other => other,
    }
}

/// Makes staged data durable before it is renamed into view.
pub(crate) fn sync_filesystem(dir: &std::path::Path) {
    match File::open(dir) {
        Ok(f) => {
            if let Err(e) = rustix::fs::syncfs(&f) {
                warn!("syncfs failed: {e}");
            }
        }
        Err(e) => warn!("syncfs: cannot open {}: {e}", dir.display()),
    }
}
