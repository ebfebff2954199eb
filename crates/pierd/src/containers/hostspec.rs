//! The HostConfig fields that become limits, security settings and `--init`
//! in the runtime spec: checked at create (Docker's 400s and warnings) and
//! turned into `pier_runtime` inputs at start.

use std::path::{Path, PathBuf};

use pier_api::models::HostConfig;
use pier_runtime::limits::{Limits, Ulimit};
use pier_runtime::security::{DeviceRequest, DockerSecurity, SecurityConfig};

use super::error::ContainerError;

fn bad(e: pier_runtime::options::OptionError) -> ContainerError {
    ContainerError::InvalidParameter(e.0)
}

/// The limits of a host config (unvalidated).
pub fn limits_of(hc: &HostConfig) -> Limits {
    Limits {
        memory: hc.memory.unwrap_or(0),
        memory_swap: hc.memory_swap.unwrap_or(0),
        memory_reservation: hc.memory_reservation.unwrap_or(0),
        memory_swappiness: hc.memory_swappiness.filter(|s| *s >= 0).map(|s| s as u64),
        nano_cpus: hc.nano_cpus.unwrap_or(0),
        cpu_shares: hc.cpu_shares.unwrap_or(0),
        cpu_period: hc.cpu_period.unwrap_or(0),
        cpu_quota: hc.cpu_quota.unwrap_or(0),
        cpuset_cpus: hc.cpuset_cpus.clone().unwrap_or_default(),
        cpuset_mems: hc.cpuset_mems.clone().unwrap_or_default(),
        pids_limit: hc.pids_limit,
        blkio_weight: hc.blkio_weight.unwrap_or(0),
        oom_kill_disable: hc.oom_kill_disable.unwrap_or(false),
        ulimits: hc
            .ulimits
            .iter()
            .flatten()
            .map(|u| Ulimit {
                name: u.name.clone().unwrap_or_default(),
                soft: u.soft.unwrap_or(0),
                hard: u.hard.unwrap_or(0),
            })
            .collect(),
    }
}

fn device_requests(hc: &HostConfig) -> Vec<DeviceRequest> {
    hc.devices
        .iter()
        .flatten()
        .map(|d| DeviceRequest {
            path_on_host: d.path_on_host.clone().unwrap_or_default(),
            path_in_container: d.path_in_container.clone().unwrap_or_default(),
            cgroup_permissions: d.cgroup_permissions.clone().unwrap_or_default(),
        })
        .collect()
}

/// The resolved security settings of a host config.
pub fn security_of(hc: &HostConfig) -> Result<SecurityConfig, ContainerError> {
    let none = Vec::new();
    let devices = device_requests(hc);
    SecurityConfig::from_docker(&DockerSecurity {
        privileged: hc.privileged.unwrap_or(false),
        cap_add: hc.cap_add.as_ref().unwrap_or(&none),
        cap_drop: hc.cap_drop.as_ref().unwrap_or(&none),
        security_opt: hc.security_opt.as_ref().unwrap_or(&none),
        devices: &devices,
    })
    .map_err(bad)
}

/// Docker's checks at create: rejects bad limits, capabilities, security
/// options and devices; records the defaults Docker records (MemorySwap);
/// returns Docker's warnings.
pub fn check_at_create(hc: &mut HostConfig) -> Result<Vec<String>, ContainerError> {
    let mut limits = limits_of(hc);
    let mut warnings = limits.validate().map_err(bad)?;
    if limits.memory_swap != 0 {
        hc.memory_swap = Some(limits.memory_swap);
    }
    if limits.blkio_weight > 0 && !blkio_weight_supported() {
        warnings.push(
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
                .into(),
        );
        hc.blkio_weight = Some(0);
    }
    if limits.memory_swappiness.is_some() && pure_cgroup_v2() {
        warnings.push("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.".into());
        hc.memory_swappiness = Some(-1);
    }
    if limits.oom_kill_disable && pure_cgroup_v2() {
        warnings
            .push("Your kernel does not support OomKillDisable. OomKillDisable discarded.".into());
        hc.oom_kill_disable = Some(false);
    }
    security_of(hc)?;
    log_rotation(hc)?;
    check_restart_policy(hc)?;
    Ok(warnings)
}

/// Docker's `ValidateRestartPolicy` and the AutoRemove conflict.
pub fn check_restart_policy(hc: &HostConfig) -> Result<(), ContainerError> {
    use pier_api::models::RestartPolicyNameEnum as P;
    let Some(rp) = &hc.restart_policy else {
        return Ok(());
    };
    let name = rp.name.unwrap_or(P::EMPTY);
    let count = rp.maximum_retry_count.unwrap_or(0);
    let bad = |m: &str| Err(ContainerError::InvalidParameter(m.to_string()));
    match name {
        P::ON_FAILURE if count < 0 => {
            return bad("invalid restart policy: maximum retry count cannot be negative")
        }
        P::ON_FAILURE | P::EMPTY | P::NO => {}
        _ if count != 0 => {
            return bad(
                "invalid restart policy: maximum retry count can only be used with 'on-failure'",
            )
        }
        _ => {}
    }
    if hc.auto_remove.unwrap_or(false) && !matches!(name, P::EMPTY | P::NO) {
        return bad("can't create 'AutoRemove' container with restart policy");
    }
    Ok(())
}

