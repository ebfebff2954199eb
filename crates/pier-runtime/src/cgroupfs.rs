//! Writing new limits into a running container's cgroup (`pier update`),
//! on cgroup v1 (one hierarchy per controller under the root) and v2 (one
//! unified hierarchy). The root is a parameter so both layouts are tested
//! against fixture dirs; in production it is `/sys/fs/cgroup`.

use std::path::{Path, PathBuf};

use crate::limits::{Limits, CPU_PERIOD};

/// Which cgroup layout a root holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    V1,
    V2,
}

/// v2 if the root itself is a cgroup2 hierarchy (it has `cgroup.controllers`),
/// as libcgroups decides. A hybrid host (v1 controllers, v2 at `unified/`)
/// is v1.
pub fn layout(root: &Path) -> Layout {
    if root.join("cgroup.controllers").exists() {
        Layout::V2
    } else {
        Layout::V1
    }
}

/// A container's cgroup: `cgroups_path` is the spec's `/pier/<id>`.
#[derive(Debug, Clone)]
pub struct CgroupDir {
    root: PathBuf,
    rel: PathBuf,
    pub layout: Layout,
}

/// Docker's conversion of cpu shares (2..262144) to a cgroup v2 weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

impl CgroupDir {
    pub fn new(root: &Path, cgroups_path: &str) -> CgroupDir {
        CgroupDir {
            root: root.to_path_buf(),
            rel: PathBuf::from(cgroups_path.trim_start_matches('/')),
            layout: layout(root),
        }
    }

    /// The directory holding `controller`'s files.
    pub fn dir(&self, controller: &str) -> PathBuf {
        match self.layout {
            Layout::V2 => self.root.join(&self.rel),
            Layout::V1 => self.root.join(controller).join(&self.rel),
        }
    }

