//! The `/networks` endpoints of the Engine API.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pier_api::models::{
    EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
    NetworkPruneResponse,
};
use pier_network::{ConnectRequest, NetError, NetnsRef, NetworkRecord, Networking};

use super::attach::write_etc_files;
use super::plan::{container_target, requested_ip, requested_mac};
use crate::containers::list::filter_match;
use crate::handlers::system::AppState;
use crate::server::error::{ApiError, ApiResult};
use crate::server::extract::{JsonBody, Query};
use crate::server::middleware::json_response;

/// A library error with the library's status (Docker's) and text.
pub fn api_err(e: NetError) -> ApiError {
    let status = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    ApiError::Status(status, e.to_string())
}

fn net(d: &crate::daemon::Daemon) -> ApiResult<&Networking> {
    d.network
        .as_deref()
        .ok_or_else(|| ApiError::Internal("networking is not available in this daemon".into()))
}

const LIST_FILTERS: &[&str] = &["driver", "id", "label", "name", "scope", "type", "dangling"];

fn matches(f: &pier_api::filters::Filters, r: &NetworkRecord) -> ApiResult<bool> {
    let labels: HashMap<String, String> = r.labels.clone().into_iter().collect();
    for t in f.get("type") {
        if t != "custom" && t != "builtin" {
            return Err(ApiError::BadRequest(format!(
                "invalid filter: 'type'='{t}'"
            )));
        }
    }
    let kind = if r.predefined { "builtin" } else { "custom" };
    let dangling_ok = match f.get("dangling").first().map(String::as_str) {
        None => true,
        Some("true") | Some("1") => !r.predefined && r.endpoints.is_empty(),
        Some("false") | Some("0") => r.predefined || !r.endpoints.is_empty(),
        Some(v) => {
            return Err(ApiError::BadRequest(format!(
                "invalid filter 'dangling={v}'"
            )))
        }
    };
    Ok(filter_match(f, "name", &r.name)
        && (f.get("id").is_empty() || f.get("id").iter().any(|p| r.id.starts_with(p.as_str())))
        && filter_match(f, "driver", r.driver.as_str())
        && filter_match(f, "scope", "local")
        && (f.get("type").is_empty() || f.get("type").iter().any(|t| t == kind))
        && f.labels_match("label", &labels)
        && dangling_ok)
}

/// `GET /networks`.
pub async fn list(State(d): AppState, q: Query) -> ApiResult<Response> {
    let n = net(&d)?;
    let f = q.filters()?;
    f.validate(LIST_FILTERS)?;
    let mut out = Vec::new();
    for r in n.store().list() {
        if matches(&f, &r)? {
            out.push(pier_network::models::network_summary(&r));
        }
    }
    Ok(json_response(StatusCode::OK, &out))
}

/// `GET /networks/{id}`.
pub async fn inspect(State(d): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let v = net(&d)?.inspect_network(&id).map_err(api_err)?;
    Ok(json_response(StatusCode::OK, &v))
}

/// `POST /networks/create`.
pub async fn create(
    State(d): AppState,
    JsonBody(req): JsonBody<NetworkCreateRequest>,
) -> ApiResult<Response> {
    if req.name.is_empty() {
        return Err(ApiError::BadRequest(
            "network name must not be empty".into(),
        ));
    }
    let resp = net(&d)?.create_network(&req).await.map_err(api_err)?;
    Ok(json_response(StatusCode::CREATED, &resp))
}

