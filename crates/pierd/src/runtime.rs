//! The seam to `pier-runtime`: every use of its API goes through here so a
//! change in its signatures touches one file.
//!
//! PROVISIONAL: until pier-runtime lands, this file carries a minimal
//! implementation of the contract (docs/CONTRACTS.md) so pierd builds.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{message}")]
    Create { message: String, exit_code: i32 },
    #[error("{0}")]
    Other(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RootfsLayers {
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimConfig {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: RootfsLayers,
    pub runtime_root: PathBuf,
    pub socket: PathBuf,
    pub log: Option<PathBuf>,
    pub exit_file: PathBuf,
    pub tty: bool,
    pub open_stdin: bool,
    pub user: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExitRecord {
    pub exit_code: i32,
    pub finished_at: String,
    #[serde(default)]
    pub oom_killed: bool,
}

pub fn read_exit_record(path: &Path) -> Option<ExitRecord> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub struct Launched {
    pub pid: u32,
}

#[derive(Deserialize)]
struct ShimAnswer {
    ok: bool,
    #[serde(default)]
    pid: u32,
    #[serde(default)]
    error: String,
    #[serde(default)]
    exit_code: i32,
}

/// Writes shim.json, spawns the shim and waits for its one-line answer.
pub async fn launch_shim(
    shim_bin: &Path,
    cfg: &ShimConfig,
    config_path: &Path,
) -> Result<Launched, RuntimeError> {
    let bytes = serde_json::to_vec(cfg).map_err(|e| RuntimeError::Other(e.to_string()))?;
    tokio::fs::write(config_path, bytes).await?;
    let mut child = tokio::process::Command::new(shim_bin)
        .arg(config_path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()?;
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        s.read_to_string(&mut out).await?;
    }
    let _ = child.wait().await;
    let line = out.lines().next().unwrap_or("");
    let ans: ShimAnswer = serde_json::from_str(line)
        .map_err(|e| RuntimeError::Other(format!("bad answer from shim ({e}): {line:?}")))?;
    if ans.ok {
        Ok(Launched { pid: ans.pid })
    } else {
        Err(RuntimeError::Create {
            message: ans.error,
            exit_code: ans.exit_code,
        })
    }
}

#[derive(Debug, Clone)]
pub enum ShimRequest {
    Start,
    Stdin(Vec<u8>),
    CloseStdin,
    Resize { rows: u16, cols: u16 },
    Signal(i32),
    Status,
    Subscribe,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StatusReply {
    pub state: String,
    #[serde(default)]
    pub pid: u32,
}

#[derive(Debug, Clone)]
pub enum ShimEvent {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Started { pid: u32 },
    Exited { exit_code: i32, oom_killed: bool },
    Error(String),
    Status(StatusReply),
}

pub struct ShimReader(OwnedReadHalf);
pub struct ShimWriter(OwnedWriteHalf);

pub struct ShimConnection {
    r: ShimReader,
    w: ShimWriter,
}

impl ShimConnection {
    pub async fn connect(socket: &Path) -> Result<Self, RuntimeError> {
        let s = UnixStream::connect(socket).await?;
        let (r, w) = s.into_split();
        Ok(Self {
            r: ShimReader(r),
            w: ShimWriter(w),
        })
    }
    pub async fn send(&mut self, req: ShimRequest) -> Result<(), RuntimeError> {
        self.w.send(req).await
    }
    pub async fn recv(&mut self) -> Option<ShimEvent> {
        self.r.recv().await
    }
    pub fn into_split(self) -> (ShimReader, ShimWriter) {
        (self.r, self.w)
    }
}

impl ShimWriter {
    pub async fn send(&mut self, req: ShimRequest) -> Result<(), RuntimeError> {
        let (kind, payload): (u8, Vec<u8>) = match req {
            ShimRequest::Start => (0x01, vec![]),
            ShimRequest::Stdin(b) => (0x02, b),
            ShimRequest::CloseStdin => (0x03, vec![]),
            ShimRequest::Resize { rows, cols } => {
                let mut p = rows.to_be_bytes().to_vec();
                p.extend_from_slice(&cols.to_be_bytes());
                (0x04, p)
            }
            ShimRequest::Signal(s) => (0x05, s.to_be_bytes().to_vec()),
            ShimRequest::Status => (0x06, vec![]),
            ShimRequest::Subscribe => (0x07, vec![]),
        };
        let mut frame = Vec::with_capacity(5 + payload.len());
        frame.push(kind);
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        frame.extend_from_slice(&payload);
        self.0.write_all(&frame).await?;
        Ok(())
    }
}

impl ShimReader {
    pub async fn recv(&mut self) -> Option<ShimEvent> {
        loop {
            let mut head = [0u8; 5];
            self.0.read_exact(&mut head).await.ok()?;
            let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
            let mut p = vec![0u8; len];
            self.0.read_exact(&mut p).await.ok()?;
            let ev = match head[0] {
                0x11 => ShimEvent::Stdout(p),
                0x12 => ShimEvent::Stderr(p),
                0x13 if p.len() >= 4 => ShimEvent::Started {
                    pid: u32::from_be_bytes([p[0], p[1], p[2], p[3]]),
                },
                0x14 if p.len() >= 5 => ShimEvent::Exited {
                    exit_code: i32::from_be_bytes([p[0], p[1], p[2], p[3]]),
                    oom_killed: p[4] != 0,
                },
                0x15 => ShimEvent::Error(String::from_utf8_lossy(&p).into_owned()),
                0x16 => ShimEvent::Status(serde_json::from_slice(&p).ok()?),
                _ => continue,
            };
            return Some(ev);
        }
    }
}

/// What pierd passes to the spec builder.
#[derive(Debug, Clone, Default)]
pub struct SpecInput {
    pub id: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub hostname: String,
    pub tty: bool,
    pub host_network: bool,
    pub hostname_path: PathBuf,
    pub hosts_path: PathBuf,
    pub resolv_conf_path: PathBuf,
    pub readonly_rootfs: bool,
    pub console_size: Option<(u16, u16)>,
}

/// Builds the OCI spec JSON (provisional: only the process part).
pub fn build_spec_json(input: &SpecInput) -> Result<Vec<u8>, RuntimeError> {
    let spec = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": input.tty,
            "args": input.args,
            "env": input.env,
            "cwd": input.cwd,
        },
        "hostname": input.hostname,
        "root": { "path": "rootfs", "readonly": input.readonly_rootfs },
    });
    serde_json::to_vec_pretty(&spec).map_err(|e| RuntimeError::Other(e.to_string()))
}

/// The live control channel to a running container's shim (signals,
/// resize), shared by request handlers.
pub struct ShimControl {
    pub socket: PathBuf,
    writer: tokio::sync::Mutex<ShimWriter>,
}

impl ShimControl {
    pub fn new(socket: PathBuf, writer: ShimWriter) -> Self {
        Self {
            socket,
            writer: tokio::sync::Mutex::new(writer),
        }
    }

    pub async fn send(&self, req: ShimRequest) -> Result<(), RuntimeError> {
        self.writer.lock().await.send(req).await
    }
}
