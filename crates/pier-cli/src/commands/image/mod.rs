//! Image verbs.

pub mod history;
pub mod list;
pub mod remove;
pub mod transfer;
