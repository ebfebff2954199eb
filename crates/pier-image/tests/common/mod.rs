//! Builders for the archives the tests feed the store: layer tars written
//! with raw headers (so hostile names really are in them), docker-save and
//! OCI layout tars, and a snapshot of a directory tree for "nothing changed"
//! checks.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap()
}

/// One entry of a hand-made tar.
#[derive(Clone)]
pub struct Entry {
    pub path: Vec<u8>,
    pub kind: tar::EntryType,
    pub data: Vec<u8>,
    pub link: Vec<u8>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub device: Option<(u32, u32)>,
    pub pax: Vec<(String, Vec<u8>)>,
}

impl Entry {
    fn new(path: &str, kind: tar::EntryType, mode: u32) -> Self {
        Entry {
            path: path.as_bytes().to_vec(),
            kind,
            data: Vec::new(),
            link: Vec::new(),
            mode,
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            device: None,
            pax: Vec::new(),
        }
    }

    pub fn dir(path: &str) -> Self {
        Self::new(path, tar::EntryType::Directory, 0o755)
    }

    pub fn file(path: &str, data: &[u8]) -> Self {
        let mut e = Self::new(path, tar::EntryType::Regular, 0o644);
        e.data = data.to_vec();
        e
    }

    pub fn symlink(path: &str, target: &str) -> Self {
        let mut e = Self::new(path, tar::EntryType::Symlink, 0o777);
        e.link = target.as_bytes().to_vec();
        e
    }

    pub fn hardlink(path: &str, target: &str) -> Self {
        let mut e = Self::new(path, tar::EntryType::Link, 0o644);
        e.link = target.as_bytes().to_vec();
        e
    }

    pub fn char_dev(path: &str, major: u32, minor: u32) -> Self {
        let mut e = Self::new(path, tar::EntryType::Char, 0o666);
        e.device = Some((major, minor));
        e
    }

    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    pub fn owner(mut self, uid: u64, gid: u64) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    pub fn mtime(mut self, t: u64) -> Self {
        self.mtime = t;
        self
    }

    pub fn xattr(mut self, name: &str, value: &[u8]) -> Self {
        self.pax
            .push((format!("SCHILY.xattr.{name}"), value.to_vec()));
        self
    }
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // "<len> key=value\n" where len counts itself.
    let body = 1 + key.len() + 1 + value.len() + 1;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

/// A tar made from raw headers: names go in byte for byte, `..` and all.
pub fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        if !e.pax.is_empty() {
            let mut data = Vec::new();
            for (k, v) in &e.pax {
                data.extend(pax_record(k, v));
            }
            let mut h = tar::Header::new_ustar();
            h.as_old_mut().name[..9].copy_from_slice(b"PaxHeader");
            h.set_entry_type(tar::EntryType::XHeader);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, &data[..]).unwrap();
        }
        let mut h = tar::Header::new_gnu();
        assert!(
            e.path.len() <= 100 && e.link.len() <= 100,
            "test names must fit the header"
        );
        h.as_old_mut().name[..e.path.len()].copy_from_slice(&e.path);
        h.as_old_mut().linkname[..e.link.len()].copy_from_slice(&e.link);
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(e.data.len() as u64);
        if let Some((maj, min)) = e.device {
            h.set_device_major(maj).unwrap();
            h.set_device_minor(min).unwrap();
        }
        h.set_cksum();
        b.append(&h, &e.data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).unwrap()
}

/// A minimal Docker image config for `layers` (uncompressed tars).
pub fn config_for(layers: &[&[u8]], cmd: &[&str], created: &str) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    let history: Vec<Value> = layers
        .iter()
        .enumerate()
        .map(|(i, _)| json!({"created": created, "created_by": format!("layer {i}")}))
        .chain(std::iter::once(
            json!({"created": created, "created_by": "CMD", "empty_layer": true}),
        ))
        .collect();
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {"Cmd": cmd, "Env": ["PATH=/bin"], "Labels": {"test": "yes"}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }))
    .unwrap()
}

/// Files for an outer archive, by name.
pub type Files = Vec<(String, Vec<u8>)>;

pub fn archive(files: &Files) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// One image for a docker-save archive: config, stored layer blobs (maybe
/// compressed) and tags.
pub struct SaveImage {
    pub config: Vec<u8>,
    pub layer_blobs: Vec<Vec<u8>>,
    pub tags: Vec<String>,
}

/// Legacy (`<id>/layer.tar`) docker-save layout.
pub fn docker_save(images: &[SaveImage]) -> Vec<u8> {
    let mut files: Files = Vec::new();
    let mut manifest = Vec::new();
    for img in images {
        let id = sha256(&img.config);
        let cfg_name = format!("{}.json", hex_of(&id));
        files.push((cfg_name.clone(), img.config.clone()));
        let mut layers = Vec::new();
        for blob in &img.layer_blobs {
            let name = format!("{}/layer.tar", &hex_of(&sha256(blob))[..16]);
            if !files.iter().any(|(n, _)| n == &name) {
                files.push((name.clone(), blob.clone()));
            }
            layers.push(name);
        }
        manifest.push(json!({"Config": cfg_name, "RepoTags": img.tags, "Layers": layers}));
    }
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    archive(&files)
}

pub fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": sha256(bytes), "size": bytes.len()})
}

pub fn oci_manifest(config: &[u8], layer_blobs: &[Vec<u8>], layer_type: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": layer_blobs.iter().map(|b| descriptor(layer_type, b)).collect::<Vec<_>>(),
    }))
    .unwrap()
}

pub fn blob_file(bytes: &[u8]) -> (String, Vec<u8>) {
    (
        format!("blobs/sha256/{}", hex_of(&sha256(bytes))),
        bytes.to_vec(),
    )
}

/// Everything observable about a tree: type, mode, owner, size, content,
/// link target, mtime, by relative path.
pub fn snapshot(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let detail = if m.file_type().is_symlink() {
                format!("link->{}", fs::read_link(&p).unwrap().display())
            } else if m.is_file() {
                format!("file:{}", sha256(&fs::read(&p).unwrap()))
            } else {
                "dir".to_string()
            };
            out.insert(
                rel,
                format!(
                    "{detail} mode={:o} {}:{} nlink={} mtime={}",
                    m.mode(),
                    m.uid(),
                    m.gid(),
                    m.nlink(),
                    m.mtime()
                ),
            );
            if m.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Files under `dir` (recursively), for "left nothing behind" checks.
pub fn count_files(dir: &Path) -> usize {
    if !dir.exists() {
        return 0;
    }
    snapshot(dir).len()
}
