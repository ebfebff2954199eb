//! A container's filesystem from the daemon's side: the merged overlay
//! (already mounted while the container runs; mounted here for the length
//! of one operation when it is stopped), paths resolved inside it with
//! `openat2(RESOLVE_IN_ROOT)` so nothing ever leads out of it, and the
//! RW layer (`diff/`) for `diff`, `commit`.

pub mod archive;
pub mod changes;
pub mod commit;

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::containers::{Container, ContainerError};

/// The container's merged root, unmounted on drop if mounted here.
pub struct Rootfs {
    pub path: PathBuf,
    pub fd: OwnedFd,
    mounted_here: bool,
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        if self.mounted_here {
            if let Err(e) = rustix::mount::unmount(&self.path, rustix::mount::UnmountFlags::DETACH)
            {
                tracing::warn!("unmounting {}: {e}", self.path.display());
            }
        }
    }
}

fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        std::fs::symlink_metadata(path),
        path.parent().map(std::fs::symlink_metadata),
    ) {
        (Ok(a), Some(Ok(b))) => a.dev() != b.dev(),
        _ => false,
    }
}

fn overlay_options(c: &Container) -> Result<String, ContainerError> {
    let rec = c.snapshot();
    let mut lower: Vec<String> = rec
        .layers
        .iter()
        .rev()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if lower.is_empty() {
        let empty = c.dir.join("empty");
        std::fs::create_dir_all(&empty)
            .map_err(|e| ContainerError::io("creating an empty lower dir", e))?;
        lower.push(empty.to_string_lossy().into_owned());
    }
    if lower.iter().any(|l| l.contains([',', ':'])) {
        return Err(ContainerError::Runtime(
            "layer paths must not contain ',' or ':'".into(),
        ));
    }
    let upper = c.dir.join("diff");
    let work = c.dir.join("work");
    for d in [&upper, &work] {
        std::fs::create_dir_all(d).map_err(|e| ContainerError::io("creating overlay dirs", e))?;
    }
    pier_runtime::clear_volatile_mark(&work);
    Ok(format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    ))
}

/// Opens the merged root. Blocking. For a stopped container the caller
/// must hold the container's `op` lock until the returned value is
/// dropped (so no start mounts the same upper dir meanwhile).
pub fn open_rootfs(c: &Container) -> Result<Rootfs, ContainerError> {
    let path = c.dir.join("rootfs");
    let mut mounted_here = false;
    if !is_mount_point(&path) {
        if c.lock().rec.state.running() {
            return Err(ContainerError::Runtime(format!(
                "the rootfs of container {} is not mounted",
                c.id
            )));
        }
        std::fs::create_dir_all(&path).map_err(|e| ContainerError::io("creating rootfs", e))?;
        let opts = overlay_options(c)?;
        let opts = std::ffi::CString::new(opts)
            .map_err(|_| ContainerError::Runtime("overlay options contain NUL".into()))?;
        rustix::mount::mount(
            "overlay",
            &path,
            "overlay",
            rustix::mount::MountFlags::empty(),
            Some(opts.as_c_str()),
        )
        .map_err(|e| {
            ContainerError::Runtime(format!("mounting the container's filesystem: {e}"))
        })?;
        mounted_here = true;
    }
    let fd = match rustix::fs::open(
        &path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => {
            if mounted_here {
                let _ = rustix::mount::unmount(&path, rustix::mount::UnmountFlags::DETACH);
            }
            return Err(ContainerError::Runtime(format!("opening the rootfs: {e}")));
        }
    };
    Ok(Rootfs {
        path,
        fd,
        mounted_here,
    })
}

/// `path` (absolute in the container) relative to the root, `.` for `/`.
pub fn rel(path: &str) -> String {
    let p = path.trim_start_matches('/');
    if p.is_empty() {
        ".".into()
    } else {
        p.into()
    }
}

/// Opens `path` inside the root; symlinks resolve as if the root were `/`.
pub fn open_in(root: impl AsFd, path: &str, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat2(
        root,
        rel(path),
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

/// The host path of an open fd (valid while the fd is open).
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Paths the runtime mounts over (their mount points in the RW layer are
/// not the user's changes): the spec's mount destinations.
pub fn mount_points(c: &Container) -> Vec<String> {
    let spec = std::fs::read(c.dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let mut out: Vec<String> = spec
        .as_ref()
        .and_then(|s| s.get("mounts"))
        .and_then(|m| m.as_array())
        .map(|m| {
            m.iter()
                .filter_map(|x| x.get("destination").and_then(|d| d.as_str()))
                .map(|d| d.trim_end_matches('/').to_string())
                .collect()
        })
        .unwrap_or_default();
    for d in [
        "/proc",
        "/sys",
        "/dev",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
    ] {
        if !out.iter().any(|o| o == d) {
            out.push(d.to_string());
        }
    }
    out
}
