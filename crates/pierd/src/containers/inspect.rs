//! The API views of a container record: `GET /containers/{id}/json` and
//! one row of `GET /containers/json`.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use pier_api::human::{container_status, StatusInput};
use pier_api::models::{
    self, ContainerInspectResponse, ContainerState, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryHostConfig, ContainerSummaryNetworkSettings, ContainerSummaryStateEnum,
    DriverData, EndpointSettings, NetworkSettings,
};
use serde_json::Value;

use super::record::{rfc3339_nano, time_or_zero, ContainerRecord, Status};

/// `BollardDate` is a String, chrono or time type depending on features
/// unified into the build; going through JSON works for all of them.
fn api_date(t: &DateTime<Utc>) -> Option<models::BollardDate> {
    serde_json::from_value(Value::String(rfc3339_nano(t))).ok()
}

fn state_enum(s: Status) -> ContainerStateStatusEnum {
    match s {
        Status::Created => ContainerStateStatusEnum::CREATED,
        Status::Running => ContainerStateStatusEnum::RUNNING,
        Status::Exited => ContainerStateStatusEnum::EXITED,
        Status::Removing => ContainerStateStatusEnum::REMOVING,
        Status::Dead => ContainerStateStatusEnum::DEAD,
    }
}

fn summary_state(s: Status) -> ContainerSummaryStateEnum {
    match s {
        Status::Created => ContainerSummaryStateEnum::CREATED,
        Status::Running => ContainerSummaryStateEnum::RUNNING,
        Status::Exited => ContainerSummaryStateEnum::EXITED,
        Status::Removing => ContainerSummaryStateEnum::REMOVING,
        Status::Dead => ContainerSummaryStateEnum::DEAD,
    }
}

/// Docker's `Status` column.
pub fn status_text(rec: &ContainerRecord, now: DateTime<Utc>) -> String {
    let st = &rec.state;
    let input = match st.status {
        Status::Created => StatusInput::Created,
        Status::Running => StatusInput::Running {
            started: st.started_at.unwrap_or(now),
            paused: st.paused,
            health: super::health::status_label(rec),
        },
        Status::Exited if st.restarting => StatusInput::Restarting {
            exit_code: st.exit_code,
            finished: st.finished_at.unwrap_or(now),
        },
        Status::Exited => StatusInput::Exited {
            exit_code: st.exit_code,
            finished: st.finished_at.unwrap_or(now),
        },
        Status::Removing => StatusInput::Removing,
        Status::Dead => StatusInput::Dead,
    };
    container_status(&input, now)
}

fn networks(rec: &ContainerRecord) -> HashMap<String, EndpointSettings> {
    let mode = rec.network_mode().to_string();
    let mut m = HashMap::new();
    m.insert(
        mode,
        EndpointSettings {
            ip_address: Some(String::new()),
            gateway: Some(String::new()),
            mac_address: Some(String::new()),
            ip_prefix_len: Some(0),
            ipv6_gateway: Some(String::new()),
            global_ipv6_address: Some(String::new()),
            global_ipv6_prefix_len: Some(0),
            network_id: Some(String::new()),
            endpoint_id: Some(String::new()),
            ..Default::default()
        },
    );
    m
}

