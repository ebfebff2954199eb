//! Streaming over a hijacked attach connection, as docker's
//! `hijackedIOStreamer`: output copied raw (TTY) or demultiplexed to
//! stdout/stderr, stdin forwarded with the detach-key escape (Ctrl-P Ctrl-Q)
//! and half-closed on EOF.

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use pier_api::stream::{FrameDecoder, StreamKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::output;

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("error from daemon in stream: {0}")]
    Daemon(String),
    #[error("Unrecognized input header: {0}")]
    BadHeader(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The output stream ended (the container's stdio closed).
    Ended,
    /// The user typed the detach sequence.
    Detached,
}

#[derive(Debug, Clone)]
pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    pub detach_keys: Vec<u8>,
}

/// moby/term `ToBytes`: `ctrl-p,ctrl-q`, single characters, `ctrl-[` etc.
pub fn parse_detach_keys(keys: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for k in keys.split(',') {
        let lower = k.to_ascii_lowercase();
        if let Some(c) = lower.strip_prefix("ctrl-") {
            let b = c.as_bytes();
            if b.len() != 1 {
                return Err(format!("Unknown character: '{k}'"));
            }
            let v = match b[0] {
                b'a'..=b'z' => b[0] - b'a' + 1,
                b'@' => 0,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => return Err(format!("Unknown character: '{k}'")),
            };
            out.push(v);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(format!("Unknown character: '{k}'"));
        }
    }
    Ok(out)
}

pub const DEFAULT_DETACH_KEYS: [u8; 2] = [16, 17];

/// The `--detach-keys` flag, else the config file's `detachKeys`, as
/// written (what docker sends the daemon as `detachKeys`).
pub fn detach_keys_setting(flag: Option<&str>) -> Option<String> {
    flag.map(str::to_string)
        .filter(|k| !k.is_empty())
        .or_else(|| crate::config::load().detach_keys)
        .filter(|k| !k.is_empty())
}

/// The detach keys to use: the flag, else the config file, else Ctrl-P Ctrl-Q.
pub fn detach_keys(flag: Option<&str>) -> Vec<u8> {
    let configured = flag
        .map(str::to_string)
        .or_else(|| crate::config::load().detach_keys);
    match configured {
        Some(k) if !k.is_empty() => parse_detach_keys(&k).unwrap_or_else(|e| {
            output::errln(&format!(
                "WARNING: invalid detach escape keys, using default: {e}"
            ));
            DEFAULT_DETACH_KEYS.to_vec()
        }),
        _ => DEFAULT_DETACH_KEYS.to_vec(),
    }
}

/// moby/term's escape proxy: holds back a partial escape sequence and
/// reports when the whole sequence was typed.
struct EscapeProxy {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeProxy {
    /// Returns the bytes to forward and whether the sequence completed.
    fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

/// Reads stdin on its own thread (a blocking read cannot be cancelled; the
/// process exits when the command is done).
fn stdin_reader() -> tokio::sync::mpsc::Receiver<Bytes> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    });
    rx
}

/// Copies the attach stream until it ends (or the user detaches).
pub async fn stream(conn: hyper::upgrade::Upgraded, s: Streams) -> Result<Outcome, AttachError> {
    let io = TokioIo::new(conn);
    let (mut rd, mut wr) = tokio::io::split(io);
    let want_output = s.stdout || s.stderr;
    let tty = s.tty;

    let output = async move {
        let mut buf = vec![0u8; 32 * 1024];
        let mut dec = FrameDecoder::new();
        loop {
            let n = rd.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            if tty {
                output::out_bytes(&buf[..n]);
                continue;
            }
            dec.push(&buf[..n]);
            while let Some((kind, payload)) = dec.next_frame().map_err(AttachError::BadHeader)? {
                match kind {
                    StreamKind::Stdout | StreamKind::Stdin => output::out_bytes(&payload),
                    StreamKind::Stderr => output::err_bytes(&payload),
                    StreamKind::System => {
                        return Err(AttachError::Daemon(
                            String::from_utf8_lossy(&payload).into_owned(),
                        ))
                    }
                }
            }
        }
        if tty {
            crate::tty::restore();
        }
        Ok::<(), AttachError>(())
    };

    let keys = s.detach_keys.clone();
    let use_escape = s.tty;
    let want_stdin = s.stdin;
    let input = async move {
        if want_stdin {
            let mut rx = stdin_reader();
            let mut proxy = EscapeProxy {
                keys: if use_escape { keys } else { Vec::new() },
                matched: 0,
            };
            while let Some(chunk) = rx.recv().await {
                let (data, detached) = proxy.feed(&chunk);
                if !data.is_empty() && wr.write_all(&data).await.is_err() {
                    break;
                }
                if detached {
                    crate::tty::restore();
                    return true;
                }
            }
            crate::tty::restore();
        }
        let _ = wr.shutdown().await;
        false
    };

    tokio::pin!(output);
    tokio::pin!(input);
    let mut input_done = false;
    loop {
        tokio::select! {
            r = &mut output => {
                r?;
                return Ok(Outcome::Ended);
            }
            detached = &mut input, if !input_done => {
                if detached {
                    return Ok(Outcome::Detached);
                }
                input_done = true;
                if !want_output {
                    return Ok(Outcome::Ended);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_key_parsing() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-[,a").unwrap(), vec![27, b'a']);
        assert!(parse_detach_keys("ctrl-").is_err());
        assert!(parse_detach_keys("foo").is_err());
    }

    #[test]
    fn escape_proxy() {
        let mut p = EscapeProxy {
            keys: vec![16, 17],
            matched: 0,
        };
        assert_eq!(p.feed(b"ab"), (b"ab".to_vec(), false));
        assert_eq!(p.feed(&[16]), (vec![], false));
        assert_eq!(p.feed(b"x"), (vec![16, b'x'], false));
        assert_eq!(p.feed(&[16, 17, b'z']), (vec![], true));
    }
}
