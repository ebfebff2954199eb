//! Pier's volumes: the `local` driver.
//!
//! `VolumeStore` keeps each volume under `R/volumes/<name>/` – `_data` is
//! what containers mount, `volume.json` the record (written crash-safely:
//! temp file, fsync, rename; a new volume's directory is built under a
//! staging name and renamed into place). It tracks which containers
//! reference a volume (so `rm` refuses while any does) and which running
//! containers need a volume with driver options (`type=tmpfs`,
//! `type=none,o=bind`, any filesystem) mounted. `filters` applies Docker's
//! list and prune filters, `copy` implements copy-up and sizes, `api`
//! turns records into the Engine API's `Volume`.

pub mod api;
pub mod copy;
mod error;
pub mod filters;
pub mod imageview;
pub mod mountpoint;
pub mod options;
mod store;

pub use error::{Result, VolumeError};
pub use store::{
    CreateOptions, PruneReport, VolumeInfo, VolumeRecord, VolumeStore, ANONYMOUS_LABEL, DRIVER,
};
