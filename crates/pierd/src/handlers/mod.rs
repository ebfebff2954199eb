//! HTTP handlers, one module per API area.

pub mod attach;
pub mod containers;
pub mod distribution;
pub mod images;
pub mod logs;
pub mod system;
