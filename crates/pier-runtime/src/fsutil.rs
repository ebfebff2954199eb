use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::RuntimeError;

/// Writes `bytes` to `path` crash-safely: a temp file in the same directory,
/// fsync, rename over the target, fsync the directory. Readers see either the
/// old or the new content, never a torn file. Blocking.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RuntimeError> {
    write_replace(path, bytes, true)
}

/// Like [`write_atomic`] (readers never see a torn file), but the fsyncs
/// are paid only when `durable`: state that need not survive an OS crash
/// (e.g. an AutoRemove container's) is replaced with temp file + rename.
pub fn write_replace(path: &Path, bytes: &[u8], durable: bool) -> Result<(), RuntimeError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| RuntimeError::Invalid {
        what: "path",
        reason: format!("{} has no file name", path.display()),
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
        drop(f);
        std::fs::rename(&tmp, path)?;
        if durable {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(RuntimeError::io(format!("writing {}", path.display()), e));
    }
    Ok(())
}
