//! `docker save`: Docker 25+'s layout, which is at once a docker-archive
//! (manifest.json + repositories) and an OCI image layout (oci-layout,
//! index.json, blobs/sha256 with a manifest per image). Layers are written
//! as uncompressed tars named by their diff_id.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};

use serde_json::{json, Value};

use crate::archive_load::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME};
use crate::compress;
use crate::digest::{is_hex64, parse_sha256, sha256_digest, SHA256_PREFIX};
use crate::error::{ImageError, IoContext, Result};
use crate::records::ImageRecord;
use crate::reference::Reference;
use crate::store::{resolve, ImageStore};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// Fails instead of silently ending early: a short layer would corrupt the
/// tar stream (its header already promised the size).
struct Exact<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "layer data is shorter than recorded",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn header(size: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h
}

fn blob_path(digest: &str) -> Result<String> {
    Ok(format!("blobs/sha256/{}", parse_sha256(digest)?))
}

fn write_err(e: io::Error) -> ImageError {
    ImageError::io("writing the archive", e)
}

/// One image to save and the tags to save it under.
struct Selected {
    record: ImageRecord,
    tags: Vec<Reference>,
}

impl ImageStore {
    /// `GET /images/get`: writes the named images (tags, repositories or IDs)
    /// to `out` as one archive.
    pub fn save(&self, names: &[String], out: &mut dyn Write) -> Result<()> {
        if names.is_empty() {
            return Err(ImageError::InvalidArgument("no images specified".into()));
        }
        let selected = self.select(names)?;
        let mut builder = tar::Builder::new(out);
        builder.mode(tar::HeaderMode::Deterministic);
        for d in ["blobs/", "blobs/sha256/"] {
            builder
                .append_data(&mut header(0, true), d, io::empty())
                .map_err(write_err)?;
        }
        let ids: HashSet<String> = selected.iter().map(|s| s.record.id.clone()).collect();
        let mut written: HashSet<String> = HashSet::new();
        let mut manifest = Vec::new();
        let mut index = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for sel in &selected {
            let rec = &sel.record;
            let config = self.config_bytes(rec)?;
            if written.insert(rec.id.clone()) {
                append_bytes(&mut builder, &blob_path(&rec.id)?, &config)?;
            }
            let mut layer_descs = Vec::new();
            let mut layer_paths = Vec::new();
            for d in &rec.layers {
                let tar_size = self.write_layer(&mut builder, d, &mut written)?;
                layer_descs.push(json!({ "mediaType": OCI_LAYER, "digest": d, "size": tar_size }));
                layer_paths.push(blob_path(d)?);
            }
            let cfg: Value = serde_json::from_slice(&config).unwrap_or(Value::Null);
            let platform = json!({
                "architecture": cfg.get("architecture").cloned().unwrap_or(json!("amd64")),
                "os": cfg.get("os").cloned().unwrap_or(json!("linux")),
            });
            let oci_manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": { "mediaType": OCI_CONFIG, "digest": rec.id, "size": config.len() },
                "layers": layer_descs,
            }))
            .map_err(|e| ImageError::io("encoding manifest", io::Error::other(e)))?;
            let mdigest = sha256_digest(&oci_manifest);
            if written.insert(mdigest.clone()) {
                append_bytes(&mut builder, &blob_path(&mdigest)?, &oci_manifest)?;
            }
            let descriptor = |annotations: Option<Value>| {
                let mut d = json!({
                    "mediaType": OCI_MANIFEST,
                    "digest": mdigest,
                    "size": oci_manifest.len(),
                    "platform": platform,
                });
                if let (Some(a), Some(obj)) = (annotations, d.as_object_mut()) {
                    obj.insert("annotations".into(), a);
                }
                d
            };
            let mut repo_tags = Vec::new();
            for t in &sel.tags {
                let tag = t.tag().unwrap_or("latest").to_string();
                repo_tags.push(t.familiar());
                if let Some(top) = rec.layers.last() {
                    let hex = top.strip_prefix(SHA256_PREFIX).unwrap_or(top).to_string();
                    repositories
                        .entry(t.familiar_name())
                        .or_default()
                        .insert(tag.clone(), hex);
                }
                index.push(descriptor(Some(json!({
                    ANNOTATION_IMAGE_NAME: t.to_string(),
                    ANNOTATION_REF_NAME: tag,
                }))));
            }
            if sel.tags.is_empty() {
                index.push(descriptor(None));
            }
            let mut item = json!({
                "Config": blob_path(&rec.id)?,
                "RepoTags": if repo_tags.is_empty() { Value::Null } else { json!(repo_tags) },
                "Layers": layer_paths,
            });
            if let (Some(p), Some(obj)) = (
                rec.parent.as_ref().filter(|p| ids.contains(*p)),
                item.as_object_mut(),
            ) {
                obj.insert("Parent".into(), json!(p));
            }
            manifest.push(item);
        }
        let enc = |v: &Value| {
            serde_json::to_vec(v)
                .map_err(|e| ImageError::io("encoding archive metadata", io::Error::other(e)))
        };
        append_bytes(
            &mut builder,
            "index.json",
            &enc(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": index,
            }))?,
        )?;
        append_bytes(&mut builder, "manifest.json", &enc(&json!(manifest))?)?;
        append_bytes(
            &mut builder,
            "oci-layout",
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        if !repositories.is_empty() {
            append_bytes(&mut builder, "repositories", &enc(&json!(repositories))?)?;
        }
        builder.finish().map_err(write_err)?;
        Ok(())
    }

    /// Checks that `save(names, ..)` would find every name (a bare repository
    /// means all its tags, which `get` does not do), without writing anything:
    /// for answering 404 before a streamed response starts.
    pub fn check_save(&self, names: &[String]) -> Result<()> {
        if names.is_empty() {
            return Err(ImageError::InvalidArgument("no images specified".into()));
        }
        self.select(names).map(|_| ())
    }

    /// Streams one layer as an uncompressed tar (decompressing the stored
    /// blob if it was received compressed). Returns its size.
    fn write_layer(
        &self,
        builder: &mut tar::Builder<&mut dyn Write>,
        diff_id: &str,
        written: &mut HashSet<String>,
    ) -> Result<u64> {
        let layer = self.lock().layers.get(diff_id).cloned().ok_or_else(|| {
            ImageError::io(
                format!("layer {diff_id}"),
                io::Error::new(io::ErrorKind::NotFound, "layer is missing"),
            )
        })?;
        if !written.insert(diff_id.to_string()) {
            return Ok(layer.tar_size);
        }
        let path = self.paths.blob(&layer.blob_digest)?;
        let file = File::open(&path).ctx(|| format!("opening blob of layer {diff_id}"))?;
        let (plain, _) = compress::decompress(io::BufReader::new(file))?;
        let mut data = Exact {
            inner: plain,
            remaining: layer.tar_size,
        };
        builder
            .append_data(
                &mut header(layer.tar_size, false),
                blob_path(diff_id)?,
                &mut data,
            )
            .map_err(|e| ImageError::io(format!("writing layer {diff_id}"), e))?;
        Ok(layer.tar_size)
    }

    /// Docker's `parseNames`: IDs, `repo:tag`, `repo@digest`, or a bare
    /// repository meaning all of its tags.
    fn select(&self, names: &[String]) -> Result<Vec<Selected>> {
        let st = self.lock();
        let mut out: Vec<Selected> = Vec::new();
        let mut add = |id: String, tag: Option<Reference>| -> Result<()> {
            let pos = match out.iter().position(|s| s.record.id == id) {
                Some(p) => p,
                None => {
                    let record = st
                        .visible(&id)
                        .cloned()
                        .ok_or_else(|| ImageError::NotFound(id.clone()))?;
                    out.push(Selected {
                        record,
                        tags: Vec::new(),
                    });
                    out.len() - 1
                }
            };
            if let Some(t) = tag {
                if !out[pos].tags.contains(&t) {
                    out[pos].tags.push(t);
                }
            }
            Ok(())
        };
        for name in names {
            let looks_like_id = is_hex64(name) || name.starts_with(SHA256_PREFIX);
            match Reference::parse_named(name) {
                Ok(r) if !looks_like_id && r.is_name_only() => {
                    let tagged: Vec<(Reference, String)> = st
                        .refs
                        .iter()
                        .filter_map(|(k, id)| {
                            Reference::parse_named(k).ok().map(|p| (p, id.clone()))
                        })
                        .filter(|(p, _)| p.digest().is_none() && p.name() == r.name())
                        .collect();
                    if tagged.is_empty() {
                        add(resolve(&st, name)?, None)?;
                    }
                    for (p, id) in tagged {
                        add(id, Some(p))?;
                    }
                }
                Ok(r) if !looks_like_id => {
                    let id = resolve(&st, name)?;
                    let is_tag_ref = r.digest().is_none() && st.refs.contains_key(&r.familiar());
                    add(id, is_tag_ref.then_some(r))?;
                }
                _ => add(resolve(&st, name)?, None)?,
            }
        }
        Ok(out)
    }
}

fn append_bytes(
    builder: &mut tar::Builder<&mut dyn Write>,
    path: &str,
    bytes: &[u8],
) -> Result<()> {
    builder
        .append_data(&mut header(bytes.len() as u64, false), path, bytes)
        .map_err(write_err)
}
