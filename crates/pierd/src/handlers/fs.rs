//! The container's files: `archive` (cp), `changes` (diff), `export`,
//! and `POST /commit`.

use std::io::{Seek, Write};
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use super::system::AppState;
use crate::containerfs::archive::{self, ArchiveError};
use crate::containerfs::{changes, commit, mount_points, open_rootfs};
use crate::containers::Container;
use crate::server::body::{channel_body, BodyTx};
use crate::server::error::{join_error, ApiError, ApiResult};
use crate::server::extract::Query;
use crate::server::middleware::json_response;

const PATH_STAT_HEADER: &str = "x-docker-container-path-stat";

impl From<ArchiveError> for ApiError {
    fn from(e: ArchiveError) -> Self {
        match e {
            ArchiveError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            ArchiveError::NotADirectory => ApiError::BadRequest(e.to_string()),
            ArchiveError::Io(m) => ApiError::Internal(m),
        }
    }
}

/// Runs `f` with the container's root in the blocking pool. A stopped
/// container's filesystem is mounted for the duration, under its `op`
/// lock so a start cannot race the mount.
async fn with_root<T: Send + 'static>(
    c: Arc<Container>,
    f: impl FnOnce(&crate::containerfs::Rootfs, &Container) -> Result<T, ApiError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(move || {
        let _op = c.op.blocking_lock();
        let root = open_rootfs(&c)?;
        f(&root, &c)
    })
    .await
    .map_err(join_error)?
}

fn path_param(q: &Query) -> ApiResult<String> {
    q.get_nonempty("path")
        .map(str::to_string)
        .ok_or_else(|| ApiError::BadRequest("path cannot be empty".into()))
}

/// `HEAD /containers/{id}/archive`.
pub async fn archive_head(
    State(d): AppState,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let path = path_param(&q)?;
    let stat = with_root(c, move |root, _| {
        let r = archive::resolve(&root.fd, &path, &id)?;
        Ok(archive::stat_of(&r))
    })
    .await?;
    let mut resp = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&stat.header()) {
        resp.headers_mut().insert(PATH_STAT_HEADER, v);
    }
    Ok(resp)
}

struct ChanWriter {
    tx: BodyTx,
    buf: Vec<u8>,
}

impl Write for ChanWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
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

/// Streams a tar produced by `produce` (which runs with the root held).
/// Errors found before the first byte are proper HTTP errors.
async fn tar_response(
    c: Arc<Container>,
    pre: impl FnOnce(&crate::containerfs::Rootfs, &Container) -> Result<Option<String>, ApiError>
        + Send
        + 'static,
    produce: impl FnOnce(&crate::containerfs::Rootfs, ChanWriter) -> std::io::Result<ChanWriter>
        + Send
        + 'static,
) -> ApiResult<Response> {
    let (tx, body) = channel_body(8);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<Option<String>, ApiError>>();
    tokio::task::spawn_blocking(move || {
        let _op = c.op.blocking_lock();
        let root = match open_rootfs(&c) {
            Ok(r) => r,
            Err(e) => {
                let _ = ready_tx.send(Err(e.into()));
                return;
            }
        };
        match pre(&root, &c) {
            Ok(h) => {
                let _ = ready_tx.send(Ok(h));
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        }
        let w = ChanWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(64 * 1024),
        };
        let res = produce(&root, w).and_then(|mut w| w.flush());
        if let Err(e) = res {
            tracing::warn!(id = %c.id, "tar stream failed: {e}");
            let _ = tx.blocking_send(Err(e));
        }
    });
    let header = ready_rx
        .await
        .map_err(|_| ApiError::Internal("archive task failed".into()))??;
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    if let Some(v) = header.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert(PATH_STAT_HEADER, v);
    }
    Ok(resp)
}

/// `GET /containers/{id}/archive`.
pub async fn archive_get(
    State(d): AppState,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let path = path_param(&q)?;
    let p2 = path.clone();
    let id2 = id.clone();
    tar_response(
        c,
        move |root, _| {
            let r = archive::resolve(&root.fd, &path, &id)?;
            Ok(Some(archive::stat_of(&r).header()))
        },
        move |root, w| {
            let r = archive::resolve(&root.fd, &p2, &id2)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            archive::write_tar(&root.fd, &r, w)
        },
    )
    .await
}

