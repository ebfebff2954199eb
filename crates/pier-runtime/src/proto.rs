//! The shim's control-socket protocol (both directions):
//! `[kind: u8][len: u32 BE][payload]`, see `docs/CONTRACTS.md`.
//!
//! Everything here is synchronous and allocation-light so the shim (no async
//! runtime) and the async client share one codec.

use serde::{Deserialize, Serialize};

use crate::RuntimeError;

/// Header length: kind byte + u32 length.
pub const HEADER_LEN: usize = 5;
/// Largest payload either side accepts.
pub const MAX_PAYLOAD: usize = 16 << 20;

pub const START: u8 = 0x01;
pub const STDIN: u8 = 0x02;
pub const CLOSE_STDIN: u8 = 0x03;
pub const RESIZE: u8 = 0x04;
pub const SIGNAL: u8 = 0x05;
pub const STATUS: u8 = 0x06;
pub const SUBSCRIBE: u8 = 0x07;
/// Run a process in the running container (payload: [`ExecSpec`] JSON). The
/// connection becomes that process' stream: STDIN / CLOSE_STDIN / RESIZE /
/// SIGNAL sent on it go to the exec, its output comes back as STDOUT /
/// STDERR, then EXEC_EXITED.
pub const EXEC: u8 = 0x08;
pub const STDOUT: u8 = 0x11;
pub const STDERR: u8 = 0x12;
pub const STARTED: u8 = 0x13;
pub const EXITED: u8 = 0x14;
pub const ERROR: u8 = 0x15;
pub const STATUS_REPLY: u8 = 0x16;
/// The exec process runs: pid u32 BE (host pid namespace).
pub const EXEC_STARTED: u8 = 0x17;
/// The exec process ended (output drained): exit code i32 BE.
pub const EXEC_EXITED: u8 = 0x18;
/// The exec process could not be started: [`ExecFailure`] JSON.
pub const EXEC_FAILED: u8 = 0x19;

/// What to run for `EXEC`. pierd resolves defaults (container user, working
/// dir, merged env) before sending; the shim resolves `user` in the
/// container's root and checks the executable like it does for the init.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExecSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// Absolute path inside the container; empty = "/".
    #[serde(default)]
    pub cwd: String,
    /// Docker's User string ("", "name", "uid", "name:group", "uid:gid").
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub tty: bool,
    /// Give the process a stdin pipe (otherwise /dev/null).
    #[serde(default)]
    pub stdin: bool,
    /// All capabilities (docker exec --privileged).
    #[serde(default)]
    pub privileged: bool,
    /// Initial pty size (rows, cols).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<(u16, u16)>,
}

/// Why an exec could not start; `exit_code` is what Docker records (126
/// cannot invoke, 127 not found).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecFailure {
    pub error: String,
    pub exit_code: i32,
}

/// A request to the shim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShimRequest {
    /// Start the created container; answered by `Started` or `Error`.
    Start,
    /// Bytes for the container's stdin (ignored unless `open_stdin`).
    Stdin(Vec<u8>),
    /// Close the container's stdin once pending bytes are written.
    CloseStdin,
    /// Set the pty's window size (TTY containers only).
    Resize { rows: u16, cols: u16 },
    /// Send a signal to the container's init.
    Signal(i32),
    /// Ask for a `Status` event.
    Status,
    /// From now on send this connection the container's output.
    Subscribe,
    /// Run a process in the container on this connection.
    Exec(Box<ExecSpec>),
}

/// The container's state as the shim sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShimState {
    Created,
    Running,
}

impl ShimState {
    pub fn as_str(self) -> &'static str {
        match self {
            ShimState::Created => "created",
            ShimState::Running => "running",
        }
    }
}

/// Payload of `STATUS_REPLY`: `{"state":"created"|"running","pid":N}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    pub state: ShimState,
    pub pid: u32,
}

/// A message from the shim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShimEvent {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Started { pid: u32 },
    Exited { exit_code: i32, oom_killed: bool },
    Error(String),
    Status(StatusReply),
    ExecStarted { pid: u32 },
    ExecExited { exit_code: i32 },
    ExecFailed(ExecFailure),
}

