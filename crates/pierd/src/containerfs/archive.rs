//! `docker cp` and `docker export` on the daemon side: Docker's path stat
//! (X-Docker-Container-Path-Stat), a tar of a path (rebased to the name the
//! user gave, `.` kept for `dir/.`), extraction into a directory, and the
//! whole rootfs as a tar. Every lookup starts at the container's root with
//! `RESOLVE_IN_ROOT`, and walks go from directory fd to directory fd with
//! `O_NOFOLLOW`, so a symlink inside the container cannot lead out.

use std::ffi::OsStr;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use serde::Serialize;

use super::{fd_path, open_in};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("Could not find the file {path} in container {container}")]
    NotFound { path: String, container: String },
    #[error("extraction point is not a directory")]
    NotADirectory,
    #[error("{0}")]
    Io(String),
}

/// Docker's `container.PathStat`.
#[derive(Debug, Clone, Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (the header is the only user).
pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl PathStat {
    /// The header value: base64 of the JSON.
    pub fn header(&self) -> String {
        base64(&serde_json::to_vec(self).unwrap_or_default())
    }
}

/// Go's `os.FileMode` bits for a stat.
pub fn go_mode(st: &Stat) -> u32 {
    let mode = st.st_mode;
    let mut out = mode & 0o777;
    out |= match FileType::from_raw_mode(mode) {
        FileType::Directory => 1 << 31,
        FileType::Symlink => 1 << 27,
        FileType::Fifo => 1 << 25,
        FileType::Socket => 1 << 24,
        FileType::CharacterDevice => (1 << 26) | (1 << 21),
        FileType::BlockDevice => 1 << 26,
        _ => 0,
    };
    if mode & 0o4000 != 0 {
        out |= 1 << 23;
    }
    if mode & 0o2000 != 0 {
        out |= 1 << 22;
    }
    if mode & 0o1000 != 0 {
        out |= 1 << 20;
    }
    out
}

fn is_dir(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

/// `/a/./b/../c` → `/a/c`.
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A path resolved inside the root.
pub struct Resolved {
    /// `O_PATH` fd on the entry (its final link followed only when asked).
    pub fd: OwnedFd,
    pub stat: Stat,
    /// The name its tar entries get (Docker's rebase name).
    pub base: String,
    /// The container path, cleaned.
    pub abs: String,
}

/// Resolves `user_path` like Docker's `ResolvePath`: links in the parent
/// dirs are followed (inside the root); the last component only when the
/// path ends in `/` or `/.`.
pub fn resolve(
    root: impl AsFd,
    user_path: &str,
    container: &str,
) -> Result<Resolved, ArchiveError> {
    let not_found = || ArchiveError::NotFound {
        path: user_path.to_string(),
        container: container.to_string(),
    };
    let abs_in = if user_path.starts_with('/') {
        user_path.to_string()
    } else {
        format!("/{user_path}")
    };
    let follow = abs_in.ends_with('/') || abs_in.ends_with("/.");
    let abs = clean(&abs_in);
    let base = if abs_in.ends_with("/.") {
        ".".to_string()
    } else {
        match abs.rsplit_once('/') {
            Some((_, n)) if !n.is_empty() => n.to_string(),
            _ => ".".to_string(),
        }
    };
    let mut flags = OFlags::PATH;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = open_in(&root, &abs, flags).map_err(|e| match e {
        rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP => {
            not_found()
        }
        e => ArchiveError::Io(format!("resolving {user_path}: {e}")),
    })?;
    let stat =
        rustix::fs::fstat(&fd).map_err(|e| ArchiveError::Io(format!("stat {user_path}: {e}")))?;
    if follow && !is_dir(&stat) {
        return Err(ArchiveError::Io(format!("{user_path}: not a directory")));
    }
    Ok(Resolved {
        fd,
        stat,
        base,
        abs,
    })
}

fn rfc3339(sec: i64, nsec: i64) -> String {
    chrono::DateTime::from_timestamp(sec, nsec.clamp(0, 999_999_999) as u32)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// Docker's stat of a resolved path.
pub fn stat_of(r: &Resolved) -> PathStat {
    let mut link_target = String::new();
    if FileType::from_raw_mode(r.stat.st_mode) == FileType::Symlink {
        if let Ok(t) = rustix::fs::readlinkat(&r.fd, "", Vec::new()) {
            let t = t.to_string_lossy().into_owned();
            let parent = r.abs.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
            let joined = if t.starts_with('/') {
                t
            } else {
                format!("{parent}/{t}")
            };
            // The target as a path in the container.
            link_target = clean(&joined);
        }
    }
    PathStat {
        name: r.base.clone(),
        size: r.stat.st_size,
        mode: go_mode(&r.stat),
        mtime: rfc3339(r.stat.st_mtime, r.stat.st_mtime_nsec as i64),
        link_target,
    }
}

fn io_err(what: &str, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{what}: {e}"))
}

fn header_for(st: &Stat) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

/// A GNU long-name (`L`) or long-link (`K`) record for `value`.
fn gnu_long<W: Write>(tar: &mut tar::Builder<W>, kind: u8, value: &[u8]) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    let name = b"././@LongLink";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::new(kind));
    let mut data = value.to_vec();
    data.push(0);
    h.set_size(data.len() as u64);
    h.set_cksum();
    tar.append(&h, &data[..])
}

