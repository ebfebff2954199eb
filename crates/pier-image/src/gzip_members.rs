//! Gzip (RFC 1952, one or more members) decoded as raw deflate, without
//! the CRC-32 of each member.
//!
//! Only for streams whose digest the caller verifies anyway: a pulled
//! layer's blob is checked against its sha256 digest and its tar against
//! the diff ID, so gzip's own CRC adds nothing there but cost. It was 3.5%
//! of a pull's CPU, all of it on the inflating thread, the pull's
//! bottleneck. Each member's length (ISIZE) is still checked.

use std::io::{self, BufRead, Read};

use flate2::bufread::DeflateDecoder;

const RESERVED_FLAGS: u8 = 0xe0;
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;

enum State<R> {
    /// Before a member's header; `first` for the stream's first member
    /// (an empty stream is not gzip, but the end after a member is fine).
    Header {
        src: R,
        first: bool,
    },
    Body {
        inflate: DeflateDecoder<R>,
        out: u64,
    },
    Done,
    /// Taken out while switching states.
    Empty,
}

/// A reader of the concatenated members' plain data.
pub struct GzipMembers<R: BufRead> {
    state: State<R>,
}

impl<R: BufRead> GzipMembers<R> {
    pub fn new(src: R) -> Self {
        GzipMembers {
            state: State::Header { src, first: true },
        }
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("gzip: {msg}"))
}

fn byte<R: BufRead>(src: &mut R) -> io::Result<u8> {
    let mut b = [0u8; 1];
    src.read_exact(&mut b)
        .map_err(|e| eof_is_truncation(e, "truncated header"))?;
    Ok(b[0])
}

fn eof_is_truncation(e: io::Error, what: &str) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        io::Error::new(io::ErrorKind::UnexpectedEof, format!("gzip: {what}"))
    } else {
        e
    }
}

fn skip_zero_terminated<R: BufRead>(src: &mut R) -> io::Result<()> {
    while byte(src)? != 0 {}
    Ok(())
}

/// Reads one member header. `Ok(false)`: the stream ended before it.
fn read_header<R: BufRead>(src: &mut R, first: bool) -> io::Result<bool> {
    if src.fill_buf()?.is_empty() {
        return if first {
            Err(bad("empty stream"))
        } else {
            Ok(false)
        };
    }
    let mut fixed = [0u8; 10];
    src.read_exact(&mut fixed)
        .map_err(|e| eof_is_truncation(e, "truncated header"))?;
    if fixed[0] != 0x1f || fixed[1] != 0x8b {
        return Err(bad("invalid header"));
    }
    if fixed[2] != 8 {
        return Err(bad("unknown compression method"));
    }
    let flags = fixed[3];
    if flags & RESERVED_FLAGS != 0 {
        return Err(bad("reserved header flags set"));
    }
    if flags & FEXTRA != 0 {
        let len = u16::from_le_bytes([byte(src)?, byte(src)?]);
        let skipped = io::copy(&mut src.take(u64::from(len)), &mut io::sink())?;
        if skipped != u64::from(len) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "gzip: truncated header",
            ));
        }
    }
    if flags & FNAME != 0 {
        skip_zero_terminated(src)?;
    }
    if flags & FCOMMENT != 0 {
        skip_zero_terminated(src)?;
    }
    if flags & FHCRC != 0 {
        byte(src)?;
        byte(src)?;
    }
    Ok(true)
}

impl<R: BufRead> Read for GzipMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match std::mem::replace(&mut self.state, State::Empty) {
                State::Header { mut src, first } => {
                    if read_header(&mut src, first)? {
                        self.state = State::Body {
                            inflate: DeflateDecoder::new(src),
                            out: 0,
                        };
                    } else {
                        self.state = State::Done;
                    }
                }
                State::Body { mut inflate, out } => {
                    let n = inflate.read(buf)?;
                    if n > 0 {
                        self.state = State::Body {
                            inflate,
                            out: out + n as u64,
                        };
                        return Ok(n);
                    }
                    // The deflate stream ended; the decoder consumed exactly
                    // its bytes, so the trailer comes next.
                    let mut src = inflate.into_inner();
                    let mut trailer = [0u8; 8];
                    src.read_exact(&mut trailer)
                        .map_err(|e| eof_is_truncation(e, "truncated trailer"))?;
                    let isize =
                        u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
                    // ISIZE is the length modulo 2^32.
                    if u64::from(isize) != out & 0xffff_ffff {
                        return Err(bad("length in trailer does not match the data"));
                    }
                    self.state = State::Header { src, first: false };
                }
                State::Done => {
                    self.state = State::Done;
                    return Ok(0);
                }
                State::Empty => return Err(bad("reader used after an error")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8], level: u32) -> Vec<u8> {
        let mut e = flate2::GzBuilder::new()
            .filename("layer.tar")
            .comment("made by a test")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), flate2::Compression::new(level));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn decode(input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        GzipMembers::new(input).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn decodes_what_flate2_writes_with_header_fields_and_many_members() {
        let a: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let b = b"second member".repeat(1000);
        assert_eq!(decode(&gz(&a, 6)).unwrap(), a);
        let mut two = gz(&a, 1);
        two.extend(gz(&b, 9));
        let mut both = a.clone();
        both.extend(&b);
        assert_eq!(decode(&two).unwrap(), both);
        assert_eq!(decode(&gz(b"", 6)).unwrap(), b"");
    }

    #[test]
    fn truncated_corrupt_and_foreign_streams_are_errors() {
        let data = b"some layer bytes ".repeat(5000);
        let good = gz(&data, 6);
        for cut in [3, 12, good.len() / 2, good.len() - 4] {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut wrong_len = good.clone();
        let n = wrong_len.len();
        wrong_len[n - 1] ^= 0x40;
        assert!(decode(&wrong_len).is_err());
        let mut garbage_after = good.clone();
        garbage_after.extend(b"not gzip");
        assert!(decode(&garbage_after).is_err());
        assert!(decode(b"").is_err());
        assert!(decode(b"plain tar").is_err());
    }
}
