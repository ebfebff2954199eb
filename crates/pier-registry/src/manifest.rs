//! Image manifests (Docker schema 2 and OCI) and manifest lists / OCI
//! indexes, with Docker's platform matching.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const SCHEMA1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// What pier accepts, in the `Accept` header of manifest requests.
pub const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageManifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestIndex {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_lowercase();
    let variant = variant.to_lowercase();
    match arch.as_str() {
        "x86_64" | "x86-64" => ("amd64".into(), String::new()),
        "i386" => ("386".into(), String::new()),
        "aarch64" | "arm64" => (
            "arm64".into(),
            if variant == "v8" {
                String::new()
            } else {
                variant
            },
        ),
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        _ => (arch, variant),
    }
}

impl Platform {
    /// linux and the host's architecture, Docker's default.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: String::new(),
        }
    }

    /// `os[/arch[/variant]]` or just an architecture, as containerd's
    /// `platforms.Parse`.
    pub fn parse(s: &str) -> Result<Platform, RegistryError> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            RegistryError::BadManifest(format!(
                "\"{s}\": unknown operating system or architecture: invalid argument"
            ))
        };
        if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(bad());
        }
        let host = Platform::host();
        let (os, arch, variant) = match parts.as_slice() {
            [one] if *one == "linux" || *one == "windows" || *one == "darwin" => {
                (one.to_string(), host.architecture, String::new())
            }
            [one] => ("linux".to_string(), one.to_string(), String::new()),
            [os, arch] => (os.to_string(), arch.to_string(), String::new()),
            [os, arch, v] => (os.to_string(), arch.to_string(), v.to_string()),
            _ => return Err(bad()),
        };
        let (architecture, variant) = normalize_arch(&arch, &variant);
        Ok(Platform {
            os: os.to_lowercase(),
            architecture,
            variant,
        })
    }

    /// Whether a manifest list entry runs on this (requested) platform.
    pub fn matches(&self, entry: &Platform) -> bool {
        let (arch, variant) = normalize_arch(&entry.architecture, &entry.variant);
        entry.os.eq_ignore_ascii_case(&self.os)
            && arch == self.architecture
            && (self.variant.is_empty() || variant == self.variant)
    }
}

/// A manifest as fetched: its bytes (the digest covers them exactly),
/// digest and parsed form.
#[derive(Debug, Clone)]
pub struct PulledManifest {
    pub bytes: Vec<u8>,
    pub digest: String,
    pub media_type: String,
    pub kind: ManifestKind,
}

#[derive(Debug, Clone)]
pub enum ManifestKind {
    Image(ImageManifest),
    Index(ManifestIndex),
}

impl PulledManifest {
    /// Parses by Content-Type, falling back to the body's `mediaType`.
    pub fn parse(
        bytes: Vec<u8>,
        content_type: &str,
        digest: String,
    ) -> Result<Self, RegistryError> {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(rename = "mediaType", default)]
            media_type: String,
            #[serde(rename = "schemaVersion", default)]
            schema_version: u32,
            #[serde(default)]
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::BadManifest(format!("invalid manifest: {e}")))?;
        let ct = content_type.split(';').next().unwrap_or_default().trim();
        let mut media_type = if probe.media_type.is_empty() {
            ct.to_string()
        } else {
            probe.media_type.clone()
        };
        if SCHEMA1.contains(&media_type.as_str()) || probe.schema_version == 1 {
            return Err(RegistryError::BadManifest(
                "Docker Image manifest version 2, schema 1 is not supported: push the image again with a newer client".into(),
            ));
        }
        let is_index = match media_type.as_str() {
            DOCKER_LIST | OCI_INDEX => true,
            DOCKER_MANIFEST | OCI_MANIFEST => false,
            // OCI allows omitting mediaType: decide by shape.
            _ => probe.manifests.is_some(),
        };
        let kind = if is_index {
            if media_type.is_empty() || !matches!(media_type.as_str(), DOCKER_LIST | OCI_INDEX) {
                media_type = OCI_INDEX.into();
            }
            ManifestKind::Index(
                serde_json::from_slice(&bytes).map_err(|e| {
                    RegistryError::BadManifest(format!("invalid manifest list: {e}"))
                })?,
            )
        } else {
            if media_type.is_empty()
                || !matches!(media_type.as_str(), DOCKER_MANIFEST | OCI_MANIFEST)
            {
                media_type = OCI_MANIFEST.into();
            }
            ManifestKind::Image(
                serde_json::from_slice(&bytes)
                    .map_err(|e| RegistryError::BadManifest(format!("invalid manifest: {e}")))?,
            )
        };
        Ok(PulledManifest {
            bytes,
            digest,
            media_type,
            kind,
        })
    }
}

impl ManifestIndex {
    /// The entry for `want`; attestation manifests (`unknown/unknown`) never match.
    pub fn select(&self, want: &Platform) -> Result<&Descriptor, RegistryError> {
        let candidates: Vec<&Descriptor> = self
            .manifests
            .iter()
            .filter(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
            .collect();
        // Without a requested variant prefer the entry without one (arm64 "v8").
        candidates
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| p.variant.is_empty()))
            .or_else(|| candidates.first())
            .copied()
            .ok_or_else(|| RegistryError::NoMatchingPlatform(want.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(os: &str, arch: &str, variant: &str, digest: &str) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: digest.into(),
            size: 1,
            urls: vec![],
            platform: Some(Platform {
                os: os.into(),
                architecture: arch.into(),
                variant: variant.into(),
            }),
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn platform_selection() {
        let idx = ManifestIndex {
            schema_version: 2,
            media_type: OCI_INDEX.into(),
            manifests: vec![
                entry("unknown", "unknown", "", "sha256:att"),
                entry("linux", "arm", "v7", "sha256:armv7"),
                entry("linux", "arm64", "v8", "sha256:arm64"),
                entry("linux", "amd64", "", "sha256:amd64"),
            ],
        };
        let p = |s: &str| Platform::parse(s).unwrap();
        assert_eq!(
            idx.select(&p("linux/amd64")).unwrap().digest,
            "sha256:amd64"
        );
        assert_eq!(
            idx.select(&p("linux/arm64")).unwrap().digest,
            "sha256:arm64"
        );
        assert_eq!(
            idx.select(&p("linux/arm64/v8")).unwrap().digest,
            "sha256:arm64"
        );
        assert_eq!(
            idx.select(&p("linux/arm/v7")).unwrap().digest,
            "sha256:armv7"
        );
        assert_eq!(
            idx.select(&p("linux/s390x")).unwrap_err().to_string(),
            "no matching manifest for linux/s390x in the manifest list entries"
        );
        assert!(Platform::parse("linux//x").is_err());
        assert_eq!(p("x86_64").to_string(), "linux/amd64");
    }

    #[test]
    fn parses_by_media_type_or_shape() {
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:c","size":2},"layers":[]}"#;
        let p = PulledManifest::parse(m.to_vec(), "application/octet-stream", "sha256:x".into())
            .unwrap();
        assert_eq!(p.media_type, OCI_MANIFEST);
        assert!(matches!(p.kind, ManifestKind::Image(_)));
        let i = br#"{"schemaVersion":2,"manifests":[]}"#;
        let p = PulledManifest::parse(i.to_vec(), DOCKER_LIST, "sha256:y".into()).unwrap();
        assert_eq!(p.media_type, DOCKER_LIST);
        assert!(matches!(p.kind, ManifestKind::Index(_)));
        let s1 = br#"{"schemaVersion":1,"name":"x"}"#;
        assert!(PulledManifest::parse(s1.to_vec(), "", "sha256:z".into()).is_err());
    }
}
