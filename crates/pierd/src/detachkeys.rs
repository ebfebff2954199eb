//! Docker's detach keys (`ctrl-p,ctrl-q` by default): parsing the
//! `detachKeys` option and spotting the sequence in a client's stdin.

/// Docker's default sequence: ctrl-p, ctrl-q.
pub const DEFAULT: [u8; 2] = [16, 17];

/// Parses Docker's format: comma-separated `ctrl-<x>` or single characters.
/// Errors read like Docker's.
pub fn parse(s: &str) -> Result<Vec<u8>, String> {
    if s.is_empty() {
        return Ok(DEFAULT.to_vec());
    }
    let mut out = Vec::new();
    for key in s.split(',') {
        let k = key.trim();
        if k.len() == 1 {
            out.push(k.as_bytes()[0]);
            continue;
        }
        let code = k.strip_prefix("ctrl-").and_then(|c| {
            let c = c.to_ascii_lowercase();
            match c.as_str() {
                "@" => Some(0),
                "[" => Some(27),
                "\\" => Some(28),
                "]" => Some(29),
                "^" => Some(30),
                "_" => Some(31),
                _ if c.len() == 1 && c.as_bytes()[0].is_ascii_lowercase() => {
                    Some(c.as_bytes()[0] - b'a' + 1)
                }
                _ => None,
            }
        });
        match code {
            Some(b) => out.push(b),
            None => return Err(format!("Unknown character: '{k}'")),
        }
    }
    Ok(out)
}

/// Watches a byte stream for the detach sequence. Bytes that could start
/// the sequence are held back until it is clear they are not part of it.
#[derive(Debug, Clone)]
pub struct Scanner {
    keys: Vec<u8>,
    matched: usize,
}

impl Scanner {
    pub fn new(keys: Vec<u8>) -> Self {
        Scanner { keys, matched: 0 }
    }

    /// Feeds `data`; returns the bytes to forward and whether the sequence
    /// was completed (bytes after it are dropped).
    pub fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(data.len());
        if self.keys.is_empty() {
            out.extend_from_slice(data);
            return (out, false);
        }
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            // Not the sequence: release what was held back.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return (out, true);
                }
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_formats() {
        assert_eq!(parse("").unwrap(), vec![16, 17]);
        assert_eq!(parse("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse("ctrl-x,a").unwrap(), vec![24, b'a']);
        assert_eq!(parse("ctrl-@").unwrap(), vec![0]);
        assert_eq!(
            parse("ctrl-xx").unwrap_err(),
            "Unknown character: 'ctrl-xx'"
        );
    }

    #[test]
    fn finds_sequence_across_chunks() {
        let mut s = Scanner::new(vec![16, 17]);
        assert_eq!(s.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(s.feed(b"\x11zz"), (vec![], true));
        let mut s = Scanner::new(vec![16, 17]);
        assert_eq!(s.feed(b"\x10x"), (b"\x10x".to_vec(), false));
        assert_eq!(s.feed(b"\x10\x10\x11"), (b"\x10".to_vec(), true));
    }
}
