//! `pier update`: docker's flags, body and output (each container's name
//! as given, one per line; errors collected, exit 1).

use clap::Args;
use serde_json::{json, Map, Value};

use super::units;
use super::values::{mem, restart_policy};
use crate::client::encode;
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::output;

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// Limit the CPU real-time period in microseconds
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<i64>,
    /// Limit the CPU real-time runtime in microseconds
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long = "cpus")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart")]
    pub restart: Option<String>,
    pub containers: Vec<String>,
}

fn body(a: &UpdateArgs) -> Result<Value, String> {
    let mut b = Map::new();
    let mut put = |k: &str, v: Value| {
        b.insert(k.to_string(), v);
    };
    if let Some(v) = a.blkio_weight {
        put("BlkioWeight", json!(v));
    }
    if let Some(v) = a.cpu_period {
        put("CpuPeriod", json!(v));
    }
    if let Some(v) = a.cpu_quota {
        put("CpuQuota", json!(v));
    }
    if let Some(v) = a.cpu_rt_period {
        put("CpuRealtimePeriod", json!(v));
    }
    if let Some(v) = a.cpu_rt_runtime {
        put("CpuRealtimeRuntime", json!(v));
    }
    if let Some(v) = a.cpu_shares {
        put("CpuShares", json!(v));
    }
    if let Some(c) = &a.cpus {
        let n = units::nano_cpus(c)
            .map_err(|e| format!("invalid argument \"{c}\" for \"--cpus\" flag: {e}"))?;
        put("NanoCpus", json!(n));
    }
    if let Some(v) = &a.cpuset_cpus {
        put("CpusetCpus", json!(v));
    }
    if let Some(v) = &a.cpuset_mems {
        put("CpusetMems", json!(v));
    }
    if a.memory.is_some() {
        put("Memory", json!(mem(&a.memory, "memory")?));
    }
    if a.memory_reservation.is_some() {
        put(
            "MemoryReservation",
            json!(mem(&a.memory_reservation, "memory-reservation")?),
        );
    }
    if let Some(s) = &a.memory_swap {
        let v = if s == "-1" {
            -1
        } else {
            units::ram_in_bytes(s)
                .map_err(|e| format!("invalid argument \"{s}\" for \"--memory-swap\" flag: {e}"))?
        };
        put("MemorySwap", json!(v));
    }
    if let Some(v) = a.pids_limit {
        put("PidsLimit", json!(v));
    }
    if let Some(r) = &a.restart {
        put("RestartPolicy", restart_policy(Some(r))?);
    }
    Ok(Value::Object(b))
}

pub async fn run(ctx: &Ctx, a: UpdateArgs) -> CmdResult {
    ctx.require_min(&a.containers, 1)?;
    let b = body(&a).map_err(|e| CmdError::new(125, e))?;
    if b.as_object().is_some_and(|m| m.is_empty()) {
        return Err(CmdError::new(
            1,
            "you must provide one or more flags when using this command",
        ));
    }
    let mut errs = Vec::new();
    for c in &a.containers {
        match ctx
            .client
            .post_json(&format!("/containers/{}/update", encode(c)), &b)
            .await
        {
            Ok(_) => output::outln(c),
            Err(e) => errs.push(e.to_string()),
        }
    }
    CmdError::join(errs)
}