pub fn inspect(rec: &ContainerRecord, dir: &Path, size: Option<(i64, i64)>) -> Value {
    let st = &rec.state;
    let lower: Vec<String> = rec
        .layers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let mut graph = HashMap::new();
    graph.insert("LowerDir".to_string(), lower.join(":"));
    graph.insert(
        "UpperDir".to_string(),
        dir.join("diff").display().to_string(),
    );
    graph.insert(
        "WorkDir".to_string(),
        dir.join("work").display().to_string(),
    );
    graph.insert(
        "MergedDir".to_string(),
        dir.join("rootfs").display().to_string(),
    );
    let resp = ContainerInspectResponse {
        id: Some(rec.id.clone()),
        created: api_date(&rec.created),
        path: Some(rec.path.clone()),
        args: Some(rec.args.clone()),
        state: Some(ContainerState {
            status: Some(if st.restarting {
                ContainerStateStatusEnum::RESTARTING
            } else if st.paused && st.status == Status::Running {
                ContainerStateStatusEnum::PAUSED
            } else {
                state_enum(st.status)
            }),
            running: Some(st.status == Status::Running || st.restarting),
            paused: Some(st.paused && st.status == Status::Running),
            restarting: Some(st.restarting),
            oom_killed: Some(st.oom_killed),
            dead: Some(st.status == Status::Dead),
            pid: Some(st.pid),
            exit_code: Some(st.exit_code),
            error: Some(st.error.clone()),
            started_at: Some(time_or_zero(&st.started_at)),
            finished_at: Some(time_or_zero(&st.finished_at)),
            health: None,
        }),
        image: Some(rec.image_id.clone()),
        resolv_conf_path: Some(dir.join("resolv.conf").display().to_string()),
        hostname_path: Some(dir.join("hostname").display().to_string()),
        hosts_path: Some(dir.join("hosts").display().to_string()),
        log_path: Some(
            rec.log_path(dir)
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        name: Some(rec.name.clone()),
        restart_count: Some(rec.restart_count),
        driver: Some("overlay2".into()),
        platform: Some("linux".into()),
        mount_label: Some(String::new()),
        process_label: Some(String::new()),
        app_armor_profile: Some(String::new()),
        exec_ids: None,
        host_config: Some(rec.host_config.clone()),
        graph_driver: Some(DriverData {
            name: "overlay2".into(),
            data: graph,
        }),
        size_rw: size.map(|s| s.0),
        size_root_fs: size.map(|s| s.1),
        mounts: Some(super::mounts::api_mounts(rec)),
        config: Some(rec.config.clone()),
        network_settings: Some(NetworkSettings {
            sandbox_id: Some(String::new()),
            sandbox_key: Some(String::new()),
            ports: Some(HashMap::new()),
            networks: Some(networks(rec)),
        }),
        ..Default::default()
    };
    let mut v = serde_json::to_value(&resp).unwrap_or(Value::Null);
    if let (Some(h), Some(state)) = (
        super::health::inspect_json(rec),
        v.get_mut("State").and_then(Value::as_object_mut),
    ) {
        state.insert("Health".into(), h);
    }
    // Fields API 1.51 still returns but the generated models dropped; the
    // docker CLI's templates (`{{.NetworkSettings.IPAddress}}`) read them.
    if let Some(ns) = v.get_mut("NetworkSettings").and_then(Value::as_object_mut) {
        for key in [
            "Bridge",
            "EndpointID",
            "Gateway",
            "GlobalIPv6Address",
            "IPAddress",
            "IPv6Gateway",
            "MacAddress",
            "LinkLocalIPv6Address",
        ] {
            ns.entry(key).or_insert(Value::String(String::new()));
        }
        ns.entry("GlobalIPv6PrefixLen").or_insert(Value::from(0));
        ns.entry("IPPrefixLen").or_insert(Value::from(0));
        ns.entry("LinkLocalIPv6PrefixLen").or_insert(Value::from(0));
        ns.entry("HairpinMode").or_insert(Value::Bool(false));
        ns.entry("SecondaryIPAddresses").or_insert(Value::Null);
        ns.entry("SecondaryIPv6Addresses").or_insert(Value::Null);
    }
    v
}

pub fn summary(
    rec: &ContainerRecord,
    now: DateTime<Utc>,
    size: Option<(i64, i64)>,
) -> ContainerSummary {
    ContainerSummary {
        id: Some(rec.id.clone()),
        names: Some(vec![rec.name.clone()]),
        image: Some(rec.image.clone()),
        image_id: Some(rec.image_id.clone()),
        command: Some(rec.command_line()),
        created: Some(rec.created.timestamp()),
        ports: Some(vec![]),
        size_rw: size.map(|s| s.0),
        size_root_fs: size.map(|s| s.1),
        labels: Some(rec.config.labels.clone().unwrap_or_default()),
        state: Some(if rec.state.restarting {
            ContainerSummaryStateEnum::RESTARTING
        } else if rec.state.paused && rec.state.status == Status::Running {
            ContainerSummaryStateEnum::PAUSED
        } else {
            summary_state(rec.state.status)
        }),
        status: Some(status_text(rec, now)),
        host_config: Some(ContainerSummaryHostConfig {
            network_mode: Some(rec.network_mode().to_string()),
            annotations: None,
        }),
        network_settings: Some(ContainerSummaryNetworkSettings {
            networks: Some(networks(rec)),
        }),
        mounts: Some(super::mounts::api_mounts(rec)),
        ..Default::default()
    }
}

/// Bytes used by a directory tree (regular files, not following links).
pub fn dir_size(path: &Path) -> i64 {
    let mut total = 0i64;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&p) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else if md.is_file() {
                total += md.len() as i64;
            }
        }
    }
    total
}
