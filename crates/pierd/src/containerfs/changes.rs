//! `docker diff`: the RW layer (overlay upper dir) read as Docker's change
//! list: `A` (not in any lower layer), `C` (in a lower layer), `D` (an
//! overlay whiteout). Mount points the runtime created are not changes.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, OFlags};
use serde::Serialize;

/// Docker's `Kind`: 0 modified, 1 added, 2 deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: Kind,
    pub is_dir: bool,
}

impl Change {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "Path": self.path, "Kind": self.kind as u8 })
    }
}

/// Whether `path` exists in the layer rooted at `root` (resolving links
/// inside that layer only).
fn in_layer(root: &Path, path: &str) -> bool {
    let Ok(fd) = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY,
        rustix::fs::Mode::empty(),
    ) else {
        return false;
    };
    let (parent, name) = match path.rsplit_once('/') {
        Some((p, n)) => (if p.is_empty() { "/" } else { p }, n),
        None => ("/", path),
    };
    let Ok(dir) = super::open_in(&fd, parent, OFlags::PATH | OFlags::DIRECTORY) else {
        return false;
    };
    rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok()
}

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(p: &Path) -> bool {
    let mut buf = [0u8; 4];
    matches!(
        rustix::fs::lgetxattr(p, "trusted.overlay.opaque", &mut buf),
        Ok(1) if buf[0] == b'y'
    )
}

fn walk(dir: &Path, prefix: &str, lowers: &[PathBuf], below_opaque: bool, out: &mut Vec<Change>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = format!("{prefix}/{name}");
        let Ok(m) = e.path().symlink_metadata() else {
            continue;
        };
        if is_whiteout(&m) {
            out.push(Change {
                path,
                kind: Kind::Deleted,
                is_dir: false,
            });
            continue;
        }
        let existed = !below_opaque && lowers.iter().any(|l| in_layer(l, &path));
        out.push(Change {
            path: path.clone(),
            kind: if existed { Kind::Modified } else { Kind::Added },
            is_dir: m.is_dir(),
        });
        if m.is_dir() {
            let opaque = below_opaque || is_opaque(&e.path());
            walk(&e.path(), &path, lowers, opaque, out);
        }
    }
}

/// The changes in `upper` over `lowers`, without `skip` (mount points)
/// and without directories that only changed because of skipped entries.
pub fn changes(upper: &Path, lowers: &[PathBuf], skip: &[String]) -> Vec<Change> {
    let mut all = Vec::new();
    walk(upper, "", lowers, false, &mut all);
    let skipped = |p: &str| {
        skip.iter()
            .any(|s| p == s || p.starts_with(&format!("{s}/")))
    };
    let kept: Vec<Change> = all.into_iter().filter(|c| !skipped(&c.path)).collect();
    let mut out: Vec<Change> = kept
        .iter()
        .filter(|c| {
            !(c.is_dir && c.kind == Kind::Modified)
                || kept
                    .iter()
                    .any(|o| o.path.starts_with(&format!("{}/", c.path)))
        })
        .cloned()
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_changed_deleted() {
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(lower.path().join("etc")).unwrap();
        std::fs::write(lower.path().join("etc/passwd"), "x").unwrap();
        std::fs::write(lower.path().join("etc/gone"), "x").unwrap();
        std::fs::create_dir_all(upper.path().join("etc")).unwrap();
        std::fs::write(upper.path().join("etc/passwd"), "y").unwrap();
        std::fs::write(upper.path().join("etc/hostname"), "").unwrap();
        std::fs::create_dir_all(upper.path().join("new/sub")).unwrap();
        std::fs::write(upper.path().join("new/sub/f"), "").unwrap();
        let wh = upper.path().join("etc/gone");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &wh,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let got: Vec<(String, Kind)> = changes(
            upper.path(),
            &[lower.path().to_path_buf()],
            &["/etc/hostname".into()],
        )
        .into_iter()
        .map(|c| (c.path, c.kind))
        .collect();
        assert_eq!(
            got,
            [
                ("/etc".to_string(), Kind::Modified),
                ("/etc/gone".into(), Kind::Deleted),
                ("/etc/passwd".into(), Kind::Modified),
                ("/new".into(), Kind::Added),
                ("/new/sub".into(), Kind::Added),
                ("/new/sub/f".into(), Kind::Added),
            ]
        );
    }
}
