//! A container's cgroup files, on cgroup v1 (one hierarchy per controller
//! under /sys/fs/cgroup/<controller>) and v2 (one unified hierarchy):
//! freezing (pause), the member pids (top), and usage counters (stats).
//! The container's cgroup is `pier/<id>` (pier-runtime's cgroupsPath).
//! Parsing is kept apart from file access so both layouts are unit-tested
//! with fixture text.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where cgroup hierarchies are mounted.
const ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, Clone)]
pub enum Cgroup {
    /// Per-controller directories.
    V1 { rel: String },
    /// The unified directory.
    V2 { dir: PathBuf },
}

impl Cgroup {
    /// The container's cgroup on this host.
    pub fn of_container(id: &str) -> Cgroup {
        let rel = format!("pier/{id}");
        if Path::new(ROOT).join("cgroup.controllers").exists() {
            Cgroup::V2 {
                dir: Path::new(ROOT).join(&rel),
            }
        } else {
            Cgroup::V1 { rel }
        }
    }

    fn v1(&self, controller: &str, file: &str) -> Option<PathBuf> {
        match self {
            Cgroup::V1 { rel } => Some(Path::new(ROOT).join(controller).join(rel).join(file)),
            Cgroup::V2 { .. } => None,
        }
    }

    fn file(&self, v1_controller: &str, file: &str) -> PathBuf {
        match self {
            Cgroup::V1 { rel } => Path::new(ROOT).join(v1_controller).join(rel).join(file),
            Cgroup::V2 { dir } => dir.join(file),
        }
    }

    /// Pids of every process in the cgroup.
    pub fn pids(&self) -> std::io::Result<Vec<i32>> {
        let text = std::fs::read_to_string(self.file("pids", "cgroup.procs"))?;
        Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    /// Freezes or thaws every process, and waits until the kernel says so.
    pub fn set_frozen(&self, frozen: bool) -> std::io::Result<()> {
        let (path, value, check): (PathBuf, &str, Box<dyn Fn() -> bool>) = match self {
            Cgroup::V1 { .. } => {
                let p = self.file("freezer", "freezer.state");
                let want = if frozen { "FROZEN" } else { "THAWED" };
                let pc = p.clone();
                (
                    p,
                    want,
                    Box::new(move || std::fs::read_to_string(&pc).is_ok_and(|s| s.trim() == want)),
                )
            }
            Cgroup::V2 { dir } => {
                let events = dir.join("cgroup.events");
                let want = if frozen { "1" } else { "0" };
                (
                    dir.join("cgroup.freeze"),
                    want,
                    Box::new(move || {
                        std::fs::read_to_string(&events).is_ok_and(|s| {
                            parse_flat_keyed(&s).get("frozen") == Some(&want.parse().unwrap_or(0))
                        })
                    }),
                )
            }
        };
        std::fs::write(&path, value)?;
        for _ in 0..500 {
            if check() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(2));
            if let Cgroup::V1 { .. } = self {
                // v1 may stay FREEZING while tasks are busy: ask again.
                let _ = std::fs::write(&path, value);
            }
        }
        Err(std::io::Error::other(format!(
            "cgroup did not become {value} in time"
        )))
    }

