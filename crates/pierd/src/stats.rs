//! Docker's stats JSON (`GET /containers/{id}/stats`) from the container's
//! cgroup counters, /proc/stat and the init's /proc/<pid>/net/dev.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::cgroups::{Cgroup, CgroupStats};

/// One sample of everything stats needs.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub read: Option<DateTime<Utc>>,
    pub cg: CgroupStats,
    /// Host CPU time in nanoseconds (all CPUs).
    pub system_cpu: u64,
    pub online_cpus: u64,
    pub networks: Option<Map<String, Value>>,
}

/// Host CPU time from /proc/stat's `cpu` line, in nanoseconds.
pub fn parse_proc_stat(s: &str) -> (u64, u64) {
    let mut total = 0;
    let mut cpus = 0;
    for l in s.lines() {
        let mut it = l.split_whitespace();
        match it.next() {
            Some("cpu") => {
                // USER_HZ (100) ticks → ns
                total = it.filter_map(|v| v.parse::<u64>().ok()).sum::<u64>() * 10_000_000;
            }
            Some(c) if c.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    (total, cpus)
}

/// `/proc/<pid>/net/dev` → Docker's per-interface counters (without lo).
pub fn parse_net_dev(s: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for l in s.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if f.len() < 16 {
            continue;
        }
        out.insert(
            name.to_string(),
            json!({
                "rx_bytes": f[0], "rx_packets": f[1], "rx_errors": f[2], "rx_dropped": f[3],
                "tx_bytes": f[8], "tx_packets": f[9], "tx_errors": f[10], "tx_dropped": f[11],
            }),
        );
    }
    out
}

/// Takes a sample of a running container (`pid` is its init).
pub fn sample(id: &str, pid: i64, mem_total: u64) -> Sample {
    let mut cg = Cgroup::of_container(id).stats();
    if cg.memory_limit.is_none() {
        cg.memory_limit = Some(mem_total);
    }
    let (system_cpu, online_cpus) = std::fs::read_to_string("/proc/stat")
        .map(|s| parse_proc_stat(&s))
        .unwrap_or((0, 0));
    let networks = (pid > 0)
        .then(|| std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok())
        .flatten()
        .map(|s| parse_net_dev(&s))
        .filter(|m| !m.is_empty());
    Sample {
        read: Some(Utc::now()),
        cg,
        system_cpu,
        online_cpus,
        networks,
    }
}

fn cpu_json(s: &Sample) -> Value {
    if s.read.is_none() {
        return json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}});
    }
    let (user, kernel) = s.cg.cpu_user_kernel.unwrap_or((0, 0));
    let (periods, throttled, ttime) = s.cg.throttling.unwrap_or((0, 0, 0));
    let mut usage = json!({
        "total_usage": s.cg.cpu_total.unwrap_or(0),
        "usage_in_kernelmode": kernel,
        "usage_in_usermode": user,
    });
    if let Some(p) = &s.cg.cpu_percpu {
        usage["percpu_usage"] = json!(p);
    }
    json!({
        "cpu_usage": usage,
        "system_cpu_usage": s.system_cpu,
        "online_cpus": s.online_cpus,
        "throttling_data": {"periods": periods, "throttled_periods": throttled, "throttled_time": ttime},
    })
}

fn time_text(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| crate::containers::record::rfc3339_nano(&t))
        .unwrap_or_else(|| crate::containers::record::ZERO_TIME.to_string())
}

/// Docker's `StatsResponse` JSON for `cur` (and `pre` as precpu).
pub fn to_json(id: &str, name: &str, cur: &Sample, pre: &Sample) -> Value {
    let cg = &cur.cg;
    let mut memory = Map::new();
    if cur.read.is_some() {
        memory.insert("usage".into(), json!(cg.memory_usage.unwrap_or(0)));
        if let Some(m) = cg.memory_max_usage {
            memory.insert("max_usage".into(), json!(m));
        }
        memory.insert("stats".into(), json!(cg.memory_stat));
        if let Some(f) = cg.memory_failcnt {
            memory.insert("failcnt".into(), json!(f));
        }
        memory.insert("limit".into(), json!(cg.memory_limit.unwrap_or(0)));
    }
    let blkio: Vec<Value> = cg
        .blkio
        .iter()
        .map(|b| json!({"major": b.major, "minor": b.minor, "op": b.op, "value": b.value}))
        .collect();
    let mut pids = Map::new();
    if let Some(c) = cg.pids_current {
        pids.insert("current".into(), json!(c));
    }
    if let Some(l) = cg.pids_limit {
        pids.insert("limit".into(), json!(l));
    }
    let mut v = json!({
        "name": name,
        "id": id,
        "read": time_text(cur.read),
        "preread": time_text(pre.read),
        "pids_stats": pids,
        "blkio_stats": {
            "io_service_bytes_recursive": if cur.read.is_some() { json!(blkio) } else { Value::Null },
            "io_serviced_recursive": null,
            "io_queue_recursive": null,
            "io_service_time_recursive": null,
            "io_wait_time_recursive": null,
            "io_merged_recursive": null,
            "io_time_recursive": null,
            "sectors_recursive": null,
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_json(cur),
        "precpu_stats": cpu_json(pre),
        "memory_stats": memory,
    });
    if let Some(n) = &cur.networks {
        v["networks"] = Value::Object(n.clone());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse() {
        let stat = "cpu  100 0 50 850 0 0 0 0 0 0\ncpu0 50 0 25 425 0 0 0 0 0 0\ncpu1 50 0 25 425 0 0 0 0 0 0\nintr 1\n";
        assert_eq!(parse_proc_stat(stat), (1000 * 10_000_000, 2));
        let dev = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    2000      20    1    2    0     0          0         0     3000      30    3    4    0     0       0          0\n";
        let m = parse_net_dev(dev);
        assert_eq!(m.len(), 1);
        assert_eq!(m["eth0"]["rx_bytes"], 2000);
        assert_eq!(m["eth0"]["tx_dropped"], 4);
    }

    #[test]
    fn json_shape() {
        let mut cur = Sample {
            read: Some(Utc::now()),
            system_cpu: 10,
            online_cpus: 2,
            ..Default::default()
        };
        cur.cg.memory_usage = Some(5);
        cur.cg.memory_limit = Some(100);
        cur.cg.pids_current = Some(1);
        let v = to_json("x", "/n", &cur, &Sample::default());
        assert_eq!(v["memory_stats"]["usage"], 5);
        assert_eq!(v["pids_stats"]["current"], 1);
        assert_eq!(v["precpu_stats"]["cpu_usage"]["total_usage"], 0);
        assert_eq!(v["preread"], "0001-01-01T00:00:00Z");
        assert_eq!(v["cpu_stats"]["online_cpus"], 2);
        assert!(v.get("networks").is_none());
    }
}
