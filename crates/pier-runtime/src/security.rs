//! Docker's security options turned into the spec: capabilities
//! (`--cap-add/--cap-drop`, `ALL`), `--privileged`, `--security-opt`
//! (`no-new-privileges`, `seccomp=unconfined|<profile JSON>`,
//! `systempaths=unconfined`), and `--device`.

use std::collections::HashSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxCapabilities, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxSeccomp,
    Spec,
};

use crate::options::OptionError;
use crate::seccomp;

/// Every capability by number (the kernel's order), for `ALL` and
/// `--privileged`, limited to what the kernel and pierd itself hold.
const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capabilities this process may hand on: its bounding set, limited to
/// the kernel's last capability (this VM withholds CAP_SYS_RESOURCE).
pub fn available_caps() -> HashSet<String> {
    let last: usize = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    let bnd = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| *i <= last && bnd & (1u64 << i) != 0)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// Docker's 14 defaults, as names.
pub fn default_cap_names() -> HashSet<String> {
    crate::spec::default_capabilities()
        .into_iter()
        .filter_map(|c| match serde_json::to_value(c) {
            Ok(serde_json::Value::String(s)) => Some(s),
            _ => None,
        })
        .collect()
}

/// `net_admin`, `NET_ADMIN`, `CAP_NET_ADMIN` → `CAP_NET_ADMIN`; `all` → `ALL`.
fn normalize_cap(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Docker's `TweakCapabilities`: the container's capability set.
pub fn tweak_capabilities(
    privileged: bool,
    cap_add: &[String],
    cap_drop: &[String],
    available: &HashSet<String>,
) -> Result<HashSet<String>, OptionError> {
    let all: HashSet<String> = available.clone();
    if privileged {
        return Ok(all);
    }
    let add: Vec<String> = cap_add.iter().map(|c| normalize_cap(c)).collect();
    let drop: Vec<String> = cap_drop.iter().map(|c| normalize_cap(c)).collect();
    for (what, list) in [("CapAdd", &add), ("CapDrop", &drop)] {
        for c in list.iter().filter(|c| *c != "ALL") {
            if !ALL_CAPS.contains(&c.as_str()) {
                return Err(OptionError(format!(
                    "invalid {what}: unknown capability: \"{c}\""
                )));
            }
        }
    }
    let caps: HashSet<String> = if add.iter().any(|c| c == "ALL") {
        all.into_iter().filter(|c| !drop.contains(c)).collect()
    } else if drop.iter().any(|c| c == "ALL") {
        add.into_iter().collect()
    } else {
        default_cap_names()
            .into_iter()
            .filter(|c| !drop.contains(c))
            .chain(add)
            .collect()
    };
    if let Some(c) = caps.iter().find(|c| !available.contains(*c)) {
        return Err(OptionError(format!(
            "invalid CapAdd: capability \"{c}\" is not available on this host (pierd does not hold it)"
        )));
    }
    Ok(caps)
}

/// `--device /dev/x[:/dev/y][:rwm]` as the API carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceRequest {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

/// A host device node to create in the container, with its cgroup rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    pub device: LinuxDevice,
    pub rule: LinuxDeviceCgroup,
}

fn device_of(host: &Path, in_container: &Path, perms: &str) -> Option<DeviceMapping> {
    let md = std::fs::metadata(host).ok()?;
    let ft = md.file_type();
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return None;
    };
    let rdev = md.rdev();
    let (major, minor) = (libc_major(rdev), libc_minor(rdev));
    let mut d = LinuxDevice::default();
    d.set_path(in_container.to_path_buf())
        .set_typ(typ)
        .set_major(major)
        .set_minor(minor)
        .set_file_mode(Some(md.mode() & 0o777))
        .set_uid(Some(md.uid()))
        .set_gid(Some(md.gid()));
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true)
        .set_typ(Some(typ))
        .set_major(Some(major))
        .set_minor(Some(minor))
        .set_access(Some(perms.to_string()));
    Some(DeviceMapping { device: d, rule: r })
}