/// `DELETE /networks/{id}`.
pub async fn remove(State(d): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    net(&d)?.remove_network(&id).await.map_err(api_err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /networks/prune`: `label` and `until` filters.
pub async fn prune(State(d): AppState, q: Query) -> ApiResult<Response> {
    let f = q.filters()?;
    f.validate(&["label", "label!", "until"])?;
    let until = match f.get("until").first() {
        None => None,
        Some(u) => Some(parse_until(u)?),
    };
    let keep = |r: &NetworkRecord| {
        let labels: HashMap<String, String> = r.labels.clone().into_iter().collect();
        let created = chrono::DateTime::parse_from_rfc3339(&r.created)
            .map(|t| t.timestamp())
            .unwrap_or(0);
        !f.labels_match("label", &labels)
            || (f.contains("label!") && label_negated(&f, &labels))
            || until.is_some_and(|u| created >= u)
    };
    // `Networking::prune_networks` takes a `&dyn Fn`, which would make this
    // handler's future !Send: same rules, applied here.
    let n = net(&d)?;
    let candidates: Vec<NetworkRecord> = n
        .store()
        .list()
        .into_iter()
        .filter(|r| !r.predefined && r.endpoints.is_empty() && !keep(r))
        .collect();
    let mut removed = Vec::new();
    for r in candidates {
        match n.remove_network(&r.id).await {
            Ok(()) => removed.push(r.name),
            Err(NetError::ActiveEndpoints { .. }) | Err(NetError::NotFound(_)) => {}
            Err(e) => return Err(api_err(e)),
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &NetworkPruneResponse {
            networks_deleted: Some(removed),
        },
    ))
}

/// `label!=k` or `label!=k=v`: keep networks that have the label.
fn label_negated(f: &pier_api::filters::Filters, labels: &HashMap<String, String>) -> bool {
    f.get("label!").iter().any(|l| match l.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(l.as_str()),
    })
}

/// `until`: a Unix timestamp, RFC 3339 time, or a duration like `24h`.
fn parse_until(s: &str) -> ApiResult<i64> {
    if let Ok(n) = s.parse::<f64>() {
        return Ok(n as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    let (num, unit) = s.split_at(s.find(|c: char| c.is_alphabetic()).unwrap_or(s.len()));
    let secs = match (num.parse::<f64>(), unit) {
        (Ok(n), "s") => n,
        (Ok(n), "m") => n * 60.0,
        (Ok(n), "h") => n * 3600.0,
        _ => {
            return Err(ApiError::BadRequest(format!(
                "failed to parse value as time or duration: \"{s}\""
            )))
        }
    };
    Ok(chrono::Utc::now().timestamp() - secs as i64)
}

const SHARED_NS: &str = "container sharing network namespace with another container or host cannot be connected to any other network";

/// `POST /networks/{id}/connect`: recorded in the container's config (so
/// it is connected at every start) and, if it runs, connected now.
pub async fn connect(
    State(d): AppState,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<NetworkConnectRequest>,
) -> ApiResult<Response> {
    let n = net(&d)?;
    let c = d.containers.get(&req.container)?;
    let rec = n.store().get(&id).map_err(api_err)?;
    let _op = c.op.lock().await;
    let snap = c.snapshot();
    let mode = snap.network_mode().to_string();
    if mode == "host" || mode == "none" || container_target(&mode).is_some() {
        return Err(ApiError::BadRequest(SHARED_NS.into()));
    }
    if !matches!(
        rec.driver,
        pier_network::Driver::Bridge | pier_network::Driver::Macvlan
    ) {
        return Err(ApiError::BadRequest(
            "container cannot be disconnected from host network or connected to host network"
                .into(),
        ));
    }
    let settings: EndpointSettings = req.endpoint_config.unwrap_or_default();
    let ipv4 = requested_ip(&settings)?;
    let mac = requested_mac(&settings)?;
    if ipv4.is_some() && !rec.user_subnet {
        return Err(ApiError::BadRequest(
            "user specified IP address is supported only when connecting to networks with user configured subnets".into(),
        ));
    }
    let configured = snap.endpoints_config.contains_key(&rec.name) || mode == rec.name;
    if snap.state.running() && snap.state.pid > 0 {
        let aliases = settings.aliases.clone().unwrap_or_default();
        let ns = NetnsRef::Pid(snap.state.pid as u32);
        n.connect(
            &rec.id,
            &ConnectRequest {
                container_id: &snap.id,
                container_name: snap.name.trim_start_matches('/'),
                netns: &ns,
                aliases: &aliases,
                ipv4,
                mac,
                ports: &[],
            },
        )
        .await
        .map_err(api_err)?;
    } else if configured {
        return Err(api_err(NetError::AlreadyAttached {
            container: snap.name.trim_start_matches('/').to_string(),
            network: rec.name.clone(),
        }));
    }
    c.lock()
        .rec
        .endpoints_config
        .insert(rec.name.clone(), settings);
    c.persist().await?;
    if snap.state.running() {
        let rec_now = c.snapshot();
        if let Err(e) = write_etc_files(&d, n, &rec_now, &c.dir) {
            tracing::warn!(id = %c.id, "rewriting hosts/resolv.conf: {e}");
        }
    }
    Ok(StatusCode::OK.into_response())
}

/// `POST /networks/{id}/disconnect`.
pub async fn disconnect(
    State(d): AppState,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<NetworkDisconnectRequest>,
) -> ApiResult<Response> {
    let n = net(&d)?;
    let c = d.containers.get(&req.container)?;
    let rec = n.store().get(&id).map_err(api_err)?;
    let _op = c.op.lock().await;
    let snap = c.snapshot();
    let attached = n.endpoints_of(&snap.id).iter().any(|(r, _)| r.id == rec.id);
    let configured =
        snap.endpoints_config.contains_key(&rec.name) || snap.network_mode() == rec.name;
    if attached {
        n.disconnect(&rec.id, &snap.id).await.map_err(api_err)?;
    } else if !configured {
        return Err(api_err(NetError::NotAttached {
            container: snap.name.trim_start_matches('/').to_string(),
            network: rec.name.clone(),
        }));
    }
    {
        let mut g = c.lock();
        g.rec.endpoints_config.remove(&rec.name);
        if g.rec.network_mode() == rec.name {
            // The container's primary network is gone: the next one it is
            // configured for takes its place (or none).
            let mut others: Vec<String> = g.rec.endpoints_config.keys().cloned().collect();
            others.sort();
            g.rec.host_config.network_mode =
                Some(others.first().cloned().unwrap_or_else(|| "none".into()));
        }
    }
    c.persist().await?;
    if snap.state.running() {
        let rec_now = c.snapshot();
        if let Err(e) = write_etc_files(&d, n, &rec_now, &c.dir) {
            tracing::warn!(id = %c.id, "rewriting hosts/resolv.conf: {e}");
        }
    }
    Ok(StatusCode::OK.into_response())
}
