//! Pier's image store: content-addressed blobs, safely unpacked layers,
//! `docker save`/OCI load and save, import and Docker's tag/remove rules.
//! See docs/CONTRACTS.md ("pier-image").

mod archive_load;
mod archive_save;
mod changes;
mod commit;
mod compress;
pub mod digest;
mod distribution;
mod error;
mod fsutil;
mod gzip_members;
mod import;
mod push_export;
mod query;
pub mod records;
pub mod reference;
mod remove;
mod store;
mod unpack;
mod writeback;

pub use changes::apply_changes;
pub use error::ImageError;
pub use push_export::{build_manifest, PushImage, PushLayer};
pub use records::{ImageRecord, ImageUser, ImportOptions, LayerRecord, LoadOutcome, UnpackStats};
pub use store::ImageStore;
pub use unpack::LayerUnpacker;
