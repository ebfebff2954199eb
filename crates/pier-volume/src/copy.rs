//! Copy-up: an empty volume mounted over a directory of the image gets that
//! directory's content, keeping owners, modes, times, xattrs, symlinks,
//! hard links and special files (Docker's `copyExistingContents` +
//! `copyOwnership`).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps, CWD};

use crate::error::{IoContext, Result};

/// Whether a directory has no entries (a missing one counts as empty).
pub fn dir_is_empty(dir: &Path) -> Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut it) => Ok(it.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(crate::VolumeError::io(
            format!("reading {}", dir.display()),
            e,
        )),
    }
}

/// Copies `src` (a directory) into the empty directory `dst`, then gives
/// `dst` the owner and mode of `src`. Does nothing when `dst` is not empty
/// or `src` is not a directory. Returns whether anything was copied.
pub fn copy_up(src: &Path, dst: &Path) -> Result<bool> {
    let md = match fs::metadata(src) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(crate::VolumeError::io(format!("stat {}", src.display()), e)),
    };
    if !md.is_dir() || !dir_is_empty(dst)? {
        return Ok(false);
    }
    let mut links = HashMap::new();
    copy_dir_contents(src, dst, &mut links)?;
    copy_meta(src, dst, &md)?;
    Ok(true)
}

fn copy_dir_contents(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), std::path::PathBuf>,
) -> Result<()> {
    for entry in fs::read_dir(src).ctx(|| format!("reading {}", src.display()))? {
        let entry = entry.ctx(|| format!("reading {}", src.display()))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let md = fs::symlink_metadata(&from).ctx(|| format!("stat {}", from.display()))?;
        let ft = md.file_type();
        // A file seen before under another name is a hard link to it.
        if !ft.is_dir() && md.nlink() > 1 {
            let key = (md.dev(), md.ino());
            if let Some(first) = links.get(&key) {
                fs::hard_link(first, &to).ctx(|| format!("linking {}", to.display()))?;
                continue;
            }
            links.insert(key, to.clone());
        }
        if ft.is_dir() {
            fs::create_dir(&to).ctx(|| format!("creating {}", to.display()))?;
            copy_dir_contents(&from, &to, links)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&from).ctx(|| format!("reading link {}", from.display()))?;
            std::os::unix::fs::symlink(&target, &to)
                .ctx(|| format!("creating {}", to.display()))?;
        } else if ft.is_file() {
            fs::copy(&from, &to).ctx(|| format!("copying {}", from.display()))?;
        } else {
            // Devices, FIFOs, sockets.
            let ftype = FileType::from_raw_mode(md.mode());
            rustix::fs::mknodat(
                CWD,
                &to,
                ftype,
                Mode::from_raw_mode(md.mode() & 0o7777),
                md.rdev(),
            )
            .ctx(|| format!("creating {}", to.display()))?;
        }
        copy_meta(&from, &to, &md)?;
    }
    Ok(())
}

/// Owner, mode (not for symlinks), xattrs and times of `from` onto `to`.
fn copy_meta(from: &Path, to: &Path, md: &fs::Metadata) -> Result<()> {
    let is_link = md.file_type().is_symlink();
    std::os::unix::fs::lchown(to, Some(md.uid()), Some(md.gid()))
        .ctx(|| format!("chown {}", to.display()))?;
    if !is_link {
        // After chown: chown clears setuid bits.
        fs::set_permissions(to, fs::Permissions::from_mode(md.mode() & 0o7777))
            .ctx(|| format!("chmod {}", to.display()))?;
    }
    copy_xattrs(from, to);
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: md.atime(),
            tv_nsec: md.atime_nsec() as _,
        },
        last_modification: Timespec {
            tv_sec: md.mtime(),
            tv_nsec: md.mtime_nsec() as _,
        },
    };
    rustix::fs::utimensat(CWD, to, &times, AtFlags::SYMLINK_NOFOLLOW)
        .ctx(|| format!("setting times of {}", to.display()))?;
    Ok(())
}

/// Best effort, like Docker: filesystems without xattrs are fine.
fn copy_xattrs(from: &Path, to: &Path) {
    let Ok(n) = rustix::fs::llistxattr_query(from) else {
        return;
    };
    if n == 0 {
        return;
    }
    let mut names = vec![0u8; n];
    let Ok(n) = rustix::fs::llistxattr(from, &mut names[..]) else {
        return;
    };
    for name in names[..n].split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let name = OsStr::from_bytes(name);
        let Ok(len) = rustix::fs::lgetxattr_query(from, name) else {
            continue;
        };
        let mut value = vec![0u8; len];
        let Ok(len) = rustix::fs::lgetxattr(from, name, &mut value[..]) else {
            continue;
        };
        if let Err(e) =
            rustix::fs::lsetxattr(to, name, &value[..len], rustix::fs::XattrFlags::empty())
        {
            tracing::debug!("copy-up: xattr {name:?} on {}: {e}", to.display());
        }
    }
}

/// Bytes used by a tree: regular files' sizes, each inode once, not
/// following symlinks (Docker's `directory.Size`).
pub fn tree_size(root: &Path) -> i64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0i64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(entries) = fs::read_dir(&p) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                stack.push(e.path());
            } else if md.nlink() > 1 && !seen.insert((md.dev(), md.ino())) {
                continue;
            } else {
                total += md.len() as i64;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_tree_with_owner_mode_links() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let s = src.path();
        fs::create_dir_all(s.join("sub/deep")).unwrap();
        fs::write(s.join("sub/deep/f"), b"hello").unwrap();
        fs::set_permissions(s.join("sub/deep/f"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::lchown(s.join("sub/deep/f"), Some(1234), Some(5678)).unwrap();
        std::os::unix::fs::symlink("deep/f", s.join("sub/link")).unwrap();
        fs::hard_link(s.join("sub/deep/f"), s.join("hard")).unwrap();
        rustix::fs::mknodat(
            CWD,
            s.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        fs::set_permissions(s, fs::Permissions::from_mode(0o711)).unwrap();
        std::os::unix::fs::chown(s, Some(42), Some(43)).unwrap();

        assert!(copy_up(s, dst.path()).unwrap());
        let d = dst.path();
        assert_eq!(fs::read(d.join("sub/deep/f")).unwrap(), b"hello");
        let md = fs::metadata(d.join("sub/deep/f")).unwrap();
        assert_eq!(
            (md.uid(), md.gid(), md.mode() & 0o7777),
            (1234, 5678, 0o640)
        );
        assert_eq!(
            fs::read_link(d.join("sub/link")).unwrap(),
            Path::new("deep/f")
        );
        assert_eq!(
            fs::metadata(d.join("hard")).unwrap().ino(),
            md.ino(),
            "hard link kept"
        );
        assert!(fs::symlink_metadata(d.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo_like());
        let root = fs::metadata(d).unwrap();
        assert_eq!(
            (root.uid(), root.gid(), root.mode() & 0o7777),
            (42, 43, 0o711)
        );
        // A second copy into the now non-empty volume does nothing.
        assert!(!copy_up(s, d).unwrap());
        // 5 bytes of file (counted once for both links) + 6 of symlink target.
        assert_eq!(tree_size(d), 11);
    }

    trait FifoLike {
        fn is_fifo_like(&self) -> bool;
    }
    impl FifoLike for fs::FileType {
        fn is_fifo_like(&self) -> bool {
            std::os::unix::fs::FileTypeExt::is_fifo(self)
        }
    }
}
