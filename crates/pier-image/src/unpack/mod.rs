//! Unpacking a layer tar into a directory without ever touching anything
//! outside it, converting OCI whiteouts to overlayfs' form on the way.

mod root;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;
use tracing::debug;

use crate::error::{ImageError, Result};
use crate::records::UnpackStats;
use root::{join, lstat_type, remove_any, Components, Root};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

/// Unpacks layer tars safely; see [`LayerUnpacker::unpack`].
pub struct LayerUnpacker;

impl LayerUnpacker {
    /// Unpacks the plain tar `src` into `target_dir` (created if missing).
    ///
    /// Paths are made relative; `..` that climbs above the root is rejected
    /// ("breakout"), symlinks are created as given but only ever resolved
    /// inside the root, hardlinks must point inside, device nodes are skipped,
    /// `.wh.NAME` becomes a 0:0 character device and `.wh..wh..opq` the
    /// `trusted.overlay.opaque=y` xattr. Owners, modes (incl. setuid), mtimes
    /// and `security.capability`/`user.*` xattrs are kept.
    pub fn unpack(src: impl Read, target_dir: impl AsRef<Path>) -> Result<UnpackStats> {
        let target = target_dir.as_ref();
        match std::fs::create_dir(target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(ImageError::io(format!("creating {}", target.display()), e)),
        }
        let root = Root::open(target).map_err(|e| sys("opening layer root", e))?;
        let mut state = Unpacker {
            root,
            is_root: rustix::process::geteuid().is_root(),
            stats: UnpackStats::default(),
            dirs: Vec::new(),
            buf: vec![0u8; 128 * 1024],
        };
        let mut archive = tar::Archive::new(src);
        let entries = archive
            .entries()
            .map_err(|e| ImageError::bad(format!("reading layer tar: {e}")))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| ImageError::bad(format!("reading layer tar: {e}")))?;
            state.stats.entries += 1;
            state.apply(&mut entry)?;
        }
        state.finish_dirs();
        Ok(state.stats)
    }
}

struct Unpacker {
    root: Root,
    is_root: bool,
    stats: UnpackStats,
    /// Directory mtimes are set at the end: creating children changes them.
    dirs: Vec<(Components, Timestamps)>,
    buf: Vec<u8>,
}

/// The metadata of one entry, PAX overrides applied.
struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: Timespec,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn sys(what: &str, e: Errno) -> ImageError {
    let io: std::io::Error = e.into();
    // Running out of space is the host's problem; anything else came from
    // what the archive asked for.
    match e {
        Errno::NOSPC | Errno::DQUOT | Errno::IO | Errno::ROFS | Errno::NOMEM => {
            ImageError::io(what.to_string(), io)
        }
        _ => ImageError::bad(format!("{what}: {io}")),
    }
}

/// Lexically cleans a tar path: leading `/` and `./` go, `a/../b` is `b`,
/// and `..` above the root is refused like Docker's breakout check.
pub(crate) fn clean_path(raw: &[u8]) -> std::result::Result<Components, String> {
    let mut out: Components = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(format!(
                        "{:?} is outside of the layer root (breakout)",
                        String::from_utf8_lossy(raw)
                    ));
                }
            }
            p => out.push(OsStr::from_bytes(p).to_os_string()),
        }
    }
    Ok(out)
}

fn show(comps: &[OsString]) -> String {
    join(comps).display().to_string()
}

