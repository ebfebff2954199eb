//! Docker's resource limits (`--memory*`, `--cpus`, `--cpu-shares`,
//! `--cpuset-*`, `--pids-limit`, `--blkio-weight`, `--oom-kill-disable`,
//! `--ulimit`) checked with Docker's texts and put into the OCI spec, where
//! libcontainer writes them to the cgroup (v1 or v2) of `/pier/<id>`.

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, PosixRlimit, PosixRlimitBuilder,
    PosixRlimitType, Spec,
};

use crate::options::OptionError;

/// Docker's minimum memory limit (6 MiB).
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The CFS period `--cpus` is expressed in (100 ms).
pub const CPU_PERIOD: i64 = 100_000;

/// One `--ulimit name=soft[:hard]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// The limits, as Docker's HostConfig has them (0 / empty = unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub memory: i64,
    /// Memory + swap; -1 unlimited; 0 with `memory` set = twice `memory`.
    pub memory_swap: i64,
    pub memory_reservation: i64,
    /// 0..=100, `None` = inherit.
    pub memory_swappiness: Option<u64>,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// `None`, 0 or -1 = unlimited.
    pub pids_limit: Option<i64>,
    pub blkio_weight: u16,
    pub oom_kill_disable: bool,
    pub ulimits: Vec<Ulimit>,
}

fn rlimit_type(name: &str) -> Option<(PosixRlimitType, libc_resource::Resource)> {
    use libc_resource::Resource as R;
    use PosixRlimitType as T;
    Some(match name {
        "core" => (T::RlimitCore, R::Core),
        "cpu" => (T::RlimitCpu, R::Cpu),
        "data" => (T::RlimitData, R::Data),
        "fsize" => (T::RlimitFsize, R::Fsize),
        "locks" => (T::RlimitLocks, R::Locks),
        "memlock" => (T::RlimitMemlock, R::Memlock),
        "msgqueue" => (T::RlimitMsgqueue, R::Msgqueue),
        "nice" => (T::RlimitNice, R::Nice),
        "nofile" => (T::RlimitNofile, R::Nofile),
        "nproc" => (T::RlimitNproc, R::Nproc),
        "rss" => (T::RlimitRss, R::Rss),
        "rtprio" => (T::RlimitRtprio, R::Rtprio),
        "rttime" => (T::RlimitRttime, R::Rttime),
        "sigpending" => (T::RlimitSigpending, R::Sigpending),
        "stack" => (T::RlimitStack, R::Stack),
        "as" => (T::RlimitAs, R::As),
        _ => return None,
    })
}

/// The host's hard limits, read from /proc/self/limits (no libc needed).
mod libc_resource {
    #[derive(Debug, Clone, Copy)]
    pub enum Resource {
        Cpu,
        Fsize,
        Data,
        Stack,
        Core,
        Rss,
        Nproc,
        Nofile,
        Memlock,
        As,
        Locks,
        Sigpending,
        Msgqueue,
        Nice,
        Rtprio,
        Rttime,
    }

    impl Resource {
        fn label(self) -> &'static str {
            match self {
                Resource::Cpu => "Max cpu time",
                Resource::Fsize => "Max file size",
                Resource::Data => "Max data size",
                Resource::Stack => "Max stack size",
                Resource::Core => "Max core file size",
                Resource::Rss => "Max resident set",
                Resource::Nproc => "Max processes",
                Resource::Nofile => "Max open files",
                Resource::Memlock => "Max locked memory",
                Resource::As => "Max address space",
                Resource::Locks => "Max file locks",
                Resource::Sigpending => "Max pending signals",
                Resource::Msgqueue => "Max msgqueue size",
                Resource::Nice => "Max nice priority",
                Resource::Rtprio => "Max realtime priority",
                Resource::Rttime => "Max realtime timeout",
            }
        }
    }

    /// The hard limit from a `/proc/<pid>/limits` text; `None` = unlimited.
    pub fn hard_limit(limits: &str, r: Resource) -> Option<u64> {
        let line = limits.lines().find(|l| l.starts_with(r.label()))?;
        let rest = line[r.label().len()..]
            .split_whitespace()
            .collect::<Vec<_>>();
        rest.get(1).and_then(|v| v.parse().ok())
    }
}

