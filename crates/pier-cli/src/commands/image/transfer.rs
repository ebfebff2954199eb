//! `pier load`, `save`, `import`: image tarballs streamed to and from the
//! daemon.

use std::io::Write;

use hyper::Method;

use crate::cli::{ImportArgs, LoadArgs, SaveArgs};
use crate::client::{self, next_chunk, Query};
use crate::commands::{display_json_stream, CmdError, CmdResult, Ctx};
use crate::output;
use crate::reference::Reference;
use crate::tty;

/// Go's text for common errno values.
fn io_why(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// Go's `os.Open` error text.
fn open_error(path: &str, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => match e.raw_os_error() {
            Some(21) => "is a directory".to_string(),
            _ => e.to_string(),
        },
    };
    format!("open {path}: {why}")
}

fn platform_json(p: &str) -> String {
    let (os, rest) = p.split_once('/').unwrap_or((p, ""));
    let (arch, variant) = rest.split_once('/').unwrap_or((rest, ""));
    serde_json::json!({"os": os, "architecture": arch, "variant": variant}).to_string()
}

pub async fn load(ctx: &Ctx, a: LoadArgs) -> CmdResult {
    ctx.no_args(&a.args)?;
    let input: Box<dyn std::io::Read + Send> = match a.input.as_deref() {
        None | Some("") => {
            if tty::stdin_is_terminal() {
                return Err(CmdError::new(
                    1,
                    "requested load from stdin, but stdin is empty",
                ));
            }
            Box::new(std::io::stdin())
        }
        Some(path) => {
            let f =
                std::fs::File::open(path).map_err(|e| CmdError::new(1, open_error(path, &e)))?;
            if f.metadata().is_ok_and(|m| m.is_dir()) {
                return Err(CmdError::new(1, format!("read {path}: is a directory")));
            }
            Box::new(f)
        }
    };
    let quiet = a.quiet || !tty::stdout_is_terminal();
    let q = Query::new().add_if(quiet, "quiet", "1").add_if(
        a.platform.is_some(),
        "platform",
        a.platform.as_deref().map(platform_json).unwrap_or_default(),
    );
    let resp = ctx
        .client
        .send(
            Method::POST,
            &q.path("/images/load"),
            client::reader_body(input),
            Some("application/x-tar"),
        )
        .await?;
    let is_json = resp
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return display_json_stream(resp, false).await;
    }
    let mut body = resp.into_body();
    while let Some(c) = next_chunk(&mut body).await? {
        output::out_bytes(&c);
    }
    Ok(())
}

/// Writes to a temporary file next to the target and renames it into place
/// on success (docker's atomic writer, mode 0600).
struct AtomicFile {
    tmp: std::path::PathBuf,
    target: std::path::PathBuf,
    file: Option<std::fs::File>,
}

