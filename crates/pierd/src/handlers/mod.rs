//! HTTP handlers, one module per API area.

pub mod attach;
pub mod build;
pub mod build_hooks;
pub mod containers;
pub mod distribution;
pub mod events;
pub mod exec;
pub mod fs;
pub mod images;
pub mod logs;
pub mod ops;
pub mod prune;
pub mod system;
pub mod update;
pub mod volumes;
