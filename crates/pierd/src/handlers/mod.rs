//! HTTP handlers, one module per API area.

pub mod attach;
pub mod build;
pub mod containers;
pub mod images;
pub mod logs;
pub mod system;
