//! The `local` driver's options (`-o type=tmpfs -o device=tmpfs -o
//! o=size=100m`, `-o type=none -o device=/srv -o o=bind`): validation with
//! Docker's messages, and turning `o=` into mount(2) flags and data.

use std::collections::HashMap;
use std::path::Path;

use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

use crate::error::{IoContext, Result, VolumeError};

const VALID: &[&str] = &["type", "o", "device", "size"];

/// Docker's `validateOpts` for the local driver. Errors are the bare
/// reason; the caller adds `create NAME: `.
pub fn validate(opts: &HashMap<String, String>) -> std::result::Result<(), String> {
    if opts.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<&String> = opts.keys().collect();
    keys.sort();
    for k in &keys {
        if !VALID.contains(&k.as_str()) {
            return Err(format!("invalid option: {k:?}"));
        }
    }
    if let Some(size) = opts.get("size") {
        let n = ram_in_bytes(size)?;
        if n > 0 {
            // No project quotas here: Docker says the same without them.
            return Err("quota size requested but no quota support".into());
        }
    }
    // Checked in a fixed order so the message is stable.
    for (opt, required) in [
        ("device", &["type"][..]),
        ("o", &["device", "type"][..]),
        ("type", &["device"][..]),
    ] {
        if opts.contains_key(opt) {
            for r in required {
                if !opts.contains_key(*r) {
                    return Err(format!("missing required option: {r:?}"));
                }
            }
        }
    }
    Ok(())
}

/// Whether a volume with these options is mounted on use (a device or a
/// filesystem type was given).
pub fn needs_mount(opts: &HashMap<String, String>) -> bool {
    opts.get("device").is_some_and(|d| !d.is_empty())
        || opts.get("type").is_some_and(|t| !t.is_empty())
}

/// docker/go-units `RAMInBytes`: `100`, `64k`, `1.5g`, `512MiB`.
pub fn ram_in_bytes(s: &str) -> std::result::Result<i64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid size: '{s}'"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024f64.powi(4),
        "p" | "pb" | "pib" => 1024f64.powi(5),
        _ => return Err(format!("invalid size: '{s}'")),
    };
    Ok((n * mult) as i64)
}

/// A parsed `o=` value: mount flags, propagation changes, and the data
/// string passed to the filesystem.
#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MountFlags,
    pub propagation: Option<MountPropagationFlags>,
    pub data: String,
}

/// moby/sys/mount's `parseOptions`: known words become flags, the rest
/// is filesystem data.
pub fn parse_mount_options(o: &str) -> MountOptions {
    let mut out = MountOptions {
        flags: MountFlags::empty(),
        propagation: None,
        data: String::new(),
    };
    let mut data = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        let (clear, flag) = match opt {
            "defaults" => (false, MountFlags::empty()),
            "ro" => (false, MountFlags::RDONLY),
            "rw" => (true, MountFlags::RDONLY),
            "suid" => (true, MountFlags::NOSUID),
            "nosuid" => (false, MountFlags::NOSUID),
            "dev" => (true, MountFlags::NODEV),
            "nodev" => (false, MountFlags::NODEV),
            "exec" => (true, MountFlags::NOEXEC),
            "noexec" => (false, MountFlags::NOEXEC),
            "sync" => (false, MountFlags::SYNCHRONOUS),
            "async" => (true, MountFlags::SYNCHRONOUS),
            "dirsync" => (false, MountFlags::DIRSYNC),
            "atime" => (true, MountFlags::NOATIME),
            "noatime" => (false, MountFlags::NOATIME),
            "diratime" => (true, MountFlags::NODIRATIME),
            "nodiratime" => (false, MountFlags::NODIRATIME),
            "relatime" => (false, MountFlags::RELATIME),
            "norelatime" => (true, MountFlags::RELATIME),
            "strictatime" => (false, MountFlags::STRICTATIME),
            "nostrictatime" => (true, MountFlags::STRICTATIME),
            "bind" => (false, MountFlags::BIND),
            "rbind" => (false, MountFlags::BIND | MountFlags::REC),
            "private" => {
                out.propagation = Some(MountPropagationFlags::PRIVATE);
                continue;
            }
            "rprivate" => {
                out.propagation = Some(MountPropagationFlags::PRIVATE | MountPropagationFlags::REC);
                continue;
            }
            "shared" => {
                out.propagation = Some(MountPropagationFlags::SHARED);
                continue;
            }
            "rshared" => {
                out.propagation = Some(MountPropagationFlags::SHARED | MountPropagationFlags::REC);
                continue;
            }
            "slave" => {
                out.propagation = Some(MountPropagationFlags::DOWNSTREAM);
                continue;
            }
            "rslave" => {
                out.propagation =
                    Some(MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC);
                continue;
            }
            other => {
                data.push(other);
                continue;
            }
        };
        if clear {
            out.flags.remove(flag);
        } else {
            out.flags.insert(flag);
        }
    }
    out.data = data.join(",");
    out
}

