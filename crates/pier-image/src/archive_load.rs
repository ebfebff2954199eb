//! `docker load`: a `docker save` tar (manifest.json) or an OCI image layout
//! tar (index.json), plain or compressed. Everything is staged and verified
//! under `tmp/` first; nothing becomes visible unless all of it checks out.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};

use serde::Deserialize;
use serde_json::Value;
use tracing::debug;

use crate::commit::{NewImage, NewLayer, StagedBlob};
use crate::compress;
use crate::digest::{parse_sha256, HashingWriter};
use crate::error::{ImageError, IoContext, Result};
use crate::fsutil::StagingDir;
use crate::records::LoadOutcome;
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::unpack::clean_path;

/// Configs, manifests and indexes are small; refuse absurd ones before
/// reading them into memory.
const MAX_JSON: u64 = 32 << 20;
const MAX_LINK_HOPS: usize = 16;
const MAX_INDEX_DEPTH: usize = 4;

pub(crate) const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
pub(crate) const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The outer archive, unpacked as flat numbered files (never by its own
/// names, so its paths cannot reach anything).
struct Staged {
    dir: StagingDir,
    files: HashMap<String, StagedBlob>,
    links: HashMap<String, String>,
}

fn norm(path: &str) -> Option<String> {
    clean_path(path.as_bytes()).ok().map(|c| {
        c.iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/")
    })
}

impl Staged {
    fn read(src: &mut dyn Read, dir: StagingDir) -> Result<Staged> {
        let (plain, _) = compress::decompress(src)?;
        let mut archive = tar::Archive::new(plain);
        let mut staged = Staged {
            dir,
            files: HashMap::new(),
            links: HashMap::new(),
        };
        let bad = |e: std::io::Error| ImageError::bad(format!("reading archive: {e}"));
        for (n, entry) in archive.entries().map_err(bad)?.enumerate() {
            let mut entry = entry.map_err(bad)?;
            let raw = entry.path_bytes().into_owned();
            let Some(path) = norm(&String::from_utf8_lossy(&raw)) else {
                return Err(ImageError::bad(format!(
                    "invalid archive entry {:?}: outside of the archive (breakout)",
                    String::from_utf8_lossy(&raw)
                )));
            };
            let link = entry
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned());
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let file_path = staged.dir.path().join(format!("f{n}"));
                    let file = File::create(&file_path)
                        .ctx(|| format!("creating {}", file_path.display()))?;
                    let mut w = HashingWriter::new(std::io::BufWriter::new(file));
                    copy(&mut entry, &mut w, &path)?;
                    let (buf, digest, size) = w.finish();
                    buf.into_inner()
                        .map_err(|e| ImageError::io("writing staged blob", e.into_error()))?;
                    staged.files.insert(
                        path,
                        StagedBlob {
                            path: file_path,
                            digest,
                            size,
                        },
                    );
                }
                tar::EntryType::Symlink => {
                    if let Some(target) = link {
                        let base = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                        let joined = if target.starts_with('/') {
                            target
                        } else {
                            format!("{base}/{target}")
                        };
                        if let Some(t) = norm(&joined) {
                            staged.links.insert(path, t);
                        }
                    }
                }
                tar::EntryType::Link => {
                    if let Some(t) = link.as_deref().and_then(norm) {
                        staged.links.insert(path, t);
                    }
                }
                _ => {}
            }
        }
        Ok(staged)
    }

    fn blob(&self, path: &str) -> Result<&StagedBlob> {
        let mut p = norm(path)
            .ok_or_else(|| ImageError::bad(format!("invalid path {path:?} in manifest")))?;
        for _ in 0..MAX_LINK_HOPS {
            if let Some(b) = self.files.get(&p) {
                return Ok(b);
            }
            match self.links.get(&p) {
                Some(next) => p = next.clone(),
                None => break,
            }
        }
        Err(ImageError::bad(format!(
            "invalid archive: {path} not found in the archive"
        )))
    }

    /// A file named by a manifest.json path; in Docker 25+ archives those are
    /// `blobs/sha256/<hex>`, and then the content must match the name.
    fn named_blob(&self, path: &str) -> Result<&StagedBlob> {
        let b = self.blob(path)?;
        let hex = norm(path)
            .and_then(|p| p.strip_prefix("blobs/sha256/").map(str::to_string))
            .filter(|h| crate::digest::is_hex64(h));
        if let Some(hex) = hex {
            if b.digest != format!("sha256:{hex}") {
                return Err(ImageError::bad(format!(
                    "digest mismatch for blob {path}: content has {}",
                    b.digest
                )));
            }
        }
        Ok(b)
    }

    fn json_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let b = self.named_blob(path)?;
        if b.size > MAX_JSON {
            return Err(ImageError::bad(format!(
                "{path} is too large ({} bytes)",
                b.size
            )));
        }
        std::fs::read(&b.path).ctx(|| format!("reading staged {path}"))
    }

    /// An OCI blob by digest, checked against the digest (and size) that
    /// referenced it.
    fn oci_blob(&self, desc: &Descriptor) -> Result<&StagedBlob> {
        let hex = parse_sha256(&desc.digest)?;
        let b = self.blob(&format!("blobs/sha256/{hex}"))?;
        if b.digest != desc.digest {
            return Err(ImageError::bad(format!(
                "digest mismatch for blob {}: content has {}",
                desc.digest, b.digest
            )));
        }
        if desc.size.is_some_and(|s| s != b.size) {
            return Err(ImageError::bad(format!(
                "size mismatch for blob {}: expected {:?}, got {}",
                desc.digest, desc.size, b.size
            )));
        }
        Ok(b)
    }
}

