//! What pulling from and pushing to registries needs from the store:
//! verified ingestion of downloaded layer blobs (with resumable partial
//! downloads), registering an image from a pulled manifest and config, and
//! exporting an image's manifest, config and compressed layer blobs.
//!
//! Files of their own, next to the store's:
//! - `tmp/pull-<hex>.part`: a partial download, appended to on resume and
//!   renamed into `blobs/` only once its digest is verified.
//! - `distribution/gzip/<diffid-hex>.json`: the gzip blob generated for a
//!   layer that only exists uncompressed, so later pushes reuse its digest.
//! - `distribution/sources.json`: blob digest → `registry/repository`s it is
//!   known to exist in (for cross-repository mounts).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::commit::{NewImage, NewLayer, StagedBlob};
use crate::compress::{self, Compression};
use crate::digest::{parse_sha256, HashingReader, HashingWriter, TeeReader};
use crate::error::{ImageError, IoContext, Result};
use crate::fsutil::{atomic_write_json, StagingDir};
use crate::records::ImageRecord;
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::unpack::LayerUnpacker;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Serialises writers of `distribution/sources.json`.
static SOURCES_LOCK: Mutex<()> = Mutex::new(());

/// One layer of an image about to be pushed.
pub struct PushLayer {
    pub diff_id: String,
    /// Digest and size of the blob as it goes to the registry.
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    /// The blob file: in `blobs/`, or a generated gzip blob in `tmp/`
    /// (removed when this value is dropped).
    pub path: PathBuf,
    _generated: Option<StagingDir>,
}

/// An image ready to be pushed.
pub struct PushImage {
    pub id: String,
    pub config: Vec<u8>,
    pub layers: Vec<PushLayer>,
    pub manifest: Vec<u8>,
    pub manifest_media_type: String,
}

/// The gzip blob once generated for an uncompressed layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GzipRecord {
    digest: String,
    size: u64,
}

#[derive(Deserialize)]
struct ManifestLayers {
    #[serde(default)]
    layers: Vec<LayerDesc>,
}

#[derive(Deserialize)]
struct LayerDesc {
    digest: String,
    size: u64,
    #[serde(rename = "mediaType", default)]
    media_type: String,
}

/// Remembers whether the network side failed (as opposed to bad data).
struct Watched<'a> {
    inner: &'a mut dyn Read,
    failed: bool,
}

impl Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed = true)
    }
}

/// Counts bytes read, reporting to a callback.
struct Progress<'a, R> {
    inner: R,
    done: u64,
    report: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        (self.report)(self.done);
        Ok(n)
    }
}

fn diff_ids_of(config: &[u8]) -> Result<(Vec<String>, Option<String>)> {
    let v: Value = serde_json::from_slice(config)
        .map_err(|e| ImageError::bad(format!("invalid image config: {e}")))?;
    let ids = v
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .ok_or_else(|| ImageError::bad("image config has no rootfs.diff_ids"))?
        .iter()
        .map(|d| {
            d.as_str()
                .filter(|s| parse_sha256(s).is_ok())
                .map(str::to_string)
                .ok_or_else(|| ImageError::bad(format!("invalid diff_id {d} in image config")))
        })
        .collect::<Result<Vec<_>>>()?;
    let created = v.get("created").and_then(Value::as_str).map(str::to_string);
    Ok((ids, created))
}

impl ImageStore {
    fn distribution_dir(&self) -> PathBuf {
        self.paths.root.join("distribution")
    }

    /// Whether the unpacked layer `diff_id` is already here (then a pull
    /// reports "Already exists" and downloads nothing).
    pub fn has_layer_diff(&self, diff_id: &str) -> bool {
        self.has_layer(diff_id)
    }

    /// The diff IDs an image config lists, bottom → top.
    pub fn config_diff_ids(config: &[u8]) -> Result<Vec<String>> {
        Ok(diff_ids_of(config)?.0)
    }

