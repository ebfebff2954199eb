//! `/volumes` endpoints over `pier_volume::VolumeStore`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pier_api::models::VolumeCreateRequest;
use pier_volume::{api, filters, CreateOptions};
use serde_json::json;

use super::system::AppState;
use crate::server::error::{join_error, ApiResult};
use crate::server::extract::{JsonBody, Query};
use crate::server::middleware::json_response;

/// `GET /volumes`.
pub async fn list(State(d): AppState, q: Query) -> ApiResult<Response> {
    let f = q.filters()?;
    let pred = filters::list_filter(&f)?;
    let vols: Vec<_> = d
        .volumes
        .all()
        .iter()
        .filter(|v| pred(v))
        .map(|v| api::volume(v, None))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "Volumes": vols, "Warnings": null }),
    ))
}

/// `POST /volumes/create`: 201 with the volume (an existing one of that
/// name is returned as is).
pub async fn create(
    State(d): AppState,
    JsonBody(body): JsonBody<VolumeCreateRequest>,
) -> ApiResult<Response> {
    let vols = d.volumes.clone();
    let v = tokio::task::spawn_blocking(move || {
        vols.create(CreateOptions {
            name: body.name,
            driver: body.driver,
            labels: body.labels,
            options: body.driver_opts,
            reference: None,
        })
    })
    .await
    .map_err(join_error)??;
    Ok(json_response(StatusCode::CREATED, &api::volume(&v, None)))
}

/// `GET /volumes/{name}`.
pub async fn inspect(State(d): AppState, Path(name): Path<String>) -> ApiResult<Response> {
    let v = d.volumes.get(&name)?;
    Ok(json_response(StatusCode::OK, &api::volume(&v, None)))
}

/// `DELETE /volumes/{name}?force=`.
pub async fn remove(State(d): AppState, Path(name): Path<String>, q: Query) -> ApiResult<Response> {
    let vols = d.volumes.clone();
    let force = q.bool("force");
    tokio::task::spawn_blocking(move || vols.remove(&name, force))
        .await
        .map_err(join_error)??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /volumes/prune`.
pub async fn prune(State(d): AppState, q: Query) -> ApiResult<Response> {
    let f = q.filters()?;
    let pred = filters::prune_filter(&f)?;
    let vols = d.volumes.clone();
    let report = tokio::task::spawn_blocking(move || vols.prune(pred))
        .await
        .map_err(join_error)??;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "VolumesDeleted": report.deleted, "SpaceReclaimed": report.reclaimed }),
    ))
}

/// The `Volumes` of `GET /system/df`: local volumes without driver
/// options, with sizes and reference counts (blocking).
pub fn disk_usage(d: &crate::daemon::Daemon) -> Vec<serde_json::Value> {
    d.volumes
        .all()
        .iter()
        .filter(|v| v.record.options().is_empty())
        .map(|v| {
            let size = d.volumes.size(&v.record.name);
            api::volume(v, Some((size, v.refs.len() as i64)))
        })
        .collect()
}