impl Unpacker {
    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        let comps =
            clean_path(&raw).map_err(|e| ImageError::bad(format!("invalid tar entry: {e}")))?;
        let kind = entry.header().entry_type();
        let meta = self.meta(entry)?;
        let Some((name, parent)) = comps.split_last() else {
            if kind.is_dir() {
                return self.root_dir(&meta);
            }
            return Err(ImageError::bad(format!(
                "invalid tar entry {:?}: a non-directory would replace the layer root",
                String::from_utf8_lossy(&raw)
            )));
        };
        let name_bytes = name.as_bytes();
        if name_bytes.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(parent, name, &meta);
        }
        let dir = self
            .root
            .ensure_dir(parent)
            .map_err(|e| sys(&format!("creating parent of {}", show(&comps)), e))?;
        let what = show(&comps);
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                if lstat_type(&dir, name).map_err(|e| sys(&what, e))? != Some(FileType::Directory) {
                    remove_any(&dir, name).map_err(|e| sys(&what, e))?;
                    rfs::mkdirat(&dir, name, Mode::from_raw_mode(0o700))
                        .map_err(|e| sys(&format!("mkdir {what}"), e))?;
                }
                let fd = self.root.open_dir_rw(&comps).map_err(|e| sys(&what, e))?;
                self.set_owner_mode_xattrs(&fd, &meta, &what)?;
                self.dirs.push((comps.clone(), times(&meta)));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                remove_any(&dir, name).map_err(|e| sys(&what, e))?;
                let fd = rfs::openat(
                    &dir,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| sys(&format!("creating {what}"), e))?;
                let mut file = File::from(fd);
                self.stats.bytes += copy_data(entry, &mut file, &mut self.buf, &what)?;
                self.set_owner_mode_xattrs(&file, &meta, &what)?;
                rfs::futimens(&file, &times(&meta)).map_err(|e| sys(&what, e))?;
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                if target.is_empty() {
                    return Err(ImageError::bad(format!("symlink {what} has no target")));
                }
                remove_any(&dir, name).map_err(|e| sys(&what, e))?;
                rfs::symlinkat(OsStr::from_bytes(&target), &dir, name)
                    .map_err(|e| sys(&format!("symlink {what}"), e))?;
                self.chown_nofollow(&dir, name, &meta, &what)?;
                rfs::utimensat(&dir, name, &times(&meta), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| sys(&what, e))?;
            }
            T::Link => self.hardlink(entry, &comps, &dir, name)?,
            T::Fifo => {
                remove_any(&dir, name).map_err(|e| sys(&what, e))?;
                rfs::mknodat(
                    &dir,
                    name,
                    FileType::Fifo,
                    Mode::from_raw_mode(meta.mode & 0o777),
                    0,
                )
                .map_err(|e| sys(&format!("mkfifo {what}"), e))?;
                self.chown_nofollow(&dir, name, &meta, &what)?;
                rfs::utimensat(&dir, name, &times(&meta), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| sys(&what, e))?;
            }
            T::Char | T::Block => {
                debug!("skipping device node {what} in layer");
                self.stats.skipped += 1;
            }
            other => {
                debug!("skipping tar entry {what} of type {other:?}");
                self.stats.skipped += 1;
            }
        }
        Ok(())
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>) -> Result<Meta> {
        let h = entry.header();
        let bad = |e: std::io::Error| ImageError::bad(format!("invalid tar header: {e}"));
        let mut meta = Meta {
            mode: h.mode().map_err(bad)? & 0o7777,
            uid: h.uid().map_err(bad)?,
            gid: h.gid().map_err(bad)?,
            mtime: Timespec {
                tv_sec: h.mtime().map_err(bad)? as i64,
                tv_nsec: 0,
            },
            xattrs: Vec::new(),
        };
        if let Some(exts) = entry.pax_extensions().map_err(bad)? {
            for ext in exts {
                let ext = ext.map_err(bad)?;
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                let text = std::str::from_utf8(value).unwrap_or("");
                match key {
                    "uid" => {
                        meta.uid = text
                            .parse()
                            .map_err(|_| ImageError::bad("invalid PAX uid"))?
                    }
                    "gid" => {
                        meta.gid = text
                            .parse()
                            .map_err(|_| ImageError::bad("invalid PAX gid"))?
                    }
                    "mtime" => meta.mtime = pax_time(text).unwrap_or(meta.mtime),
                    k => {
                        if let Some(name) = k.strip_prefix(PAX_XATTR_PREFIX) {
                            meta.xattrs.push((name.to_string(), value.to_vec()));
                        }
                    }
                }
            }
        }
        Ok(meta)
    }

    fn root_dir(&mut self, meta: &Meta) -> Result<()> {
        let fd = self
            .root
            .open_dir_rw(&[])
            .map_err(|e| sys("layer root", e))?;
        self.set_owner_mode_xattrs(&fd, meta, "/")?;
        self.dirs.push((Vec::new(), times(meta)));
        Ok(())
    }

    fn whiteout(&mut self, parent: &[OsString], name: &OsStr, meta: &Meta) -> Result<()> {
        let name_bytes = name.as_bytes();
        let what = show(&[parent, &[name.to_os_string()]].concat());
        if name_bytes == OPAQUE_MARKER.as_bytes() {
            self.root
                .ensure_dir(parent)
                .map_err(|e| sys(&format!("opaque dir of {what}"), e))?;
            let fd = self.root.open_dir_rw(parent).map_err(|e| sys(&what, e))?;
            rfs::fsetxattr(&fd, OVERLAY_OPAQUE_XATTR, b"y", rfs::XattrFlags::empty())
                .map_err(|e| sys(&format!("marking {} opaque", show(parent)), e))?;
            self.stats.whiteouts += 1;
            return Ok(());
        }
        let hidden = &name_bytes[WHITEOUT_PREFIX.len()..];
        if hidden.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            // aufs bookkeeping (.wh..wh.plnk and friends): meaningless here.
            debug!("skipping aufs metadata entry {what}");
            self.stats.skipped += 1;
            return Ok(());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(ImageError::bad(format!("invalid whiteout entry {what}")));
        }
        let hidden = OsStr::from_bytes(hidden);
        let dir = self.root.ensure_dir(parent).map_err(|e| sys(&what, e))?;
        remove_any(&dir, hidden).map_err(|e| sys(&what, e))?;
        rfs::mknodat(
            &dir,
            hidden,
            FileType::CharacterDevice,
            Mode::empty(),
            rfs::makedev(0, 0),
        )
        .map_err(|e| sys(&format!("creating whiteout for {what}"), e))?;
        self.chown_nofollow(&dir, hidden, meta, &what)?;
        self.stats.whiteouts += 1;
        Ok(())
    }

    fn hardlink<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        comps: &[OsString],
        dir: &impl AsFd,
        name: &OsStr,
    ) -> Result<()> {
        let what = show(comps);
        let raw = entry
            .link_name_bytes()
            .map(|c| c.into_owned())
            .unwrap_or_default();
        let src = clean_path(&raw)
            .map_err(|e| ImageError::bad(format!("invalid hardlink {what}: target {e}")))?;
        let Some((src_name, src_parent)) = src.split_last() else {
            return Err(ImageError::bad(format!(
                "invalid hardlink {what}: empty target"
            )));
        };
        if src.as_slice() == comps {
            debug!("skipping hardlink {what} to itself");
            return Ok(());
        }
        let src_dir = self
            .root
            .open_dir(src_parent)
            .map_err(|e| sys(&format!("hardlink {what} -> {}", show(&src)), e))?;
        remove_any(dir, name).map_err(|e| sys(&what, e))?;
        // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
        rfs::linkat(&src_dir, src_name, dir, name, AtFlags::empty())
            .map_err(|e| sys(&format!("hardlink {what} -> {}", show(&src)), e))?;
        Ok(())
    }

    fn set_owner_mode_xattrs(&self, fd: &impl AsFd, meta: &Meta, what: &str) -> Result<()> {
        // chown first: it clears setuid bits and file capabilities.
        match rfs::fchown(fd, Some(uid(meta.uid)?), Some(gid(meta.gid)?)) {
            Ok(()) => {}
            Err(Errno::PERM) if !self.is_root => {}
            Err(e) => return Err(sys(&format!("chown {what}"), e)),
        }
        rfs::fchmod(fd, Mode::from_raw_mode(meta.mode))
            .map_err(|e| sys(&format!("chmod {what}"), e))?;
        for (key, value) in &meta.xattrs {
            // trusted.overlay.* from a tar could forge overlayfs redirects or
            // opaque dirs; only capabilities and user attributes are kept.
            if key != "security.capability" && !key.starts_with("user.") {
                debug!("ignoring xattr {key} on {what}");
                continue;
            }
            match rfs::fsetxattr(fd, key.as_str(), value, rfs::XattrFlags::empty()) {
                Ok(()) => {}
                Err(Errno::PERM | Errno::NOTSUP) if !self.is_root || key.starts_with("user.") => {
                    debug!("could not set xattr {key} on {what}");
                }
                Err(e) => return Err(sys(&format!("setting xattr {key} on {what}"), e)),
            }
        }
        Ok(())
    }

    fn chown_nofollow(&self, dir: &impl AsFd, name: &OsStr, meta: &Meta, what: &str) -> Result<()> {
        match rfs::chownat(
            dir,
            name,
            Some(uid(meta.uid)?),
            Some(gid(meta.gid)?),
            AtFlags::SYMLINK_NOFOLLOW,
        ) {
            Ok(()) => Ok(()),
            Err(Errno::PERM) if !self.is_root => Ok(()),
            Err(e) => Err(sys(&format!("chown {what}"), e)),
        }
    }

    fn finish_dirs(&mut self) {
        for (comps, ts) in self.dirs.drain(..).rev() {
            // The directory may since have been replaced by a file or symlink;
            // then its time no longer matters.
            if let Ok(fd) = self.root.open_dir_rw(&comps) {
                if let Err(e) = rfs::futimens(&fd, &ts) {
                    debug!("could not set mtime of {}: {e}", show(&comps));
                }
            }
        }
    }
}