/// Appends one frame to `out`.
pub fn encode_frame(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(HEADER_LEN + payload.len());
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Parses a frame header: `(kind, payload length)`.
pub fn parse_header(h: &[u8; HEADER_LEN]) -> Result<(u8, usize), RuntimeError> {
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(RuntimeError::Protocol(format!(
            "frame of {len} bytes (kind {:#04x}) exceeds {MAX_PAYLOAD}",
            h[0]
        )));
    }
    Ok((h[0], len))
}

fn fixed<const N: usize>(kind: &str, p: &[u8]) -> Result<[u8; N], RuntimeError> {
    p.try_into().map_err(|_| {
        RuntimeError::Protocol(format!("{kind} payload is {} bytes, want {N}", p.len()))
    })
}

impl ShimRequest {
    pub fn kind(&self) -> u8 {
        match self {
            ShimRequest::Start => START,
            ShimRequest::Stdin(_) => STDIN,
            ShimRequest::CloseStdin => CLOSE_STDIN,
            ShimRequest::Resize { .. } => RESIZE,
            ShimRequest::Signal(_) => SIGNAL,
            ShimRequest::Status => STATUS,
            ShimRequest::Subscribe => SUBSCRIBE,
            ShimRequest::Exec(_) => EXEC,
        }
    }

    /// Appends this request as one frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ShimRequest::Stdin(b) => encode_frame(STDIN, b, out),
            ShimRequest::Resize { rows, cols } => {
                let r = rows.to_be_bytes();
                let c = cols.to_be_bytes();
                encode_frame(RESIZE, &[r[0], r[1], c[0], c[1]], out)
            }
            ShimRequest::Signal(s) => encode_frame(SIGNAL, &s.to_be_bytes(), out),
            ShimRequest::Exec(spec) => {
                // Plain strings and numbers: serialising cannot fail.
                let body = serde_json::to_vec(spec).unwrap_or_default();
                encode_frame(EXEC, &body, out)
            }
            other => encode_frame(other.kind(), &[], out),
        }
    }

    /// Decodes a request frame. `Ok(None)` for an unknown kind (skip it).
    pub fn decode(kind: u8, payload: Vec<u8>) -> Result<Option<ShimRequest>, RuntimeError> {
        Ok(Some(match kind {
            START => ShimRequest::Start,
            STDIN => ShimRequest::Stdin(payload),
            CLOSE_STDIN => ShimRequest::CloseStdin,
            RESIZE => {
                let b = fixed::<4>("RESIZE", &payload)?;
                ShimRequest::Resize {
                    rows: u16::from_be_bytes([b[0], b[1]]),
                    cols: u16::from_be_bytes([b[2], b[3]]),
                }
            }
            SIGNAL => ShimRequest::Signal(i32::from_be_bytes(fixed::<4>("SIGNAL", &payload)?)),
            STATUS => ShimRequest::Status,
            SUBSCRIBE => ShimRequest::Subscribe,
            EXEC => ShimRequest::Exec(Box::new(
                serde_json::from_slice(&payload)
                    .map_err(|e| RuntimeError::Protocol(format!("bad EXEC payload: {e}")))?,
            )),
            _ => return Ok(None),
        }))
    }
}

impl ShimEvent {
    pub fn kind(&self) -> u8 {
        match self {
            ShimEvent::Stdout(_) => STDOUT,
            ShimEvent::Stderr(_) => STDERR,
            ShimEvent::Started { .. } => STARTED,
            ShimEvent::Exited { .. } => EXITED,
            ShimEvent::Error(_) => ERROR,
            ShimEvent::Status(_) => STATUS_REPLY,
            ShimEvent::ExecStarted { .. } => EXEC_STARTED,
            ShimEvent::ExecExited { .. } => EXEC_EXITED,
            ShimEvent::ExecFailed(_) => EXEC_FAILED,
        }
    }

