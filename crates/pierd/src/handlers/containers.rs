//! Container endpoints other than attach and logs.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pier_api::models::{ContainerCreateBody, ContainerCreateResponse};

use super::system::AppState;
use crate::containers::control::{self, WaitCondition};
use crate::containers::inspect::{dir_size, inspect as inspect_view};
use crate::containers::lifecycle;
use crate::containers::list::{list as list_containers, ListOptions};
use crate::server::error::{join_error, ApiError, ApiResult};
use crate::server::extract::{JsonBody, Query};
use crate::server::middleware::json_response;

pub async fn create(
    State(d): AppState,
    q: Query,
    JsonBody(body): JsonBody<ContainerCreateBody>,
) -> ApiResult<Response> {
    if let (Some(p), Some(img)) = (q.get_nonempty("platform"), body.image.as_deref()) {
        crate::containers::hostspec::check_platform(&d, img, p).await?;
    }
    let created = lifecycle::create(&d, q.get("name"), body).await?;
    if let Ok(c) = d.containers.get(&created.id) {
        crate::events::container(&d, &c, "create", &[]);
    }
    let resp = ContainerCreateResponse {
        id: created.id,
        warnings: created.warnings,
    };
    Ok(json_response(StatusCode::CREATED, &resp))
}

pub async fn list(State(d): AppState, q: Query) -> ApiResult<Response> {
    let opts = ListOptions {
        all: q.bool("all"),
        limit: q.int("limit")?,
        size: q.bool("size"),
        filters: q.filters()?,
    };
    // Encoded (and the rows dropped) on the blocking thread too: with 1000
    // containers that is more work than listing them.
    let resp = tokio::task::spawn_blocking(move || {
        list_containers(&d, opts).map(|rows| json_response(StatusCode::OK, &rows))
    })
    .await
    .map_err(join_error)??;
    Ok(resp)
}

pub async fn inspect(State(d): AppState, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let rec = c.snapshot();
    let size = if q.bool("size") {
        let dir = c.dir.clone();
        let images = d.images.clone();
        let image_id = rec.image_id.clone();
        Some(
            tokio::task::spawn_blocking(move || {
                let rw = dir_size(&dir.join("diff"));
                let img = images.get(&image_id).map(|i| i.size as i64).unwrap_or(0);
                (rw, rw + img)
            })
            .await
            .map_err(join_error)?,
        )
    } else {
        None
    };
    let mut view = inspect_view(&rec, &c.dir, size);
    let execs = d.execs.ids_of(&c.id);
    if !execs.is_empty() {
        view["ExecIDs"] = serde_json::json!(execs);
    }
    crate::network::settings::fill_inspect(&d, &rec, &mut view);
    Ok(json_response(StatusCode::OK, &view))
}

pub async fn start(State(d): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    crate::containers::restart::on_user_action(&c, true);
    lifecycle::start(&d, &c).await?;
    crate::events::container(&d, &c, "start", &[]);
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn stop_timeout(q: &Query) -> ApiResult<Option<i64>> {
    // `t` is the old name of `timeout`.
    match q.int("timeout")? {
        Some(t) => Ok(Some(t)),
        None => q.int("t"),
    }
}

pub async fn stop(State(d): AppState, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let timeout = stop_timeout(&q)?;
    control::stop(&c, q.get_nonempty("signal"), timeout).await?;
    crate::events::container(&d, &c, "stop", &[]);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn restart(State(d): AppState, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let timeout = stop_timeout(&q)?;
    control::restart(&d, &c, q.get_nonempty("signal"), timeout).await?;
    crate::containers::restart::on_user_action(&c, true);
    let _ = c.persist().await;
    crate::events::container(&d, &c, "restart", &[]);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn kill(State(d): AppState, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let signal = crate::containers::signal::parse(q.get_nonempty("signal").unwrap_or("KILL"))
        .map(|n| n.to_string())
        .unwrap_or_default();
    control::kill(&c, q.get_nonempty("signal")).await?;
    crate::events::container(&d, &c, "kill", &[("signal", signal)]);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn remove(State(d): AppState, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    control::remove_with_volumes(&d, &c, q.bool("force"), q.bool("v")).await?;
    // Like Docker, `rm` answers once the container's veth is gone.
    crate::network::attach::settle(&d).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn rename(State(d): AppState, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let new = q
        .get_nonempty("name")
        .ok_or_else(|| ApiError::BadRequest("name cannot be empty".into()))?;
    let old = c.name();
    d.containers.rename(&c, new)?;
    c.persist().await?;
    crate::events::container(&d, &c, "rename", &[("oldName", old)]);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn resize(State(d): AppState, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let dim = |k: &str| -> ApiResult<u16> {
        let v = q.int(k)?.unwrap_or(0);
        u16::try_from(v).map_err(|_| ApiError::BadRequest(format!("invalid {k}: {v}")))
    };
    let (h, w) = (dim("h")?, dim("w")?);
    control::resize(&c, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /containers/{id}/wait`: the headers go out at once (the docker
/// CLI waits for them before it starts the container), the JSON body when
/// the condition is met.
pub async fn wait(State(d): AppState, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let cond = WaitCondition::parse(q.get("condition"))?;
    let body = futures_util::stream::once(async move {
        let (code, error) = control::wait(c, cond).await;
        // Docker always sends the Error key (null when there is none).
        let resp = serde_json::json!({
            "StatusCode": code,
            "Error": error.map(|m| serde_json::json!({ "Message": m })),
        });
        let mut bytes = serde_json::to_vec(&resp).unwrap_or_default();
        bytes.push(b'\n');
        Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))
    });
    let mut resp = (StatusCode::OK, Body::from_stream(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
