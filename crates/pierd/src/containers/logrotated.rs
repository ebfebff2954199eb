//! Reading the json-file log's rotated files (`<log>.1` newest … `<log>.N`
//! oldest, written by the shim's rotation) for `logs`, before the live file.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// The rotated files that exist, oldest first.
pub fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut n = 1;
    loop {
        let p = rotated(path, n);
        if !p.exists() {
            break;
        }
        out.push(p);
        n += 1;
    }
    out.reverse();
    out
}

fn read_lines(p: &Path) -> Vec<Vec<u8>> {
    let Ok(f) = std::fs::File::open(p) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut r = BufReader::new(f);
    loop {
        let mut l = Vec::new();
        match r.read_until(b'\n', &mut l) {
            Ok(0) | Err(_) => break,
            Ok(_) if l.last() == Some(&b'\n') => out.push(l),
            Ok(_) => break,
        }
    }
    out
}

fn count_lines(p: &Path) -> usize {
    std::fs::read(p)
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}

/// The lines of the rotated files that `logs` shows before the live file:
/// all of them, or with `tail = Some(n)` only as many as the live file
/// lacks to make up `n`. Blocking.
pub fn older_lines(path: &Path, tail: Option<usize>) -> Vec<Vec<u8>> {
    let files = rotated_files(path);
    if files.is_empty() {
        return Vec::new();
    }
    let need = match tail {
        None => usize::MAX,
        Some(n) => n.saturating_sub(count_lines(path)),
    };
    if need == 0 {
        return Vec::new();
    }
    let mut picked: Vec<Vec<u8>> = Vec::new();
    // newest rotated file first, taking lines from its end
    for f in files.iter().rev() {
        let mut lines = read_lines(f);
        let room = need - picked.len();
        if lines.len() > room {
            lines.drain(..lines.len() - room);
        }
        lines.extend(picked);
        picked = lines;
        if picked.len() >= need {
            break;
        }
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_lines_respect_tail() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x-json.log");
        std::fs::write(rotated(&p, 2), "a\nb\n").unwrap();
        std::fs::write(rotated(&p, 1), "c\nd\n").unwrap();
        std::fs::write(&p, "e\n").unwrap();
        let s = |v: Vec<Vec<u8>>| String::from_utf8(v.concat()).unwrap();
        assert_eq!(s(older_lines(&p, None)), "a\nb\nc\nd\n");
        assert_eq!(s(older_lines(&p, Some(1))), "");
        assert_eq!(s(older_lines(&p, Some(2))), "d\n");
        assert_eq!(s(older_lines(&p, Some(4))), "b\nc\nd\n");
        assert_eq!(s(older_lines(&p, Some(99))), "a\nb\nc\nd\n");
        assert_eq!(rotated_files(&p).len(), 2);
    }
}