    /// Usage counters for `stats`.
    pub fn stats(&self) -> CgroupStats {
        let read = |p: PathBuf| std::fs::read_to_string(p).ok();
        match self {
            Cgroup::V1 { .. } => {
                let get = |c: &str, f: &str| self.v1(c, f).and_then(read);
                let num = |c: &str, f: &str| get(c, f).and_then(|s| s.trim().parse::<u64>().ok());
                CgroupStats {
                    cpu_total: num("cpuacct", "cpuacct.usage"),
                    cpu_percpu: get("cpuacct", "cpuacct.usage_percpu").map(|s| {
                        s.split_whitespace()
                            .filter_map(|v| v.parse().ok())
                            .collect()
                    }),
                    cpu_user_kernel: get("cpuacct", "cpuacct.stat").map(|s| {
                        let m = parse_flat_keyed(&s);
                        // USER_HZ ticks → nanoseconds.
                        let ns = 1_000_000_000 / 100;
                        (
                            m.get("user").copied().unwrap_or(0) * ns,
                            m.get("system").copied().unwrap_or(0) * ns,
                        )
                    }),
                    throttling: get("cpu", "cpu.stat").map(|s| {
                        let m = parse_flat_keyed(&s);
                        (
                            m.get("nr_periods").copied().unwrap_or(0),
                            m.get("nr_throttled").copied().unwrap_or(0),
                            m.get("throttled_time").copied().unwrap_or(0),
                        )
                    }),
                    memory_usage: num("memory", "memory.usage_in_bytes"),
                    memory_max_usage: num("memory", "memory.max_usage_in_bytes"),
                    memory_limit: get("memory", "memory.limit_in_bytes")
                        .and_then(|s| parse_max(&s)),
                    memory_failcnt: num("memory", "memory.failcnt"),
                    memory_stat: get("memory", "memory.stat")
                        .map(|s| parse_flat_keyed(&s))
                        .unwrap_or_default(),
                    pids_current: num("pids", "pids.current"),
                    pids_limit: get("pids", "pids.max").and_then(|s| parse_max(&s)),
                    blkio: get("blkio", "blkio.throttle.io_service_bytes")
                        .map(|s| parse_v1_blkio(&s))
                        .unwrap_or_default(),
                }
            }
            Cgroup::V2 { dir } => {
                let get = |f: &str| read(dir.join(f));
                let num = |f: &str| get(f).and_then(|s| s.trim().parse::<u64>().ok());
                let cpu = get("cpu.stat")
                    .map(|s| parse_flat_keyed(&s))
                    .unwrap_or_default();
                let k = |m: &HashMap<String, u64>, key: &str| m.get(key).copied().unwrap_or(0);
                CgroupStats {
                    cpu_total: cpu.get("usage_usec").map(|u| u * 1000),
                    cpu_percpu: None,
                    cpu_user_kernel: Some((
                        k(&cpu, "user_usec") * 1000,
                        k(&cpu, "system_usec") * 1000,
                    )),
                    throttling: Some((
                        k(&cpu, "nr_periods"),
                        k(&cpu, "nr_throttled"),
                        k(&cpu, "throttled_usec") * 1000,
                    )),
                    memory_usage: num("memory.current"),
                    memory_max_usage: None,
                    memory_limit: get("memory.max").and_then(|s| parse_max(&s)),
                    memory_failcnt: None,
                    memory_stat: get("memory.stat")
                        .map(|s| parse_flat_keyed(&s))
                        .unwrap_or_default(),
                    pids_current: num("pids.current"),
                    pids_limit: get("pids.max").and_then(|s| parse_max(&s)),
                    blkio: get("io.stat").map(|s| parse_v2_io(&s)).unwrap_or_default(),
                }
            }
        }
    }
}

/// One block-I/O counter: device, op ("read"/"write"), bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[derive(Debug, Clone, Default)]
pub struct CgroupStats {
    /// Nanoseconds.
    pub cpu_total: Option<u64>,
    pub cpu_percpu: Option<Vec<u64>>,
    /// (user, kernel) nanoseconds.
    pub cpu_user_kernel: Option<(u64, u64)>,
    /// (periods, throttled periods, throttled nanoseconds).
    pub throttling: Option<(u64, u64, u64)>,
    pub memory_usage: Option<u64>,
    pub memory_max_usage: Option<u64>,
    /// `None` = unlimited.
    pub memory_limit: Option<u64>,
    pub memory_failcnt: Option<u64>,
    pub memory_stat: HashMap<String, u64>,
    pub pids_current: Option<u64>,
    pub pids_limit: Option<u64>,
    pub blkio: Vec<BlkioEntry>,
}

/// `key value` lines (memory.stat, cpu.stat, cgroup.events, cpuacct.stat).
pub fn parse_flat_keyed(s: &str) -> HashMap<String, u64> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

