//! Crash-safe file primitives: every metadata file is written to a temp file
//! in the same directory, fsynced and renamed over the target, and the
//! directory is fsynced so the rename itself survives a power cut.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rand::Rng;

use crate::error::{IoContext, Result};

pub fn random_suffix() -> String {
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}

/// Marks `dir` as the top of a directory hierarchy for ext4's Orlov
/// allocator (`chattr +T`), so each directory made in it starts in a
/// lightly used block group instead of the parent's.
///
/// Why: on ext4 without a journal the inode allocator skips, one by one,
/// every inode of the group freed in the last 60-300 s, reading its inode
/// table entry each time (`recently_deleted`). Layers are unpacked in
/// `tmp/`; right after an earlier tree of thousands of files there was
/// deleted, a pull of a 6,680-file layer took 1.5 s instead of 0.87 s here.
/// Other filesystems refuse the flag; that is fine.
pub fn spread_new_subdirs(dir: &Path) {
    use rustix::fs::IFlags;
    let res = File::open(dir).and_then(|f| {
        let flags = rustix::fs::ioctl_getflags(&f)?;
        if !flags.contains(IFlags::TOPDIR) {
            rustix::fs::ioctl_setflags(&f, flags | IFlags::TOPDIR)?;
        }
        Ok(())
    });
    if let Err(e) = res {
        tracing::debug!(dir = %dir.display(), "no Orlov top-dir flag: {e}");
    }
}

pub fn fsync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).ctx(|| format!("opening {} for fsync", dir.display()))?;
    f.sync_all()
        .ctx(|| format!("fsync of directory {}", dir.display()))
}

pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Dot-prefixed so a crash leftover is recognisable and never parsed as a record.
    let tmp = dir.join(format!(".{name}.tmp-{}", random_suffix()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .ctx(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .ctx(|| format!("writing {}", tmp.display()))?;
        f.sync_all().ctx(|| format!("fsync of {}", tmp.display()))?;
        fs::rename(&tmp, path).ctx(|| format!("renaming into {}", path.display()))?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

pub fn atomic_write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| {
        crate::error::ImageError::io(
            format!("encoding {}", path.display()),
            std::io::Error::other(e),
        )
    })?;
    atomic_write(path, &bytes)
}

/// Removes a file or a whole tree; missing is fine.
pub fn remove_path(path: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(crate::error::ImageError::io(
                format!("stat {}", path.display()),
                e,
            ))
        }
    };
    let r = if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(crate::error::ImageError::io(
            format!("removing {}", path.display()),
            e,
        )),
    }
}

/// A directory under the store's `tmp/` that is removed when dropped, so an
/// error anywhere in a load leaves nothing behind. A crash leaves it too, but
/// `open()` wipes `tmp/`.
pub struct StagingDir {
    path: PathBuf,
    keep: bool,
}

impl StagingDir {
    pub fn new(tmp_root: &Path, prefix: &str) -> Result<Self> {
        let path = tmp_root.join(format!("{prefix}-{}", random_suffix()));
        fs::create_dir(&path).ctx(|| format!("creating {}", path.display()))?;
        let staged = Self { path, keep: false };
        // A staged layer dir becomes a layer root: 0755 like Docker's, not
        // whatever the daemon's umask says (a tar entry for "./" may still
        // change it).
        fs::set_permissions(
            &staged.path,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .ctx(|| format!("chmod {}", staged.path.display()))?;
        Ok(staged)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands ownership of the directory to the caller (it was renamed away).
    pub fn disarm(mut self) -> PathBuf {
        self.keep = true;
        std::mem::take(&mut self.path)
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if !self.keep && !self.path.as_os_str().is_empty() {
            if let Err(e) = remove_path(&self.path) {
                tracing::warn!("could not clean staging dir {}: {e}", self.path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On ext4 (this project's test machine) the image store's staging dir
    /// carries the Orlov top-dir flag; elsewhere the flag may be refused.
    #[test]
    fn store_tmp_is_an_orlov_top_dir_on_ext4() {
        let root = tempfile::tempdir().unwrap();
        crate::ImageStore::open(root.path()).unwrap();
        let tmp = root.path().join("tmp");
        let fs = rustix::fs::statfs(&tmp).unwrap();
        const EXT4_SUPER_MAGIC: i64 = 0xEF53;
        if fs.f_type as i64 != EXT4_SUPER_MAGIC {
            eprintln!("not ext4 here: nothing to check");
            return;
        }
        let flags = rustix::fs::ioctl_getflags(File::open(&tmp).unwrap()).unwrap();
        assert!(flags.contains(rustix::fs::IFlags::TOPDIR), "{flags:?}");
        // Marking again keeps the other flags and succeeds.
        spread_new_subdirs(&tmp);
        let again = rustix::fs::ioctl_getflags(File::open(&tmp).unwrap()).unwrap();
        assert_eq!(flags, again);
    }
}