fn copy(src: &mut dyn Read, dst: &mut dyn Write, what: &str) -> Result<()> {
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ImageError::bad(format!("reading {what} from archive: {e}"))),
        };
        dst.write_all(&buf[..n]).ctx(|| format!("staging {what}"))?;
    }
}

#[derive(Deserialize)]
struct ManifestItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
    #[serde(rename = "Parent", default)]
    parent: Option<String>,
}

#[derive(Deserialize, Clone)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize, Clone)]
struct Platform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

/// The parts of an image config the loader checks.
#[derive(Deserialize)]
struct MinimalConfig {
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    created: Option<String>,
    rootfs: MinimalRootFs,
}

#[derive(Deserialize)]
struct MinimalRootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// One image found in the archive, before verification.
struct Planned {
    config: Vec<u8>,
    created: Option<String>,
    diff_ids: Vec<String>,
    blobs: Vec<StagedBlob>,
    tags: Vec<Reference>,
    parent: Option<String>,
    manifest: Option<(String, Vec<u8>)>,
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| ImageError::bad(format!("invalid {what}: {e}")))
}

fn parse_config(bytes: &[u8]) -> Result<MinimalConfig> {
    let cfg: MinimalConfig = parse_json(bytes, "image config")?;
    if let Some(os) = cfg.os.as_deref().filter(|o| !o.is_empty() && *o != "linux") {
        return Err(ImageError::bad(format!("cannot load {os} image on linux")));
    }
    for d in &cfg.rootfs.diff_ids {
        parse_sha256(d)?;
    }
    Ok(cfg)
}

pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

fn plan_docker(staged: &Staged) -> Result<Vec<Planned>> {
    let bytes = staged.json_bytes("manifest.json")?;
    let items: Option<Vec<ManifestItem>> = parse_json(&bytes, "manifest.json")?;
    let items = items.ok_or_else(|| {
        ImageError::bad("invalid manifest, manifest cannot be null (but can be [])")
    })?;
    let mut out = Vec::new();
    for item in items {
        let config = staged.json_bytes(&item.config)?;
        let cfg = parse_config(&config)?;
        if item.layers.len() != cfg.rootfs.diff_ids.len() {
            return Err(ImageError::bad(format!(
                "invalid manifest, layers length mismatch: expected {}, got {}",
                item.layers.len(),
                cfg.rootfs.diff_ids.len()
            )));
        }
        let blobs = item
            .layers
            .iter()
            .map(|l| staged.named_blob(l).cloned())
            .collect::<Result<Vec<_>>>()?;
        let mut tags = Vec::new();
        for t in item.repo_tags.unwrap_or_default() {
            let r = Reference::parse(&t)?;
            if r.digest().is_some() {
                return Err(ImageError::bad(format!("invalid tag {t:?}")));
            }
            tags.push(r);
        }
        out.push(Planned {
            config,
            created: cfg.created,
            diff_ids: cfg.rootfs.diff_ids,
            blobs,
            tags,
            parent: item.parent.filter(|p| !p.is_empty()),
            manifest: None,
        });
    }
    Ok(out)
}

/// The tag an OCI index entry asks for, if it names a repository.
fn oci_tag(annotations: &HashMap<String, String>) -> Option<Reference> {
    if let Some(name) = annotations.get(ANNOTATION_IMAGE_NAME) {
        if let Ok(r) = Reference::parse(name) {
            return Some(r);
        }
    }
    // A bare tag ("latest") names no repository; only full references count.
    let name = annotations.get(ANNOTATION_REF_NAME)?;
    if name.contains(':') || name.contains('/') {
        return Reference::parse(name).ok();
    }
    None
}

fn is_index(desc: &Descriptor, doc: &Value) -> bool {
    desc.media_type.contains("index")
        || desc.media_type.contains("manifest.list")
        || doc.get("manifests").is_some()
}

fn plan_oci(staged: &Staged) -> Result<Vec<Planned>> {
    let index: Value = parse_json(&staged.json_bytes("index.json")?, "index.json")?;
    let manifests: Vec<Descriptor> = match index.get("manifests") {
        Some(m) => serde_json::from_value(m.clone())
            .map_err(|e| ImageError::bad(format!("invalid index.json: {e}")))?,
        None => return Err(ImageError::bad("invalid index.json: no manifests")),
    };
    let mut out: Vec<Planned> = Vec::new();
    for desc in manifests {
        let tag = oci_tag(&desc.annotations);
        let mut planned = plan_oci_descriptor(staged, &desc, 0)?;
        if let Some(existing) = out.iter_mut().find(|p| p.config == planned.config) {
            existing.tags.extend(tag);
            continue;
        }
        planned.tags.extend(tag);
        out.push(planned);
    }
    Ok(out)
}

