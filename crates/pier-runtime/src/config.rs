use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{write_atomic, write_replace, RuntimeError};

/// The overlay layers of a container's root filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsLayers {
    /// Read-only image layer dirs, bottom → top. May be empty (an image with
    /// no layers): the shim then uses an empty lower dir.
    pub lower: Vec<PathBuf>,
    /// The container's read-write layer (`bundle/diff`).
    pub upper: PathBuf,
    /// overlayfs' work dir (`bundle/work`), on the same filesystem as `upper`.
    pub work: PathBuf,
}

/// Removes the mark a `volatile` overlay mount leaves in its work dir
/// (`work/incompat/volatile`, which makes overlayfs refuse the next
/// mount). The shim mounts `--rm` containers' rootfs volatile; it and pierd
/// call this before mounting the same upper dir again.
pub fn clear_volatile_mark(work: &Path) {
    let _ = std::fs::remove_dir_all(work.join("work/incompat/volatile"));
}

/// `shim.json`: everything `pier-shim` needs besides `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimConfig {
    /// Container ID (libcontainer's container id too).
    pub id: String,
    /// The container dir holding `config.json`; rootfs is mounted at `bundle/rootfs`.
    pub bundle: PathBuf,
    pub rootfs: RootfsLayers,
    /// libcontainer's state root (`X/runtime`).
    pub runtime_root: PathBuf,
    /// The control socket (`X/shim/<id12>.sock`), shorter than 108 bytes.
    pub socket: PathBuf,
    /// json-file log path; `None` = log driver "none".
    pub log: Option<PathBuf>,
    /// Where the shim writes the [`ExitRecord`] (`bundle/exit.json`).
    pub exit_file: PathBuf,
    /// Run the process on a pty (the spec's `process.terminal` must agree).
    pub tty: bool,
    /// Keep the container's stdin open for `STDIN` requests; otherwise it is /dev/null.
    pub open_stdin: bool,
    /// The container is removed when it exits (AutoRemove): its exit record
    /// only has to outlive pierd, not an OS crash, so it is written without
    /// fsync.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ephemeral: bool,
    /// Docker's `User`: "", "name", "uid", "name:group", "uid:gid".
    #[serde(default)]
    pub user: String,
    /// Log rotation (`--log-opt max-size`): rotate when the log would grow
    /// past this many bytes; 0 = never.
    #[serde(default)]
    pub log_max_size: u64,
    /// `--log-opt max-file`: files kept, the live one included (1 = the
    /// log is truncated instead of rotated).
    #[serde(default)]
    pub log_max_files: u32,
    /// `--log-opt labels/labels-regex/env/env-regex/tag`: the `attrs`
    /// object of every json-file entry, as Docker writes it.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub log_attrs: std::collections::BTreeMap<String, String>,
}

/// Longest socket path `bind(2)` accepts (`sun_path` is 108 bytes incl. NUL).
pub const MAX_SOCKET_PATH: usize = 107;

impl ShimConfig {
    /// Reads `shim.json`.
    pub fn load(path: &Path) -> Result<ShimConfig, RuntimeError> {
        let bytes = std::fs::read(path)
            .map_err(|e| RuntimeError::io(format!("reading {}", path.display()), e))?;
        serde_json::from_slice(&bytes).map_err(|source| RuntimeError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes `shim.json` crash-safely (blocking).
    pub fn write_atomic(&self, path: &Path) -> Result<(), RuntimeError> {
        self.validate()?;
        let bytes = serde_json::to_vec_pretty(self).map_err(|source| RuntimeError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        write_atomic(path, &bytes)
    }

    /// Checks what the shim would otherwise only find out late: a usable id
    /// and a socket path that fits `sun_path`.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        if self.id.is_empty()
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            || self.id.starts_with('.')
        {
            return Err(RuntimeError::Invalid {
                what: "container id",
                reason: format!("{:?}", self.id),
            });
        }
        let len = self.socket.as_os_str().len();
        if len == 0 || len > MAX_SOCKET_PATH {
            return Err(RuntimeError::Invalid {
                what: "socket path",
                reason: format!(
                    "{} is {len} bytes, the limit is {MAX_SOCKET_PATH}",
                    self.socket.display()
                ),
            });
        }
        Ok(())
    }
}

/// `exit.json`, written by the shim once the container has exited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// The init's exit status, or 128+signal if a signal killed it.
    pub exit_code: i32,
    /// RFC 3339 UTC with nanoseconds, e.g. `2026-11-23T08:00:00.123456789Z`.
    pub finished_at: String,
    #[serde(default)]
    pub oom_killed: bool,
}

impl ExitRecord {
    pub fn write_atomic(&self, path: &Path) -> Result<(), RuntimeError> {
        self.write(path, true)
    }

    /// Writes `exit.json`; `durable` as in [`write_replace`].
    pub fn write(&self, path: &Path, durable: bool) -> Result<(), RuntimeError> {
        let bytes = serde_json::to_vec(self).map_err(|source| RuntimeError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        write_replace(path, &bytes, durable)
    }
}

/// Reads `exit.json`: `Ok(None)` if it does not exist (the container has not
/// exited, or its shim died without recording it). Blocking.
pub fn read_exit_record(path: &Path) -> Result<Option<ExitRecord>, RuntimeError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RuntimeError::io(format!("reading {}", path.display()), e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| RuntimeError::Json {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path) -> ShimConfig {
        ShimConfig {
            id: "abc123".into(),
            bundle: dir.to_path_buf(),
            rootfs: RootfsLayers {
                lower: vec![dir.join("l1"), dir.join("l2")],
                upper: dir.join("diff"),
                work: dir.join("work"),
            },
            runtime_root: dir.join("rt"),
            socket: dir.join("s.sock"),
            log: Some(dir.join("abc123-json.log")),
            exit_file: dir.join("exit.json"),
            tty: false,
            open_stdin: true,
            ephemeral: false,
            user: "1000:1000".into(),
            log_max_size: 0,
            log_max_files: 0,
            log_attrs: Default::default(),
        }
    }

    #[test]
    fn shim_config_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let p = d.path().join("shim.json");
        c.write_atomic(&p).unwrap();
        assert_eq!(ShimConfig::load(&p).unwrap(), c);
        // no temp files left behind
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn rejects_long_socket_and_bad_id() {
        let d = tempfile::tempdir().unwrap();
        let mut c = cfg(d.path());
        c.socket = PathBuf::from(format!("/{}", "x".repeat(120)));
        assert!(matches!(c.validate(), Err(RuntimeError::Invalid { .. })));
        let mut c = cfg(d.path());
        c.id = "../etc".into();
        assert!(c.validate().is_err());
    }

    #[test]
    fn exit_record_missing_and_present() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("exit.json");
        assert_eq!(read_exit_record(&p).unwrap(), None);
        let r = ExitRecord {
            exit_code: 143,
            finished_at: crate::now_rfc3339_nanos(),
            oom_killed: false,
        };
        r.write_atomic(&p).unwrap();
        assert_eq!(read_exit_record(&p).unwrap(), Some(r));
        std::fs::write(&p, b"{garbage").unwrap();
        assert!(read_exit_record(&p).is_err());
    }
}