    /// Appends this event as one frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ShimEvent::Stdout(b) => encode_frame(STDOUT, b, out),
            ShimEvent::Stderr(b) => encode_frame(STDERR, b, out),
            ShimEvent::Started { pid } => encode_frame(STARTED, &pid.to_be_bytes(), out),
            ShimEvent::Exited {
                exit_code,
                oom_killed,
            } => {
                let c = exit_code.to_be_bytes();
                encode_frame(EXITED, &[c[0], c[1], c[2], c[3], *oom_killed as u8], out)
            }
            ShimEvent::Error(t) => encode_frame(ERROR, t.as_bytes(), out),
            ShimEvent::Status(s) => {
                // Serialising two plain fields cannot fail.
                let body = serde_json::to_vec(s).unwrap_or_default();
                encode_frame(STATUS_REPLY, &body, out)
            }
            ShimEvent::ExecStarted { pid } => encode_frame(EXEC_STARTED, &pid.to_be_bytes(), out),
            ShimEvent::ExecExited { exit_code } => {
                encode_frame(EXEC_EXITED, &exit_code.to_be_bytes(), out)
            }
            ShimEvent::ExecFailed(f) => {
                let body = serde_json::to_vec(f).unwrap_or_default();
                encode_frame(EXEC_FAILED, &body, out)
            }
        }
    }

    /// Decodes an event frame. `Ok(None)` for an unknown kind (skip it).
    pub fn decode(kind: u8, payload: Vec<u8>) -> Result<Option<ShimEvent>, RuntimeError> {
        Ok(Some(match kind {
            STDOUT => ShimEvent::Stdout(payload),
            STDERR => ShimEvent::Stderr(payload),
            STARTED => ShimEvent::Started {
                pid: u32::from_be_bytes(fixed::<4>("STARTED", &payload)?),
            },
            EXITED => {
                let b = fixed::<5>("EXITED", &payload)?;
                ShimEvent::Exited {
                    exit_code: i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    oom_killed: b[4] != 0,
                }
            }
            ERROR => ShimEvent::Error(String::from_utf8_lossy(&payload).into_owned()),
            STATUS_REPLY => {
                ShimEvent::Status(serde_json::from_slice(&payload).map_err(|e| {
                    RuntimeError::Protocol(format!("bad STATUS_REPLY payload: {e}"))
                })?)
            }
            EXEC_STARTED => ShimEvent::ExecStarted {
                pid: u32::from_be_bytes(fixed::<4>("EXEC_STARTED", &payload)?),
            },
            EXEC_EXITED => ShimEvent::ExecExited {
                exit_code: i32::from_be_bytes(fixed::<4>("EXEC_EXITED", &payload)?),
            },
            EXEC_FAILED => ShimEvent::ExecFailed(
                serde_json::from_slice(&payload)
                    .map_err(|e| RuntimeError::Protocol(format!("bad EXEC_FAILED payload: {e}")))?,
            ),
            _ => return Ok(None),
        }))
    }
}

/// Incremental frame splitter for non-blocking readers: feed bytes with
/// [`FrameBuf::extend`], take whole frames with [`FrameBuf::next_frame`].
#[derive(Debug, Default)]
pub struct FrameBuf {
    buf: Vec<u8>,
    start: usize,
}

