//! File-system primitives confined to one directory tree.
//!
//! Every parent directory is resolved with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)`, so symlinks (absolute or `..`-laden) are
//! interpreted as if the layer root were `/` and can never lead outside it.
//! Final components are handled with `*at` calls that do not follow
//! symlinks, so nothing is ever created, chmod-ed or chown-ed through one.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Path components relative to the root, already free of `.`, `..` and "".
pub type Components = Vec<OsString>;

pub struct Root {
    fd: OwnedFd,
}

fn resolve() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS
}

pub fn join(comps: &[OsString]) -> PathBuf {
    if comps.is_empty() {
        return PathBuf::from(".");
    }
    let mut p = PathBuf::new();
    for c in comps {
        p.push(c);
    }
    p
}

impl Root {
    pub fn open(target: &Path) -> Result<Self, Errno> {
        let fd = rfs::open(
            target,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self { fd })
    }

    /// An `O_PATH` handle on an existing directory inside the root.
    pub fn open_dir(&self, comps: &[OsString]) -> Result<OwnedFd, Errno> {
        rfs::openat2(
            &self.fd,
            join(comps),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve(),
        )
    }

    /// A readable handle on a directory inside the root whose last component
    /// is not a symlink (for fchown/fchmod/xattrs/futimens).
    pub fn open_dir_rw(&self, comps: &[OsString]) -> Result<OwnedFd, Errno> {
        rfs::openat2(
            &self.fd,
            join(comps),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            resolve(),
        )
    }

    /// `mkdir -p` inside the root; missing directories get 0755 root:root
    /// like Docker's implicit parents. Returns an `O_PATH` handle.
    pub fn ensure_dir(&self, comps: &[OsString]) -> Result<OwnedFd, Errno> {
        match self.open_dir(comps) {
            Err(Errno::NOENT) => {}
            other => return other,
        }
        let mut current = self.open_dir(&[])?;
        for i in 0..comps.len() {
            let prefix = &comps[..=i];
            current = match self.open_dir(prefix) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    // `current` is the resolved parent: create the component in
                    // it, never through a symlink (mkdirat does not follow).
                    match rfs::mkdirat(&current, &comps[i], Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e),
                    }
                    // A dangling symlink in the way makes this fail; good.
                    self.open_dir(prefix)?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(current)
    }
}

/// What sits at `name` in `dir`, without following a symlink.
pub fn lstat_type(dir: impl AsFd, name: &OsStr) -> Result<Option<FileType>, Errno> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes whatever is at `name` (a whole tree for a directory).
pub fn remove_any(dir: impl AsFd, name: &OsStr) -> Result<(), Errno> {
    let dir = dir.as_fd();
    match lstat_type(dir, name)? {
        None => Ok(()),
        Some(FileType::Directory) => remove_tree(dir, name),
        Some(_) => rfs::unlinkat(dir, name, AtFlags::empty()),
    }
}

fn remove_tree(parent: impl AsFd, name: &OsStr) -> Result<(), Errno> {
    let parent = parent.as_fd();
    let fd = rfs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut children = Vec::new();
    for entry in rfs::Dir::read_from(&fd)? {
        let entry = entry?;
        let n = entry.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        children.push(OsStr::from_bytes(n).to_os_string());
    }
    for child in children {
        match lstat_type(&fd, &child)? {
            Some(FileType::Directory) => remove_tree(&fd, &child)?,
            Some(_) => rfs::unlinkat(&fd, &child, AtFlags::empty())?,
            None => {}
        }
    }
    rfs::unlinkat(parent, name, AtFlags::REMOVEDIR)
}