fn libc_major(dev: u64) -> i64 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as i64
}

fn libc_minor(dev: u64) -> i64 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as i64
}

/// Resolves `--device` requests against the host (a directory maps every
/// device under it, as Docker does).
pub fn resolve_devices(reqs: &[DeviceRequest]) -> Result<Vec<DeviceMapping>, OptionError> {
    let mut out = Vec::new();
    for r in reqs {
        let host = PathBuf::from(&r.path_on_host);
        let dest = if r.path_in_container.is_empty() {
            host.clone()
        } else {
            PathBuf::from(&r.path_in_container)
        };
        let perms = if r.cgroup_permissions.is_empty() {
            "rwm"
        } else {
            r.cgroup_permissions.as_str()
        };
        if perms.is_empty() || !perms.chars().all(|c| "rwm".contains(c)) {
            return Err(OptionError(format!("invalid device mode: {perms}")));
        }
        let md = std::fs::metadata(&host).map_err(|e| {
            OptionError(format!(
                "error gathering device information while adding custom device \"{}\": {}",
                r.path_on_host,
                crate::options::errno_text(&e)
            ))
        })?;
        if md.is_dir() {
            for entry in walk_devices(&host) {
                let rel = entry.strip_prefix(&host).unwrap_or(&entry);
                if let Some(m) = device_of(&entry, &dest.join(rel), perms) {
                    out.push(m);
                }
            }
            continue;
        }
        match device_of(&host, &dest, perms) {
            Some(m) => out.push(m),
            None => {
                return Err(OptionError(format!(
                    "error gathering device information while adding custom device \"{}\": not a device node",
                    r.path_on_host
                )))
            }
        }
    }
    Ok(out)
}

fn walk_devices(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            // Docker's HostDevices skips these.
            let name = e.file_name();
            if matches!(
                name.to_str(),
                Some("pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev")
            ) {
                continue;
            }
            out.extend(walk_devices(&p));
        } else if ft.is_char_device() || ft.is_block_device() {
            if p == Path::new("/dev/console") {
                continue;
            }
            out.push(p);
        }
    }
    out
}

/// The container's security settings, resolved (pierd builds this with
/// [`SecurityConfig::from_docker`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityConfig {
    pub privileged: bool,
    /// Effective = permitted = bounding set, `CAP_*` names.
    pub capabilities: HashSet<String>,
    pub no_new_privileges: bool,
    /// `None` = unconfined.
    pub seccomp: Option<LinuxSeccomp>,
    /// Keep the default masked and read-only /proc and /sys paths.
    pub mask_system_paths: bool,
    pub devices: Vec<DeviceMapping>,
}

impl Default for SecurityConfig {
    /// Docker's default capabilities, no seccomp filter (pierd always adds
    /// Docker's default profile through `from_docker`).
    fn default() -> Self {
        SecurityConfig {
            privileged: false,
            capabilities: default_cap_names(),
            no_new_privileges: false,
            seccomp: None,
            mask_system_paths: true,
            devices: Vec::new(),
        }
    }
}

/// The Docker host-config fields that decide security.
#[derive(Debug, Clone, Default)]
pub struct DockerSecurity<'a> {
    pub privileged: bool,
    pub cap_add: &'a [String],
    pub cap_drop: &'a [String],
    pub security_opt: &'a [String],
    pub devices: &'a [DeviceRequest],
}

