//! Layer and archive streams arrive plain, gzip, zstd or bzip2 compressed;
//! the magic bytes say which, like Docker's `DecompressStream`.

use std::io::{self, BufReader, Read};

use crate::error::{ImageError, IoContext, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Bzip2,
}

impl Compression {
    /// OCI media type of a layer blob with this compression.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::Bzip2 => "application/x-bzip2",
        }
    }
}

pub fn detect(head: &[u8]) -> Result<Compression> {
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        return Err(ImageError::bad(
            "xz-compressed archives are not supported; decompress first",
        ));
    } else {
        Compression::None
    })
}

/// Wraps `src` in the right decoder. The returned reader yields the plain tar.
pub fn decompress<'a, R: Read + 'a>(src: R) -> Result<(Box<dyn Read + 'a>, Compression)> {
    decoder(src, true)
}

/// [`decompress`] for a stream whose digest the caller verifies (a pulled
/// layer blob): gzip members' CRC-32 is not computed (see `gzip_members`).
pub fn decompress_digest_verified<'a, R: Read + 'a>(
    src: R,
) -> Result<(Box<dyn Read + 'a>, Compression)> {
    decoder(src, false)
}

fn decoder<'a, R: Read + 'a>(
    mut src: R,
    gzip_crc: bool,
) -> Result<(Box<dyn Read + 'a>, Compression)> {
    // A pipe may hand out one byte at a time: read the magic fully before
    // deciding, then put it back in front of the stream.
    let mut head = [0u8; 8];
    let mut n = 0;
    while n < head.len() {
        match src.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ImageError::io("reading archive", e)),
        }
    }
    let kind = detect(&head[..n])?;
    let buf = BufReader::with_capacity(256 * 1024, io::Cursor::new(head[..n].to_vec()).chain(src));
    let reader: Box<dyn Read + 'a> = match kind {
        Compression::None => Box::new(buf),
        // Multi-member gzip exists in the wild (pigz, concatenated layers).
        Compression::Gzip if gzip_crc => Box::new(flate2::bufread::MultiGzDecoder::new(buf)),
        Compression::Gzip => Box::new(crate::gzip_members::GzipMembers::new(buf)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(buf).ctx(|| "starting zstd decoder".into())?,
        ),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(buf)),
    };
    Ok((reader, kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn round_trips_each_kind() {
        let data = b"hello layer".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::encode_all(&data[..], 1).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&data).unwrap();
        let bz = bz.finish().unwrap();
        for (input, kind) in [
            (data.clone(), Compression::None),
            (gz, Compression::Gzip),
            (zs, Compression::Zstd),
            (bz, Compression::Bzip2),
        ] {
            let (mut r, k) = decompress(&input[..]).unwrap();
            assert_eq!(k, kind);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
    }

    #[test]
    fn empty_input_is_plain() {
        let (mut r, k) = decompress(&b""[..]).unwrap();
        assert_eq!(k, Compression::None);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert!(out.is_empty());
    }
}
