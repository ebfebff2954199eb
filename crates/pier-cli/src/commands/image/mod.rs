//! Image verbs.

pub mod history;
pub mod list;
pub mod login;
pub mod progress_tty;
pub mod pull;
pub mod push;
pub mod registry_auth;
pub mod remove;
pub mod transfer;