/// Mounts the volume's device at `target` (Docker's `localVolume.mount`).
pub fn mount_device(opts: &HashMap<String, String>, target: &Path) -> Result<()> {
    let device = opts.get("device").map(String::as_str).unwrap_or("");
    if device.is_empty() {
        return Err(VolumeError::InvalidParameter(
            "missing device in volume options".into(),
        ));
    }
    let fstype = opts.get("type").map(String::as_str).unwrap_or("");
    let parsed = parse_mount_options(opts.get("o").map(String::as_str).unwrap_or(""));
    let data = std::ffi::CString::new(parsed.data.clone())
        .map_err(|_| VolumeError::InvalidParameter("invalid mount options".into()))?;
    let ctx = || {
        format!(
            "failed to mount local volume: mount {device}:{}",
            target.display()
        )
    };
    // Read-only binds need a remount: the first mount ignores RDONLY.
    let bind = parsed.flags.contains(MountFlags::BIND);
    rustix::mount::mount(device, target, fstype, parsed.flags, data.as_c_str()).ctx(ctx)?;
    if bind && parsed.flags.contains(MountFlags::RDONLY) {
        rustix::mount::mount_remount(target, MountFlags::BIND | MountFlags::RDONLY, "").ctx(ctx)?;
    }
    if let Some(p) = parsed.propagation {
        rustix::mount::mount_change(target, p).ctx(ctx)?;
    }
    Ok(())
}

/// Unmounts `target`; a target that is not mounted is fine.
pub fn unmount(target: &Path) -> Result<()> {
    match rustix::mount::unmount(target, UnmountFlags::empty()) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(rustix::io::Errno::BUSY) => {
            // Still in use by a process somewhere: detach it.
            rustix::mount::unmount(target, UnmountFlags::DETACH)
                .ctx(|| format!("unmounting {}", target.display()))
        }
        Err(e) => Err(VolumeError::io(
            format!("unmounting {}", target.display()),
            e.into(),
        )),
    }
}

/// Whether `path` is a mount point (its device differs from its parent's).
pub fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(parent) = path.parent() else {
        return false;
    };
    match (
        std::fs::symlink_metadata(path),
        std::fs::symlink_metadata(parent),
    ) {
        (Ok(a), Ok(b)) => a.dev() != b.dev() || a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn docker_option_rules() {
        assert!(validate(&m(&[])).is_ok());
        assert!(validate(&m(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=1m")
        ]))
        .is_ok());
        assert_eq!(
            validate(&m(&[("bogus", "1")])).unwrap_err(),
            "invalid option: \"bogus\""
        );
        assert_eq!(
            validate(&m(&[("type", "tmpfs")])).unwrap_err(),
            "missing required option: \"device\""
        );
        assert_eq!(
            validate(&m(&[("device", "/x")])).unwrap_err(),
            "missing required option: \"type\""
        );
        assert_eq!(
            validate(&m(&[("size", "10m")])).unwrap_err(),
            "quota size requested but no quota support"
        );
        assert!(needs_mount(&m(&[("type", "none"), ("device", "/x")])));
        assert!(!needs_mount(&m(&[])));
    }

    #[test]
    fn mount_option_words() {
        let p = parse_mount_options("bind,ro,size=10m,uid=1000,rshared");
        assert!(p.flags.contains(MountFlags::BIND | MountFlags::RDONLY));
        assert_eq!(p.data, "size=10m,uid=1000");
        assert_eq!(
            p.propagation,
            Some(MountPropagationFlags::SHARED | MountPropagationFlags::REC)
        );
        let p = parse_mount_options("ro,rw,noexec,exec");
        assert!(p.flags.is_empty());
        assert_eq!(ram_in_bytes("1.5k").unwrap(), 1536);
        assert_eq!(ram_in_bytes("64MiB").unwrap(), 64 << 20);
        assert!(ram_in_bytes("x").is_err());
    }
}
