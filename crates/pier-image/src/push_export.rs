//! What pushing needs from the store: an image's manifest, config and
//! compressed layer blobs (a gzip blob is generated for layers stored
//! uncompressed, its digest remembered in `distribution/gzip/<diffid>.json`
//! so later pushes of the same layer can skip it), and the record of which
//! repositories hold which blobs (`distribution/sources.json`), used for
//! cross-repository mounts.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::compress::{self, Compression};
use crate::digest::{parse_sha256, HashingWriter};
use crate::distribution::Progress;
use crate::error::{ImageError, IoContext, Result};
use crate::fsutil::{atomic_write_json, StagingDir};
use crate::records::ImageRecord;
use crate::store::ImageStore;

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
    /// Size of the uncompressed tar (progress of a streamed compression).
    pub tar_size: u64,
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

impl ImageStore {
    /// Records `repo@digest` for image `id` after a push, as Docker lists
    /// pushed manifests in RepoDigests.
    pub fn add_repo_digest(
        &self,
        id: &str,
        repo_at_digest: &crate::reference::Reference,
    ) -> Result<()> {
        let mut st = self.lock();
        if st.visible(id).is_none() {
            return Err(ImageError::NotFound(id.to_string()));
        }
        self.set_ref_locked(&mut st, &repo_at_digest.familiar(), id)?;
        atomic_write_json(&self.paths.repositories, &st.refs)
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
                    tar_size: l.tar_size,
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
                tar_size: l.tar_size,
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
                tar_size: 0,
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
        let staged = self.staging("push")?;
        let out = staged.path().join("layer.tar.gz");
        let file = File::create(&out).ctx(|| format!("creating {}", out.display()))?;
        let mut w = io::BufWriter::with_capacity(256 * 1024, file);
        self.gzip_layer_into(layer, &mut w, progress)?;
        w.flush().ctx(|| "writing gzip blob".into())?;
        layer.path = out;
        layer._generated = Some(staged);
        Ok(())
    }

    /// Writes the gzip blob of an uncompressed layer to `out` as it is
    /// produced (a push streams it straight into the upload), fills in
    /// `layer`'s digest, size and media type, and remembers the digest.
    /// `progress` gets the number of uncompressed bytes consumed.
    pub fn gzip_layer_into(
        &self,
        layer: &mut PushLayer,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let rec = {
            let st = self.lock();
            st.layers
                .get(&layer.diff_id)
                .cloned()
                .ok_or_else(|| ImageError::bad(format!("layer {} is missing", layer.diff_id)))?
        };
        let src = self.paths.blob(&rec.blob_digest)?;
        let input = File::open(&src).ctx(|| format!("opening {}", src.display()))?;
        let (plain, _) = compress::decompress(BufReader::with_capacity(256 * 1024, input))?;
        let mut counted = Progress {
            inner: plain,
            done: 0,
            report: progress,
        };
        let mut hashing = HashingWriter::new(out);
        parallel_gzip(&mut counted, &mut hashing)
            .ctx(|| format!("compressing layer {}", layer.diff_id))?;
        let (_, digest, size) = hashing.finish();
        layer.digest = digest.clone();
        layer.size = size;
        layer.media_type = DOCKER_LAYER_GZIP.into();
        let dir = self.distribution_dir().join("gzip");
        fs::create_dir_all(&dir).ctx(|| "creating distribution dir".into())?;
        let hex = parse_sha256(&layer.diff_id)?;
        // Not fsynced: it is a cache, and a lost record only costs a
        // recompression that yields the same digest.
        let bytes = serde_json::to_vec(&GzipRecord { digest, size })
            .map_err(|e| ImageError::bad(format!("encoding gzip record: {e}")))?;
        let path = dir.join(format!("{hex}.json"));
        let tmp = dir.join(format!(".{hex}.{}.tmp", crate::fsutil::random_suffix()));
        fs::write(&tmp, bytes)
            .and_then(|()| fs::rename(&tmp, &path))
            .ctx(|| format!("writing {}", path.display()))
    }
}

/// Bytes of tar per gzip member. Fixed, so the output (and its digest) does
/// not depend on the number of threads.
const GZIP_CHUNK: usize = 4 << 20;

fn gzip_member(chunk: &[u8]) -> io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(chunk.len() / 2 + 64),
        flate2::Compression::fast(),
    );
    gz.write_all(chunk)?;
    gz.finish()
}

/// Reads up to one chunk; a short chunk means end of input.
fn read_chunk(input: &mut dyn io::Read) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(GZIP_CHUNK);
    io::Read::read_to_end(
        &mut io::Read::take(&mut *input, GZIP_CHUNK as u64),
        &mut buf,
    )?;
    Ok(buf)
}

/// pigz-style gzip: chunks compressed on all cores, written in order as
/// concatenated gzip members (a valid gzip stream: Go's, zlib's and our
/// readers all read multi-member files). Reading, compressing and writing
/// overlap: this thread reads ahead and writes finished members in order
/// while the workers compress, at most two chunks per worker in flight.
fn parallel_gzip(input: &mut dyn io::Read, out: &mut dyn Write) -> io::Result<()> {
    use std::collections::BTreeMap;
    use std::sync::mpsc;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    std::thread::scope(|s| {
        let (work_tx, work_rx) = mpsc::sync_channel::<(usize, Vec<u8>)>(threads);
        let work_rx = std::sync::Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = mpsc::channel::<(usize, io::Result<Vec<u8>>)>();
        for _ in 0..threads {
            let (rx, tx) = (work_rx.clone(), done_tx.clone());
            s.spawn(move || loop {
                let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok((i, chunk)) = job else { break };
                if tx.send((i, gzip_member(&chunk))).is_err() {
                    break;
                }
            });
        }
        drop(done_tx);
        let (mut sent, mut written, mut eof) = (0usize, 0usize, false);
        let mut ready: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
        let res = loop {
            while !eof && sent - written < 2 * threads {
                let chunk = read_chunk(input)?;
                eof = chunk.len() < GZIP_CHUNK;
                // An empty layer is still one gzip member.
                if chunk.is_empty() && sent > 0 {
                    break;
                }
                if work_tx.send((sent, chunk)).is_err() {
                    return Err(io::Error::other("gzip workers stopped"));
                }
                sent += 1;
            }
            if written == sent {
                break Ok(());
            }
            match done_rx.recv() {
                Ok((i, Ok(c))) => {
                    ready.insert(i, c);
                }
                Ok((_, Err(e))) => break Err(e),
                Err(_) => break Err(io::Error::other("gzip worker panicked")),
            }
            while let Some(c) = ready.remove(&written) {
                out.write_all(&c)?;
                written += 1;
            }
        };
        drop(work_tx);
        res
    })
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
    use std::io::Read;

    #[test]
    fn parallel_gzip_is_one_readable_deterministic_stream() {
        for len in [0usize, 10, GZIP_CHUNK, GZIP_CHUNK * 3 + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let mut a = Vec::new();
            parallel_gzip(&mut &data[..], &mut a).unwrap();
            let mut b = Vec::new();
            parallel_gzip(&mut &data[..], &mut b).unwrap();
            assert_eq!(a, b);
            let mut back = Vec::new();
            flate2::read::MultiGzDecoder::new(&a[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data);
        }
    }
}
