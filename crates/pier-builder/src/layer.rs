//! Writing layer tars: a RUN step's overlay upper dir (overlay whiteouts –
//! 0/0 character devices and `trusted.overlay.opaque` dirs – turned back
//! into OCI `.wh.` entries), and COPY/ADD plans.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use crate::error::{IoContext, Result};

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

fn header(kind: EntryType, mode: u32, uid: u64, gid: u64, mtime: u64, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode & 0o7777);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(mtime);
    h.set_size(size);
    h
}

fn is_opaque(path: &Path) -> bool {
    let mut buf = [0u8; 4];
    matches!(rustix::fs::lgetxattr(path, OPAQUE_XATTR, &mut buf), Ok(n) if &buf[..n] == b"y")
}

/// Tars an overlay upper dir as an OCI layer.
/// `clamp`: SOURCE_DATE_EPOCH; later mtimes are set to it (BuildKit's
/// rewrite-timestamp), so identical content gives identical layers.
pub fn write_diff_tar(upper: &Path, out: &Path, clamp: Option<u64>) -> Result<()> {
    let file = File::create(out).ctx(|| format!("creating {}", out.display()))?;
    let mut tar = tar::Builder::new(BufWriter::new(file));
    tar.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    walk_upper(&mut tar, upper, "", &mut links, clamp)?;
    let w = tar
        .into_inner()
        .ctx(|| format!("finishing {}", out.display()))?;
    w.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .ctx(|| format!("writing {}", out.display()))
}

fn walk_upper(
    tar: &mut tar::Builder<BufWriter<File>>,
    dir: &Path,
    rel: &str,
    links: &mut HashMap<(u64, u64), String>,
    clamp: Option<u64>,
) -> Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .ctx(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let name = name.to_string_lossy().into_owned();
        let rel_path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let meta = std::fs::symlink_metadata(&path).ctx(|| format!("stat {}", path.display()))?;
        let ft = meta.file_type();
        let mtime = meta.mtime().max(0) as u64;
        let mtime = clamp.map_or(mtime, |c| mtime.min(c));
        let (uid, gid) = (meta.uid() as u64, meta.gid() as u64);
        if ft.is_char_device() && meta.rdev() == 0 {
            let wh = if rel.is_empty() {
                format!(".wh.{name}")
            } else {
                format!("{rel}/.wh.{name}")
            };
            let mut h = header(EntryType::Regular, 0, 0, 0, mtime, 0);
            tar.append_data(&mut h, &wh, io::empty())
                .ctx(|| format!("adding {wh}"))?;
        } else if ft.is_dir() {
            let mut h = header(EntryType::Directory, meta.mode(), uid, gid, mtime, 0);
            tar.append_data(&mut h, format!("{rel_path}/"), io::empty())
                .ctx(|| format!("adding {rel_path}"))?;
            if is_opaque(&path) {
                let mut h = header(EntryType::Regular, 0, 0, 0, mtime, 0);
                let opq = format!("{rel_path}/.wh..wh..opq");
                tar.append_data(&mut h, &opq, io::empty())
                    .ctx(|| format!("adding {opq}"))?;
            }
            walk_upper(tar, &path, &rel_path, links, clamp)?;
        } else if ft.is_symlink() {
            let target =
                std::fs::read_link(&path).ctx(|| format!("readlink {}", path.display()))?;
            let mut h = header(EntryType::Symlink, meta.mode(), uid, gid, mtime, 0);
            tar.append_link(&mut h, &rel_path, &target)
                .ctx(|| format!("adding {rel_path}"))?;
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = links.get(&key) {
                    let mut h = header(EntryType::Link, meta.mode(), uid, gid, mtime, 0);
                    tar.append_link(&mut h, &rel_path, first)
                        .ctx(|| format!("adding {rel_path}"))?;
                    continue;
                }
                links.insert(key, rel_path.clone());
            }
            let f = File::open(&path).ctx(|| format!("opening {}", path.display()))?;
            let mut h = header(EntryType::Regular, meta.mode(), uid, gid, mtime, meta.len());
            tar.append_data(&mut h, &rel_path, f)
                .ctx(|| format!("adding {rel_path}"))?;
        } else if ft.is_fifo() {
            let mut h = header(EntryType::Fifo, meta.mode(), uid, gid, mtime, 0);
            tar.append_data(&mut h, &rel_path, io::empty())
                .ctx(|| format!("adding {rel_path}"))?;
        }
        // Sockets and device nodes made by RUN are not kept (Docker drops
        // sockets; devices cannot be created unprivileged anyway).
    }
    Ok(())
}

