//! A read-only view of an image's merged filesystem (an overlay of its
//! layer dirs, so whiteouts and opaque dirs count), used to read
//! `/etc/passwd` for `--chown`, to copy from other stages/images and to see
//! which destination directories already exist.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{BuildError, IoContext, Result};

pub struct RootView {
    dir: tempfile::TempDir,
    mounted: bool,
}

impl RootView {
    /// Mounts `layers` (bottom → top) under a fresh dir in `tmp`.
    pub fn open(layers: &[PathBuf], tmp: &Path) -> Result<RootView> {
        let dir = tempfile::Builder::new()
            .prefix("view-")
            .tempdir_in(tmp)
            .ctx(|| format!("creating a view dir in {}", tmp.display()))?;
        let root = dir.path().join("root");
        let empty = dir.path().join("empty");
        std::fs::create_dir(&root).ctx(|| "creating view root".into())?;
        std::fs::create_dir(&empty).ctx(|| "creating view lower".into())?;
        if layers.is_empty() {
            return Ok(RootView {
                dir,
                mounted: false,
            });
        }
        // Overlay without an upper dir needs two lower dirs at least.
        let mut opts = String::from("lowerdir=");
        for l in layers.iter().rev() {
            let s = l.to_string_lossy();
            if s.contains([',', ':']) {
                return Err(BuildError::Runtime(format!(
                    "layer path {s} cannot be used in an overlay mount"
                )));
            }
            opts.push_str(&s);
            opts.push(':');
        }
        opts.push_str(&empty.to_string_lossy());
        mount(
            Some("overlay"),
            &root,
            Some("overlay"),
            MsFlags::MS_RDONLY,
            Some(opts.as_str()),
        )
        .map_err(|e| BuildError::Runtime(format!("mounting an image view: {e}")))?;
        Ok(RootView { dir, mounted: true })
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Resolves `path` (absolute in the image) following symlinks inside
    /// the view, never out of it. The result may not exist.
    pub fn resolve(&self, path: &str) -> PathBuf {
        resolve_in_root(&self.root(), path)
    }
}

impl Drop for RootView {
    fn drop(&mut self) {
        if self.mounted {
            let root = self.root();
            if let Err(e) = umount2(&root, MntFlags::MNT_DETACH) {
                tracing::warn!("unmounting {}: {e}", root.display());
            }
        }
    }
}

/// Follows symlinks component by component with `root` as `/`.
pub fn resolve_in_root(root: &Path, path: &str) -> PathBuf {
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .rev()
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            cur.pop();
            continue;
        }
        let candidate = root.join(cur.join("/")).join(&c);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() && hops < 40 => {
                hops += 1;
                let Ok(target) = std::fs::read_link(&candidate) else {
                    cur.push(c);
                    continue;
                };
                if target.is_absolute() {
                    cur.clear();
                }
                let parts: Vec<String> = target
                    .components()
                    .filter_map(|p| match p {
                        Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                        Component::ParentDir => Some("..".into()),
                        _ => None,
                    })
                    .collect();
                for p in parts.into_iter().rev() {
                    todo.push(p);
                }
            }
            _ => cur.push(c),
        }
    }
    let mut out = root.to_path_buf();
    for c in cur {
        out.push(OsStr::new(&c));
    }
    out
}

/// Looks a name up in a passwd/group style file: the numeric id in field 3.
fn lookup_id(file: &Path, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let n = f.next()?;
        if n != name {
            return None;
        }
        f.next()?;
        f.next()?.parse().ok()
    })
}

/// A user's primary gid from passwd (field 4).
fn primary_gid(file: &Path, uid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[2].parse::<u32>().ok()? == uid)
            .then(|| f[3].parse().ok())
            .flatten()
    })
}

/// `--chown=user[:group]` against the image's /etc/passwd and /etc/group.
pub fn resolve_chown(view: Option<&RootView>, spec: &str) -> Result<(u32, u32)> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = view.map(|v| v.resolve("/etc/passwd"));
    let groupf = view.map(|v| v.resolve("/etc/group"));
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => passwd
            .as_deref()
            .and_then(|p| lookup_id(p, user))
            .ok_or_else(|| {
                BuildError::Invalid(format!(
                    "unable to convert uid/gid chown string to host mapping: can't find uid for user {user}: no such user: {user}"
                ))
            })?,
    };
    let gid = match group {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groupf
                .as_deref()
                .and_then(|p| lookup_id(p, g))
                .ok_or_else(|| {
                    BuildError::Invalid(format!(
                        "unable to convert uid/gid chown string to host mapping: can't find gid for group {g}: no such group: {g}"
                    ))
                })?,
        },
        // A name alone: its primary group; a bare uid: the same number.
        None if user.parse::<u32>().is_ok() => uid,
        None => passwd
            .as_deref()
            .and_then(|p| primary_gid(p, uid))
            .unwrap_or(uid),
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("real/etc")).unwrap();
        std::os::unix::fs::symlink("/real/etc", r.join("etc")).unwrap();
        std::os::unix::fs::symlink("../../../../..", r.join("up")).unwrap();
        assert_eq!(resolve_in_root(r, "/etc/passwd"), r.join("real/etc/passwd"));
        assert_eq!(resolve_in_root(r, "/up/x"), r.join("x"));
        assert_eq!(resolve_in_root(r, "../../a"), r.join("a"));
    }

    #[test]
    fn chown_names() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::write(
            r.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(r.join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let uid = lookup_id(&r.join("etc/passwd"), "app");
        assert_eq!(uid, Some(1000));
        assert_eq!(primary_gid(&r.join("etc/passwd"), 1000), Some(1001));
        assert_eq!(lookup_id(&r.join("etc/group"), "staff"), Some(50));
        assert_eq!(resolve_chown(None, "5:6").unwrap(), (5, 6));
        assert_eq!(resolve_chown(None, "7").unwrap(), (7, 7));
        assert!(resolve_chown(None, "nobody")
            .unwrap_err()
            .to_string()
            .contains("no such user: nobody"));
    }
}
