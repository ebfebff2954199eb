//! `/_ping`, `/version`, `/info`, `/events`, `/system/df`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pier_api::models::{
    Commit, IndexInfo, LocalNodeState, PluginsInfo, RegistryServiceConfig, Runtime, SwarmInfo,
    SystemInfo, SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum, SystemVersion,
    SystemVersionComponents, SystemVersionPlatform,
};
use pier_api::version;
use serde_json::json;

use crate::containers::inspect::summary;
use crate::containers::record::Status;
use crate::daemon::Daemon;
use crate::server::error::{join_error, ApiResult};
use crate::server::middleware::json_response;

pub type AppState = State<Arc<Daemon>>;

pub async fn ping() -> Response {
    let mut resp = (StatusCode::OK, "OK").into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert("builder-version", HeaderValue::from_static("1"));
    h.insert("swarm", HeaderValue::from_static("inactive"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

pub async fn version(State(d): AppState) -> Response {
    let mut details = HashMap::new();
    details.insert("ApiVersion".to_string(), version::API_VERSION.to_string());
    details.insert(
        "MinAPIVersion".to_string(),
        version::MIN_API_VERSION.to_string(),
    );
    details.insert("Os".to_string(), "linux".to_string());
    details.insert("Arch".to_string(), "amd64".to_string());
    details.insert("KernelVersion".to_string(), d.host.kernel_version.clone());
    details.insert("GitCommit".to_string(), "pier".to_string());
    details.insert("GoVersion".to_string(), "n/a".to_string());
    details.insert("Experimental".to_string(), "false".to_string());
    let v = SystemVersion {
        platform: Some(SystemVersionPlatform {
            name: "Pier Engine".into(),
        }),
        components: Some(vec![SystemVersionComponents {
            name: "Engine".into(),
            version: version::ENGINE_VERSION.into(),
            details: Some(details),
        }]),
        version: Some(version::ENGINE_VERSION.into()),
        api_version: Some(version::API_VERSION.into()),
        min_api_version: Some(version::MIN_API_VERSION.into()),
        git_commit: Some("pier".into()),
        go_version: Some("n/a".into()),
        os: Some("linux".into()),
        arch: Some("amd64".into()),
        kernel_version: Some(d.host.kernel_version.clone()),
        experimental: Some(false),
        build_time: Some(String::new()),
    };
    json_response(StatusCode::OK, &v)
}

pub async fn info(State(d): AppState) -> ApiResult<Response> {
    let (mut running, mut stopped) = (0i64, 0i64);
    let all = d.containers.list();
    for c in &all {
        if c.lock().rec.state.status == Status::Running {
            running += 1;
        } else {
            stopped += 1;
        }
    }
    let images = d.images.clone();
    let image_count = tokio::task::spawn_blocking(move || images.list().len() as i64)
        .await
        .map_err(join_error)?;
    let h = &d.host;
    let mut runtimes = HashMap::new();
    runtimes.insert(
        "pier".to_string(),
        Runtime {
            path: Some(d.shim_path.display().to_string()),
            runtime_args: None,
            status: None,
        },
    );
    let mut index_configs = HashMap::new();
    index_configs.insert(
        "docker.io".to_string(),
        IndexInfo {
            name: Some("docker.io".into()),
            mirrors: Some(vec![]),
            secure: Some(true),
            official: Some(true),
        },
    );
    let info = SystemInfo {
        id: Some(h.id.clone()),
        containers: Some(all.len() as i64),
        containers_running: Some(running),
        containers_paused: Some(0),
        containers_stopped: Some(stopped),
        images: Some(image_count),
        driver: Some("overlay2".into()),
        driver_status: Some(vec![
            vec!["Backing Filesystem".into(), "extfs".into()],
            vec!["Supports d_type".into(), "true".into()],
        ]),
        docker_root_dir: Some(d.paths.data_root.display().to_string()),
        plugins: Some(PluginsInfo {
            volume: Some(vec!["local".into()]),
            network: Some(vec!["host".into(), "null".into()]),
            authorization: None,
            log: Some(vec!["json-file".into(), "none".into()]),
        }),
        memory_limit: Some(true),
        swap_limit: Some(false),
        cpu_cfs_period: Some(true),
        cpu_cfs_quota: Some(true),
        cpu_shares: Some(true),
        cpu_set: Some(true),
        pids_limit: Some(true),
        oom_kill_disable: Some(false),
        ipv4_forwarding: Some(true),
        debug: Some(false),
        nfd: Some(open_fds()),
        n_goroutines: Some(0),
        system_time: Some(crate::containers::record::rfc3339_nano(&chrono::Utc::now())),
        logging_driver: Some("json-file".into()),
        cgroup_driver: Some(SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: Some(if h.cgroup_version == 2 {
            SystemInfoCgroupVersionEnum::_2
        } else {
            SystemInfoCgroupVersionEnum::_1
        }),
        n_events_listener: Some(0),
        kernel_version: Some(h.kernel_version.clone()),
        operating_system: Some(h.operating_system.clone()),
        os_version: Some(h.os_version.clone()),
        os_type: Some("linux".into()),
        architecture: Some("x86_64".into()),
        ncpu: Some(h.ncpu),
        mem_total: Some(h.mem_total),
        index_server_address: Some("https://index.docker.io/v1/".into()),
        registry_config: Some(RegistryServiceConfig {
            insecure_registry_cidrs: Some(vec!["127.0.0.0/8".into(), "::1/128".into()]),
            index_configs: Some(index_configs),
            mirrors: Some(vec![]),
        }),
        http_proxy: Some(String::new()),
        https_proxy: Some(String::new()),
        no_proxy: Some(String::new()),
        name: Some(h.hostname.clone()),
        labels: Some(vec![]),
        experimental_build: Some(false),
        server_version: Some(version::ENGINE_VERSION.into()),
        runtimes: Some(runtimes),
        default_runtime: Some("pier".into()),
        swarm: Some(SwarmInfo {
            node_id: Some(String::new()),
            node_addr: Some(String::new()),
            local_node_state: Some(LocalNodeState::INACTIVE),
            control_available: Some(false),
            error: Some(String::new()),
            remote_managers: None,
            ..Default::default()
        }),
        live_restore_enabled: Some(true),
        init_binary: Some(String::new()),
        containerd_commit: Some(Commit {
            id: Some(String::new()),
        }),
        runc_commit: Some(Commit {
            id: Some(String::new()),
        }),
        init_commit: Some(Commit {
            id: Some(String::new()),
        }),
        security_options: Some(vec!["name=seccomp,profile=builtin".into()]),
        warnings: Some(vec![]),
        ..Default::default()
    };
    Ok(json_response(StatusCode::OK, &info))
}

fn open_fds() -> i64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as i64)
        .unwrap_or(0)
}

/// `GET /system/df`, in the legacy shape that API 1.51 clients decode.
pub async fn df(State(d): AppState) -> ApiResult<Response> {
    let dd = d.clone();
    let (images, containers, vols, build_cache) = tokio::task::spawn_blocking(move || {
        let images = dd
            .images
            .summaries(true, &Default::default())
            .unwrap_or_default();
        let now = chrono::Utc::now();
        let containers: Vec<_> = dd
            .containers
            .list()
            .iter()
            .map(|c| {
                let rec = c.snapshot();
                let rw = crate::containers::inspect::dir_size(&c.dir.join("diff"));
                summary(&rec, now, Some((rw, rw)))
            })
            .collect();
        let vols = super::volumes::disk_usage(&dd);
        // The CLI counts an image as active when containers use it, and
        // prints that count in `df -v`; the listing leaves it at -1.
        let mut images = images;
        for i in images.iter_mut() {
            i.containers = containers
                .iter()
                .filter(|c| c.image_id.as_deref() == Some(i.id.as_str()))
                .count() as i64;
        }
        let build_cache = super::build::build_cache(&dd);
        (images, containers, vols, build_cache)
    })
    .await
    .map_err(join_error)?;
    let layers: i64 = images.iter().map(|i| i.size).sum();
    let body = json!({
        "LayersSize": layers,
        "Images": images,
        "Containers": containers,
        "Volumes": vols,
        "BuildCache": build_cache,
    });
    Ok(json_response(StatusCode::OK, &body))
}