/// What one path of a COPY/ADD layer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanKind {
    Dir,
    /// A host file copied as is.
    File(PathBuf),
    /// Literal content (heredocs, entries of an extracted archive).
    Content(Vec<u8>),
    Symlink(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEntry {
    pub kind: PlanKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u64,
}

/// Destination path in the image (relative, no leading `/`) → entry.
/// BTreeMap order puts every parent before its children.
pub type Plan = BTreeMap<String, PlanEntry>;

pub fn write_plan_tar(plan: &Plan, out: &Path, clamp: Option<u64>) -> Result<()> {
    let file = File::create(out).ctx(|| format!("creating {}", out.display()))?;
    let mut tar = tar::Builder::new(BufWriter::new(file));
    tar.follow_symlinks(false);
    for (path, e) in plan {
        let (uid, gid) = (e.uid as u64, e.gid as u64);
        let mut e = e.clone();
        if let Some(c) = clamp {
            e.mtime = e.mtime.min(c);
        }
        match &e.kind {
            PlanKind::Dir => {
                let mut h = header(EntryType::Directory, e.mode, uid, gid, e.mtime, 0);
                tar.append_data(&mut h, format!("{path}/"), io::empty())
            }
            PlanKind::File(src) => {
                let f = File::open(src).ctx(|| format!("opening {}", src.display()))?;
                let len = f
                    .metadata()
                    .ctx(|| format!("stat {}", src.display()))?
                    .len();
                let mut h = header(EntryType::Regular, e.mode, uid, gid, e.mtime, len);
                tar.append_data(&mut h, path, f.take(len))
            }
            PlanKind::Content(bytes) => {
                let mut h = header(
                    EntryType::Regular,
                    e.mode,
                    uid,
                    gid,
                    e.mtime,
                    bytes.len() as u64,
                );
                tar.append_data(&mut h, path, bytes.as_slice())
            }
            PlanKind::Symlink(target) => {
                let mut h = header(EntryType::Symlink, e.mode, uid, gid, e.mtime, 0);
                tar.append_link(&mut h, path, target)
            }
        }
        .ctx(|| format!("adding {path}"))?;
    }
    let w = tar
        .into_inner()
        .ctx(|| format!("finishing {}", out.display()))?;
    w.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .ctx(|| format!("writing {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar_path: &Path) -> Vec<String> {
        let mut a = tar::Archive::new(File::open(tar_path).unwrap());
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn upper_dir_whiteouts() {
        let t = tempfile::tempdir().unwrap();
        let up = t.path().join("up");
        std::fs::create_dir_all(up.join("etc/sub")).unwrap();
        std::fs::write(up.join("etc/new"), "x").unwrap();
        nix::sys::stat::mknod(
            &up.join("etc/gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        rustix::fs::setxattr(
            up.join("etc/sub").as_path(),
            OPAQUE_XATTR,
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let out = t.path().join("l.tar");
        write_diff_tar(&up, &out, None).unwrap();
        assert_eq!(
            names(&out),
            [
                "etc/",
                "etc/.wh.gone",
                "etc/new",
                "etc/sub/",
                "etc/sub/.wh..wh..opq"
            ]
        );
    }

    #[test]
    fn plan_tar() {
        let t = tempfile::tempdir().unwrap();
        let mut plan = Plan::new();
        let e = |kind| PlanEntry {
            kind,
            mode: 0o644,
            uid: 1,
            gid: 2,
            mtime: 0,
        };
        plan.insert("app/x".into(), e(PlanKind::Content(b"hi".to_vec())));
        plan.insert("app".into(), e(PlanKind::Dir));
        plan.insert("app/l".into(), e(PlanKind::Symlink("x".into())));
        let out = t.path().join("p.tar");
        write_plan_tar(&plan, &out, None).unwrap();
        assert_eq!(names(&out), ["app/", "app/l", "app/x"]);
    }
}