    fn partial_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self
            .paths
            .tmp
            .join(format!("pull-{}.part", parse_sha256(digest)?)))
    }

    /// Bytes of `digest` downloaded by an earlier, interrupted pull.
    pub fn partial_len(&self, digest: &str) -> u64 {
        self.partial_path(digest)
            .ok()
            .and_then(|p| fs::metadata(p).ok())
            .map_or(0, |m| m.len())
    }

    /// Downloads a layer blob: `src` continues the partial download at
    /// `offset` (0 = from scratch). The blob is appended to its partial file
    /// while it is hashed, decompressed (gzip, zstd or plain), hashed again
    /// and unpacked into a staging dir, in one pass. Only if the blob digest
    /// and size and the diff ID all match is the blob renamed into `blobs/`
    /// and the layer published; a corrupt blob leaves nothing behind, a
    /// broken connection leaves the partial file for the next attempt.
    /// `progress` gets the number of blob bytes read so far.
    pub fn pull_layer(
        &self,
        src: &mut dyn Read,
        offset: u64,
        digest: &str,
        size: u64,
        diff_id: &str,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        parse_sha256(diff_id)?;
        let part = self.partial_path(digest)?;
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&part)
            .ctx(|| format!("opening {}", part.display()))?;
        let have = file.metadata().ctx(|| "stat partial blob".into())?.len();
        let offset = offset.min(have);
        file.set_len(offset)
            .ctx(|| "truncating partial blob".into())?;
        let prefix = File::open(&part).ctx(|| format!("opening {}", part.display()))?;
        file.seek(SeekFrom::End(0))
            .ctx(|| "seeking partial blob".into())?;
        let mut watched = Watched {
            inner: src,
            failed: false,
        };
        let tail = TeeReader::new(&mut watched, &mut file);
        let chained = prefix.take(offset).chain(tail);
        let counted = Progress {
            inner: chained,
            done: 0,
            report: progress,
        };
        let mut blob_hash = HashingReader::new(counted);
        let result = (|| -> Result<(String, u64, NewLayer)> {
            let staged = self.staging("layer")?;
            let (plain, kind) =
                compress::decompress(BufReader::with_capacity(256 * 1024, &mut blob_hash))?;
            let mut tar_hash = HashingReader::new(plain);
            let stats = LayerUnpacker::unpack(&mut tar_hash, staged.path())?;
            let (got_diff, tar_size) = tar_hash
                .finish()
                .map_err(|e| ImageError::bad(format!("reading layer {digest}: {e}")))?;
            if got_diff != diff_id {
                return Err(ImageError::bad(format!(
                    "layer {digest}: invalid diffID: expected {diff_id}, got {got_diff}"
                )));
            }
            Ok((
                got_diff.clone(),
                tar_size,
                NewLayer {
                    diff_id: got_diff,
                    dir: Some(staged),
                    blob: StagedBlob {
                        path: part.clone(),
                        digest: digest.to_string(),
                        size,
                    },
                    blob_guard: None,
                    media_type: kind.layer_media_type().to_string(),
                    size: stats.bytes,
                    tar_size,
                },
            ))
        })();
        // finish() reads what the decompressor left (trailing padding): it
        // still belongs to the blob and its digest.
        let finished = blob_hash.finish();
        // A broken connection keeps the partial file (every byte in it came
        // from the registry) so the next pull resumes; bad data removes it.
        let (got, n) = match finished {
            Ok(v) if !watched.failed => v,
            Ok(_) => {
                return Err(ImageError::io(
                    format!("downloading {digest}"),
                    io::ErrorKind::UnexpectedEof.into(),
                ))
            }
            Err(e) => return Err(ImageError::io(format!("downloading {digest}"), e)),
        };
        if n < size {
            return Err(ImageError::io(
                format!("downloading {digest}"),
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("got {n} of {size} bytes"),
                ),
            ));
        }
        if got != digest || n != size {
            let _ = fs::remove_file(&part);
            return Err(ImageError::bad(format!(
                "filesystem layer verification failed for digest {digest}"
            )));
        }
        let (_, _, layer) = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = fs::remove_file(&part);
                return Err(e);
            }
        };
        file.sync_all().ctx(|| "fsync of downloaded blob".into())?;
        drop(file);
        self.commit(vec![layer], Vec::new())?;
        // Already present: commit left our copy in place.
        let _ = fs::remove_file(&part);
        Ok(())
    }

    /// Records a pulled image: `config` (verified by the caller against the
    /// manifest), the platform manifest, and the references to point at it
    /// (`repo:tag` and/or `repo@digest`). Every layer must have been pulled.
    /// Returns the record and whether `tag_ref` already pointed at this image.
    pub fn register_pulled(
        &self,
        config: Vec<u8>,
        manifest: (String, Vec<u8>),
        refs: Vec<Reference>,
    ) -> Result<(ImageRecord, bool)> {
        let (diff_ids, created) = diff_ids_of(&config)?;
        let id = crate::digest::sha256_digest(&config);
        let up_to_date = {
            let st = self.lock();
            !refs.is_empty()
                && refs
                    .iter()
                    .all(|r| st.refs.get(&r.familiar()).is_some_and(|v| *v == id))
        };
        let committed = self.commit(
            Vec::new(),
            vec![NewImage {
                config,
                diff_ids,
                tags: refs,
                parent: None,
                manifest: Some(manifest),
                created,
            }],
        )?;
        let record = committed
            .into_iter()
            .next()
            .map(|c| c.record)
            .ok_or_else(|| ImageError::NotFound(id.clone()))?;
        Ok((record, up_to_date))
    }

    /// Remembers that `digest` exists in `repo` (`host/path`) so a later
    /// push to another repository of that registry can mount it.
    pub fn add_blob_source(&self, digest: &str, repo: &str) -> Result<()> {
        let _g = SOURCES_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.distribution_dir().join("sources.json");
        let mut map: BTreeMap<String, Vec<String>> = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let list = map.entry(digest.to_string()).or_default();
        if list.iter().any(|r| r == repo) {
            return Ok(());
        }
        list.push(repo.to_string());
        if list.len() > 8 {
            list.remove(0);
        }
        fs::create_dir_all(self.distribution_dir()).ctx(|| "creating distribution dir".into())?;
        atomic_write_json(&path, &map)
    }

    /// Repositories (`host/path`) known to hold `digest`.
    pub fn blob_sources(&self, digest: &str) -> Vec<String> {
        let path = self.distribution_dir().join("sources.json");
        fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<BTreeMap<String, Vec<String>>>(&b).ok())
            .and_then(|mut m| m.remove(digest))
            .unwrap_or_default()
    }

    /// Everything a push of `name` sends. Layers stored uncompressed get a
    /// gzip blob generated in `tmp/` (its digest is remembered so the next
    /// push of the same layer can skip it without compressing again:
    /// `cached_digest` in [`PushImage`] layers is checked by the caller with
    /// HEAD, and [`ImageStore::gzip_layer`] produces the blob on demand).
    pub fn push_image(&self, name: &str) -> Result<PushImage> {
        let record = self.get(name)?;
        let config = self.config_bytes(&record)?;
        let layer_recs: Vec<_> = {
            let st = self.lock();
            record
                .layers
                .iter()
                .map(|d| {
                    st.layers
                        .get(d)
                        .cloned()
                        .ok_or_else(|| ImageError::bad(format!("layer {d} is missing")))
                })
                .collect::<Result<_>>()?
        };
        // An image that came with a manifest whose blobs are all here is
        // pushed as is: its digest stays the same.
        if let Some(md) = &record.manifest_digest {
            if let Some(img) = self.reuse_manifest(&record, md, &config)? {
                return Ok(img);
            }
        }
        let mut layers = Vec::new();
        let mut any_zstd = false;
        for l in &layer_recs {
            let path = self.paths.blob(&l.blob_digest)?;
            let kind = if l.media_type.contains("zstd") {
                Compression::Zstd
            } else if l.media_type.contains("gzip") {
                Compression::Gzip
            } else {
                Compression::None
            };
            if kind == Compression::None || !path.exists() {
                let known = self.gzip_record(&l.diff_id);
                layers.push(PushLayer {
                    diff_id: l.diff_id.clone(),
                    digest: known.as_ref().map(|k| k.digest.clone()).unwrap_or_default(),
                    size: known.as_ref().map_or(0, |k| k.size),
                    media_type: DOCKER_LAYER_GZIP.into(),
                    path: PathBuf::new(),
                    _generated: None,
                });
                continue;
            }
            any_zstd |= kind == Compression::Zstd;
            layers.push(PushLayer {
                diff_id: l.diff_id.clone(),
                digest: l.blob_digest.clone(),
                size: l.blob_size,
                media_type: if kind == Compression::Zstd {
                    OCI_LAYER_ZSTD.into()
                } else {
                    DOCKER_LAYER_GZIP.into()
                },
                path,
                _generated: None,
            });
        }
        let manifest_media_type = if any_zstd {
            OCI_MANIFEST
        } else {
            DOCKER_MANIFEST
        };
        let mut img = PushImage {
            id: record.id.clone(),
            config,
            layers,
            manifest: Vec::new(),
            manifest_media_type: manifest_media_type.into(),
        };
        if img.layers.iter().all(|l| !l.digest.is_empty()) {
            img.manifest = build_manifest(&img);
        }
        Ok(img)
    }

    fn reuse_manifest(
        &self,
        record: &ImageRecord,
        md: &str,
        config: &[u8],
    ) -> Result<Option<PushImage>> {
        let Ok(bytes) = fs::read(self.paths.blob(md)?) else {
            return Ok(None);
        };
        let v: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) => return Ok(None),
        };
        let media = v
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or(OCI_MANIFEST)
            .to_string();
        if v.pointer("/config/digest").and_then(Value::as_str) != Some(record.id.as_str()) {
            return Ok(None);
        }
        let Ok(parsed) = serde_json::from_value::<ManifestLayers>(v) else {
            return Ok(None);
        };
        if parsed.layers.len() != record.layers.len() {
            return Ok(None);
        }
        let mut layers = Vec::new();
        for (desc, diff_id) in parsed.layers.iter().zip(&record.layers) {
            let path = self.paths.blob(&desc.digest)?;
            if !path.exists() {
                return Ok(None);
            }
            layers.push(PushLayer {
                diff_id: diff_id.clone(),
                digest: desc.digest.clone(),
                size: desc.size,
                media_type: desc.media_type.clone(),
                path,
                _generated: None,
            });
        }
        Ok(Some(PushImage {
            id: record.id.clone(),
            config: config.to_vec(),
            layers,
            manifest: bytes,
            manifest_media_type: media,
        }))
    }

    fn gzip_record(&self, diff_id: &str) -> Option<GzipRecord> {
        let hex = parse_sha256(diff_id).ok()?;
        let p = self
            .distribution_dir()
            .join("gzip")
            .join(format!("{hex}.json"));
        fs::read(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Makes the gzip blob of an uncompressed layer in `tmp/` (fast level:
    /// pushes are bound by compression speed) and fills in `layer`.
    /// flate2 is deterministic, so the digest matches earlier pushes.
    pub fn gzip_layer(&self, layer: &mut PushLayer, progress: &mut dyn FnMut(u64)) -> Result<()> {
        if !layer.path.as_os_str().is_empty() && layer.path.exists() {
            return Ok(());
        }
        let rec = {
            let st = self.lock();
            st.layers
                .get(&layer.diff_id)
                .cloned()
                .ok_or_else(|| ImageError::bad(format!("layer {} is missing", layer.diff_id)))?
        };
        let src = self.paths.blob(&rec.blob_digest)?;
        let staged = self.staging("push")?;
        let out = staged.path().join("layer.tar.gz");
        let file = File::create(&out).ctx(|| format!("creating {}", out.display()))?;
        let input = File::open(&src).ctx(|| format!("opening {}", src.display()))?;
        let (plain, _) = compress::decompress(BufReader::with_capacity(256 * 1024, input))?;
        let mut counted = Progress {
            inner: plain,
            done: 0,
            report: progress,
        };
        let hashing = HashingWriter::new(io::BufWriter::with_capacity(256 * 1024, file));
        let mut gz = flate2::write::GzEncoder::new(hashing, flate2::Compression::fast());
        io::copy(&mut counted, &mut gz).ctx(|| format!("compressing layer {}", layer.diff_id))?;
        let hashing = gz.finish().ctx(|| "finishing gzip".into())?;
        let (mut w, digest, size) = hashing.finish();
        w.flush().ctx(|| "writing gzip blob".into())?;
        layer.digest = digest.clone();
        layer.size = size;
        layer.path = out;
        layer.media_type = DOCKER_LAYER_GZIP.into();
        layer._generated = Some(staged);
        let dir = self.distribution_dir().join("gzip");
        fs::create_dir_all(&dir).ctx(|| "creating distribution dir".into())?;
        let hex = parse_sha256(&layer.diff_id)?;
        atomic_write_json(
            &dir.join(format!("{hex}.json")),
            &GzipRecord { digest, size },
        )
    }
}

/// The manifest of an image assembled for a push.
pub fn build_manifest(img: &PushImage) -> Vec<u8> {
    let oci = img.manifest_media_type == OCI_MANIFEST;
    let layers: Vec<Value> = img
        .layers
        .iter()
        .map(|l| {
            let mt = if oci && l.media_type == DOCKER_LAYER_GZIP {
                OCI_LAYER_GZIP
            } else {
                l.media_type.as_str()
            };
            json!({ "mediaType": mt, "size": l.size, "digest": l.digest })
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": img.manifest_media_type,
        "config": {
            "mediaType": if oci { OCI_CONFIG } else { DOCKER_CONFIG },
            "size": img.config.len(),
            "digest": img.id,
        },
        "layers": layers,
    });
    serde_json::to_vec_pretty(&manifest).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_digest;

    /// (gzip blob, blob digest, diff id) of a small layer.
    fn layer() -> (Vec<u8>, String, String) {
        let mut b = tar::Builder::new(Vec::new());
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, "file.bin", &data[..]).unwrap();
        let plain = b.into_inner().unwrap();
        let diff_id = sha256_digest(&plain);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let blob = gz.finish().unwrap();
        let digest = sha256_digest(&blob);
        (blob, digest, diff_id)
    }

    /// Fails with a connection error after `n` bytes.
    struct Cut<'a> {
        data: &'a [u8],
        n: usize,
    }

    impl Read for Cut<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.n == 0 {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "cut"));
            }
            let k = buf.len().min(self.n).min(self.data.len());
            buf[..k].copy_from_slice(&self.data[..k]);
            self.data = &self.data[k..];
            self.n -= k;
            Ok(k)
        }
    }

    fn count(dir: &std::path::Path) -> usize {
        fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
    }

    #[test]
    fn verified_layers_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let (blob, digest, diff_id) = layer();
        let mut seen = 0;
        store
            .pull_layer(
                &mut &blob[..],
                0,
                &digest,
                blob.len() as u64,
                &diff_id,
                &mut |n| seen = n,
            )
            .unwrap();
        assert_eq!(seen, blob.len() as u64);
        assert!(store.has_layer_diff(&diff_id));
        assert!(store.paths.blob(&digest).unwrap().exists());
        assert_eq!(count(&store.paths.tmp), 0);
    }

    #[test]
    fn corrupt_blobs_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let (mut blob, digest, diff_id) = layer();
        let mid = blob.len() / 2;
        blob[mid] ^= 0xff;
        let err = store
            .pull_layer(
                &mut &blob[..],
                0,
                &digest,
                blob.len() as u64,
                &diff_id,
                &mut |_| {},
            )
            .unwrap_err();
        assert!(err.to_string().contains("verification failed"), "{err}");
        assert!(!store.has_layer_diff(&diff_id));
        assert_eq!(count(&store.paths.blobs), 0);
        assert_eq!(count(&store.paths.layers), 0);
        assert_eq!(count(&store.paths.tmp), 0);
    }

    #[test]
    fn cut_downloads_resume_from_the_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let (blob, digest, diff_id) = layer();
        let size = blob.len() as u64;
        let half = blob.len() / 2;
        let err = store
            .pull_layer(
                &mut Cut {
                    data: &blob,
                    n: half,
                },
                0,
                &digest,
                size,
                &diff_id,
                &mut |_| {},
            )
            .unwrap_err();
        assert!(!store.has_layer_diff(&diff_id), "{err}");
        assert_eq!(store.partial_len(&digest), half as u64);
        // The rest, as a range request would return it.
        store
            .pull_layer(
                &mut &blob[half..],
                half as u64,
                &digest,
                size,
                &diff_id,
                &mut |_| {},
            )
            .unwrap();
        assert!(store.has_layer_diff(&diff_id));
        assert_eq!(store.partial_len(&digest), 0);
        // A short body (clean EOF) keeps the partial too.
        let dir2 = tempfile::tempdir().unwrap();
        let store2 = ImageStore::open(dir2.path()).unwrap();
        assert!(store2
            .pull_layer(&mut &blob[..half], 0, &digest, size, &diff_id, &mut |_| {})
            .is_err());
        assert_eq!(store2.partial_len(&digest), half as u64);
    }
}