/// Appends an entry named exactly `name` (the tar crate's own path setter
/// drops `./`, which Docker's `dir/.` copies need), with a long-name
/// record when it does not fit the header.
fn append_named<W: Write>(
    tar: &mut tar::Builder<W>,
    h: &mut tar::Header,
    name: &str,
    link: Option<&[u8]>,
    data: impl std::io::Read,
) -> std::io::Result<()> {
    let bytes = name.as_bytes();
    let field = &mut h.as_old_mut().name;
    field.fill(0);
    if bytes.len() <= field.len() {
        field[..bytes.len()].copy_from_slice(bytes);
    } else {
        gnu_long(tar, b'L', bytes)?;
        let n = field.len();
        h.as_old_mut().name.copy_from_slice(&bytes[..n]);
    }
    if let Some(target) = link {
        let lf = &mut h.as_old_mut().linkname;
        lf.fill(0);
        if target.len() <= lf.len() {
            lf[..target.len()].copy_from_slice(target);
        } else {
            gnu_long(tar, b'K', target)?;
            let n = lf.len();
            h.as_old_mut().linkname.copy_from_slice(&target[..n]);
        }
    }
    h.set_cksum();
    tar.append(h, data)
}

/// Appends the entry `name` of directory `dir` (and everything below a
/// directory) as `tar_name`.
fn append_entry<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &OwnedFd,
    name: &OsStr,
    tar_name: &str,
) -> std::io::Result<()> {
    let st =
        rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| io_err("stat", e))?;
    let mut h = header_for(&st);
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            h.set_entry_type(tar::EntryType::Directory);
            let dname = format!("{}/", tar_name.trim_end_matches('/'));
            append_named(tar, &mut h, &dname, None, std::io::empty())?;
            let sub = rustix::fs::openat(
                dir,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err("open dir", e))?;
            append_children(tar, &sub, tar_name.trim_end_matches('/'))?;
        }
        FileType::RegularFile => {
            let f = rustix::fs::openat(
                dir,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err("open", e))?;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(st.st_size as u64);
            let file = std::fs::File::from(f);
            append_named(
                tar,
                &mut h,
                tar_name,
                None,
                std::io::Read::take(file, st.st_size as u64),
            )?;
        }
        FileType::Symlink => {
            let target =
                rustix::fs::readlinkat(dir, name, Vec::new()).map_err(|e| io_err("readlink", e))?;
            h.set_entry_type(tar::EntryType::Symlink);
            append_named(
                tar,
                &mut h,
                tar_name,
                Some(target.as_bytes()),
                std::io::empty(),
            )?;
        }
        FileType::Fifo => {
            h.set_entry_type(tar::EntryType::Fifo);
            append_named(tar, &mut h, tar_name, None, std::io::empty())?;
        }
        FileType::CharacterDevice | FileType::BlockDevice => {
            let char = FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice;
            h.set_entry_type(if char {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            });
            h.set_device_major(rustix::fs::major(st.st_rdev))?;
            h.set_device_minor(rustix::fs::minor(st.st_rdev))?;
            append_named(tar, &mut h, tar_name, None, std::io::empty())?;
        }
        // Sockets are not archived (as in Docker).
        _ => {}
    }
    Ok(())
}

fn append_children<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &OwnedFd,
    prefix: &str,
) -> std::io::Result<()> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    let d = rustix::fs::Dir::read_from(dir).map_err(|e| io_err("read dir", e))?;
    for e in d {
        let e = e.map_err(|e| io_err("read dir", e))?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    names.sort();
    for n in names {
        let name = OsStr::from_bytes(&n);
        let tar_name = if prefix.is_empty() {
            name.to_string_lossy().into_owned()
        } else {
            format!("{prefix}/{}", name.to_string_lossy())
        };
        append_entry(tar, dir, name, &tar_name)?;
    }
    Ok(())
}

