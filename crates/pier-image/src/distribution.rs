//! What pulling from registries needs from the store: verified ingestion
//! of downloaded layer blobs (with resumable partial downloads) and
//! registering an image from a pulled manifest and config. Pushing is in
//! `push_export.rs`.
//!
//! Files of their own, next to the store's:
//! - `tmp/pull-<hex>.part`: a partial download, appended to on resume and
//!   renamed into `blobs/` only once its digest is verified.
//! - `distribution/gzip/<diffid-hex>.json`: the gzip blob generated for a
//!   layer that only exists uncompressed, so later pushes reuse its digest.
//! - `distribution/sources.json`: blob digest → `registry/repository`s it is
//!   known to exist in (for cross-repository mounts).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;

use serde_json::Value;

use crate::commit::{NewImage, NewLayer, StagedBlob};
use crate::compress;
use crate::digest::{parse_sha256, HashingReader, TeeReader};
use crate::error::{ImageError, IoContext, Result};
use crate::records::ImageRecord;
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::unpack::LayerUnpacker;

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

/// Reads the chunks another thread sends, EOF when it hangs up.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    fn new(rx: std::sync::mpsc::Receiver<Vec<u8>>) -> Self {
        Self {
            rx,
            cur: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Counts bytes read, reporting to a callback.
pub(crate) struct Progress<'a, R> {
    pub inner: R,
    pub done: u64,
    pub report: &'a mut dyn FnMut(u64),
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
    pub(crate) fn distribution_dir(&self) -> PathBuf {
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
        // Two threads: this one reads, hashes and stores the blob; the
        // other decompresses, hashes and unpacks the tar as it arrives.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
        // Three threads: this one reads, hashes and stores the blob; one
        // decompresses; one hashes and unpacks the tar. Inflating is the
        // slowest step (~40% of a pull's CPU), so it gets a core of its own.
        let (plain_tx, plain_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
        let (result, finished) = std::thread::scope(|scope| {
            let decompressor = scope.spawn(move || -> Result<compress::Compression> {
                // The blob digest and the diff ID are both checked.
                let (mut plain, kind) = compress::decompress_digest_verified(
                    BufReader::with_capacity(256 * 1024, ChannelReader::new(rx)),
                )?;
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let n = match plain.read(&mut buf) {
                        Ok(0) => return Ok(kind),
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            return Err(ImageError::bad(format!("reading layer {digest}: {e}")))
                        }
                    };
                    if plain_tx.send(buf[..n].to_vec()).is_err() {
                        // The unpacker gave up; its error is the one to report.
                        return Ok(kind);
                    }
                }
            });
            let unpacker = scope.spawn(|| -> Result<(String, u64, NewLayer)> {
                let staged = self.staging("layer")?;
                let mut tar_hash = HashingReader::new(ChannelReader::new(plain_rx));
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
                        media_type: String::new(),
                        size: stats.bytes,
                        tar_size,
                    },
                ))
            });
            // Every byte counts towards the digest, so reading goes on
            // after the unpacker gave up (bad data).
            let mut buf = vec![0u8; 256 * 1024];
            let mut tx = Some(tx);
            let fed: io::Result<()> = loop {
                match blob_hash.read(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        if tx
                            .as_ref()
                            .is_some_and(|t| t.send(buf[..n].to_vec()).is_err())
                        {
                            tx = None;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => break Err(e),
                }
            };
            drop(tx);
            let kind = decompressor
                .join()
                .unwrap_or_else(|_| Err(ImageError::bad("layer decompressor panicked")));
            let result = unpacker
                .join()
                .unwrap_or_else(|_| Err(ImageError::bad("layer unpacker panicked")));
            // A corrupt stream also breaks the tar: the stream's error is
            // the cause.
            let result = kind.and_then(|kind| {
                result.map(|(d, n, mut layer)| {
                    layer.media_type = kind.layer_media_type().to_string();
                    (d, n, layer)
                })
            });
            (result, fed.and_then(|()| blob_hash.finish()))
        });
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
        // Durability comes later, in the background (see `writeback.rs`).
        drop(file);
        self.commit_layers_deferred(vec![layer])?;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_digest;
    use std::io::Write;

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