fn plan_oci_descriptor(staged: &Staged, desc: &Descriptor, depth: usize) -> Result<Planned> {
    if depth > MAX_INDEX_DEPTH {
        return Err(ImageError::bad(
            "invalid OCI layout: indexes nested too deeply",
        ));
    }
    let blob = staged.oci_blob(desc)?;
    if blob.size > MAX_JSON {
        return Err(ImageError::bad(format!(
            "manifest {} is too large",
            desc.digest
        )));
    }
    let bytes = std::fs::read(&blob.path).ctx(|| format!("reading {}", desc.digest))?;
    let doc: Value = parse_json(&bytes, "manifest")?;
    if is_index(desc, &doc) {
        let children: Vec<Descriptor> =
            serde_json::from_value(doc.get("manifests").cloned().unwrap_or(Value::Null))
                .map_err(|e| ImageError::bad(format!("invalid index {}: {e}", desc.digest)))?;
        let arch = host_arch();
        let chosen = children
            .iter()
            .find(|c| {
                c.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == arch)
            })
            .or_else(|| match children.as_slice() {
                [only] if only.platform.is_none() => Some(only),
                _ => None,
            })
            .ok_or_else(|| {
                ImageError::bad(format!(
                    "no matching manifest for linux/{arch} in the manifest list entries"
                ))
            })?;
        return plan_oci_descriptor(staged, chosen, depth + 1);
    }
    let config_desc: Descriptor =
        serde_json::from_value(doc.get("config").cloned().unwrap_or(Value::Null)).map_err(|e| {
            ImageError::bad(format!("invalid manifest {}: config: {e}", desc.digest))
        })?;
    let layer_descs: Vec<Descriptor> =
        serde_json::from_value(doc.get("layers").cloned().unwrap_or(Value::Null)).map_err(|e| {
            ImageError::bad(format!("invalid manifest {}: layers: {e}", desc.digest))
        })?;
    let config_blob = staged.oci_blob(&config_desc)?;
    if config_blob.size > MAX_JSON {
        return Err(ImageError::bad("image config is too large"));
    }
    let config = std::fs::read(&config_blob.path).ctx(|| "reading config".to_string())?;
    let cfg = parse_config(&config)?;
    if layer_descs.len() != cfg.rootfs.diff_ids.len() {
        return Err(ImageError::bad(format!(
            "invalid manifest, layers length mismatch: expected {}, got {}",
            layer_descs.len(),
            cfg.rootfs.diff_ids.len()
        )));
    }
    let blobs = layer_descs
        .iter()
        .map(|l| staged.oci_blob(l).cloned())
        .collect::<Result<Vec<_>>>()?;
    Ok(Planned {
        config,
        created: cfg.created,
        diff_ids: cfg.rootfs.diff_ids,
        blobs,
        tags: Vec::new(),
        parent: None,
        manifest: Some((desc.digest.clone(), bytes)),
    })
}

impl ImageStore {
    /// `POST /images/load`: loads every image of a `docker save` or OCI
    /// layout tar. On any error nothing is left behind.
    pub fn load(&self, src: &mut dyn Read) -> Result<Vec<LoadOutcome>> {
        let staged = Staged::read(src, self.staging("load")?)?;
        let plans = if staged.files.contains_key("manifest.json") {
            plan_docker(&staged)?
        } else if staged.files.contains_key("index.json") {
            plan_oci(&staged)?
        } else {
            return Err(ImageError::bad(
                "invalid archive: neither manifest.json (docker save) nor index.json (OCI layout) found",
            ));
        };
        let mut layers: Vec<NewLayer> = Vec::new();
        for (n, p) in plans.iter().enumerate() {
            for (i, (diff_id, blob)) in p.diff_ids.iter().zip(&p.blobs).enumerate() {
                if layers.iter().any(|l| &l.diff_id == diff_id) {
                    continue;
                }
                let what = format!("layer {i} of image {n}");
                layers.push(self.ingest_layer(blob.clone(), diff_id, &what)?);
            }
        }
        let ids: Vec<String> = plans
            .iter()
            .map(|p| crate::digest::sha256_digest(&p.config))
            .collect();
        let images = plans
            .into_iter()
            .map(|p| NewImage {
                // Docker only keeps parent links between images of the same archive.
                parent: p.parent.filter(|par| ids.contains(par)),
                config: p.config,
                diff_ids: p.diff_ids,
                tags: p.tags,
                manifest: p.manifest,
                created: p.created,
            })
            .collect();
        let committed = self.commit(layers, images)?;
        drop(staged);
        let mut out = Vec::new();
        for c in committed {
            debug!("loaded image {}", c.record.id);
            if c.tags.is_empty() {
                out.push(LoadOutcome::Untagged {
                    id: c.record.id.clone(),
                });
            }
            for (reference, replaced) in c.tags {
                out.push(LoadOutcome::Tagged {
                    reference,
                    id: c.record.id.clone(),
                    replaced,
                });
            }
        }
        Ok(out)
    }
}
