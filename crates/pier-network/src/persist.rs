//! File helpers for the store: atomic replacement, reading JSON records,
//! and sweeping temp files left by a crash.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{NetError, Result};

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let data =
        fs::read(path).map_err(|e| NetError::io(format!("reading {}", path.display()), e))?;
    serde_json::from_slice(&data).map_err(|source| NetError::Corrupt {
        path: path.to_path_buf(),
        source,
    })
}

/// Read every `*.json` in `dir`, removing temp files left by a crash mid-write
/// (the rename never happened, so the previous version is the valid one).
pub(crate) fn json_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries =
        fs::read_dir(dir).map_err(|e| NetError::io(format!("reading {}", dir.display()), e))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            let _ = fs::remove_file(&path);
        } else if name.ends_with(".json") {
            out.push(path);
        }
    }
    Ok(out)
}

pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io(format!("removing {}", path.display()), e)),
    }
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v)
        .map_err(|e| NetError::io("encoding network record", std::io::Error::other(e)))
}

/// Replace `path` with `data` atomically: temp file in the same directory,
/// rename over the target; `durable` adds the fsyncs of the file (before the
/// rename) and of the directory (after).
pub(crate) fn write_atomic(path: &Path, data: &[u8], durable: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{:08x}.tmp", rand::random::<u32>()));
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(NetError::io(format!("writing {}", path.display()), e));
    }
    if durable {
        sync_dir(dir);
    }
    Ok(())
}

pub(crate) fn sync_dir(dir: &Path) {
    // Best effort: some filesystems refuse fsync on directories.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
