//! The layer around the whole router: strips and checks the `/v1.NN`
//! prefix (before routing, so routes are declared once), turns panics and
//! axum's own plain-text rejections into Docker's JSON errors, and stamps
//! Docker's headers on every response.

use std::panic::AssertUnwindSafe;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use pier_api::version;

use super::error::{json_error, ApiError};

/// Largest plain-text error body that is rewrapped as JSON.
const MAX_REWRAP: usize = 64 * 1024;

pub async fn api_layer(req: Request, next: Next) -> Response {
    let mut resp = match rewrite_version(req) {
        Ok(req) => {
            match AssertUnwindSafe(next.run(req)).catch_unwind().await {
                Ok(resp) => jsonify_error(resp).await,
                // A handler bug must not take the daemon down; handlers are
                // written not to panic, this is the backstop.
                Err(_) => {
                    tracing::error!("request handler panicked");
                    ApiError::Internal("internal server error".into()).into_response()
                }
            }
        }
        Err(e) => e.into_response(),
    };
    stamp_headers(resp.headers_mut());
    resp
}

/// Removes a `/vX.Y` prefix after checking the version is served.
fn rewrite_version(mut req: Request) -> Result<Request, ApiError> {
    let path = req.uri().path();
    let (requested, rest) = version::split_version_prefix(path);
    let Some(requested) = requested else {
        return Ok(req);
    };
    version::check_version(requested).map_err(ApiError::BadRequest)?;
    let new_pq = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(
        new_pq
            .parse()
            .map_err(|_| ApiError::BadRequest("invalid request path".into()))?,
    );
    *req.uri_mut() =
        Uri::from_parts(parts).map_err(|_| ApiError::BadRequest("invalid request path".into()))?;
    Ok(req)
}

/// Error responses produced by axum itself (path/query rejections, body
/// limits) are plain text; Docker clients expect JSON.
async fn jsonify_error(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, MAX_REWRAP).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_string(),
        _ => parts
            .status
            .canonical_reason()
            .unwrap_or("error")
            .to_string(),
    };
    let status = if parts.status == StatusCode::METHOD_NOT_ALLOWED {
        // Docker answers an unknown method on a known path like an unknown path.
        return json_error(StatusCode::NOT_FOUND, "page not found");
    } else {
        parts.status
    };
    json_error(status, &text)
}

pub fn stamp_headers(h: &mut axum::http::HeaderMap) {
    h.insert(
        HeaderName::from_static("api-version"),
        HeaderValue::from_static(version::API_VERSION),
    );
    h.insert(
        HeaderName::from_static("ostype"),
        HeaderValue::from_static("linux"),
    );
    h.insert(
        header::SERVER,
        HeaderValue::from_static(version::SERVER_HEADER),
    );
    h.insert(
        HeaderName::from_static("docker-experimental"),
        HeaderValue::from_static("false"),
    );
}

/// The fallback for unknown routes.
pub async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "page not found")
}

/// A streaming JSON body helper shared by handlers.
pub fn json_response<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut resp = (status, Body::from(bytes)).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => ApiError::Internal(format!("encoding response: {e}")).into_response(),
    }
}