impl FrameBuf {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn extend(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered but not yet returned as frames.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame as `(kind, payload)`, `Ok(None)` if more bytes
    /// are needed, `Err` for an oversized frame.
    pub fn next_frame(&mut self) -> Result<Option<(u8, Vec<u8>)>, RuntimeError> {
        let avail = &self.buf[self.start..];
        if avail.len() < HEADER_LEN {
            self.compact();
            return Ok(None);
        }
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&avail[..HEADER_LEN]);
        let (kind, len) = parse_header(&h)?;
        if avail.len() < HEADER_LEN + len {
            self.compact();
            return Ok(None);
        }
        let payload = avail[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.start += HEADER_LEN + len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            if self.buf.capacity() > 64 * 1024 {
                self.buf = Vec::new();
            }
        }
        Ok(Some((kind, payload)))
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

/// The one JSON line the shim writes on its stdout once the container is
/// created (or could not be): `{"ok":true,"pid":N}` or
/// `{"ok":false,"error":"...","exit_code":N}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyAnswer {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

impl ReadyAnswer {
    pub fn ok(pid: u32) -> Self {
        ReadyAnswer {
            ok: true,
            pid: Some(pid),
            error: None,
            exit_code: None,
        }
    }

    pub fn err(error: impl Into<String>, exit_code: i32) -> Self {
        ReadyAnswer {
            ok: false,
            pid: None,
            error: Some(error.into()),
            exit_code: Some(exit_code),
        }
    }

    /// The answer as one line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_else(|_| b"{\"ok\":false}".to_vec());
        v.push(b'\n');
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let reqs = [
            ShimRequest::Start,
            ShimRequest::Stdin(b"echo hi\n".to_vec()),
            ShimRequest::CloseStdin,
            ShimRequest::Resize {
                rows: 40,
                cols: 132,
            },
            ShimRequest::Signal(15),
            ShimRequest::Status,
            ShimRequest::Subscribe,
            ShimRequest::Exec(Box::new(ExecSpec {
                args: vec!["sh".into()],
                env: vec!["A=1".into()],
                cwd: "/tmp".into(),
                user: "nobody".into(),
                tty: true,
                stdin: true,
                privileged: false,
                console: Some((24, 80)),
            })),
        ];
        let mut wire = Vec::new();
        for r in &reqs {
            r.encode(&mut wire);
        }
        // byte-exact checks of the contract's layout
        assert_eq!(&wire[..5], &[0x01, 0, 0, 0, 0]);
        let mut fb = FrameBuf::new();
        let mut got = Vec::new();
        // feed one byte at a time to exercise partial frames
        for b in wire {
            fb.extend(&[b]);
            while let Some((k, p)) = fb.next_frame().unwrap() {
                got.push(ShimRequest::decode(k, p).unwrap().unwrap());
            }
        }
        assert_eq!(got, reqs);
        assert_eq!(fb.pending(), 0);
    }

    #[test]
    fn events_round_trip() {
        let evs = [
            ShimEvent::Stdout(b"hi\n".to_vec()),
            ShimEvent::Stderr(vec![]),
            ShimEvent::Started { pid: 4242 },
            ShimEvent::Exited {
                exit_code: 143,
                oom_killed: true,
            },
            ShimEvent::Error("start failed".into()),
            ShimEvent::Status(StatusReply {
                state: ShimState::Running,
                pid: 7,
            }),
            ShimEvent::ExecStarted { pid: 99 },
            ShimEvent::ExecExited { exit_code: 127 },
            ShimEvent::ExecFailed(ExecFailure {
                error: "exec: \"x\": executable file not found in $PATH".into(),
                exit_code: 127,
            }),
        ];
        let mut wire = Vec::new();
        for e in &evs {
            e.encode(&mut wire);
        }
        let mut fb = FrameBuf::new();
        fb.extend(&wire);
        let mut got = Vec::new();
        while let Some((k, p)) = fb.next_frame().unwrap() {
            got.push(ShimEvent::decode(k, p).unwrap().unwrap());
        }
        assert_eq!(got, evs);
    }

    #[test]
    fn exact_bytes() {
        let mut w = Vec::new();
        ShimEvent::Exited {
            exit_code: 3,
            oom_killed: false,
        }
        .encode(&mut w);
        assert_eq!(w, [0x14, 0, 0, 0, 5, 0, 0, 0, 3, 0]);
        let mut w = Vec::new();
        ShimRequest::Resize { rows: 1, cols: 2 }.encode(&mut w);
        assert_eq!(w, [0x04, 0, 0, 0, 4, 0, 1, 0, 2]);
        let mut w = Vec::new();
        ShimEvent::Status(StatusReply {
            state: ShimState::Created,
            pid: 9,
        })
        .encode(&mut w);
        assert_eq!(&w[5..], br#"{"state":"created","pid":9}"#);
    }

    #[test]
    fn bad_frames() {
        let mut fb = FrameBuf::new();
        fb.extend(&[0x02, 0xff, 0xff, 0xff, 0xff]);
        assert!(fb.next_frame().is_err());
        assert!(ShimRequest::decode(RESIZE, vec![1, 2, 3]).is_err());
        assert!(ShimRequest::decode(0x7f, vec![]).unwrap().is_none());
        assert!(ShimEvent::decode(STATUS_REPLY, b"{".to_vec()).is_err());
    }

    #[test]
    fn ready_answer_lines() {
        assert_eq!(ReadyAnswer::ok(12).to_line(), b"{\"ok\":true,\"pid\":12}\n");
        let e = ReadyAnswer::err("exec: \"foo\": executable file not found in $PATH", 127);
        let line = e.to_line();
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            "{\"ok\":false,\"error\":\"exec: \\\"foo\\\": executable file not found in $PATH\",\"exit_code\":127}\n"
        );
        let back: ReadyAnswer = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, e);
    }
}
