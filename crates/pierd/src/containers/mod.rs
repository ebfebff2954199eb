//! Containers: records, names, the store, and their lifecycle.

pub mod config;
pub mod control;
mod error;
pub mod etcfiles;
pub mod health;
pub mod hostspec;
pub mod inspect;
pub mod lifecycle;
pub mod list;
pub mod logattrs;
pub mod logfile;
pub mod logrotated;
pub mod mounts;
pub mod names;
pub mod record;
pub mod recover;
pub mod restart;
pub mod signal;
mod store;
pub mod update;

pub use error::{ContainerError, IoContext};
pub use store::{atomic_write, AttachStart, Container, ContainerStore, PendingAttach};
