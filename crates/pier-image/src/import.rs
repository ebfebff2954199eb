//! `docker import` and the image-creating entry points later features use
//! (commit, build).

use std::fs::File;
use std::path::PathBuf;

use oci_spec::image::ImageConfiguration;
use pier_api::models::ImageConfig;
use serde_json::{json, Value};

use crate::archive_load::host_arch;
use crate::changes::apply_changes;
use crate::commit::{NewImage, NewLayer};
use crate::digest::parse_sha256;
use crate::error::{ImageError, IoContext, Result};
use crate::records::{ImageRecord, ImportOptions};
use crate::reference::Reference;
use crate::store::ImageStore;

const DEFAULT_IMPORT_MESSAGE: &str = "Imported from -";

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// `os/arch[/variant]`, defaulting to linux and the host architecture.
fn parse_platform(p: Option<&str>) -> Result<(String, String, Option<String>)> {
    let Some(p) = p.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(("linux".into(), host_arch().into(), None));
    };
    let parts: Vec<&str> = p.split('/').collect();
    let (os, arch, variant) = match parts.as_slice() {
        [os] => (*os, host_arch(), None),
        [os, arch] => (*os, *arch, None),
        [os, arch, v] => (*os, *arch, Some(v.to_string())),
        _ => {
            return Err(ImageError::InvalidArgument(format!(
                "invalid platform {p:?}"
            )))
        }
    };
    if os != "linux" {
        return Err(ImageError::InvalidArgument(format!(
            "operating system {os:?} is not supported, only linux"
        )));
    }
    let arch = match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    Ok((os.into(), arch.into(), variant))
}

fn encode(v: &impl serde::Serialize, what: &str) -> Result<Vec<u8>> {
    serde_json::to_vec(v)
        .map_err(|e| ImageError::io(format!("encoding {what}"), std::io::Error::other(e)))
}

impl ImageStore {
    /// `POST /images/create?fromSrc=-`: a rootfs tar (plain, gzip, zstd or
    /// bzip2) becomes a one-layer image.
    pub fn import(&self, src: &mut dyn std::io::Read, opts: ImportOptions) -> Result<ImageRecord> {
        let tag = match opts.reference.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => {
                let r = Reference::parse(r)?;
                if r.digest().is_some() {
                    return Err(ImageError::InvalidArgument(
                        "refusing to create a tag with a digest reference".into(),
                    ));
                }
                Some(r)
            }
            None => None,
        };
        let (os, arch, variant) = parse_platform(opts.platform.as_deref())?;
        let config = apply_changes(ImageConfig::default(), &opts.changes)?;
        let message = opts
            .message
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| DEFAULT_IMPORT_MESSAGE.to_string());
        let layer = self.ingest_stream(src)?;
        let created = now();
        let mut cfg = json!({
            "architecture": arch,
            "comment": message,
            "config": config,
            "created": created,
            "history": [{ "created": created, "comment": message }],
            "os": os,
            "rootfs": { "type": "layers", "diff_ids": [layer.diff_id] },
        });
        if let (Some(v), Some(obj)) = (variant, cfg.as_object_mut()) {
            obj.insert("variant".into(), json!(v));
        }
        let bytes = encode(&cfg, "image config")?;
        let diff_id = layer.diff_id.clone();
        let committed = self.commit(
            vec![layer],
            vec![NewImage {
                config: bytes,
                diff_ids: vec![diff_id],
                tags: tag.into_iter().collect(),
                parent: None,
                manifest: None,
                created: Some(created),
            }],
        )?;
        committed
            .into_iter()
            .next()
            .map(|c| c.record)
            .ok_or_else(|| ImageError::io("import", std::io::Error::other("nothing committed")))
    }

    /// Registers a new image made of the layers already listed in
    /// `config.rootfs.diff_ids` (which must be in the store) plus
    /// `new_layer_tars` (uncompressed tars, appended in order; their
    /// diff_ids are computed and added to the config). For commit/build.
    pub fn create_image(
        &self,
        config: ImageConfiguration,
        new_layer_tars: Vec<PathBuf>,
    ) -> Result<ImageRecord> {
        let value = serde_json::to_value(&config)
            .map_err(|e| ImageError::io("encoding image config", std::io::Error::other(e)))?;
        self.create_image_json(value, new_layer_tars, None)
    }

    /// Like [`create_image`](Self::create_image) with the config as raw JSON,
    /// which keeps Docker-only fields (Healthcheck, OnBuild, Shell) that the
    /// OCI type drops, and records `parent` (Docker's local parent chain,
    /// used by `history` and the dependent-child delete rule).
    pub fn create_image_json(
        &self,
        mut config: Value,
        new_layer_tars: Vec<PathBuf>,
        parent: Option<&str>,
    ) -> Result<ImageRecord> {
        let parent = match parent {
            Some(p) => Some(self.get(p)?.id),
            None => None,
        };
        let mut diff_ids: Vec<String> = match config.pointer("/rootfs/diff_ids") {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                ImageError::InvalidArgument(format!("invalid rootfs.diff_ids: {e}"))
            })?,
            None => Vec::new(),
        };
        for d in &diff_ids {
            parse_sha256(d)?;
            if !self.has_layer(d) {
                return Err(ImageError::InvalidArgument(format!(
                    "base layer {d} is not in the store"
                )));
            }
        }
        let mut layers: Vec<NewLayer> = Vec::new();
        for path in &new_layer_tars {
            let mut f = File::open(path).ctx(|| format!("opening {}", path.display()))?;
            let layer = self.ingest_stream(&mut f)?;
            diff_ids.push(layer.diff_id.clone());
            layers.push(layer);
        }
        let obj = config.as_object_mut().ok_or_else(|| {
            ImageError::InvalidArgument("image config must be a JSON object".into())
        })?;
        obj.insert(
            "rootfs".into(),
            json!({ "type": "layers", "diff_ids": diff_ids }),
        );
        let created = match obj.get("created").and_then(Value::as_str) {
            Some(c) => c.to_string(),
            None => {
                let c = now();
                obj.insert("created".into(), json!(c));
                c
            }
        };
        obj.entry("architecture")
            .or_insert_with(|| json!(host_arch()));
        obj.entry("os").or_insert_with(|| json!("linux"));
        let bytes = encode(&config, "image config")?;
        let committed = self.commit(
            layers,
            vec![NewImage {
                config: bytes,
                diff_ids,
                tags: Vec::new(),
                parent,
                manifest: None,
                created: Some(created),
            }],
        )?;
        committed
            .into_iter()
            .next()
            .map(|c| c.record)
            .ok_or_else(|| {
                ImageError::io("create image", std::io::Error::other("nothing committed"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        assert_eq!(parse_platform(None).unwrap().0, "linux");
        let (_, arch, v) = parse_platform(Some("linux/arm/v7")).unwrap();
        assert_eq!((arch.as_str(), v.as_deref()), ("arm", Some("v7")));
        assert!(parse_platform(Some("windows/amd64")).is_err());
    }
}
