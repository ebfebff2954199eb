//! Registry endpoints: `POST /images/create?fromImage=` (pull),
//! `POST /images/{name}/push`, `POST /auth`, `GET /distribution/{name}/json`.
//! The network side is `pier-registry`, storage is `pier-image`; this module
//! streams Docker's progress messages and words errors as dockerd does.

mod progress;
mod pull;
mod push;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pier_image::reference::Reference;
use pier_registry::{Credentials, RegistryClient, RegistryError, RegistryOptions};
use serde_json::json;
use tokio::sync::Semaphore;

use super::system::AppState;
use crate::server::body::channel_body;
use crate::server::error::{ApiError, ApiResult};
use crate::server::extract::Query;

pub use pull::pull;
pub use push::push;

/// Daemon-wide registry settings (`--insecure-registry`,
/// `--max-concurrent-downloads`, `--max-concurrent-uploads`,
/// `--registry-certs-dir`).
pub struct Settings {
    pub options: RegistryOptions,
    pub downloads: Arc<Semaphore>,
    pub uploads: Arc<Semaphore>,
    /// One download per blob at a time, whichever pull asked first.
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Called once from main with the daemon flags; defaults otherwise.
pub fn configure(options: RegistryOptions, max_downloads: usize, max_uploads: usize) {
    let _ = SETTINGS.set(Settings::new(options, max_downloads, max_uploads));
}

impl Settings {
    fn new(options: RegistryOptions, max_downloads: usize, max_uploads: usize) -> Self {
        Settings {
            options,
            downloads: Arc::new(Semaphore::new(max_downloads.max(1))),
            uploads: Arc::new(Semaphore::new(max_uploads.max(1))),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    fn blob_lock(&self, digest: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, v| Arc::strong_count(v) > 1);
        m.entry(digest.to_string()).or_default().clone()
    }
}

pub fn settings() -> &'static Settings {
    SETTINGS.get_or_init(|| Settings::new(RegistryOptions::default(), 3, 5))
}

/// `X-Registry-Auth`, decoded.
fn credentials(headers: &HeaderMap) -> ApiResult<Option<Credentials>> {
    match headers.get("X-Registry-Auth").and_then(|v| v.to_str().ok()) {
        Some(v) => Credentials::from_header(v).map_err(|e| ApiError::BadRequest(e.to_string())),
        None => Ok(None),
    }
}

fn client(
    r: &Reference,
    creds: Option<Credentials>,
    scopes: Vec<String>,
) -> ApiResult<RegistryClient> {
    let host = settings()
        .options
        .host(r.domain())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(RegistryClient::new(host, creds, scopes))
}

/// A JSON error with any status (401 has no ApiError variant).
fn error_response(status: StatusCode, message: &str) -> Response {
    let mut resp = (
        status,
        Bytes::from(json!({ "message": message }).to_string()),
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A streaming `application/json` response fed by a [`progress::Progress`].
fn stream_response(body: axum::body::Body) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn new_stream() -> (
    progress::Progress,
    tokio::task::JoinHandle<()>,
    axum::body::Body,
) {
    let (tx, body) = channel_body(64);
    let (p, task) = progress::Progress::new(tx);
    (p, task, body)
}

/// Registry errors that are not about the repository itself.
fn transport_error(e: RegistryError) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// `POST /auth`: checks the credentials against the registry like
/// `docker login` (a 401 with Docker's text when they are refused).
pub async fn auth(State(_d): AppState, body: Bytes) -> ApiResult<Response> {
    let mut creds: Credentials = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid auth configuration: {e}")))?;
    creds.fill_from_auth();
    let server = creds.server_address.trim().to_string();
    let host = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(&server)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let domain = match host.as_str() {
        "" | "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    };
    let host = settings()
        .options
        .host(&domain)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let client = RegistryClient::new(host, Some(creds), Vec::new());
    match client.login().await {
        Ok(()) => Ok(super::super::server::middleware::json_response(
            StatusCode::OK,
            &json!({ "Status": "Login Succeeded", "IdentityToken": "" }),
        )),
        Err(e @ (RegistryError::Auth(_) | RegistryError::Api { .. })) => {
            Ok(error_response(StatusCode::UNAUTHORIZED, &e.to_string()))
        }
        Err(e) => Err(transport_error(e)),
    }
}

/// `GET /distribution/{name}/json`: the manifest descriptor and platforms.
pub async fn inspect(
    State(_d): AppState,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let name = rest
        .strip_suffix("/json")
        .ok_or_else(|| ApiError::NotFound("page not found".into()))?;
    let r = Reference::parse(name).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let scope = pier_registry::client::pull_scope(r.path());
    let c = client(&r, credentials(&headers)?, vec![scope])?;
    let tag_or_digest = r.digest().or(r.tag()).unwrap_or("latest").to_string();
    let m = c
        .get_manifest(r.path(), &tag_or_digest)
        .await
        .map_err(|e| pull::pull_error(&r, e))?;
    let platforms: Vec<serde_json::Value> = match &m.kind {
        pier_registry::manifest::ManifestKind::Index(i) => i
            .manifests
            .iter()
            .filter_map(|d| d.platform.as_ref())
            .filter(|p| p.os != "unknown")
            .map(|p| {
                let mut v = json!({ "architecture": p.architecture, "os": p.os });
                if !p.variant.is_empty() {
                    v["variant"] = json!(p.variant);
                }
                v
            })
            .collect(),
        pier_registry::manifest::ManifestKind::Image(im) => {
            let cfg = c
                .get_blob_bytes(r.path(), &im.config.digest)
                .await
                .map_err(|e| pull::pull_error(&r, e))?;
            let v: serde_json::Value = serde_json::from_slice(&cfg).unwrap_or_default();
            vec![json!({
                "architecture": v.get("architecture").cloned().unwrap_or(json!("")),
                "os": v.get("os").cloned().unwrap_or(json!("")),
            })]
        }
    };
    Ok(super::super::server::middleware::json_response(
        StatusCode::OK,
        &json!({
            "Descriptor": { "mediaType": m.media_type, "digest": m.digest, "size": m.bytes.len() },
            "Platforms": platforms,
        }),
    ))
}

/// Entry point from `images::create` for `fromImage`.
pub async fn create_from_image(
    d: Arc<crate::daemon::Daemon>,
    q: &Query,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    pull(d, q, headers).await
}

/// Entry point from `images::post_named` for `{name}/push`.
pub async fn push_named(
    d: Arc<crate::daemon::Daemon>,
    name: &str,
    q: &Query,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    push(d, name, q, headers).await
}
