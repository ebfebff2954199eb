//! Docker's multiplexed stdio stream (`application/vnd.docker.multiplexed-stream`):
//! each frame is an 8-byte header `[stream, 0, 0, 0, len as u32 BE]` then `len` bytes.

/// Which stdio stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StreamKind {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
    /// Errors from the daemon itself, sent in-band.
    System = 3,
}

impl StreamKind {
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Stdin),
            1 => Some(Self::Stdout),
            2 => Some(Self::Stderr),
            3 => Some(Self::System),
            _ => None,
        }
    }
}

pub const MULTIPLEXED_CONTENT_TYPE: &str = "application/vnd.docker.multiplexed-stream";
pub const RAW_CONTENT_TYPE: &str = "application/vnd.docker.raw-stream";

/// Encodes one frame; an empty payload yields no frame.
pub fn encode_frame(kind: StreamKind, payload: &[u8], out: &mut Vec<u8>) {
    for chunk in payload.chunks(u32::MAX as usize) {
        out.push(kind as u8);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        out.extend_from_slice(chunk);
    }
}

/// Incremental decoder: feed bytes, take whole frames.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Returns the next complete frame, or `None` if more bytes are needed.
    /// An unknown stream byte is reported as `Err` with the offending byte.
    pub fn next_frame(&mut self) -> Result<Option<(StreamKind, Vec<u8>)>, u8> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let kind = StreamKind::from_byte(self.buf[0]).ok_or(self.buf[0])?;
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < 8 + len {
            return Ok(None);
        }
        let payload = self.buf[8..8 + len].to_vec();
        self.buf.drain(..8 + len);
        Ok(Some((kind, payload)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_across_split_reads() {
        let mut wire = Vec::new();
        encode_frame(StreamKind::Stdout, b"hello\n", &mut wire);
        encode_frame(StreamKind::Stderr, b"oops", &mut wire);
        let mut dec = FrameDecoder::new();
        let mut got = Vec::new();
        for b in wire.chunks(3) {
            dec.push(b);
            while let Some(f) = dec.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(
            got,
            vec![
                (StreamKind::Stdout, b"hello\n".to_vec()),
                (StreamKind::Stderr, b"oops".to_vec())
            ]
        );
    }

    #[test]
    fn header_layout_matches_docker() {
        let mut wire = Vec::new();
        encode_frame(StreamKind::Stderr, &[7u8; 258], &mut wire);
        assert_eq!(&wire[..8], &[2, 0, 0, 0, 0, 0, 1, 2]);
    }
}