fn pure_cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

fn blkio_weight_supported() -> bool {
    if pure_cgroup_v2() {
        return std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .is_ok_and(|c| c.split_whitespace().any(|x| x == "io"));
    }
    // The root cgroup has no weight files; a child (pier's own) has them
    // when the I/O scheduler supports weights.
    let dir = Path::new("/sys/fs/cgroup/blkio");
    ["blkio.weight", "blkio.bfq.weight"].iter().any(|f| {
        dir.join(f).exists() || dir.join("pier").join(f).exists() || {
            std::fs::read_dir(dir).is_ok_and(|rd| {
                rd.flatten()
                    .any(|e| e.path().is_dir() && e.path().join(f).exists())
            })
        }
    })
}

/// The `pier-init` binary next to the shim, if `--init` is set.
pub fn init_path(hc: &HostConfig, shim_path: &Path) -> Result<Option<PathBuf>, ContainerError> {
    if !hc.init.unwrap_or(false) {
        return Ok(None);
    }
    let p = shim_path.with_file_name("pier-init");
    if !p.exists() {
        return Err(ContainerError::Runtime(format!(
            "exec: \"docker-init\": executable file not found in $PATH ({} is missing)",
            p.display()
        )));
    }
    Ok(Some(p))
}

fn normalize_arch(a: &str) -> &str {
    match a {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "armhf" | "armel" => "arm",
        "i386" | "i686" => "386",
        other => other,
    }
}

/// Docker's check of `--platform` (`os[/arch[/variant]]`) against a local
/// image. A missing image is left for create to report.
pub async fn check_platform(
    d: &std::sync::Arc<crate::daemon::Daemon>,
    image: &str,
    platform: &str,
) -> Result<(), ContainerError> {
    let parts: Vec<&str> = platform.split('/').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(ContainerError::InvalidParameter(format!(
            "\"{platform}\": unknown operating system or architecture: invalid argument"
        )));
    }
    let images = d.images.clone();
    let name = image.to_string();
    let Ok(Ok(info)) = tokio::task::spawn_blocking(move || images.inspect(&name)).await else {
        return Ok(());
    };
    let os = info.os.clone().unwrap_or_else(|| "linux".into());
    let arch = info.architecture.clone().unwrap_or_default();
    let variant = info.variant.clone().unwrap_or_default();
    let want_os = parts[0].to_ascii_lowercase();
    let want_arch = parts
        .get(1)
        .map(|a| normalize_arch(&a.to_ascii_lowercase()).to_string());
    let want_variant = parts.get(2).map(|v| v.to_ascii_lowercase());
    let matches = want_os == os
        && want_arch
            .as_deref()
            .is_none_or(|a| a == normalize_arch(&arch))
        && want_variant.as_deref().is_none_or(|v| v == variant);
    if matches {
        return Ok(());
    }
    let mut have = format!("{os}/{arch}");
    if !variant.is_empty() {
        have = format!("{have}/{variant}");
    }
    Err(ContainerError::PlatformMismatch(format!(
        "image with reference {image} was found but its platform ({have}) does not match the specified platform ({platform})"
    )))
}

/// go-units' `FromHumanSize` (decimal: 1k = 1000), as json-file parses
/// `max-size`.
fn from_human_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_end);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().trim_end_matches('b') {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "p" => 1e15,
        _ => return None,
    };
    (n >= 0.0).then_some((n * mult) as u64)
}

