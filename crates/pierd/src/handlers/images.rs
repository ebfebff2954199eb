//! Image endpoints, all delegating to `pier_image::ImageStore` on the
//! blocking pool.

use std::io::{Seek, Write};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use pier_image::{ImageUser, ImportOptions};
use serde_json::json;

use super::system::AppState;
use crate::daemon::Daemon;
use crate::server::body::{channel_body, BodyTx};
use crate::server::error::{join_error, ApiError, ApiResult};
use crate::server::extract::Query;
use crate::server::middleware::json_response;

/// Runs a closure on the image store in the blocking pool.
async fn with_store<T: Send + 'static>(
    d: &Arc<Daemon>,
    f: impl FnOnce(&pier_image::ImageStore) -> Result<T, pier_image::ImageError> + Send + 'static,
) -> ApiResult<T> {
    let images = d.images.clone();
    Ok(tokio::task::spawn_blocking(move || f(&images))
        .await
        .map_err(join_error)??)
}

fn json_lines(lines: &[serde_json::Value]) -> Response {
    let mut out = Vec::new();
    for l in lines {
        if let Ok(b) = serde_json::to_vec(l) {
            out.extend_from_slice(&b);
            out.push(b'\n');
        }
    }
    let mut resp = (StatusCode::OK, out).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Writes the request body to a temp file under R/tmp (the image store
/// reads archives synchronously and may need to seek).
pub(crate) async fn spool(d: &Daemon, body: Body) -> ApiResult<tempfile::NamedTempFile> {
    let tmp = tempfile::NamedTempFile::new_in(&d.paths.tmp)
        .map_err(|e| ApiError::Internal(format!("creating spool file: {e}")))?;
    let std_file = tmp
        .reopen()
        .map_err(|e| ApiError::Internal(format!("opening spool file: {e}")))?;
    let mut file = tokio::fs::File::from_std(std_file);
    let mut stream = body.into_data_stream();
    use tokio::io::AsyncWriteExt;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("reading request body: {e}")))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::Internal(format!("spooling request body: {e}")))?;
    }
    file.flush()
        .await
        .map_err(|e| ApiError::Internal(format!("spooling request body: {e}")))?;
    Ok(tmp)
}

pub async fn load(State(d): AppState, q: Query, req: Request) -> ApiResult<Response> {
    let quiet = q.bool("quiet");
    let mut tmp = spool(&d, req.into_body()).await?;
    let outcomes = with_store(&d, move |s| {
        let f = tmp.as_file_mut();
        f.rewind()
            .map_err(|e| pier_image::ImageError::BadArchive(e.to_string()))?;
        s.load(f)
    })
    .await?;
    let mut lines = Vec::new();
    for o in &outcomes {
        match o {
            pier_image::LoadOutcome::Tagged { reference, id, .. } => {
                crate::events::image(&d, "load", id, Some(reference))
            }
            pier_image::LoadOutcome::Untagged { id } => crate::events::image(&d, "load", id, None),
        }
        if let Some(n) = o.notice() {
            lines.push(json!({ "stream": format!("{n}\n") }));
        }
        lines.push(json!({ "stream": format!("{o}\n") }));
    }
    let _ = quiet; // Progress bars are not produced, so quiet changes nothing.
    Ok(json_lines(&lines))
}

/// A `Write` that feeds a streaming response from a blocking task.
struct ChanWriter {
    tx: BodyTx,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl Write for ChanWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

async fn save_names(d: Arc<Daemon>, names: Vec<String>) -> ApiResult<Response> {
    // Unknown names are a proper 404 before any byte is streamed.
    let check = names.clone();
    with_store(&d, move |s| s.check_save(&check)).await?;
    let (tx, body) = channel_body(8);
    let images = d.images.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = ChanWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let res = images
            .save(&names, &mut w)
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|_| w.flush());
        if let Err(e) = res {
            tracing::warn!("image save failed mid-stream: {e}");
            // An error item aborts the response, so the client sees a
            // truncated transfer instead of a silently short tar.
            let _ = tx.blocking_send(Err(e));
        }
    });
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

pub async fn get_many(State(d): AppState, q: Query) -> ApiResult<Response> {
    let names = q.all("names").into_iter().map(str::to_owned).collect();
    save_names(d, names).await
}

