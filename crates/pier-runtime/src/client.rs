use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use crate::proto::{parse_header, ReadyAnswer, ShimEvent, ShimRequest, HEADER_LEN};
use crate::{RuntimeError, ShimConfig};

/// How long `launch_shim` waits for the shim's answer.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(120);
/// The answer line is small; anything longer is garbage.
const MAX_ANSWER: u64 = 64 * 1024;

/// A shim whose container is created (its init waits for `START`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Launched {
    /// The container's init pid (host pid namespace).
    pub pid: u32,
}

/// Spawns `shim_bin <shim_json>` and waits for its one-line answer.
///
/// pierd writes `shim.json` (see [`ShimConfig::write_atomic`]) and
/// `config.json` before calling this; this function writes nothing. `cfg`
/// is the config that was written, used for checks and logging. The shim
/// daemonizes: the process spawned here exits as soon as the monitor runs,
/// and the monitor outlives pierd.
///
/// Returns [`RuntimeError::Create`] when the shim reports that the container
/// could not be created, [`RuntimeError::Shim`] when the shim failed without
/// a usable answer.
pub async fn launch_shim(
    shim_bin: &Path,
    cfg: &ShimConfig,
    shim_json: &Path,
) -> Result<Launched, RuntimeError> {
    cfg.validate()?;
    crate::attach_warm::warm();
    let t0 = std::time::Instant::now();
    let mut child = tokio::process::Command::new(shim_bin)
        .arg(shim_json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| RuntimeError::io(format!("spawning {}", shim_bin.display()), e))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| RuntimeError::Shim("no stdout pipe".into()))?;

    let mut line = String::new();
    let read = async {
        BufReader::new(stdout.take(MAX_ANSWER))
            .read_line(&mut line)
            .await
    };
    let res = tokio::time::timeout(LAUNCH_TIMEOUT, read).await;
    // The spawned process exits right after daemonizing; reap it.
    let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
        Ok(Ok(s)) => Some(s),
        _ => None,
    };
    match res {
        Err(_) => {
            return Err(RuntimeError::Shim(format!(
                "no answer from the shim of {} within {LAUNCH_TIMEOUT:?}",
                cfg.id
            )))
        }
        Ok(Err(e)) => return Err(RuntimeError::io("reading the shim's answer", e)),
        Ok(Ok(_)) => {}
    }
    let text = line.trim();
    if text.is_empty() {
        return Err(RuntimeError::Shim(format!(
            "exited without an answer ({})",
            status.map_or_else(|| "status unknown".to_string(), |s| s.to_string())
        )));
    }
    let ans: ReadyAnswer = serde_json::from_str(text)
        .map_err(|e| RuntimeError::Shim(format!("bad answer {text:?}: {e}")))?;
    match ans {
        ReadyAnswer {
            ok: true,
            pid: Some(pid),
            ..
        } => {
            tracing::debug!(id = %cfg.id, pid, elapsed = ?t0.elapsed(), "shim created the container");
            Ok(Launched { pid })
        }
        ReadyAnswer { ok: true, .. } => Err(RuntimeError::Shim(format!(
            "answer without a pid: {text:?}"
        ))),
        ReadyAnswer {
            error, exit_code, ..
        } => {
            let message = error.unwrap_or_else(|| "container creation failed".into());
            tracing::debug!(id = %cfg.id, %message, "shim could not create the container");
            Err(RuntimeError::Create {
                message,
                exit_code: exit_code.unwrap_or(128),
            })
        }
    }
}

/// A connection to a shim's control socket.
#[derive(Debug)]
pub struct ShimConnection {
    reader: ShimReader,
    writer: ShimWriter,
}

impl ShimConnection {
    pub async fn connect(socket: &Path) -> Result<ShimConnection, RuntimeError> {
        let s = UnixStream::connect(socket)
            .await
            .map_err(|e| RuntimeError::io(format!("connecting to {}", socket.display()), e))?;
        let (r, w) = s.into_split();
        Ok(ShimConnection {
            reader: ShimReader::new(r),
            writer: ShimWriter { inner: w },
        })
    }

    pub async fn send(&mut self, req: &ShimRequest) -> Result<(), RuntimeError> {
        self.writer.send(req).await
    }

    /// The next event; `Ok(None)` when the shim closed the connection.
    pub async fn recv(&mut self) -> Result<Option<ShimEvent>, RuntimeError> {
        self.reader.recv().await
    }

    /// Splits into halves usable from different tasks.
    pub fn into_split(self) -> (ShimReader, ShimWriter) {
        (self.reader, self.writer)
    }
}

/// The receiving half of a [`ShimConnection`].
#[derive(Debug)]
pub struct ShimReader {
    inner: BufReader<OwnedReadHalf>,
    header: [u8; HEADER_LEN],
    header_len: usize,
    payload: Vec<u8>,
    payload_len: Option<(u8, usize)>,
}

impl ShimReader {
    fn new(r: OwnedReadHalf) -> Self {
        ShimReader {
            inner: BufReader::with_capacity(64 * 1024, r),
            header: [0; HEADER_LEN],
            header_len: 0,
            payload: Vec::new(),
            payload_len: None,
        }
    }

