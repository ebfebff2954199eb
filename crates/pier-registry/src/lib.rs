//! Pier's OCI distribution client: how pierd talks to registries.
//!
//! - [`endpoint`]: which host and scheme a reference goes to, Docker's
//!   insecure-registry rules (loopback is insecure by default), trust roots.
//! - [`auth`]: anonymous, HTTP basic and the Bearer token challenge flow.
//! - [`config_file`]: credentials in `~/.docker/config.json` and
//!   `docker-credential-*` helpers, read and written like the docker CLI.
//! - [`manifest`]: Docker schema 2 and OCI manifests, manifest lists and OCI
//!   indexes, platform selection.
//! - [`client`]: the registry API calls (ping, manifests, blobs with range
//!   resume, uploads, cross-repository mounts, tags).
//!
//! Storage is not this crate's business: blobs are handed out as byte
//! streams and pierd feeds them to `pier-image`, which verifies digests.

pub mod auth;
pub mod client;
pub mod config_file;
pub mod endpoint;
mod error;
pub mod fetch;
mod http;
pub mod manifest;
mod upload;

pub use auth::Credentials;
pub use client::{BlobStream, RegistryClient, UploadOutcome};
pub use endpoint::{RegistryHost, RegistryOptions};
pub use error::RegistryError;
pub use manifest::{Descriptor, ImageManifest, ManifestIndex, Platform, PulledManifest};