/// `PUT /containers/{id}/archive`: extracts the tar body into `path`.
pub async fn archive_put(
    State(d): AppState,
    Path(id): Path<String>,
    q: Query,
    req: Request,
) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let path = path_param(&q)?;
    let mut tmp = super::images::spool(&d, req.into_body()).await?;
    with_root(c, move |root, _| {
        let dir = archive::extraction_dir(&root.fd, &path, &id)?;
        let f = tmp.as_file_mut();
        f.rewind()
            .map_err(|e| ApiError::Internal(format!("reading the archive: {e}")))?;
        archive::extract(&dir, std::io::BufReader::new(f)).map_err(|e| match e {
            ArchiveError::Io(m) => ApiError::BadRequest(m),
            e => e.into(),
        })
    })
    .await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /containers/{id}/export`.
pub async fn export(State(d): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let dd = d.clone();
    let cc = c.clone();
    let resp = tar_response(
        c,
        |_, _| Ok(None),
        |root, w| archive::export_tar(&root.fd, w),
    )
    .await?;
    crate::events::container(&dd, &cc, "export", &[]);
    Ok(resp)
}

/// `GET /containers/{id}/changes`.
pub async fn changes(State(d): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let list = tokio::task::spawn_blocking(move || {
        let layers = c.snapshot().layers;
        changes::changes(&c.dir.join("diff"), &layers, &mount_points(&c))
    })
    .await
    .map_err(join_error)?;
    let v: Vec<serde_json::Value> = list.iter().map(|c| c.to_json()).collect();
    Ok(json_response(StatusCode::OK, &v))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&changes=&pause=`.
pub async fn commit_container(State(d): AppState, q: Query) -> ApiResult<Response> {
    let name = q
        .get_nonempty("container")
        .ok_or_else(|| ApiError::NotFound("No such container: ".into()))?;
    let c = d.containers.get(name)?;
    let reference = match (q.get_nonempty("repo"), q.get_nonempty("tag")) {
        (Some(r), Some(t)) => Some(format!("{r}:{t}")),
        (Some(r), None) => Some(r.to_string()),
        (None, _) => None,
    };
    if let Some(r) = &reference {
        pier_image::reference::Reference::parse(r)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }
    let changes: Vec<String> = q
        .all("changes")
        .into_iter()
        .flat_map(|c| c.split('\n'))
        .filter(|c| !c.trim().is_empty())
        .map(str::to_string)
        .collect();
    let comment = q.get("comment").unwrap_or("").to_string();
    let author = q.get("author").unwrap_or("").to_string();
    let pause = q
        .get("pause")
        .is_none_or(crate::server::extract::docker_bool);
    let running = c.lock().rec.state.running();
    let freeze = pause && running && !c.lock().rec.state.paused;
    let cg = crate::cgroups::Cgroup::of_container(&c.id);
    if freeze {
        let cg = cg.clone();
        let _ = tokio::task::spawn_blocking(move || cg.set_frozen(true)).await;
    }
    let dd = d.clone();
    let cc = c.clone();
    let res = tokio::task::spawn_blocking(move || -> ApiResult<String> {
        let rec = cc.snapshot();
        let mut tmp = tempfile::NamedTempFile::new_in(&dd.paths.tmp)
            .map_err(|e| ApiError::Internal(format!("creating the layer file: {e}")))?;
        commit::layer_tar(&cc.dir.join("diff"), &mount_points(&cc), tmp.as_file_mut())
            .map_err(|e| ApiError::Internal(format!("archiving the container's changes: {e}")))?;
        let img = dd.images.get(&rec.image_id)?;
        let base = serde_json::to_value(dd.images.config(&img)?)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let created_by = rec.command_line();
        let cfg = commit::image_config(base, &rec.config, &created_by, &changes, &comment, &author)
            .map_err(ApiError::BadRequest)?;
        let new =
            dd.images
                .create_image_json(cfg, vec![tmp.path().to_path_buf()], Some(&img.id))?;
        if let Some(r) = &reference {
            dd.images.tag(&new.id, r)?;
        }
        Ok(new.id)
    })
    .await
    .map_err(join_error);
    if freeze {
        let _ = tokio::task::spawn_blocking(move || cg.set_frozen(false)).await;
    }
    let id = res??;
    crate::events::container(&d, &c, "commit", &[]);
    Ok(json_response(StatusCode::CREATED, &json!({ "Id": id })))
}