/// The json-file rotation settings `(max-size bytes, max-file)` of a host
/// config, with Docker's checks; `local` is json-file-backed with its own
/// defaults (20 MB, 5 files).
pub fn log_rotation(hc: &HostConfig) -> Result<(u64, u32), ContainerError> {
    let Some(lc) = &hc.log_config else {
        return Ok((0, 1));
    };
    let driver = lc.typ.as_deref().unwrap_or("json-file");
    let opts = lc.config.clone().unwrap_or_default();
    let (mut size, mut files) = match driver {
        "local" => (20_000_000u64, 5u32),
        _ => (0, 1),
    };
    let known = [
        "max-size",
        "max-file",
        "compress",
        "labels",
        "labels-regex",
        "env",
        "env-regex",
        "tag",
        "mode",
        "max-buffer-size",
    ];
    for k in opts.keys() {
        if driver != "none" && !known.contains(&k.as_str()) {
            return Err(ContainerError::InvalidParameter(format!(
                "unknown log opt '{k}' for {driver} log driver"
            )));
        }
    }
    if let Some(s) = opts.get("max-size").filter(|s| !s.is_empty()) {
        size = from_human_size(s)
            .ok_or_else(|| ContainerError::InvalidParameter(format!("invalid size: '{s}'")))?;
    }
    if let Some(f) = opts.get("max-file").filter(|s| !s.is_empty()) {
        let n: i64 = f.parse().map_err(|_| {
            ContainerError::InvalidParameter(format!(
                "strconv.Atoi: parsing \"{f}\": invalid syntax"
            ))
        })?;
        if n < 1 {
            return Err(ContainerError::InvalidParameter(
                "max-file cannot be less than 1".into(),
            ));
        }
        files = n.min(u32::MAX as i64) as u32;
    }
    if files > 1 && size == 0 {
        return Err(ContainerError::InvalidParameter(
            "max-file cannot be set when max-size is not set".into(),
        ));
    }
    Ok((size, files))
}

/// The spec inputs decided by the host config.
pub struct HostSpec {
    pub limits: Limits,
    pub security: SecurityConfig,
    pub init: Option<PathBuf>,
    pub shm_size: Option<u64>,
}

pub fn host_spec(hc: &HostConfig, shim_path: &Path) -> Result<HostSpec, ContainerError> {
    let mut limits = limits_of(hc);
    // Validated at create; here only Docker's derived values matter.
    let _ = limits.validate();
    Ok(HostSpec {
        limits,
        security: security_of(hc)?,
        init: init_path(hc, shim_path)?,
        shm_size: hc.shm_size.filter(|s| *s > 0).map(|s| s as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_checks() {
        let mut hc = HostConfig {
            memory: Some(64 << 20),
            ..Default::default()
        };
        check_at_create(&mut hc).unwrap();
        assert_eq!(hc.memory_swap, Some(128 << 20));
        let mut hc = HostConfig {
            cap_add: Some(vec!["NOPE".into()]),
            ..Default::default()
        };
        let e = check_at_create(&mut hc).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid CapAdd: unknown capability: \"CAP_NOPE\""
        );
        let mut hc = HostConfig {
            memory: Some(100),
            ..Default::default()
        };
        assert!(check_at_create(&mut hc).is_err());
    }

    fn log(driver: &str, opts: &[(&str, &str)]) -> HostConfig {
        HostConfig {
            log_config: Some(pier_api::models::HostConfigLogConfig {
                typ: Some(driver.into()),
                config: Some(
                    opts.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn restart_policies() {
        use pier_api::models::{RestartPolicy, RestartPolicyNameEnum as P};
        let hc = |name, count, auto| HostConfig {
            restart_policy: Some(RestartPolicy {
                name: Some(name),
                maximum_retry_count: Some(count),
            }),
            auto_remove: Some(auto),
            ..Default::default()
        };
        assert!(check_restart_policy(&hc(P::ON_FAILURE, 3, false)).is_ok());
        assert!(check_restart_policy(&hc(P::ALWAYS, 0, false)).is_ok());
        assert!(check_restart_policy(&hc(P::NO, 0, true)).is_ok());
        let e = |h: HostConfig| check_restart_policy(&h).unwrap_err().to_string();
        assert_eq!(
            e(hc(P::ALWAYS, 2, false)),
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        );
        assert_eq!(
            e(hc(P::ON_FAILURE, -1, false)),
            "invalid restart policy: maximum retry count cannot be negative"
        );
        assert_eq!(
            e(hc(P::ALWAYS, 0, true)),
            "can't create 'AutoRemove' container with restart policy"
        );
    }

    #[test]
    fn log_options() {
        assert_eq!(log_rotation(&log("json-file", &[])).unwrap(), (0, 1));
        assert_eq!(
            log_rotation(&log("json-file", &[("max-size", "10k"), ("max-file", "3")])).unwrap(),
            (10_000, 3)
        );
        assert_eq!(log_rotation(&log("local", &[])).unwrap(), (20_000_000, 5));
        assert_eq!(
            log_rotation(&log("json-file", &[("max-size", "1.5m")])).unwrap(),
            (1_500_000, 1)
        );
        let e = |d: &str, o: &[(&str, &str)]| log_rotation(&log(d, o)).unwrap_err().to_string();
        assert_eq!(e("json-file", &[("max-size", "x")]), "invalid size: 'x'");
        assert_eq!(
            e("json-file", &[("max-file", "0")]),
            "max-file cannot be less than 1"
        );
        assert_eq!(
            e("json-file", &[("max-file", "2")]),
            "max-file cannot be set when max-size is not set"
        );
        assert_eq!(
            e("json-file", &[("bogus", "1")]),
            "unknown log opt 'bogus' for json-file log driver"
        );
    }
}
