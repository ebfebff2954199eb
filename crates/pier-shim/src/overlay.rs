//! The container's root filesystem: overlayfs of the image layers (lower),
//! `diff/` (upper) and `work/`, mounted at `bundle/rootfs`.
//!
//! Mount options must fit in one page (4 KiB). Layer paths are given
//! relative to their common parent (the mount runs after a `chdir` there,
//! in a throwaway helper process), so a layer costs ~65 bytes and ~60 layers
//! fit; upper and work are given relative too when that is shorter.

use std::path::{Component, Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use pier_runtime::RootfsLayers;

use crate::error::ShimError;

/// Longest option string the kernel copies (one page, NUL included).
const MAX_OPTIONS: usize = 4095;

/// The empty lower dir for an image without layers.
pub fn empty_lower(bundle: &Path) -> PathBuf {
    bundle.join("empty")
}

fn common_parent(paths: &[PathBuf]) -> PathBuf {
    let mut it = paths.iter();
    let Some(first) = it.next() else {
        return PathBuf::from("/");
    };
    let mut common: Vec<Component> = first.parent().unwrap_or(first).components().collect();
    for p in it {
        let comps: Vec<Component> = p.parent().unwrap_or(p).components().collect();
        let n = common
            .iter()
            .zip(comps.iter())
            .take_while(|(a, b)| a == b)
            .count();
        common.truncate(n);
    }
    if common.is_empty() {
        PathBuf::from("/")
    } else {
        common.iter().collect()
    }
}

/// `path` relative to `base` (both absolute and lexically clean), using `..`.
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let p: Vec<Component> = path.components().collect();
    let b: Vec<Component> = base.components().collect();
    let n = p.iter().zip(b.iter()).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in n..b.len() {
        out.push("..");
    }
    for c in &p[n..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn check_chars(p: &Path) -> Result<&str, ShimError> {
    let s = p
        .to_str()
        .ok_or_else(|| ShimError::Mount(format!("layer path {} is not UTF-8", p.display())))?;
    if s.contains([',', ':', '\\']) || !p.is_absolute() {
        return Err(ShimError::Mount(format!(
            "layer path {s:?} must be absolute and free of ',' ':' '\\'"
        )));
    }
    Ok(s)
}

/// Builds `(dir to chdir into, mount options)`.
pub fn mount_options(layers: &RootfsLayers, bundle: &Path) -> Result<(PathBuf, String), ShimError> {
    let mut lower: Vec<PathBuf> = layers.lower.iter().rev().cloned().collect(); // top first
    if lower.is_empty() {
        lower.push(empty_lower(bundle));
    }
    for p in lower.iter().chain([&layers.upper, &layers.work]) {
        check_chars(p)?;
    }
    let base = common_parent(&lower);
    let shortest = |p: &Path| -> String {
        let r = relative_to(p, &base);
        let r = r.to_string_lossy().into_owned();
        let a = p.to_string_lossy().into_owned();
        if r.len() < a.len() {
            r
        } else {
            a
        }
    };
    let mut opts = String::from("lowerdir=");
    for (i, l) in lower.iter().enumerate() {
        if i > 0 {
            opts.push(':');
        }
        opts.push_str(&shortest(l));
    }
    opts.push_str(",upperdir=");
    opts.push_str(&shortest(&layers.upper));
    opts.push_str(",workdir=");
    opts.push_str(&shortest(&layers.work));
    if opts.len() > MAX_OPTIONS {
        return Err(ShimError::Mount(format!(
            "{} layers do not fit in overlayfs' mount options ({} bytes, max {MAX_OPTIONS})",
            layers.lower.len(),
            opts.len()
        )));
    }
    Ok((base, opts))
}

/// Mounts the overlay at `target`. Changes the process' working directory:
/// call it only in a helper process (or chdir back).
///
/// `volatile` (for `--rm` containers, whose files are thrown away) skips
/// overlayfs' sync of the upper filesystem at unmount: that sync flushes
/// every dirty page of the whole host filesystem holding the upper dir,
/// tens of ms on a busy disk. A kernel without the option (< 5.10) gets a
/// plain mount.
pub fn mount_rootfs(
    layers: &RootfsLayers,
    bundle: &Path,
    target: &Path,
    volatile: bool,
) -> Result<(), ShimError> {
    if layers.lower.is_empty() {
        let e = empty_lower(bundle);
        match std::fs::create_dir(&e) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(ShimError::Mount(format!("creating {}: {err}", e.display()))),
        }
    }
    let (base, opts) = mount_options(layers, bundle)?;
    // The mark of this container's previous (cleanly unmounted) run.
    pier_runtime::clear_volatile_mark(&layers.work);
    nix::unistd::chdir(&base)
        .map_err(|e| ShimError::Mount(format!("chdir {}: {e}", base.display())))?;
    let plain = |o: &str| {
        mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(o),
        )
    };
    let res = if volatile && opts.len() + ",volatile".len() <= MAX_OPTIONS {
        plain(&format!("{opts},volatile")).or_else(|_| plain(&opts))
    } else {
        plain(&opts)
    };
    let _ = nix::unistd::chdir("/");
    res.map_err(|e| {
        ShimError::Mount(format!(
            "mounting overlay at {}: {e} (options {opts})",
            target.display()
        ))
    })
}

/// Unmounts the rootfs; lazily if it is busy. Not mounted is fine.
pub fn unmount_rootfs(target: &Path) -> Result<(), ShimError> {
    match umount2(target, MntFlags::empty()) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(nix::errno::Errno::EBUSY) => umount2(target, MntFlags::MNT_DETACH)
            .map_err(|e| ShimError::Mount(format!("unmounting {}: {e}", target.display()))),
        Err(e) => Err(ShimError::Mount(format!(
            "unmounting {}: {e}",
            target.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_options_fit_many_layers() {
        let lower: Vec<PathBuf> = (0..60)
            .map(|i| PathBuf::from(format!("/var/lib/pier/image/layers/{:064x}", i)))
            .collect();
        let l = RootfsLayers {
            lower,
            upper: "/var/lib/pier/containers/abc/diff".into(),
            work: "/var/lib/pier/containers/abc/work".into(),
        };
        let (base, opts) = mount_options(&l, Path::new("/var/lib/pier/containers/abc")).unwrap();
        assert_eq!(base, PathBuf::from("/var/lib/pier/image/layers"));
        assert!(opts.starts_with(&format!("lowerdir={:064x}:", 59)));
        assert!(
            opts.ends_with(",upperdir=../../containers/abc/diff,workdir=../../containers/abc/work")
        );
        assert!(opts.len() <= MAX_OPTIONS);
    }

    #[test]
    fn zero_layers_and_bad_paths() {
        let l = RootfsLayers {
            lower: vec![],
            upper: "/b/diff".into(),
            work: "/b/work".into(),
        };
        let (base, opts) = mount_options(&l, Path::new("/b")).unwrap();
        assert_eq!(base, PathBuf::from("/b"));
        assert_eq!(opts, "lowerdir=empty,upperdir=diff,workdir=work");
        let l = RootfsLayers {
            lower: vec!["/a,b".into()],
            upper: "/b/diff".into(),
            work: "/b/work".into(),
        };
        assert!(mount_options(&l, Path::new("/b")).is_err());
        let too_many = RootfsLayers {
            lower: (0..200)
                .map(|i| PathBuf::from(format!("/l/{:064x}", i)))
                .collect(),
            upper: "/b/diff".into(),
            work: "/b/work".into(),
        };
        assert!(mount_options(&too_many, Path::new("/b")).is_err());
    }
}