impl AtomicFile {
    fn create(target: &str) -> Result<Self, String> {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
        // moby/sys/atomicwriter's validateDestination.
        if target.is_empty() {
            return Err("file name is empty".into());
        }
        let path = std::path::Path::new(target);
        let dir = path
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !dir.is_empty() && dir != "." && dir != ".." {
            match std::fs::metadata(&dir) {
                Err(e) => return Err(format!("invalid output path: stat {dir}: {}", io_why(&e))),
                Ok(m) if !m.is_dir() => {
                    return Err(format!("invalid output path: stat {dir}: not a directory"))
                }
                Ok(_) => {}
            }
        }
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(format!(
                    "failed to stat output path: lstat {target}: {}",
                    io_why(&e)
                ))
            }
            Ok(m) => {
                let ft = m.file_type();
                let mode = m.permissions().mode();
                let why = if ft.is_dir() {
                    Some("cannot write to a directory")
                } else if ft.is_symlink() {
                    Some("cannot write to a symbolic link directly")
                } else if ft.is_fifo() {
                    Some("cannot write to a named pipe (FIFO)")
                } else if ft.is_socket() {
                    Some("cannot write to a socket")
                } else if ft.is_char_device() {
                    Some("cannot write to a character device file")
                } else if ft.is_block_device() {
                    Some("cannot write to a block device file")
                } else if mode & 0o4000 != 0 {
                    Some("cannot write to a setuid file")
                } else if mode & 0o2000 != 0 {
                    Some("cannot write to a setgid file")
                } else if mode & 0o1000 != 0 {
                    Some("cannot write to a sticky bit file")
                } else {
                    None
                };
                if let Some(w) = why {
                    return Err(w.into());
                }
            }
        }
        let abs = std::path::absolute(path).map_err(|e| e.to_string())?;
        let dir = abs
            .parent()
            .map(|d| d.to_path_buf())
            .unwrap_or_else(|| std::path::PathBuf::from("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".tmp-{name}{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            tmp,
            target: abs,
            file: Some(file),
        })
    }

    fn write(&mut self, b: &[u8]) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.write_all(b),
            None => Ok(()),
        }
    }

    fn commit(mut self) -> std::io::Result<()> {
        if let Some(f) = self.file.take() {
            f.sync_all()?;
        }
        std::fs::rename(&self.tmp, &self.target)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

pub async fn save(ctx: &Ctx, a: SaveArgs) -> CmdResult {
    ctx.require_min(&a.images, 1)?;
    let mut file = match a.output.as_deref() {
        None | Some("") => {
            if tty::stdout_is_terminal() {
                return Err(CmdError::new(
                    1,
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect",
                ));
            }
            None
        }
        Some(path) => Some(
            AtomicFile::create(path)
                .map_err(|e| CmdError::new(1, format!("failed to save image: {e}")))?,
        ),
    };
    let mut q = Query::new();
    for n in &a.images {
        q = q.add("names", n);
    }
    if let Some(p) = &a.platform {
        q = q.add("platform", platform_json(p));
    }
    let resp = ctx.client.get(&q.path("/images/get")).await?;
    let mut body = resp.into_body();
    while let Some(c) = next_chunk(&mut body).await? {
        match &mut file {
            Some(f) => f.write(&c).map_err(|e| CmdError::new(1, e.to_string()))?,
            None => output::out_bytes(&c),
        }
    }
    if let Some(f) = file {
        f.commit().map_err(|e| CmdError::new(1, e.to_string()))?;
    }
    Ok(())
}

pub async fn import(ctx: &Ctx, a: ImportArgs) -> CmdResult {
    ctx.require_min(&a.args, 1)?;
    let source = &a.args[0];
    let reference = a.args.get(1).cloned();
    let (src_name, body) = if source == "-" {
        (
            "-".to_string(),
            client::reader_body(Box::new(std::io::stdin())),
        )
    } else if source.starts_with("http://") || source.starts_with("https://") {
        (source.clone(), client::empty())
    } else {
        let f =
            std::fs::File::open(source).map_err(|e| CmdError::new(1, open_error(source, &e)))?;
        ("-".to_string(), client::reader_body(Box::new(f)))
    };
    if let Some(r) = &reference {
        if Reference::parse(r).is_none() {
            return Err(CmdError::new(1, Reference::parse_error(r)));
        }
    }
    let mut q = Query::new()
        .add("fromSrc", &src_name)
        .add_if(
            reference.is_some(),
            "repo",
            reference.clone().unwrap_or_default(),
        )
        .add_if(
            a.message.is_some(),
            "message",
            a.message.clone().unwrap_or_default(),
        )
        .add_if(
            a.platform.is_some(),
            "platform",
            a.platform.clone().unwrap_or_default(),
        );
    for c in &a.change {
        q = q.add("changes", c);
    }
    let resp = ctx
        .client
        .send(
            Method::POST,
            &q.path("/images/create"),
            body,
            Some("text/plain"),
        )
        .await?;
    display_json_stream(resp, false).await
}
