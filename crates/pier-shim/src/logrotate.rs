//! json-file rotation as Docker does it: when a write would take the log
//! past `max-size`, `<log>.N-1` is dropped, `<log>.i` becomes `<log>.i+1`,
//! the live file becomes `<log>.1`, and a new live file starts. With
//! `max-file` 1 the live file is truncated instead. pierd reads the rotated
//! files, oldest first, before the live one.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub struct Rotation {
    path: PathBuf,
    size: u64,
    max_size: u64,
    max_files: u32,
}

/// `<log>.<n>`.
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl Rotation {
    pub fn new(path: PathBuf, size: u64) -> Rotation {
        Rotation {
            path,
            size,
            max_size: 0,
            max_files: 1,
        }
    }

    pub fn configure(&mut self, max_size: u64, max_files: u32) {
        self.max_size = max_size;
        self.max_files = max_files.max(1);
    }

    pub fn enabled(&self) -> bool {
        self.max_size > 0
    }

    pub fn wrote(&mut self, n: u64) {
        self.size += n;
    }

    /// Rotates if writing `n` more bytes would pass `max-size`; returns the
    /// new live file to write to.
    pub fn before_write(&mut self, n: u64) -> Option<File> {
        if self.max_size == 0 || self.size == 0 || self.size + n <= self.max_size {
            return None;
        }
        match self.rotate() {
            Ok(f) => {
                self.size = 0;
                Some(f)
            }
            Err(e) => {
                crate::slog!("rotating {}: {e}", self.path.display());
                None
            }
        }
    }

    fn rotate(&self) -> std::io::Result<File> {
        if self.max_files > 1 {
            let _ = std::fs::remove_file(rotated(&self.path, self.max_files - 1));
            for i in (1..self.max_files - 1).rev() {
                match std::fs::rename(rotated(&self.path, i), rotated(&self.path, i + 1)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
            OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o640)
                .open(&self.path)
        } else {
            let f = OpenOptions::new().append(true).open(&self.path)?;
            f.set_len(0)?;
            Ok(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::jsonlog::{JsonLog, Stream};

    use super::*;

    fn lines(p: &Path) -> usize {
        std::fs::read_to_string(p)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    #[test]
    fn keeps_max_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut l = JsonLog::open(&p).unwrap().with_rotation(300, 3);
        for i in 0..40 {
            l.write(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        assert!(p.exists() && rotated(&p, 1).exists() && rotated(&p, 2).exists());
        assert!(!rotated(&p, 3).exists());
        for f in [p.clone(), rotated(&p, 1), rotated(&p, 2)] {
            assert!(
                std::fs::metadata(&f).unwrap().len() <= 300,
                "{}",
                f.display()
            );
        }
        // the newest line is in the live file, older ones in .1, .2
        let live = std::fs::read_to_string(&p).unwrap();
        assert!(live.contains("line 39"));
        let one = std::fs::read_to_string(rotated(&p, 1)).unwrap();
        let n1: Vec<&str> = one.lines().collect();
        assert!(!n1.is_empty() && !one.contains("line 39"));
        assert!(lines(&p) + lines(&rotated(&p, 1)) + lines(&rotated(&p, 2)) < 40);
    }

    #[test]
    fn one_file_truncates() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut l = JsonLog::open(&p).unwrap().with_rotation(200, 1);
        for i in 0..30 {
            l.write(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        assert!(!rotated(&p, 1).exists());
        assert!(std::fs::metadata(&p).unwrap().len() <= 200);
        assert!(std::fs::read_to_string(&p).unwrap().contains("line 29"));
    }
}
