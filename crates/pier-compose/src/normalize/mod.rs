//! The merged tree to the model: every short syntax to its long form, paths
//! made absolute, sizes and durations parsed, unknown keys rejected.

pub mod ports;
pub mod service;
pub mod service_parts;
pub mod top_level;
pub mod values;
pub mod volumes;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

/// What normalisation needs besides the tree.
pub struct Context<'a> {
    /// Relative paths are resolved against it.
    pub project_dir: PathBuf,
    /// Interpolation environment (`.env` under the process environment):
    /// fills `environment:` entries written without a value.
    pub env: &'a IndexMap<String, String>,
    pub warnings: Vec<String>,
}

impl Context<'_> {
    /// A host path as written (`./data`, `~/x`, `/abs`) made absolute.
    pub fn host_path(&self, path: &str) -> PathBuf {
        resolve_host_path(&self.project_dir, path, self.env)
    }
}

pub fn resolve_host_path(base: &Path, path: &str, env: &IndexMap<String, String>) -> PathBuf {
    if path == "~" || path.starts_with("~/") {
        if let Some(home) = env.get("HOME") {
            return crate::discover::clean(
                &Path::new(home).join(path.trim_start_matches(['~', '/'])),
            );
        }
    }
    crate::discover::absolute(base, Path::new(path))
}
