//! sha256 digests: computing them while streaming, and validating the
//! `sha256:<64 hex>` strings that come from untrusted manifests.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::error::{ImageError, Result};

pub const SHA256_PREFIX: &str = "sha256:";

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("{SHA256_PREFIX}{}", sha256_hex(bytes))
}

pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Validates a `sha256:<hex>` digest and returns the hex part. Anything else
/// (other algorithms, uppercase, short) is refused: the hex becomes a file
/// name in the store, so it must never be able to carry a path.
pub fn parse_sha256(digest: &str) -> Result<&str> {
    match digest.strip_prefix(SHA256_PREFIX) {
        Some(hex) if is_hex64(hex) => Ok(hex),
        _ => Err(ImageError::bad(format!(
            "invalid digest {digest:?}: only sha256:<64 hex> digests are supported"
        ))),
    }
}

/// `sha256:abc...` → `abc...` (first 12 hex chars), Docker's short ID.
pub fn short_id(id: &str) -> String {
    let hex = id.strip_prefix(SHA256_PREFIX).unwrap_or(id);
    hex.chars().take(12).collect()
}

/// Docker's chain IDs: the identity of a layer together with everything below it.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => sha256_digest(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// Hashes everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads the rest of the stream (tar padding after the end marker counts
    /// towards the digest) and returns `(sha256:<hex>, bytes read)`.
    pub fn finish(self) -> io::Result<(String, u64)> {
        self.finish_into().map(|(d, n, _)| (d, n))
    }

    /// Like [`finish`](Self::finish), also handing back the inner reader.
    pub fn finish_into(mut self) -> io::Result<(String, u64, R)> {
        io::copy(&mut self, &mut io::sink())?;
        let hex = hex::encode(self.hasher.finalize());
        Ok((format!("{SHA256_PREFIX}{hex}"), self.count, self.inner))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Hashes everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    pub fn finish(self) -> (W, String, u64) {
        let hex = hex::encode(self.hasher.finalize());
        (self.inner, format!("{SHA256_PREFIX}{hex}"), self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Copies what it reads into a writer too (the uncompressed layer tar goes to
/// the unpacker and to the blob file in one pass).
pub struct TeeReader<R, W> {
    inner: R,
    copy: W,
}

impl<R: Read, W: Write> TeeReader<R, W> {
    pub fn new(inner: R, copy: W) -> Self {
        Self { inner, copy }
    }

    pub fn into_parts(self) -> (R, W) {
        (self.inner, self.copy)
    }
}

impl<R: Read, W: Write> Read for TeeReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(parse_sha256("sha256:../../etc").is_err());
        assert!(parse_sha256(&sha256_digest(b"x")).is_ok());
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }

    #[test]
    fn hashing_reader_counts_everything() {
        let mut r = HashingReader::new(&b"hello world"[..]);
        let mut five = [0u8; 5];
        r.read_exact(&mut five).unwrap();
        let (d, n) = r.finish().unwrap();
        assert_eq!(n, 11);
        assert_eq!(d, sha256_digest(b"hello world"));
    }

    #[test]
    fn chain_ids_match_docker() {
        let a = "sha256:a".to_string();
        let b = "sha256:b".to_string();
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], sha256_digest(b"sha256:a sha256:b"));
    }
}
