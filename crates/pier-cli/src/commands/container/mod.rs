//! Container verbs.

pub mod config;
pub mod create;
pub mod exec;
pub mod files;
pub mod lifecycle;
pub mod list;
pub mod logs;
pub mod manage;
pub mod opts;
pub mod run;
pub mod session;
pub mod start;
pub mod stats;
pub mod units;
pub mod update;
pub mod values;
