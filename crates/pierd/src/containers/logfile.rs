//! Reading the json-file log the shim writes: one JSON object per line,
//! `{"log":"hi\n","stream":"stdout","time":"...Z"}`.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use pier_api::stream::{encode_frame, StreamKind};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct LogEntry {
    pub log: String,
    pub stream: String,
    pub time: DateTime<Utc>,
    /// Extra attributes (`--log-opt labels/env`), shown by `--details`.
    #[serde(default)]
    pub attrs: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub timestamps: bool,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// `None` = all lines.
    pub tail: Option<usize>,
    pub follow: bool,
    /// `--details`: each line is prefixed with its attributes and a space.
    pub details: bool,
}

impl LogOptions {
    /// Renders one entry for the wire, or `None` if filtered out.
    pub fn render(&self, e: &LogEntry, tty: bool) -> Option<Vec<u8>> {
        let kind = match e.stream.as_str() {
            "stderr" if self.stderr => StreamKind::Stderr,
            "stdout" if self.stdout => StreamKind::Stdout,
            _ => return None,
        };
        if self.since.is_some_and(|s| e.time < s) || self.until.is_some_and(|u| e.time > u) {
            return None;
        }
        let mut payload = Vec::with_capacity(e.log.len() + 32);
        if self.timestamps {
            payload.extend_from_slice(rfc3339_nano_fixed(&e.time).as_bytes());
            payload.push(b' ');
        }
        if self.details {
            let attrs: Vec<String> = e
                .attrs
                .iter()
                .flatten()
                .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
                .collect();
            payload.extend_from_slice(attrs.join(",").as_bytes());
            payload.push(b' ');
        }
        payload.extend_from_slice(e.log.as_bytes());
        if tty {
            return Some(payload);
        }
        let mut out = Vec::with_capacity(payload.len() + 8);
        encode_frame(kind, &payload, &mut out);
        Some(out)
    }
}

/// Docker's `RFC3339NanoFixed`: always nine fraction digits.
pub fn rfc3339_nano_fixed(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Docker's `since`/`until`: unix seconds with an optional fraction
/// (`1700000000.123456789`) or an RFC 3339 time. Empty or "0" is absent.
pub fn parse_time(s: &str) -> Result<Option<DateTime<Utc>>, String> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs
        .parse()
        .map_err(|_| format!("invalid time value: {s}"))?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(9).collect();
        let n: u32 = digits
            .parse()
            .map_err(|_| format!("invalid time value: {s}"))?;
        n * 10u32.pow(9 - digits.len() as u32)
    };
    DateTime::from_timestamp(secs, nanos)
        .map(Some)
        .ok_or_else(|| format!("invalid time value: {s}"))
}

/// Docker's `tail`: "all", empty, negative or non-numbers mean everything.
pub fn parse_tail(s: Option<&str>) -> Option<usize> {
    let s = s?.trim();
    s.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .map(|n| n as usize)
}

/// Byte offset where the last `n` lines of the file start. Reads backwards
/// in blocks, so a large log costs only its tail.
pub fn tail_offset(file: &mut std::fs::File, n: usize) -> std::io::Result<u64> {
    let len = file.seek(SeekFrom::End(0))?;
    if n == 0 {
        return Ok(len);
    }
    const BLOCK: u64 = 64 * 1024;
    let mut pos = len;
    let mut newlines = 0usize;
    let mut buf = vec![0u8; BLOCK as usize];
    // A trailing newline ends the last line; it does not start a new one.
    let mut skip_last = true;
    while pos > 0 {
        let start = pos.saturating_sub(BLOCK);
        let size = (pos - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..size])?;
        for i in (0..size).rev() {
            if buf[i] == b'\n' {
                if skip_last && start + i as u64 == len - 1 {
                    skip_last = false;
                    continue;
                }
                newlines += 1;
                if newlines == n {
                    return Ok(start + i as u64 + 1);
                }
            }
        }
        skip_last = false;
        pos = start;
    }
    Ok(0)
}

/// Opens the log positioned for `tail`. A missing file reads as empty.
pub fn open_at_tail(
    path: &Path,
    tail: Option<usize>,
) -> std::io::Result<Option<(std::fs::File, u64)>> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let off = match tail {
        Some(n) => tail_offset(&mut f, n)?,
        None => 0,
    };
    f.seek(SeekFrom::Start(off))?;
    Ok(Some((f, off)))
}

/// Go's `url.QueryEscape`, which dockerd applies to `--details` attrs.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn tail_offsets() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"a\nb\nc\n").unwrap();
        assert_eq!(tail_offset(&mut f, 1).unwrap(), 4);
        assert_eq!(tail_offset(&mut f, 2).unwrap(), 2);
        assert_eq!(tail_offset(&mut f, 5).unwrap(), 0);
        assert_eq!(tail_offset(&mut f, 0).unwrap(), 6);
    }

    #[test]
    fn times() {
        let t = parse_time("1700000000.5").unwrap().unwrap();
        assert_eq!(t.timestamp(), 1_700_000_000);
        assert_eq!(t.timestamp_subsec_nanos(), 500_000_000);
        assert!(parse_time("").unwrap().is_none());
        assert!(parse_time("2024-01-01T00:00:00Z").unwrap().is_some());
        assert!(parse_time("abc").is_err());
        assert_eq!(parse_tail(Some("all")), None);
        assert_eq!(parse_tail(Some("3")), Some(3));
        assert_eq!(parse_tail(Some("zz")), None);
    }

    #[test]
    fn render_frames_and_timestamps() {
        let e: LogEntry = serde_json::from_str(
            r#"{"log":"hi\n","stream":"stdout","time":"2026-11-23T08:00:00.123456789Z"}"#,
        )
        .unwrap();
        let o = LogOptions {
            stdout: true,
            timestamps: true,
            ..Default::default()
        };
        let raw = o.render(&e, true).unwrap();
        assert_eq!(raw, b"2026-11-23T08:00:00.123456789Z hi\n");
        let framed = o.render(&e, false).unwrap();
        assert_eq!(framed[0], 1);
        let only_err = LogOptions {
            stderr: true,
            ..Default::default()
        };
        assert!(only_err.render(&e, false).is_none());
    }
}