impl SecurityConfig {
    /// Docker's rules, with its error texts.
    pub fn from_docker(d: &DockerSecurity) -> Result<SecurityConfig, OptionError> {
        let available = available_caps();
        let capabilities = tweak_capabilities(d.privileged, d.cap_add, d.cap_drop, &available)?;
        let mut nnp = false;
        let mut seccomp_opt: Option<String> = None;
        let mut mask = !d.privileged;
        for opt in d.security_opt {
            if opt == "no-new-privileges" {
                nnp = true;
                continue;
            }
            let (k, v) = match opt.split_once('=').or_else(|| opt.split_once(':')) {
                Some(kv) => kv,
                None => {
                    return Err(OptionError(format!("invalid --security-opt 1: {opt:?}")));
                }
            };
            match k {
                "no-new-privileges" => {
                    nnp = v
                        .parse::<bool>()
                        .map_err(|_| OptionError(format!("invalid --security-opt 2: {opt:?}")))?
                }
                "seccomp" => seccomp_opt = Some(v.to_string()),
                "systempaths" if v == "unconfined" => mask = false,
                "label" | "apparmor" | "writable-cgroups" => {}
                _ => return Err(OptionError(format!("invalid --security-opt 2: {opt:?}"))),
            }
        }
        let target = seccomp::Target {
            caps: &capabilities,
            goarch: seccomp::host_goarch(),
            kernel: seccomp::host_kernel(),
        };
        let seccomp = match seccomp_opt.as_deref() {
            _ if d.privileged => None,
            Some("unconfined") => None,
            None | Some("") | Some("builtin") => Some(seccomp::default_profile(&target)),
            Some(json) => Some(seccomp::parse_moby_profile(json, &target)?),
        };
        Ok(SecurityConfig {
            privileged: d.privileged,
            capabilities,
            no_new_privileges: nnp,
            seccomp,
            mask_system_paths: mask,
            devices: resolve_devices(d.devices)?,
        })
    }
}

fn cap_set(names: &HashSet<String>) -> HashSet<Capability> {
    names
        .iter()
        .filter_map(|n| serde_json::from_value(serde_json::Value::String(n.clone())).ok())
        .collect()
}