fn uid(v: u64) -> Result<Uid> {
    let raw = u32::try_from(v).map_err(|_| ImageError::bad(format!("uid {v} out of range")))?;
    // SAFETY-free: from_raw only rejects nothing; -1 would mean "unchanged".
    if raw == u32::MAX {
        return Err(ImageError::bad("uid 4294967295 is not valid"));
    }
    Ok(Uid::from_raw(raw))
}

fn gid(v: u64) -> Result<Gid> {
    let raw = u32::try_from(v).map_err(|_| ImageError::bad(format!("gid {v} out of range")))?;
    if raw == u32::MAX {
        return Err(ImageError::bad("gid 4294967295 is not valid"));
    }
    Ok(Gid::from_raw(raw))
}

fn times(meta: &Meta) -> Timestamps {
    Timestamps {
        last_access: meta.mtime,
        last_modification: meta.mtime,
    }
}

/// PAX times are decimal seconds with an optional fraction.
fn pax_time(s: &str) -> Option<Timespec> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    let mut nanos = String::from(frac);
    nanos.truncate(9);
    while nanos.len() < 9 {
        nanos.push('0');
    }
    let tv_nsec = nanos.parse().ok()?;
    Some(Timespec { tv_sec, tv_nsec })
}

fn copy_data<R: Read>(src: &mut R, dst: &mut File, buf: &mut [u8], what: &str) -> Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match src.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ImageError::bad(format!(
                    "reading {what} from layer tar: {e}"
                )))
            }
        };
        dst.write_all(&buf[..n])
            .map_err(|e| ImageError::io(format!("writing {what}"), e))?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        let c = |s: &str| clean_path(s.as_bytes()).map(|v| show(&v));
        assert_eq!(c("./a/b").unwrap(), "a/b");
        assert_eq!(c("/abs/path").unwrap(), "abs/path");
        assert_eq!(c("a/../b").unwrap(), "b");
        assert_eq!(c("a//b/").unwrap(), "a/b");
        assert_eq!(c("./").unwrap(), ".");
        assert!(c("../escape").is_err());
        assert!(c("a/../../escape").is_err());
        assert!(c("/../x").is_err());
    }

    #[test]
    fn pax_times() {
        let t = pax_time("1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        assert!(pax_time("x").is_none());
    }
}