    fn write(&self, controller: &str, file: &str, value: &str) -> std::io::Result<()> {
        let p = self.dir(controller).join(file);
        std::fs::write(&p, value).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("writing {value:?} to {}: {e}", p.display()),
            )
        })
    }

    fn read(&self, controller: &str, file: &str) -> Option<String> {
        std::fs::read_to_string(self.dir(controller).join(file))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// The memory limit now in force (`None` = unlimited or unreadable).
    pub fn memory_limit(&self) -> Option<i64> {
        let v = match self.layout {
            Layout::V1 => self.read("memory", "memory.limit_in_bytes")?,
            Layout::V2 => self.read("memory", "memory.max")?,
        };
        v.parse().ok().filter(|n: &i64| *n < i64::MAX / 2)
    }

    /// Writes the non-zero fields of `l` (Docker's update semantics: zero =
    /// unchanged). `l.memory_swap` must already be the full new value.
    pub fn update(&self, l: &Limits) -> std::io::Result<()> {
        match self.layout {
            Layout::V1 => self.update_v1(l),
            Layout::V2 => self.update_v2(l),
        }
    }

    fn update_v1(&self, l: &Limits) -> std::io::Result<()> {
        if l.memory != 0 || l.memory_swap != 0 {
            let mem = l.memory;
            let swap = l.memory_swap;
            // memory.limit_in_bytes may never exceed memsw: raise memsw
            // first when growing, lower the limit first when shrinking.
            let growing = self.memory_limit().is_none_or(|cur| mem > cur);
            let has_memsw = self
                .dir("memory")
                .join("memory.memsw.limit_in_bytes")
                .exists();
            if growing {
                if swap != 0 && has_memsw {
                    self.write("memory", "memory.memsw.limit_in_bytes", &swap.to_string())?;
                }
                if mem != 0 {
                    self.write("memory", "memory.limit_in_bytes", &mem.to_string())?;
                }
            } else {
                if mem != 0 {
                    self.write("memory", "memory.limit_in_bytes", &mem.to_string())?;
                }
                if swap != 0 && has_memsw {
                    self.write("memory", "memory.memsw.limit_in_bytes", &swap.to_string())?;
                }
            }
        }
        if l.memory_reservation != 0 {
            self.write(
                "memory",
                "memory.soft_limit_in_bytes",
                &l.memory_reservation.to_string(),
            )?;
        }
        if l.nano_cpus != 0 {
            self.write("cpu", "cpu.cfs_period_us", &CPU_PERIOD.to_string())?;
            self.write(
                "cpu",
                "cpu.cfs_quota_us",
                &(l.nano_cpus * CPU_PERIOD / 1_000_000_000).to_string(),
            )?;
        }
        if l.cpu_period != 0 {
            self.write("cpu", "cpu.cfs_period_us", &l.cpu_period.to_string())?;
        }
        if l.cpu_quota != 0 {
            self.write("cpu", "cpu.cfs_quota_us", &l.cpu_quota.to_string())?;
        }
        if l.cpu_shares != 0 {
            self.write("cpu", "cpu.shares", &l.cpu_shares.to_string())?;
        }
        if !l.cpuset_cpus.is_empty() {
            self.write("cpuset", "cpuset.cpus", &l.cpuset_cpus)?;
        }
        if !l.cpuset_mems.is_empty() {
            self.write("cpuset", "cpuset.mems", &l.cpuset_mems)?;
        }
        if let Some(p) = l.pids_limit.filter(|p| *p != 0) {
            let v = if p < 0 {
                "max".to_string()
            } else {
                p.to_string()
            };
            self.write("pids", "pids.max", &v)?;
        }
        if l.blkio_weight != 0 {
            let file = if self.dir("blkio").join("blkio.weight").exists() {
                "blkio.weight"
            } else {
                "blkio.bfq.weight"
            };
            self.write("blkio", file, &l.blkio_weight.to_string())?;
        }
        Ok(())
    }

    fn update_v2(&self, l: &Limits) -> std::io::Result<()> {
        if l.memory != 0 {
            self.write("memory", "memory.max", &l.memory.to_string())?;
        }
        if l.memory_swap != 0 {
            // v2 limits swap alone: Docker's MemorySwap is memory + swap.
            let v = if l.memory_swap < 0 {
                "max".to_string()
            } else {
                let mem = if l.memory != 0 {
                    l.memory
                } else {
                    self.memory_limit().unwrap_or(0)
                };
                (l.memory_swap - mem).max(0).to_string()
            };
            if self.dir("memory").join("memory.swap.max").exists() {
                self.write("memory", "memory.swap.max", &v)?;
            }
        }
        if l.memory_reservation != 0 {
            self.write("memory", "memory.low", &l.memory_reservation.to_string())?;
        }
        let (quota, period) = if l.nano_cpus != 0 {
            (
                Some(l.nano_cpus * CPU_PERIOD / 1_000_000_000),
                Some(CPU_PERIOD),
            )
        } else {
            (
                (l.cpu_quota != 0).then_some(l.cpu_quota),
                (l.cpu_period != 0).then_some(l.cpu_period),
            )
        };
        if quota.is_some() || period.is_some() {
            let cur = self
                .read("cpu", "cpu.max")
                .unwrap_or_else(|| "max 100000".into());
            let mut it = cur.split_whitespace();
            let (cq, cp) = (
                it.next().unwrap_or("max").to_string(),
                it.next().unwrap_or("100000").to_string(),
            );
            let q = match quota {
                Some(q) if q > 0 => q.to_string(),
                Some(_) => "max".to_string(),
                None => cq,
            };
            let p = period.map(|p| p.to_string()).unwrap_or(cp);
            self.write("cpu", "cpu.max", &format!("{q} {p}"))?;
        }
        if l.cpu_shares != 0 {
            self.write(
                "cpu",
                "cpu.weight",
                &shares_to_weight(l.cpu_shares as u64).to_string(),
            )?;
        }
        if !l.cpuset_cpus.is_empty() {
            self.write("cpuset", "cpuset.cpus", &l.cpuset_cpus)?;
        }
        if !l.cpuset_mems.is_empty() {
            self.write("cpuset", "cpuset.mems", &l.cpuset_mems)?;
        }
        if let Some(p) = l.pids_limit.filter(|p| *p != 0) {
            let v = if p < 0 {
                "max".to_string()
            } else {
                p.to_string()
            };
            self.write("pids", "pids.max", &v)?;
        }
        if l.blkio_weight != 0 {
            let file = if self.dir("io").join("io.bfq.weight").exists() {
                "io.bfq.weight"
            } else {
                "io.weight"
            };
            self.write("io", file, &format!("default {}", l.blkio_weight))?;
        }
        Ok(())
    }

    /// `--oom-kill-disable` (cgroup v1 only; v2 has no such switch).
    /// libcontainer 0.7 ignores the spec's `disableOOMKiller`, so the shim
    /// writes it after create.
    pub fn set_oom_kill_disable(&self) -> std::io::Result<()> {
        match self.layout {
            Layout::V1 => self.write("memory", "memory.oom_control", "1"),
            Layout::V2 => Ok(()),
        }
    }

    /// Whether the kernel OOM-killed a process of this cgroup (v1
    /// `memory.oom_control`, v2 `memory.events`: `oom_kill N`).
    pub fn oom_killed(&self) -> bool {
        let file = match self.layout {
            Layout::V1 => "memory.oom_control",
            Layout::V2 => "memory.events",
        };
        self.read("memory", file).is_some_and(|s| {
            s.lines().any(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(v2: bool) -> (tempfile::TempDir, CgroupDir) {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        if v2 {
            std::fs::write(r.join("cgroup.controllers"), "cpuset cpu io memory pids").unwrap();
            let c = r.join("pier/abc");
            std::fs::create_dir_all(&c).unwrap();
            for (f, v) in [
                ("memory.max", "max"),
                ("memory.swap.max", "max"),
                ("memory.low", "0"),
                ("cpu.max", "max 100000"),
                ("cpu.weight", "100"),
                ("cpuset.cpus", ""),
                ("pids.max", "max"),
                ("io.weight", "default 100"),
                ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"),
            ] {
                std::fs::write(c.join(f), v).unwrap();
            }
        } else {
            for (ctrl, files) in [
                (
                    "memory",
                    &[
                        ("memory.limit_in_bytes", "9223372036854771712"),
                        ("memory.memsw.limit_in_bytes", "9223372036854771712"),
                        ("memory.soft_limit_in_bytes", "0"),
                        (
                            "memory.oom_control",
                            "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
                        ),
                    ][..],
                ),
                (
                    "cpu",
                    &[
                        ("cpu.cfs_quota_us", "-1"),
                        ("cpu.cfs_period_us", "100000"),
                        ("cpu.shares", "1024"),
                    ][..],
                ),
                ("cpuset", &[("cpuset.cpus", "0-1")][..]),
                ("pids", &[("pids.max", "max")][..]),
                ("blkio", &[("blkio.bfq.weight", "100")][..]),
            ] {
                let c = r.join(ctrl).join("pier/abc");
                std::fs::create_dir_all(&c).unwrap();
                for (f, v) in files {
                    std::fs::write(c.join(f), v).unwrap();
                }
            }
        }
        let cg = CgroupDir::new(r, "/pier/abc");
        (d, cg)
    }

    fn read(cg: &CgroupDir, ctrl: &str, f: &str) -> String {
        std::fs::read_to_string(cg.dir(ctrl).join(f)).unwrap()
    }

    fn update() -> Limits {
        Limits {
            memory: 64 << 20,
            memory_swap: 128 << 20,
            memory_reservation: 32 << 20,
            nano_cpus: 500_000_000,
            cpu_shares: 512,
            cpuset_cpus: "1".into(),
            pids_limit: Some(20),
            blkio_weight: 300,
            ..Default::default()
        }
    }

    #[test]
    fn v1_update() {
        let (_d, cg) = fixture(false);
        assert_eq!(cg.layout, Layout::V1);
        cg.update(&update()).unwrap();
        assert_eq!(read(&cg, "memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(
            read(&cg, "memory", "memory.memsw.limit_in_bytes"),
            "134217728"
        );
        assert_eq!(
            read(&cg, "memory", "memory.soft_limit_in_bytes"),
            "33554432"
        );
        assert_eq!(read(&cg, "cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(&cg, "cpu", "cpu.shares"), "512");
        assert_eq!(read(&cg, "cpuset", "cpuset.cpus"), "1");
        assert_eq!(read(&cg, "pids", "pids.max"), "20");
        assert_eq!(read(&cg, "blkio", "blkio.bfq.weight"), "300");
        assert_eq!(cg.memory_limit(), Some(64 << 20));
        assert!(!cg.oom_killed());
        cg.set_oom_kill_disable().unwrap();
        assert_eq!(read(&cg, "memory", "memory.oom_control"), "1");
        // zero fields stay as they are
        cg.update(&Limits {
            pids_limit: Some(-1),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(read(&cg, "pids", "pids.max"), "max");
        assert_eq!(read(&cg, "cpu", "cpu.shares"), "512");
    }

    #[test]
    fn v2_update() {
        let (_d, cg) = fixture(true);
        assert_eq!(cg.layout, Layout::V2);
        cg.update(&update()).unwrap();
        assert_eq!(read(&cg, "memory", "memory.max"), "67108864");
        assert_eq!(read(&cg, "memory", "memory.swap.max"), "67108864");
        assert_eq!(read(&cg, "memory", "memory.low"), "33554432");
        assert_eq!(read(&cg, "cpu", "cpu.max"), "50000 100000");
        assert_eq!(read(&cg, "cpu", "cpu.weight"), "20");
        assert_eq!(read(&cg, "cpuset", "cpuset.cpus"), "1");
        assert_eq!(read(&cg, "pids", "pids.max"), "20");
        assert_eq!(read(&cg, "io", "io.weight"), "default 300");
        assert!(cg.oom_killed());
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }
}
