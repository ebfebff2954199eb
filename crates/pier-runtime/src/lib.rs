//! What pierd needs to run a container without linking a container runtime:
//!
//! * [`build_spec`]: the OCI runtime spec (`config.json`) with Docker's defaults
//!   for a non-privileged container, from a plain [`SpecInput`];
//! * [`ShimConfig`] (`shim.json`), [`launch_shim`] and [`Launched`]: starting
//!   one `pier-shim` per container and waiting for its one-line answer;
//! * [`ShimConnection`] (+ [`ShimReader`] / [`ShimWriter`]): the async client of
//!   the shim's control socket, speaking the [`proto`] framing;
//! * [`ExitRecord`] / [`read_exit_record`]: the shim's `exit.json`;
//! * [`write_atomic`]: the crash-safe write used for every state file.
//!
//! The wire format and file formats are fixed in `docs/CONTRACTS.md`.

pub mod attach_warm;
pub mod cgroupfs;
mod client;
mod config;
mod error;
mod fsutil;
pub mod limits;
pub mod options;
pub mod proto;
pub mod seccomp;
pub mod security;
mod spec;
mod time;

pub use client::{launch_shim, Launched, ShimConnection, ShimReader, ShimWriter};
pub use config::{
    clear_volatile_mark, read_exit_record, ExitRecord, RootfsLayers, ShimConfig, MAX_SOCKET_PATH,
};
pub use error::RuntimeError;
pub use fsutil::{write_atomic, write_replace};
pub use proto::{
    ExecFailure, ExecSpec, ReadyAnswer, ShimEvent, ShimRequest, ShimState, StatusReply,
};
pub use spec::{
    build_spec, default_capabilities, write_spec_atomic, MountSpec, NetworkMode, SpecInput,
    DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, DEFAULT_SHM_SIZE, GROUP_ADD_ANNOTATION,
    INIT_PATH,
};
pub use time::{now_rfc3339_nanos, push_rfc3339_nanos, rfc3339_nanos};
