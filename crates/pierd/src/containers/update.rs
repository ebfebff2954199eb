//! `POST /containers/{id}/update` (`pier update`): new limits and restart
//! policy. Docker's rule: zero fields are left as they are. A running
//! container gets the new values written into its cgroup at once.

use std::path::Path;
use std::sync::Arc;

use pier_api::models::{ContainerUpdateBody, HostConfig};
use pier_runtime::cgroupfs::CgroupDir;

use super::error::ContainerError;
use super::hostspec;
use super::store::Container;
use crate::daemon::Daemon;

/// Where cgroup hierarchies are mounted on the host.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

fn set<T: Copy + PartialEq + Default>(dst: &mut Option<T>, v: Option<T>) {
    if let Some(v) = v.filter(|v| *v != T::default()) {
        *dst = Some(v);
    }
}

/// The host config after the update, and the limits to write (only the
/// changed fields set). Docker's checks and texts.
pub fn merge(
    hc: &HostConfig,
    b: &ContainerUpdateBody,
) -> Result<(HostConfig, pier_runtime::limits::Limits), ContainerError> {
    let mut n = hc.clone();
    set(&mut n.memory, b.memory);
    set(&mut n.memory_swap, b.memory_swap);
    set(&mut n.memory_reservation, b.memory_reservation);
    set(&mut n.nano_cpus, b.nano_cpus);
    set(&mut n.cpu_shares, b.cpu_shares);
    set(&mut n.cpu_period, b.cpu_period);
    set(&mut n.cpu_quota, b.cpu_quota);
    set(&mut n.pids_limit, b.pids_limit);
    set(&mut n.blkio_weight, b.blkio_weight);
    if let Some(c) = b.cpuset_cpus.clone().filter(|c| !c.is_empty()) {
        n.cpuset_cpus = Some(c);
    }
    if let Some(m) = b.cpuset_mems.clone().filter(|m| !m.is_empty()) {
        n.cpuset_mems = Some(m);
    }
    if b.nano_cpus.is_some_and(|v| v != 0) {
        n.cpu_period = None;
        n.cpu_quota = None;
    }
    let new_mem = b.memory.unwrap_or(0);
    let new_swap = b.memory_swap.unwrap_or(0);
    let old_swap = hc.memory_swap.unwrap_or(0);
    if new_mem > 0 && new_swap == 0 && old_swap > 0 && new_mem > old_swap {
        return Err(ContainerError::InvalidParameter(
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into(),
        ));
    }
    if let Some(rp) = &b.restart_policy {
        if hc.auto_remove.unwrap_or(false)
            && rp
                .name
                .is_some_and(|n| n.to_string() != "no" && !n.to_string().is_empty())
        {
            return Err(ContainerError::InvalidParameter(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            ));
        }
        n.restart_policy = Some(rp.clone());
    }
    let mut check = hostspec::limits_of(&n);
    check
        .validate()
        .map_err(|e| ContainerError::InvalidParameter(e.0))?;
    let mut delta = hostspec::limits_of(&HostConfig {
        memory: b.memory,
        memory_swap: b.memory_swap,
        memory_reservation: b.memory_reservation,
        nano_cpus: b.nano_cpus,
        cpu_shares: b.cpu_shares,
        cpu_period: b.cpu_period,
        cpu_quota: b.cpu_quota,
        cpuset_cpus: b.cpuset_cpus.clone(),
        cpuset_mems: b.cpuset_mems.clone(),
        pids_limit: b.pids_limit,
        blkio_weight: b.blkio_weight,
        ..Default::default()
    });
    delta.ulimits.clear();
    Ok((n, delta))
}

/// Applies an update; returns Docker's warnings.
pub async fn update(
    _d: &Arc<Daemon>,
    c: &Arc<Container>,
    body: ContainerUpdateBody,
) -> Result<Vec<String>, ContainerError> {
    let _op = c.op.lock().await;
    let (hc, running) = {
        let g = c.lock();
        (g.rec.host_config.clone(), g.rec.state.running())
    };
    let (new_hc, delta) = merge(&hc, &body)?;
    if running {
        let id = c.id.clone();
        tokio::task::spawn_blocking(move || {
            CgroupDir::new(Path::new(CGROUP_ROOT), &format!("/pier/{id}")).update(&delta)
        })
        .await
        .map_err(|e| ContainerError::Runtime(format!("update task failed: {e}")))?
        .map_err(|e| ContainerError::Runtime(format!("Cannot update container {}: {e}", c.id)))?;
    }
    c.lock().rec.host_config = new_hc;
    c.persist().await?;
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_zero_fields() {
        let hc = HostConfig {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            cpu_shares: Some(512),
            ..Default::default()
        };
        let (n, delta) = merge(
            &hc,
            &ContainerUpdateBody {
                memory: Some(100 << 20),
                cpu_shares: Some(0),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(n.memory, Some(100 << 20));
        assert_eq!(n.cpu_shares, Some(512));
        assert_eq!(delta.memory, 100 << 20);
        assert_eq!(delta.cpu_shares, 0);
        let e = merge(
            &hc,
            &ContainerUpdateBody {
                memory: Some(200 << 20),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("Memory limit should be smaller"));
    }
}