/// Parses a cpuset list (`0-2,4`), returning the CPUs.
fn parse_cpuset(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// Number of CPUs online on the host.
pub fn host_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn online_cpus() -> String {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| format!("0-{}", host_cpus().saturating_sub(1)))
}

impl Limits {
    /// Docker's checks (`verifyPlatformContainerResources`) and defaults.
    /// Returns warnings; fills `memory_swap` as Docker records it.
    pub fn validate(&mut self) -> Result<Vec<String>, OptionError> {
        let mut warnings = Vec::new();
        if self.memory != 0 && self.memory < MIN_MEMORY {
            return Err(OptionError::new("Minimum memory limit allowed is 6MB"));
        }
        if self.memory_swap > 0 && self.memory == 0 {
            return Err(OptionError::new(
                "You should always set the Memory limit when using Memoryswap limit, see usage",
            ));
        }
        if self.memory > 0 && self.memory_swap > 0 && self.memory_swap < self.memory {
            return Err(OptionError::new(
                "Minimum memoryswap limit should be larger than memory limit, see usage",
            ));
        }
        if self.memory > 0 && self.memory_reservation > 0 && self.memory < self.memory_reservation {
            return Err(OptionError::new(
                "Minimum memory limit can not be less than memory reservation limit, see usage",
            ));
        }
        if self.memory_reservation != 0 && self.memory_reservation < MIN_MEMORY {
            return Err(OptionError::new(
                "Minimum memory reservation allowed is 6MB",
            ));
        }
        if let Some(s) = self.memory_swappiness {
            if s > 100 {
                return Err(OptionError(format!(
                    "Invalid value: {s}, valid memory swappiness range is 0-100"
                )));
            }
        }
        if self.nano_cpus != 0 {
            if self.cpu_period != 0 || self.cpu_quota != 0 {
                return Err(OptionError::new(if self.cpu_period != 0 {
                    "Conflicting options: Nano CPUs and CPU Period cannot both be set"
                } else {
                    "Conflicting options: Nano CPUs and CPU Quota cannot both be set"
                }));
            }
            let n = host_cpus() as i64;
            if self.nano_cpus < 0 || self.nano_cpus > n * 1_000_000_000 {
                return Err(OptionError(format!(
                    "Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"
                )));
            }
        }
        if self.cpu_shares < 0 {
            return Err(OptionError(format!(
                "invalid CPU shares ({}): value must be a positive integer",
                self.cpu_shares
            )));
        }
        if !self.cpuset_cpus.is_empty() {
            let want = parse_cpuset(&self.cpuset_cpus).ok_or_else(|| {
                OptionError(format!(
                    "Invalid value {} for cpuset cpus",
                    self.cpuset_cpus
                ))
            })?;
            let avail = parse_cpuset(&online_cpus()).unwrap_or_default();
            if want.iter().any(|c| !avail.contains(c)) {
                return Err(OptionError(format!(
                    "Requested CPUs are not available - requested {}, available: {}",
                    self.cpuset_cpus,
                    online_cpus()
                )));
            }
        }
        if self.blkio_weight > 0 && !(10..=1000).contains(&self.blkio_weight) {
            return Err(OptionError::new("Range of blkio weight is from 10 to 1000"));
        }
        if self.memory > 0 && self.memory_swap == 0 {
            self.memory_swap = self.memory * 2;
        }
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        for u in &self.ulimits {
            let (_, res) = rlimit_type(&u.name)
                .ok_or_else(|| OptionError(format!("invalid ulimit type: {}", u.name)))?;
            if u.soft > u.hard {
                return Err(OptionError(format!(
                    "invalid ulimit argument: soft limit {} is greater than hard limit {}",
                    u.soft, u.hard
                )));
            }
            // Raising a hard limit needs CAP_SYS_RESOURCE, which pierd may
            // not hold (this VM withholds it): refuse now rather than fail
            // the start with EPERM.
            if let Some(host) = libc_resource::hard_limit(&limits, res) {
                if u.hard < 0 || u.hard as u64 > host {
                    return Err(OptionError(format!(
                        "invalid ulimit argument: hard limit {} for {} exceeds the host's hard limit {host}",
                        u.hard, u.name
                    )));
                }
            }
        }
        if self.oom_kill_disable && self.memory == 0 {
            warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.".to_string());
        }
        Ok(warnings)
    }
}

