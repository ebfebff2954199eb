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
