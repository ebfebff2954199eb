//! Image verbs.

pub mod build;
pub mod build_context;
pub mod build_progress;
pub mod build_secrets;
pub mod build_tty;
pub mod history;
pub mod list;
pub mod login;
pub mod progress_tty;
pub mod pull;
pub mod push;
pub mod registry_auth;
pub mod remove;
pub mod transfer;
