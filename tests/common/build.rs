//! Helpers of the `pier build` tests: context files, a plain-progress
//! build, and the check that it succeeded.

use std::path::Path;
use std::process::Output;

use super::{stderr, stdout, Daemon};

/// Writes `files` (path relative to `dir`, content) into a build context.
pub fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, content) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, content).unwrap();
    }
}

/// `pier build --progress plain [extra] dir`.
pub fn build(d: &Daemon, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["build", "--progress", "plain"];
    args.extend_from_slice(extra);
    let dir = dir.to_str().unwrap().to_string();
    args.push(&dir);
    d.pier(&args)
}

/// The build's progress (stderr), after asserting that it succeeded.
#[track_caller]
pub fn built(o: Output) -> String {
    assert!(
        o.status.success(),
        "build failed ({:?}): stdout={} stderr={}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stderr(&o)
}
