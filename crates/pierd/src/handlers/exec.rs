//! `POST /containers/{id}/exec`, `POST /exec/{id}/start`,
//! `POST /exec/{id}/resize`, `GET /exec/{id}/json`.

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use pier_api::models::{ExecConfig, ExecStartConfig};
use pier_api::stream::{MULTIPLEXED_CONTENT_TYPE, RAW_CONTENT_TYPE};

use super::system::AppState;
use crate::exec::{self, session, ExecError};
use crate::server::error::{json_error, ApiError, ApiResult};
use crate::server::extract::{parse_json, Query};
use crate::server::middleware::json_response;

impl From<ExecError> for ApiError {
    fn from(e: ExecError) -> Self {
        match e {
            ExecError::Container(c) => ApiError::Container(c),
            ExecError::NotFound(_) => ApiError::NotFound(e.to_string()),
            ExecError::NoCommand | ExecError::BadParameter(_) => {
                ApiError::BadRequest(e.to_string())
            }
            ExecError::Paused(_) | ExecError::AlreadyRunning(_) | ExecError::AlreadyRan(_) => {
                ApiError::Conflict(e.to_string())
            }
        }
    }
}

pub async fn create(
    State(d): AppState,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map_err(|e| ApiError::BadRequest(format!("error reading request body: {e}")))?;
    let cfg: ExecConfig = parse_json(&bytes)?;
    let exec_id = exec::create(&d.execs, &c, cfg)?;
    if let Ok(e) = d.execs.get(&exec_id) {
        crate::events::exec_create(&d, &c, &exec_id, &e.opts.cmd);
    }
    Ok(json_response(
        StatusCode::CREATED,
        &serde_json::json!({ "Id": exec_id }),
    ))
}

pub async fn start(
    State(d): AppState,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let (parts, body) =
        std::mem::replace(&mut req, Request::new(axum::body::Body::empty())).into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| ApiError::BadRequest(format!("error reading request body: {e}")))?;
    let cfg: ExecStartConfig = if bytes.iter().all(u8::is_ascii_whitespace) {
        ExecStartConfig::default()
    } else {
        parse_json(&bytes)?
    };
    let mut req = Request::from_parts(parts, axum::body::Body::empty());
    let ready = session::prepare(&d, &id, cfg.tty)?;
    if cfg.detach.unwrap_or(false) {
        return match session::start_detached(d.clone(), ready).await {
            Ok(()) => Ok(StatusCode::OK.into_response()),
            Err(m) => Ok(json_error(StatusCode::BAD_REQUEST, &m)),
        };
    }
    let content_type = HeaderValue::from_static(if ready.tty {
        RAW_CONTENT_TYPE
    } else {
        MULTIPLEXED_CONTENT_TYPE
    });
    let wants_upgrade = req.headers().contains_key(header::UPGRADE);
    if wants_upgrade {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(up) => session::run(d, ready, TokioIo::new(up)).await,
                Err(e) => tracing::debug!("exec upgrade failed: {e}"),
            }
        });
        let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, content_type);
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        return Ok(resp);
    }
    // No upgrade: output only, as a streamed body.
    let (client, server) = tokio::io::duplex(64 * 1024);
    tokio::spawn(session::run(d, ready, server));
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(client));
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    Ok(resp)
}

pub async fn resize(State(d): AppState, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let h = q.int("h")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    let w = q.int("w")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    session::resize(&d, &id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn inspect(State(d): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let e = d.execs.get(&id)?;
    Ok(json_response(StatusCode::OK, &e.inspect()))
}