    /// The next event; `Ok(None)` when the shim closed the connection at a
    /// frame boundary. Cancel-safe: partial frames are kept across calls,
    /// so it can be used in `tokio::select!`. Unknown event kinds are skipped.
    pub async fn recv(&mut self) -> Result<Option<ShimEvent>, RuntimeError> {
        loop {
            let (kind, len) = match self.payload_len {
                Some(kl) => kl,
                None => {
                    while self.header_len < HEADER_LEN {
                        let n = match self.inner.read(&mut self.header[self.header_len..]).await {
                            Ok(n) => n,
                            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
                            Err(e) => return Err(RuntimeError::io("reading from the shim", e)),
                        };
                        if n == 0 {
                            return if self.header_len == 0 {
                                Ok(None)
                            } else {
                                Err(RuntimeError::Protocol("connection closed mid-frame".into()))
                            };
                        }
                        self.header_len += n;
                    }
                    let kl = parse_header(&self.header)?;
                    self.payload_len = Some(kl);
                    self.payload = Vec::with_capacity(kl.1);
                    kl
                }
            };
            while self.payload.len() < len {
                let want = len - self.payload.len();
                let buf = self
                    .inner
                    .fill_buf()
                    .await
                    .map_err(|e| RuntimeError::io("reading from the shim", e))?;
                if buf.is_empty() {
                    return Err(RuntimeError::Protocol("connection closed mid-frame".into()));
                }
                let n = want.min(buf.len());
                self.payload.extend_from_slice(&buf[..n]);
                self.inner.consume(n);
            }
            self.header_len = 0;
            self.payload_len = None;
            let payload = std::mem::take(&mut self.payload);
            if let Some(ev) = ShimEvent::decode(kind, payload)? {
                return Ok(Some(ev));
            }
        }
    }
}

/// The sending half of a [`ShimConnection`].
#[derive(Debug)]
pub struct ShimWriter {
    inner: OwnedWriteHalf,
}

impl ShimWriter {
    pub async fn send(&mut self, req: &ShimRequest) -> Result<(), RuntimeError> {
        let mut frame = Vec::new();
        req.encode(&mut frame);
        self.inner
            .write_all(&frame)
            .await
            .map_err(|e| RuntimeError::io("writing to the shim", e))
    }

    /// Half-closes the connection (the shim sees EOF on its side).
    pub async fn shutdown(&mut self) -> Result<(), RuntimeError> {
        self.inner
            .shutdown()
            .await
            .map_err(|e| RuntimeError::io("closing the shim connection", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ShimState, StatusReply};
    use std::io::{Read, Write};

    #[tokio::test]
    async fn client_against_fake_shim() {
        let d = tempfile::tempdir().unwrap();
        let sock = d.path().join("s.sock");
        let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut got = [0u8; 5 + 5 + 4];
            s.read_exact(&mut got).unwrap();
            assert_eq!(got, [0x06, 0, 0, 0, 0, 0x05, 0, 0, 0, 4, 0, 0, 0, 9]);
            let mut out = Vec::new();
            ShimEvent::Status(StatusReply {
                state: ShimState::Running,
                pid: 3,
            })
            .encode(&mut out);
            out.extend_from_slice(&[0x7e, 0, 0, 0, 1, 0]); // unknown kind: skipped
            ShimEvent::Stdout(vec![b'x'; 100_000]).encode(&mut out);
            ShimEvent::Exited {
                exit_code: 137,
                oom_killed: false,
            }
            .encode(&mut out);
            // dribble it out to exercise partial reads
            for chunk in out.chunks(777) {
                s.write_all(chunk).unwrap();
            }
        });
        let c = ShimConnection::connect(&sock).await.unwrap();
        let (mut r, mut w) = c.into_split();
        w.send(&ShimRequest::Status).await.unwrap();
        w.send(&ShimRequest::Signal(9)).await.unwrap();
        assert_eq!(
            r.recv().await.unwrap(),
            Some(ShimEvent::Status(StatusReply {
                state: ShimState::Running,
                pid: 3
            }))
        );
        match r.recv().await.unwrap() {
            Some(ShimEvent::Stdout(b)) => assert_eq!(b.len(), 100_000),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            r.recv().await.unwrap(),
            Some(ShimEvent::Exited {
                exit_code: 137,
                oom_killed: false
            })
        );
        assert_eq!(r.recv().await.unwrap(), None);
        server.join().unwrap();
    }

    fn cfg(dir: &Path) -> ShimConfig {
        ShimConfig {
            id: "x1".into(),
            bundle: dir.to_path_buf(),
            rootfs: crate::RootfsLayers {
                lower: vec![],
                upper: dir.join("diff"),
                work: dir.join("work"),
            },
            runtime_root: dir.join("rt"),
            socket: dir.join("s.sock"),
            log: None,
            exit_file: dir.join("exit.json"),
            tty: false,
            open_stdin: false,
            ephemeral: false,
            user: String::new(),
            log_max_size: 0,
            log_max_files: 0,
            log_attrs: Default::default(),
        }
    }

    #[tokio::test]
    async fn launch_reports_answers() {
        let d = tempfile::tempdir().unwrap();
        let script = d.path().join("fake-shim");
        std::fs::write(
            &script,
            "#!/bin/sh\ncase \"$1\" in\n *ok*) echo '{\"ok\":true,\"pid\":77}';;\n *bad*) echo '{\"ok\":false,\"error\":\"exec: \\\"foo\\\": executable file not found in $PATH\",\"exit_code\":127}';;\n *) exit 3;;\nesac\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let c = cfg(d.path());
        let l = launch_shim(&script, &c, Path::new("ok")).await.unwrap();
        assert_eq!(l.pid, 77);
        match launch_shim(&script, &c, Path::new("bad")).await {
            Err(RuntimeError::Create { message, exit_code }) => {
                assert_eq!(exit_code, 127);
                assert!(message.contains("executable file not found in $PATH"));
            }
            other => panic!("{other:?}"),
        }
        match launch_shim(&script, &c, Path::new("none")).await {
            Err(RuntimeError::Shim(m)) => assert!(m.contains("without an answer"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
