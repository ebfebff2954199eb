//! ADD's auto-extraction of local archives: tar, plain or compressed with
//! gzip, bzip2, xz or zstd (detected by content, as Docker does), turned
//! into plan entries. Entries may not leave the destination: `..` paths,
//! relative symlinks pointing out and writes through an archive's own
//! symlink are refused, as moby's archive package refuses "breakouts".

use std::io::Read;
use std::path::Path;

use crate::copy::join_rel;
use crate::error::{BuildError, IoContext, Result};
use crate::layer::{PlanEntry, PlanKind};

/// A local tar (plain, gzip, bzip2, xz or zstd, detected by content as
/// Docker does) as plan entries, or None if `path` is not an archive.
pub(crate) fn extract_archive(path: &Path) -> Result<Option<Vec<(String, PlanEntry)>>> {
    let mut head = [0u8; 512];
    let n = {
        let mut f = std::fs::File::open(path).ctx(|| format!("opening {}", path.display()))?;
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) => return Err(BuildError::io(format!("reading {}", path.display()), e)),
            }
        }
        n
    };
    let f = std::fs::File::open(path).ctx(|| format!("opening {}", path.display()))?;
    let decoder: Option<Box<dyn Read>> = if n >= 2 && head[..2] == [0x1f, 0x8b] {
        Some(Box::new(flate2::read::GzDecoder::new(f)))
    } else if n >= 3 && &head[..3] == b"BZh" {
        Some(Box::new(bzip2::read::BzDecoder::new(f)))
    } else if n >= 6 && head[..6] == [0xfd, b'7', b'z', b'X', b'Z', 0x00] {
        // lzma-rs decodes into a writer; the plan holds contents in memory
        // anyway.
        let mut raw = Vec::new();
        let mut input = std::io::BufReader::new(f);
        if lzma_rs::xz_decompress(&mut input, &mut raw).is_err() {
            return Ok(None);
        }
        Some(Box::new(std::io::Cursor::new(raw)))
    } else if n >= 4 && head[..4] == [0x28, 0xb5, 0x2f, 0xfd] {
        match zstd::stream::read::Decoder::new(f) {
            Ok(d) => Some(Box::new(d)),
            Err(_) => return Ok(None),
        }
    } else {
        None
    };
    // As moby's IsArchivePath: a compressed file is an archive only if
    // what it decompresses to starts with a tar header; anything else
    // (a corrupt stream, a compressed text file) is copied as it is.
    let reader: Box<dyn Read> = match decoder {
        Some(mut d) => {
            let mut raw = Vec::new();
            if d.read_to_end(&mut raw).is_err() || !is_tar_header(&raw) {
                return Ok(None);
            }
            Box::new(std::io::Cursor::new(raw))
        }
        None if n >= 512 && is_tar_header(&head) => {
            Box::new(std::fs::File::open(path).ctx(|| format!("opening {}", path.display()))?)
        }
        None => return Ok(None),
    };
    let display = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut archive = tar::Archive::new(reader);
    let mut out: Vec<(String, PlanEntry)> = Vec::new();
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(_) => return Ok(None),
    };
    for entry in entries {
        let mut entry = entry.ctx(|| format!("reading archive {}", path.display()))?;
        let name = entry
            .path()
            .ctx(|| "archive entry path".into())?
            .to_string_lossy()
            .into_owned();
        let rel = safe_entry_path(&name).ok_or_else(|| breakout(&display, &name))?;
        if rel.is_empty() {
            continue;
        }
        // Nothing may be written through a symlink the archive made.
        if out.iter().any(|(p, e)| {
            matches!(e.kind, PlanKind::Symlink(_)) && rel.starts_with(&format!("{p}/"))
        }) {
            return Err(breakout(&display, &name));
        }
        let h = entry.header();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let uid = h.uid().unwrap_or(0) as u32;
        let gid = h.gid().unwrap_or(0) as u32;
        let mtime = h.mtime().unwrap_or(0);
        let kind = match h.entry_type() {
            tar::EntryType::Directory => PlanKind::Dir,
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default();
                // Relative links must stay inside the extracted tree
                // (absolute ones resolve inside the image's root).
                if !link.starts_with('/') {
                    let parent = rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    if safe_entry_path(&join_rel(parent, &link)).is_none() {
                        return Err(BuildError::Invalid(format!(
                            "failed to extract archive {display}: invalid symlink {name:?} -> {link:?}"
                        )));
                    }
                }
                PlanKind::Symlink(link)
            }
            tar::EntryType::Link => {
                let link = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let target = safe_entry_path(&link).ok_or_else(|| {
                    BuildError::Invalid(format!(
                        "failed to extract archive {display}: invalid hardlink {name:?} -> {link:?}"
                    ))
                })?;
                let target = target.as_str();
                match out.iter().rev().find(|(p, _)| p == target) {
                    Some((_, e)) => e.kind.clone(),
                    None => continue,
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut buf = Vec::new();
                entry
                    .read_to_end(&mut buf)
                    .ctx(|| format!("reading {name} from {}", path.display()))?;
                PlanKind::Content(buf)
            }
            _ => continue,
        };
        out.push((
            rel,
            PlanEntry {
                kind,
                mode,
                uid,
                gid,
                mtime,
            },
        ));
    }
    Ok(Some(out))
}

/// An archive entry's path relative to the extraction root, or None when
/// `..` would take it outside (as moby's archive package, which refuses
/// such "breakout" entries instead of cleaning them).
fn safe_entry_path(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// A plausible first tar header: the ustar magic, or (old v7 tars) a
/// matching header checksum.
fn is_tar_header(b: &[u8]) -> bool {
    if b.len() < 512 {
        return false;
    }
    if &b[257..262] == b"ustar" {
        return true;
    }
    let stored = std::str::from_utf8(&b[148..156])
        .ok()
        .map(|s| s.trim_matches(|c: char| c == '\0' || c == ' '))
        .and_then(|s| u32::from_str_radix(s, 8).ok());
    let sum: u32 = b[..512]
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if (148..156).contains(&i) {
                32
            } else {
                c as u32
            }
        })
        .sum();
    b[0] != 0 && stored == Some(sum)
}

fn breakout(archive: &str, entry: &str) -> BuildError {
    BuildError::Invalid(format!(
        "failed to extract archive {archive}: {entry:?} is outside of the destination"
    ))
}