/// Applies the settings to a spec built by `build_spec`.
pub(crate) fn apply(sec: &SecurityConfig, spec: &mut Spec) {
    let caps = cap_set(&sec.capabilities);
    if let Some(p) = spec.process_mut().as_mut() {
        let mut c = LinuxCapabilities::default();
        c.set_bounding(Some(caps.clone()))
            .set_effective(Some(caps.clone()))
            .set_permitted(Some(caps))
            .set_inheritable(None)
            .set_ambient(None);
        p.set_capabilities(Some(c));
        if sec.no_new_privileges {
            p.set_no_new_privileges(Some(true));
        }
    }
    if sec.privileged {
        // /sys and the cgroup fs writable, as Docker mounts them.
        if let Some(mounts) = spec.mounts_mut().as_mut() {
            for m in mounts.iter_mut() {
                let d = m.destination().to_string_lossy().into_owned();
                if d == "/sys" || d == "/sys/fs/cgroup" {
                    let opts: Vec<String> = m
                        .options()
                        .clone()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|o| o != "ro")
                        .chain(std::iter::once("rw".to_string()))
                        .collect();
                    m.set_options(Some(opts));
                }
            }
        }
    }
    let Some(linux) = spec.linux_mut().as_mut() else {
        return;
    };
    if !sec.mask_system_paths {
        linux.set_masked_paths(None).set_readonly_paths(None);
    }
    linux.set_seccomp(sec.seccomp.clone());
    let mut devices = linux.devices().clone().unwrap_or_default();
    let mut extra: Vec<DeviceMapping> = sec.devices.clone();
    if sec.privileged {
        extra.extend(
            walk_devices(Path::new("/dev"))
                .into_iter()
                .filter_map(|p| device_of(&p, &p, "rwm")),
        );
    }
    let mut seen = HashSet::new();
    for m in &extra {
        if seen.insert(m.device.path().clone()) {
            devices.push(m.device.clone());
        }
    }
    linux.set_devices(if devices.is_empty() {
        None
    } else {
        Some(devices)
    });
    let mut resources = linux.resources().clone().unwrap_or_default();
    let mut rules = resources.devices().clone().unwrap_or_default();
    if sec.privileged {
        let mut all = LinuxDeviceCgroup::default();
        all.set_allow(true)
            .set_typ(None)
            .set_access(Some("rwm".into()));
        rules = vec![all];
    } else {
        rules.extend(extra.iter().map(|m| m.rule.clone()));
    }
    resources.set_devices(Some(rules));
    linux.set_resources(Some(resources));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn avail() -> HashSet<String> {
        ALL_CAPS
            .iter()
            .filter(|c| **c != "CAP_SYS_RESOURCE")
            .map(|c| c.to_string())
            .collect()
    }

    #[test]
    fn capability_rules() {
        let a = avail();
        let c = tweak_capabilities(false, &[], &[], &a).unwrap();
        assert_eq!(c.len(), 14);
        let c =
            tweak_capabilities(false, &s(&["net_admin"]), &s(&["CAP_CHOWN", "kill"]), &a).unwrap();
        assert!(c.contains("CAP_NET_ADMIN"));
        assert!(!c.contains("CAP_CHOWN") && !c.contains("CAP_KILL"));
        assert_eq!(c.len(), 13);
        let c = tweak_capabilities(false, &s(&["NET_RAW"]), &s(&["ALL"]), &a).unwrap();
        assert_eq!(c, ["CAP_NET_RAW".to_string()].into_iter().collect());
        let c = tweak_capabilities(false, &s(&["ALL"]), &s(&["MKNOD"]), &a).unwrap();
        assert_eq!(c.len(), a.len() - 1);
        assert_eq!(tweak_capabilities(true, &[], &[], &a).unwrap(), a);
        let e = tweak_capabilities(false, &s(&["FOO"]), &[], &a).unwrap_err();
        assert_eq!(e.0, "invalid CapAdd: unknown capability: \"CAP_FOO\"");
        assert!(tweak_capabilities(false, &s(&["SYS_RESOURCE"]), &[], &a).is_err());
    }

    #[test]
    fn security_opts() {
        let opts = s(&["no-new-privileges"]);
        let c = SecurityConfig::from_docker(&DockerSecurity {
            security_opt: &opts,
            ..Default::default()
        })
        .unwrap();
        assert!(c.no_new_privileges);
        assert!(c.seccomp.is_some());
        let opts = s(&["seccomp=unconfined", "no-new-privileges:false"]);
        let c = SecurityConfig::from_docker(&DockerSecurity {
            security_opt: &opts,
            ..Default::default()
        })
        .unwrap();
        assert!(c.seccomp.is_none() && !c.no_new_privileges);
        let opts = s(&["bogus"]);
        let e = SecurityConfig::from_docker(&DockerSecurity {
            security_opt: &opts,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.0, "invalid --security-opt 1: \"bogus\"");
        let opts = s(&["foo=bar"]);
        assert!(SecurityConfig::from_docker(&DockerSecurity {
            security_opt: &opts,
            ..Default::default()
        })
        .is_err());
        let c = SecurityConfig::from_docker(&DockerSecurity {
            privileged: true,
            ..Default::default()
        })
        .unwrap();
        assert!(c.seccomp.is_none() && !c.mask_system_paths);
    }

    #[test]
    fn devices() {
        let reqs = vec![DeviceRequest {
            path_on_host: "/dev/null".into(),
            path_in_container: "/dev/mynull".into(),
            cgroup_permissions: "rw".into(),
        }];
        let d = resolve_devices(&reqs).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].device.major(), 1);
        assert_eq!(d[0].device.minor(), 3);
        assert_eq!(d[0].device.path(), Path::new("/dev/mynull"));
        assert_eq!(d[0].rule.access().as_deref(), Some("rw"));
        let bad = vec![DeviceRequest {
            path_on_host: "/nonexistent-dev".into(),
            ..Default::default()
        }];
        let e = resolve_devices(&bad).unwrap_err();
        assert_eq!(
            e.0,
            "error gathering device information while adding custom device \"/nonexistent-dev\": no such file or directory"
        );
    }
}
