//! Image verbs.

pub mod history;
pub mod list;
pub mod pull;
pub mod remove;
pub mod transfer;