/// Writes a tar of the resolved path, its entries named after `base`.
pub fn write_tar<W: Write>(root: impl AsFd, r: &Resolved, out: W) -> std::io::Result<W> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let (parent, name) = match r.abs.rsplit_once('/') {
        Some((p, n)) if !n.is_empty() => (if p.is_empty() { "/" } else { p }, n.to_string()),
        _ => ("/", ".".to_string()),
    };
    if name == "." || r.base == "." && is_dir(&r.stat) {
        // The directory's contents under "./" (Docker's `dir/.`), or "/".
        let dirfd = open_in(&root, &r.abs, OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| io_err("open dir", e))?;
        let mut h = header_for(&r.stat);
        h.set_entry_type(tar::EntryType::Directory);
        append_named(&mut tar, &mut h, "./", None, std::io::empty())?;
        append_children(&mut tar, &dirfd, ".")?;
    } else {
        let pfd = open_in(&root, parent, OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| io_err("open parent", e))?;
        // The final entry may have been reached through a followed link
        // (`path/`): archive what the fd refers to.
        if is_dir(&r.stat) {
            let dirfd = rustix::fs::openat(
                &r.fd,
                "",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .or_else(|_| open_in(&root, &r.abs, OFlags::RDONLY | OFlags::DIRECTORY))
            .map_err(|e| io_err("open dir", e))?;
            let mut h = header_for(&r.stat);
            h.set_entry_type(tar::EntryType::Directory);
            append_named(
                &mut tar,
                &mut h,
                &format!("{}/", r.base),
                None,
                std::io::empty(),
            )?;
            append_children(&mut tar, &dirfd, &r.base)?;
        } else {
            append_entry(&mut tar, &pfd, OsStr::new(&name), &r.base)?;
        }
    }
    tar.into_inner()
}

/// The whole root as a tar (`docker export`).
pub fn export_tar<W: Write>(root: impl AsFd, out: W) -> std::io::Result<W> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let dirfd = open_in(&root, "/", OFlags::RDONLY | OFlags::DIRECTORY)
        .map_err(|e| io_err("open root", e))?;
    append_children(&mut tar, &dirfd, "")?;
    tar.into_inner()
}

/// Opens the directory to extract into (links followed, inside the root).
pub fn extraction_dir(
    root: impl AsFd,
    user_path: &str,
    container: &str,
) -> Result<OwnedFd, ArchiveError> {
    let abs = clean(user_path);
    match open_in(&root, &abs, OFlags::PATH) {
        Ok(fd) => {
            let st = rustix::fs::fstat(&fd).map_err(|e| ArchiveError::Io(e.to_string()))?;
            if !is_dir(&st) {
                return Err(ArchiveError::NotADirectory);
            }
            Ok(fd)
        }
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => Err(ArchiveError::NotFound {
            path: user_path.to_string(),
            container: container.to_string(),
        }),
        Err(e) => Err(ArchiveError::Io(format!("resolving {user_path}: {e}"))),
    }
}

/// Extracts a tar into an extraction dir (see [`extraction_dir`]).
pub fn extract(dir: &OwnedFd, src: impl std::io::Read) -> Result<(), ArchiveError> {
    pier_image::LayerUnpacker::unpack(src, fd_path(dir))
        .map(|_| ())
        .map_err(|e| ArchiveError::Io(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_of(d: &tempfile::TempDir) -> OwnedFd {
        rustix::fs::open(d.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap()
    }

    fn names(tar_bytes: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn tar_names_and_links_stay_inside() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc/sub")).unwrap();
        std::fs::write(d.path().join("etc/a"), "A").unwrap();
        std::fs::write(d.path().join("etc/sub/b"), "B").unwrap();
        let long = "x".repeat(150);
        std::fs::write(d.path().join("etc/sub").join(&long), "L").unwrap();
        std::os::unix::fs::symlink("/etc", d.path().join("link")).unwrap();
        std::os::unix::fs::symlink("/", d.path().join("up")).unwrap();
        let root = root_of(&d);
        let r = resolve(&root, "/etc", "c").unwrap();
        assert_eq!(r.base, "etc");
        let t = write_tar(&root, &r, Vec::new()).unwrap();
        assert_eq!(
            names(&t),
            [
                "etc/",
                "etc/a",
                "etc/sub/",
                "etc/sub/b",
                &format!("etc/sub/{long}")
            ]
        );
        let r = resolve(&root, "/etc/.", "c").unwrap();
        let t = write_tar(&root, &r, Vec::new()).unwrap();
        assert_eq!(
            names(&t),
            ["./", "./a", "./sub/", "./sub/b", &format!("./sub/{long}")]
        );
        // The link itself, not its target, unless asked with a slash.
        let r = resolve(&root, "/link", "c").unwrap();
        let st = stat_of(&r);
        assert_eq!(st.link_target, "/etc");
        assert_ne!(st.mode & (1 << 27), 0);
        let r = resolve(&root, "/link/", "c").unwrap();
        assert!(is_dir(&r.stat));
        // "/up/../../.." can only reach the root itself.
        let r = resolve(&root, "/up/../../../etc/a", "c").unwrap();
        assert_eq!(r.stat.st_size, 1);
        assert!(matches!(
            resolve(&root, "/nope", "c"),
            Err(ArchiveError::NotFound { .. })
        ));
        assert!(matches!(
            extraction_dir(&root, "/etc/a", "c"),
            Err(ArchiveError::NotADirectory)
        ));
    }
}
