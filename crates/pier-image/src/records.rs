//! The metadata files of the store (`images/<id>.json`, `layers/<diffid>.json`,
//! `repositories.json`) and the plain types the API hands out.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One image in the store. `repo_tags`/`repo_digests` mirror
/// `repositories.json`, which is the source of truth after a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// `sha256:<hex>` of the config JSON bytes.
    pub id: String,
    /// Same as `id` (Docker's image ID is the config digest); kept separate
    /// because the contract names both.
    pub config_digest: String,
    /// Familiar form, `busybox:latest`.
    #[serde(default)]
    pub repo_tags: Vec<String>,
    /// Familiar form, `busybox@sha256:...`.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// The config's `created` (RFC 3339), if any.
    #[serde(default)]
    pub created: Option<String>,
    /// Sum of the unpacked sizes of the layers.
    pub size: u64,
    /// diff_ids, bottom → top.
    #[serde(default)]
    pub layers: Vec<String>,
    /// Image this one was built/committed from (local only, like Docker's Parent).
    #[serde(default)]
    pub parent: Option<String>,
    /// Digest of the OCI manifest it was loaded with, if it came with one.
    #[serde(default)]
    pub manifest_digest: Option<String>,
    /// When it entered this store (RFC 3339).
    pub added: String,
    #[serde(default)]
    pub last_tag_time: Option<String>,
    /// Deleted by the user while a container still used it: invisible to every
    /// lookup, kept only so the container's layers stay on disk until
    /// [`crate::ImageStore::collect_garbage`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ghost: bool,
}

impl ImageRecord {
    /// Docker's 12-hex short ID.
    pub fn short_id(&self) -> String {
        crate::digest::short_id(&self.id)
    }
}

/// `layers/<diffid-hex>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    pub diff_id: String,
    /// Bytes of regular-file content once unpacked (Docker's layer size).
    pub size: u64,
    /// Length of the uncompressed tar, needed to stream it into a save.
    pub tar_size: u64,
    /// The blob as received (maybe compressed), under `blobs/sha256/`.
    pub blob_digest: String,
    pub blob_size: u64,
    pub media_type: String,
}

/// `repositories.json`: familiar reference (`busybox:latest` or
/// `busybox@sha256:...`) → image ID.
pub type Repositories = BTreeMap<String, String>;

/// What `load` did for one image; Display is Docker's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadOutcome {
    Tagged {
        reference: String,
        id: String,
        /// The image that had this tag before and lost it.
        replaced: Option<String>,
    },
    Untagged {
        id: String,
    },
}

impl LoadOutcome {
    pub fn id(&self) -> &str {
        match self {
            LoadOutcome::Tagged { id, .. } | LoadOutcome::Untagged { id } => id,
        }
    }

    /// Docker's extra line printed before "Loaded image" when a tag moved.
    pub fn notice(&self) -> Option<String> {
        match self {
            LoadOutcome::Tagged {
                reference,
                replaced: Some(old),
                ..
            } => Some(format!(
                "The image {reference} already exists, renaming the old one with ID {old} to empty string"
            )),
            _ => None,
        }
    }
}

impl fmt::Display for LoadOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadOutcome::Tagged { reference, .. } => write!(f, "Loaded image: {reference}"),
            LoadOutcome::Untagged { id } => write!(f, "Loaded image ID: {id}"),
        }
    }
}

/// What the unpacker did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    pub entries: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
    pub whiteouts: u64,
    /// Device nodes and other entries that were not created.
    pub skipped: u64,
}

/// Options of `docker import`.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `repo[:tag]` to tag the new image with.
    pub reference: Option<String>,
    /// Dockerfile-like lines (`CMD ["sh"]`, `ENV A=b`, ...), as `--change`.
    pub changes: Vec<String>,
    /// History/config comment; Docker uses "Imported from -" for stdin.
    pub message: Option<String>,
    /// `os/arch[/variant]`; default linux and the host architecture.
    pub platform: Option<String>,
}

/// Who uses an image, for Docker's delete-conflict rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    pub container_id: String,
    pub running: bool,
}
