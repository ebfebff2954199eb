//! A read-only view of an image's filesystem (its layer dirs stacked by a
//! read-only overlay mount) to copy a directory from into a new volume.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::mount::{MountFlags, UnmountFlags};

use crate::copy;
use crate::error::{IoContext, Result, VolumeError};

/// Prefix of temporary mount points in the scratch dir.
pub const SCRATCH_PREFIX: &str = ".copyup-";

/// Copies the image's content at `dest` (a path inside the container) into
/// the empty volume dir `volume`. `layers` are the overlay lower dirs,
/// bottom → top; `scratch` is a private directory for the temporary mount
/// point. Returns whether anything was copied.
pub fn copy_up_from_image(
    layers: &[PathBuf],
    scratch: &Path,
    dest: &str,
    volume: &Path,
) -> Result<bool> {
    if layers.is_empty() || !copy::dir_is_empty(volume)? {
        return Ok(false);
    }
    let view = View::open(layers, scratch)?;
    // The destination is resolved inside the image: its symlinks may
    // point anywhere on the host otherwise.
    let rel = dest.trim_start_matches('/');
    let root = rustix::fs::open(
        view.root(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("opening {}", view.root().display()))?;
    let dir = if rel.is_empty() {
        root
    } else {
        match rustix::fs::openat2(
            &root,
            rel,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => return Ok(false),
            Err(e) => {
                return Err(VolumeError::io(
                    format!("resolving {dest} in the image"),
                    e.into(),
                ))
            }
        }
    };
    // The opened directory, reached through its descriptor; everything
    // below it is walked without following symlinks.
    let src = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    let copied = copy::copy_up(&src, volume);
    drop(dir);
    copied
}

/// The stacked layers: the single layer dir itself, or a read-only
/// overlay mounted in a scratch dir (unmounted on drop).
///
/// The scratch dir holds `m/` (the mount point) and `l/<i>` symlinks to
/// the layers; the mount names the layers as `/proc/self/fd/<fd of l>/<i>`
/// so that even a deep stack of long layer paths fits the one page the
/// kernel accepts for mount options (pierd is multi-threaded: a `chdir`
/// to shorten them is not an option).
struct View {
    root: PathBuf,
    scratch: Option<PathBuf>,
}

impl View {
    fn open(layers: &[PathBuf], scratch_parent: &Path) -> Result<View> {
        if layers.len() == 1 {
            return Ok(View {
                root: layers[0].clone(),
                scratch: None,
            });
        }
        let scratch = scratch_parent.join(format!(
            "{SCRATCH_PREFIX}{}",
            hex::encode(rand::random::<[u8; 6]>())
        ));
        let (target, links) = (scratch.join("m"), scratch.join("l"));
        let made = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(&target)?;
            std::fs::create_dir_all(&links)?;
            // overlayfs wants the top layer first.
            for (i, layer) in layers.iter().rev().enumerate() {
                std::os::unix::fs::symlink(layer, links.join(i.to_string()))?;
            }
            Ok(())
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&scratch);
            return Err(VolumeError::io("preparing the image for copy-up", e));
        }
        let mounted = (|| -> Result<()> {
            let dir = rustix::fs::open(
                &links,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ctx(|| format!("opening {}", links.display()))?;
            let fd = dir.as_raw_fd();
            let lower: Vec<String> = (0..layers.len())
                .map(|i| format!("/proc/self/fd/{fd}/{i}"))
                .collect();
            let data = CString::new(format!("lowerdir={}", lower.join(":")))
                .map_err(|_| VolumeError::InvalidParameter("invalid layer path".into()))?;
            rustix::mount::mount(
                "overlay",
                &target,
                "overlay",
                MountFlags::RDONLY,
                data.as_c_str(),
            )
            .ctx(|| "mounting the image for copy-up".into())
        })();
        if let Err(e) = mounted {
            let _ = std::fs::remove_dir_all(&scratch);
            return Err(e);
        }
        Ok(View {
            root: target,
            scratch: Some(scratch),
        })
    }

    fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for View {
    fn drop(&mut self) {
        if let Some(scratch) = &self.scratch {
            if let Err(e) = rustix::mount::unmount(&self.root, UnmountFlags::DETACH) {
                tracing::warn!("unmounting {}: {e}", self.root.display());
                return;
            }
            let _ = std::fs::remove_dir_all(scratch);
        }
    }
}

/// Removes a scratch dir left by a crash (its mount may still be there).
pub fn clean_scratch(dir: &Path) {
    let m = dir.join("m");
    if crate::options::is_mount_point(&m) {
        let _ = rustix::mount::unmount(&m, UnmountFlags::DETACH);
        if crate::options::is_mount_point(&m) {
            tracing::warn!("not deleting {}: still mounted", dir.display());
            return;
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn copies_through_layers_and_stays_in_the_image() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let (l1, l2, scratch, vol) = (
            t.path().join("l1"),
            t.path().join("l2"),
            t.path().join("scratch"),
            t.path().join("vol"),
        );
        fs::create_dir_all(l1.join("data")).unwrap();
        fs::write(l1.join("data/old"), b"1").unwrap();
        fs::create_dir_all(l2.join("data")).unwrap();
        fs::write(l2.join("data/new"), b"2").unwrap();
        // An absolute symlink must resolve inside the image, not the host.
        std::os::unix::fs::symlink("/data", l2.join("link")).unwrap();
        fs::create_dir_all(&scratch).unwrap();
        fs::create_dir_all(&vol).unwrap();
        let layers = vec![l1, l2];
        assert!(copy_up_from_image(&layers, &scratch, "/link", &vol).unwrap());
        assert_eq!(fs::read(vol.join("old")).unwrap(), b"1");
        assert_eq!(fs::read(vol.join("new")).unwrap(), b"2");
        // Scratch mount point is gone again.
        assert_eq!(fs::read_dir(&scratch).unwrap().count(), 0);
        // A deep stack of long layer paths still mounts (one page limit).
        let deep: Vec<PathBuf> = (0..60)
            .map(|i| {
                let p = t.path().join(format!("{i:0>90}"));
                fs::create_dir_all(p.join("data")).unwrap();
                fs::write(p.join(format!("data/f{i}")), b"x").unwrap();
                p
            })
            .collect();
        let vol3 = t.path().join("vol3");
        fs::create_dir_all(&vol3).unwrap();
        assert!(copy_up_from_image(&deep, &scratch, "/data", &vol3).unwrap());
        assert_eq!(fs::read_dir(&vol3).unwrap().count(), 60);
        assert_eq!(fs::read_dir(&scratch).unwrap().count(), 0);
        let empty = t.path().join("vol2");
        fs::create_dir_all(&empty).unwrap();
        assert!(!copy_up_from_image(&layers, &scratch, "/nope", &empty).unwrap());
    }
}
