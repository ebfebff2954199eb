//! Docker's json-file log: one JSON object per line of output,
//! `{"log":"hi\n","stream":"stdout","time":"2026-11-23T08:00:00.123456789Z"}`.
//! A line longer than 16 KiB is split into partial entries (no trailing
//! newline in "log"), and a partial line is flushed at EOF.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Longest entry (Docker's buffer size).
pub const MAX_ENTRY: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

pub struct JsonLog {
    file: File,
    /// Rotation (`max-size`/`max-file`), see [`crate::logrotate`].
    rotation: crate::logrotate::Rotation,
    partial: [Vec<u8>; 2],
    out: Vec<u8>,
    time: String,
    failed: bool,
    /// `,"attrs":{...}` (`--log-opt labels/env/tag`), or empty.
    attrs: Vec<u8>,
}

impl JsonLog {
    pub fn open(path: &Path) -> std::io::Result<JsonLog> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(JsonLog {
            file,
            rotation: crate::logrotate::Rotation::new(PathBuf::from(path), size),
            partial: [Vec::new(), Vec::new()],
            out: Vec::new(),
            time: String::new(),
            failed: false,
            attrs: Vec::new(),
        })
    }

    /// Enables rotation: `max_size` bytes (0 = never), `max_files` kept.
    pub fn with_rotation(mut self, max_size: u64, max_files: u32) -> Self {
        self.rotation.configure(max_size, max_files);
        self
    }

    /// Adds Docker's `attrs` object to every entry.
    pub fn with_attrs(mut self, attrs: &std::collections::BTreeMap<String, String>) -> Self {
        self.attrs.clear();
        if attrs.is_empty() {
            return self;
        }
        self.attrs.extend_from_slice(b",\"attrs\":{");
        for (i, (k, v)) in attrs.iter().enumerate() {
            if i > 0 {
                self.attrs.push(b',');
            }
            push_json_string(&mut self.attrs, k.as_bytes());
            self.attrs.push(b':');
            push_json_string(&mut self.attrs, v.as_bytes());
        }
        self.attrs.push(b'}');
        self
    }

    /// Logs a chunk of output.
    #[link_section = ".text.hot.pier_monitor"]
    pub fn write(&mut self, stream: Stream, mut data: &[u8]) {
        self.time.clear();
        pier_runtime::push_rfc3339_nanos(SystemTime::now(), &mut self.time);
        let idx = stream as usize;
        while !data.is_empty() {
            match data.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    let (line, rest) = data.split_at(i + 1);
                    data = rest;
                    if self.partial[idx].is_empty() {
                        self.feed_line(stream, line);
                    } else {
                        let mut p = std::mem::take(&mut self.partial[idx]);
                        p.extend_from_slice(line);
                        self.feed_line(stream, &p);
                        p.clear();
                        if p.capacity() <= MAX_ENTRY * 2 {
                            self.partial[idx] = p;
                        }
                    }
                }
                None => {
                    self.partial[idx].extend_from_slice(data);
                    data = &[];
                    while self.partial[idx].len() >= MAX_ENTRY {
                        let rest = self.partial[idx].split_off(MAX_ENTRY);
                        let full = std::mem::replace(&mut self.partial[idx], rest);
                        self.entry(stream, &full);
                    }
                }
            }
        }
        self.flush();
    }

    /// A complete line (ending in '\n'), split at 16 KiB.
    #[link_section = ".text.hot.pier_monitor"]
    fn feed_line(&mut self, stream: Stream, line: &[u8]) {
        for chunk in line.chunks(MAX_ENTRY) {
            self.entry(stream, chunk);
        }
    }

    /// Writes out a pending partial line (at EOF of `stream`).
    pub fn finish(&mut self, stream: Stream) {
        let idx = stream as usize;
        if self.partial[idx].is_empty() {
            return;
        }
        self.time.clear();
        pier_runtime::push_rfc3339_nanos(SystemTime::now(), &mut self.time);
        let p = std::mem::take(&mut self.partial[idx]);
        self.entry(stream, &p);
        self.flush();
    }

    #[link_section = ".text.hot.pier_monitor"]
    fn entry(&mut self, stream: Stream, msg: &[u8]) {
        self.out.extend_from_slice(b"{\"log\":");
        push_json_string(&mut self.out, msg);
        self.out.extend_from_slice(b",\"stream\":\"");
        self.out.extend_from_slice(stream.name().as_bytes());
        self.out.push(b'"');
        self.out.extend_from_slice(&self.attrs);
        self.out.extend_from_slice(b",\"time\":\"");
        self.out.extend_from_slice(self.time.as_bytes());
        self.out.extend_from_slice(b"\"}\n");
        // With rotation, each entry is checked against max-size on its own,
        // as Docker does, so no file grows past it by a whole batch.
        if self.rotation.enabled() {
            self.flush();
        }
    }

    #[link_section = ".text.hot.pier_monitor"]
    fn flush(&mut self) {
        if self.out.is_empty() {
            return;
        }
        if let Some(f) = self.rotation.before_write(self.out.len() as u64) {
            self.file = f;
        }
        if let Err(e) = self.file.write_all(&self.out) {
            if !self.failed {
                crate::slog!("writing the container log: {e}");
                self.failed = true;
            }
        } else {
            self.failed = false;
            self.rotation.wrote(self.out.len() as u64);
        }
        self.out.clear();
        if self.out.capacity() > 4 * MAX_ENTRY {
            self.out = Vec::new();
        }
    }
}

/// Appends `bytes` as a JSON string; invalid UTF-8 becomes U+FFFD (like Go).
#[link_section = ".text.hot.pier_monitor"]
pub fn push_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    let v = c as usize;
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[v >> 4]);
                    out.push(HEX[v & 15]);
                }
                c => {
                    let mut b = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn lines_partials_and_escapes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x-json.log");
        let mut l = JsonLog::open(&p).unwrap();
        l.write(Stream::Stdout, b"hello\nwor");
        l.write(Stream::Stderr, b"oops \"q\" \\ \x01\xff\n");
        l.write(Stream::Stdout, b"ld\n\r\n");
        l.write(Stream::Stdout, &vec![b'a'; MAX_ENTRY + 10]);
        l.finish(Stream::Stdout);
        l.finish(Stream::Stderr);
        let e = entries(&p);
        assert_eq!(e[0]["log"], "hello\n");
        assert_eq!(e[0]["stream"], "stdout");
        assert_eq!(e[1]["log"], "oops \"q\" \\ \u{1}\u{fffd}\n");
        assert_eq!(e[1]["stream"], "stderr");
        assert_eq!(e[2]["log"], "world\n");
        assert_eq!(e[3]["log"], "\r\n");
        assert_eq!(e[4]["log"].as_str().unwrap().len(), MAX_ENTRY);
        assert_eq!(e[5]["log"].as_str().unwrap().len(), 10);
        assert_eq!(e.len(), 6);
        let t = e[0]["time"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok(), "{t}");
        assert_eq!(t.len(), "2026-11-23T08:00:00.123456789Z".len());
    }
}