/// Applies the limits to a spec built by `build_spec`.
pub(crate) fn apply(l: &Limits, spec: &mut Spec) {
    if let Some(p) = spec.process_mut().as_mut() {
        let rl: Vec<PosixRlimit> = l
            .ulimits
            .iter()
            .filter_map(|u| {
                let (typ, _) = rlimit_type(&u.name)?;
                PosixRlimitBuilder::default()
                    .typ(typ)
                    .soft(u.soft as u64)
                    .hard(u.hard as u64)
                    .build()
                    .ok()
            })
            .collect();
        if !rl.is_empty() {
            p.set_rlimits(Some(rl));
        }
    }
    let Some(linux) = spec.linux_mut().as_mut() else {
        return;
    };
    let mut res = linux.resources().clone().unwrap_or_default();
    let mut mem = LinuxMemory::default();
    let mut any_mem = false;
    if l.memory > 0 {
        mem.set_limit(Some(l.memory));
        any_mem = true;
        if l.memory_swap != 0 {
            mem.set_swap(Some(l.memory_swap));
        }
    }
    if l.memory_reservation > 0 {
        mem.set_reservation(Some(l.memory_reservation));
        any_mem = true;
    }
    if let Some(s) = l.memory_swappiness {
        mem.set_swappiness(Some(s));
        any_mem = true;
    }
    if l.oom_kill_disable {
        mem.set_disable_oom_killer(Some(true));
        any_mem = true;
    }
    if any_mem {
        res.set_memory(Some(mem));
    }
    let mut cpu = LinuxCpu::default();
    let mut any_cpu = false;
    if l.nano_cpus > 0 {
        cpu.set_period(Some(CPU_PERIOD as u64))
            .set_quota(Some(l.nano_cpus * CPU_PERIOD / 1_000_000_000));
        any_cpu = true;
    } else {
        if l.cpu_period > 0 {
            cpu.set_period(Some(l.cpu_period as u64));
            any_cpu = true;
        }
        if l.cpu_quota != 0 {
            cpu.set_quota(Some(l.cpu_quota));
            any_cpu = true;
        }
    }
    if l.cpu_shares > 0 {
        cpu.set_shares(Some(l.cpu_shares as u64));
        any_cpu = true;
    }
    if !l.cpuset_cpus.is_empty() {
        cpu.set_cpus(Some(l.cpuset_cpus.clone()));
        any_cpu = true;
    }
    if !l.cpuset_mems.is_empty() {
        cpu.set_mems(Some(l.cpuset_mems.clone()));
        any_cpu = true;
    }
    if any_cpu {
        res.set_cpu(Some(cpu));
    }
    if let Some(p) = l.pids_limit.filter(|p| *p > 0) {
        let mut pids = LinuxPids::default();
        pids.set_limit(p);
        res.set_pids(Some(pids));
    }
    if l.blkio_weight > 0 {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(l.blkio_weight));
        res.set_block_io(Some(b));
    }
    linux.set_resources(Some(res));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_rules() {
        let mut l = Limits {
            memory: 1024,
            ..Default::default()
        };
        assert_eq!(
            l.validate().unwrap_err().0,
            "Minimum memory limit allowed is 6MB"
        );
        let mut l = Limits {
            memory: 64 << 20,
            ..Default::default()
        };
        l.validate().unwrap();
        assert_eq!(l.memory_swap, 128 << 20);
        let mut l = Limits {
            memory: 64 << 20,
            memory_swap: 32 << 20,
            ..Default::default()
        };
        assert!(l
            .validate()
            .unwrap_err()
            .0
            .starts_with("Minimum memoryswap"));
        let mut l = Limits {
            memory_swap: 32 << 20,
            ..Default::default()
        };
        assert!(l.validate().is_err());
        let mut l = Limits {
            memory: 64 << 20,
            memory_reservation: 128 << 20,
            ..Default::default()
        };
        assert!(l.validate().is_err());
    }

    #[test]
    fn cpu_rules() {
        let mut l = Limits {
            nano_cpus: 1_000_000_000_000,
            ..Default::default()
        };
        assert!(l.validate().unwrap_err().0.starts_with("Range of CPUs"));
        let mut l = Limits {
            cpuset_cpus: "0-300".into(),
            ..Default::default()
        };
        assert!(l
            .validate()
            .unwrap_err()
            .0
            .starts_with("Requested CPUs are not available - requested 0-300"));
        let mut l = Limits {
            cpuset_cpus: "0".into(),
            nano_cpus: 500_000_000,
            ..Default::default()
        };
        l.validate().unwrap();
        assert_eq!(parse_cpuset("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpuset("x"), None);
    }

    #[test]
    fn ulimits_are_checked_against_the_host() {
        let mut l = Limits {
            ulimits: vec![Ulimit {
                name: "nofile".into(),
                soft: 100,
                hard: 200,
            }],
            ..Default::default()
        };
        l.validate().unwrap();
        l.ulimits[0].hard = i64::MAX;
        let host = libc_resource::hard_limit(
            &std::fs::read_to_string("/proc/self/limits").unwrap(),
            libc_resource::Resource::Nofile,
        );
        if host.is_some() {
            assert!(l
                .validate()
                .unwrap_err()
                .0
                .contains("exceeds the host's hard limit"));
        }
        l.ulimits[0].name = "bogus".into();
        assert_eq!(l.validate().unwrap_err().0, "invalid ulimit type: bogus");
        let text = "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 20000                files     \nMax processes             unlimited            unlimited            processes \n";
        assert_eq!(
            libc_resource::hard_limit(text, libc_resource::Resource::Nofile),
            Some(20000)
        );
        assert_eq!(
            libc_resource::hard_limit(text, libc_resource::Resource::Nproc),
            None
        );
    }

    #[test]
    fn applied_to_the_spec() {
        let mut spec = crate::build_spec(&crate::SpecInput {
            id: "x".into(),
            args: vec!["true".into()],
            ..Default::default()
        });
        let l = Limits {
            memory: 64 << 20,
            memory_swap: 128 << 20,
            nano_cpus: 1_500_000_000,
            cpu_shares: 512,
            cpuset_cpus: "0".into(),
            pids_limit: Some(10),
            oom_kill_disable: true,
            ulimits: vec![Ulimit {
                name: "nofile".into(),
                soft: 100,
                hard: 200,
            }],
            ..Default::default()
        };
        apply(&l, &mut spec);
        let v = serde_json::to_value(&spec).unwrap();
        let r = &v["linux"]["resources"];
        assert_eq!(r["memory"]["limit"], 64 << 20);
        assert_eq!(r["memory"]["swap"], 128 << 20);
        assert_eq!(r["memory"]["disableOOMKiller"], true);
        assert_eq!(r["cpu"]["quota"], 150_000);
        assert_eq!(r["cpu"]["period"], 100_000);
        assert_eq!(r["cpu"]["shares"], 512);
        assert_eq!(r["cpu"]["cpus"], "0");
        assert_eq!(r["pids"]["limit"], 10);
        assert_eq!(v["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
        assert_eq!(v["process"]["rlimits"][0]["hard"], 200);
        // the device rules survive
        assert!(r["devices"].as_array().unwrap().len() >= 8);
    }
}