/// A limit file: "max" (v2), or a number; v1's "no limit" is a huge number.
pub fn parse_max(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "max" {
        return None;
    }
    let v: u64 = s.parse().ok()?;
    // v1 memory.limit_in_bytes without a limit: PAGE_COUNTER_MAX pages.
    (v < (1u64 << 62)).then_some(v)
}

/// v1 `blkio.throttle.io_service_bytes`: `8:0 Read 4096` lines.
pub fn parse_v1_blkio(s: &str) -> Vec<BlkioEntry> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let dev = it.next()?;
            let op = it.next()?;
            let value = it.next()?.parse().ok()?;
            let (ma, mi) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: ma.parse().ok()?,
                minor: mi.parse().ok()?,
                op: op.to_ascii_lowercase(),
                value,
            })
        })
        .collect()
}

/// v2 `io.stat`: `8:0 rbytes=4096 wbytes=0 rios=1 ...` → read/write bytes.
pub fn parse_v2_io(s: &str) -> Vec<BlkioEntry> {
    let mut out = Vec::new();
    for l in s.lines() {
        let mut it = l.split_whitespace();
        let Some((ma, mi)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (ma.parse(), mi.parse()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let op = match k {
                "rbytes" => "read",
                "wbytes" => "write",
                _ => continue,
            };
            if let Ok(value) = v.parse() {
                out.push(BlkioEntry {
                    major,
                    minor,
                    op: op.into(),
                    value,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_files_parse() {
        let cpu = "usage_usec 12345\nuser_usec 10000\nsystem_usec 2345\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n";
        let m = parse_flat_keyed(cpu);
        assert_eq!(m["usage_usec"], 12345);
        assert_eq!(m["system_usec"], 2345);
        let io =
            "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=1 wbytes=0\n";
        let b = parse_v2_io(io);
        assert_eq!(
            b[0],
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "read".into(),
                value: 4096
            }
        );
        assert_eq!(b[1].op, "write");
        assert_eq!(b[1].value, 8192);
        assert_eq!(b.len(), 4);
        assert_eq!(parse_max("max\n"), None);
        assert_eq!(parse_max("104857600\n"), Some(104857600));
        let events = "populated 1\nfrozen 1\n";
        assert_eq!(parse_flat_keyed(events)["frozen"], 1);
    }

    #[test]
    fn v2_stats_from_a_fixture_dir() {
        let d = tempfile::tempdir().unwrap();
        let w = |f: &str, s: &str| std::fs::write(d.path().join(f), s).unwrap();
        w("cpu.stat", "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n");
        w("memory.current", "1048576\n");
        w("memory.max", "max\n");
        w("memory.stat", "anon 4096\nfile 8192\ninactive_file 4096\n");
        w("pids.current", "3\n");
        w("pids.max", "100\n");
        w("io.stat", "8:0 rbytes=10 wbytes=20\n");
        let s = Cgroup::V2 {
            dir: d.path().to_path_buf(),
        }
        .stats();
        assert_eq!(s.cpu_total, Some(2_000_000));
        assert_eq!(s.cpu_user_kernel, Some((1_500_000, 500_000)));
        assert_eq!(s.throttling, Some((4, 1, 7000)));
        assert_eq!(s.memory_usage, Some(1048576));
        assert_eq!(s.memory_limit, None);
        assert_eq!(s.memory_stat["inactive_file"], 4096);
        assert_eq!(s.pids_current, Some(3));
        assert_eq!(s.pids_limit, Some(100));
        assert_eq!(s.blkio.len(), 2);
    }

    #[test]
    fn v1_files_parse() {
        let b = parse_v1_blkio("8:0 Read 4096\n8:0 Write 512\n8:0 Sync 0\nTotal 4608\n");
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].op, "read");
        assert_eq!(b[1].value, 512);
        assert_eq!(parse_max("9223372036854771712\n"), None);
        let stat = parse_flat_keyed("user 150\nsystem 50\n");
        assert_eq!(stat["user"], 150);
    }
}