pub async fn create(State(d): AppState, q: Query, req: Request) -> ApiResult<Response> {
    if let Some(src) = q.get_nonempty("fromSrc") {
        if src != "-" {
            return Err(ApiError::NotImplemented(format!(
                "importing from a URL ({src}) is not supported: send the archive in the request body"
            )));
        }
        let reference = q
            .get_nonempty("repo")
            .map(|repo| match q.get_nonempty("tag") {
                Some(tag) => format!("{repo}:{tag}"),
                None => repo.to_string(),
            });
        let opts = ImportOptions {
            reference,
            changes: q.all("changes").into_iter().map(str::to_owned).collect(),
            message: q.get_nonempty("message").map(str::to_owned),
            platform: q.get_nonempty("platform").map(str::to_owned),
        };
        let mut tmp = spool(&d, req.into_body()).await?;
        let rec = with_store(&d, move |s| {
            let f = tmp.as_file_mut();
            f.rewind()
                .map_err(|e| pier_image::ImageError::BadArchive(e.to_string()))?;
            s.import(f, opts)
        })
        .await?;
        crate::events::image(&d, "import", &rec.id, None);
        return Ok(json_lines(&[json!({ "status": rec.id })]));
    }
    if q.get_nonempty("fromImage").is_some() {
        return super::distribution::create_from_image(d, &q, req.headers()).await;
    }
    Err(ApiError::BadRequest(
        "either fromSrc or fromImage must be given".into(),
    ))
}

pub async fn list(State(d): AppState, q: Query) -> ApiResult<Response> {
    let all = q.bool("all");
    let filters = q.filters()?;
    let rows = with_store(&d, move |s| s.summaries(all, &filters)).await?;
    Ok(json_response(StatusCode::OK, &rows))
}

/// The image routes whose name may contain slashes (`/images/{name...}/json`).
pub async fn get_named(State(d): AppState, Path(rest): Path<String>) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/json") {
        let name = name.to_string();
        let v = with_store(&d, move |s| s.inspect(&name)).await?;
        return Ok(json_response(StatusCode::OK, &v));
    }
    if let Some(name) = rest.strip_suffix("/history") {
        let name = name.to_string();
        let v = with_store(&d, move |s| s.history(&name)).await?;
        return Ok(json_response(StatusCode::OK, &v));
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return save_names(d, vec![name.to_string()]).await;
    }
    Err(ApiError::NotFound("page not found".into()))
}

pub async fn post_named(
    State(d): AppState,
    Path(rest): Path<String>,
    q: Query,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/tag") {
        let repo = q.get_nonempty("repo").ok_or_else(|| {
            ApiError::BadRequest("repository name must have at least one component".into())
        })?;
        let target = match q.get_nonempty("tag") {
            Some(tag) => format!("{repo}:{tag}"),
            None => repo.to_string(),
        };
        let name = name.to_string();
        let tagged = target.clone();
        let id = with_store(&d, move |s| {
            s.tag(&name, &target)?;
            s.get(&name).map(|r| r.id)
        })
        .await?;
        let familiar = pier_image::reference::Reference::parse(&tagged)
            .map(|r| r.familiar())
            .unwrap_or(tagged);
        crate::events::image(&d, "tag", &id, Some(&familiar));
        return Ok(StatusCode::CREATED.into_response());
    }
    if let Some(name) = rest.strip_suffix("/push") {
        return super::distribution::push_named(d, name, &q, &headers).await;
    }
    Err(ApiError::NotFound("page not found".into()))
}

pub async fn delete(State(d): AppState, Path(name): Path<String>, q: Query) -> ApiResult<Response> {
    let force = q.bool("force");
    let prune = !q.bool("noprune");
    let users: Vec<(String, ImageUser)> = d
        .containers
        .list()
        .iter()
        .map(|c| {
            let g = c.lock();
            (
                g.rec.image_id.clone(),
                ImageUser {
                    container_id: c.id.clone(),
                    running: g.rec.state.running(),
                },
            )
        })
        .collect();
    let items = with_store(&d, move |s| {
        // A running user wins over a stopped one (it is the harder conflict).
        let usage = |image_id: &str| {
            let mut found: Option<ImageUser> = None;
            for (i, u) in &users {
                if i == image_id && found.as_ref().is_none_or(|f| !f.running) {
                    found = Some(u.clone());
                }
            }
            found
        };
        s.remove_with_usage(&name, force, prune, &usage)
    })
    .await?;
    for it in &items {
        if let Some(u) = &it.untagged {
            crate::events::image(&d, "untag", u, Some(u));
        }
        if let Some(del) = &it.deleted {
            crate::events::image(&d, "delete", del, Some(del));
        }
    }
    Ok(json_response(StatusCode::OK, &items))
}
