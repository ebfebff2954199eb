//! `POST /build` (the classic builder API the docker CLI uses with
//! `DOCKER_BUILDKIT=0`) and `POST /build/prune`. The build itself is
//! `pier_builder::Builder`; this file unpacks the context, maps query
//! parameters, and turns builder events into Docker's JSON message stream.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use pier_builder::{BuildError, BuildOptions, Event, IgnoreMatcher};
use pier_image::reference::Reference;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::system::AppState;
use crate::server::body::channel_body;
use crate::server::error::{join_error, ApiError, ApiResult};
use crate::server::extract::{parse_json, Query};
use crate::server::middleware::json_response;

/// Opens the daemon's builder (R/builder). Called once by `Daemon::open`.
pub fn open_builder(
    images: Arc<pier_image::ImageStore>,
    paths: &crate::daemon::Paths,
    shim_path: &Path,
) -> Result<Arc<pier_builder::Builder>, BuildError> {
    pier_builder::Builder::open(
        images,
        pier_builder::BuilderPaths {
            root: paths.data_root.join("builder"),
            shim_path: shim_path.to_path_buf(),
            runtime_root: paths.runtime_root.clone(),
            shim_dir: paths.shim_dir.clone(),
        },
    )
    .map(Arc::new)
}

fn build_api_error(e: BuildError) -> ApiError {
    match e.status_code() {
        400 => ApiError::BadRequest(e.to_string()),
        404 => ApiError::NotFound(e.to_string()),
        _ => ApiError::Internal(e.to_string()),
    }
}

/// What the build task sends the response task.
enum Msg {
    /// An event and the number of the step it belongs to.
    Event(usize, Event),
    Failed(BuildError),
    Built(String),
}

struct Params {
    dockerfile: String,
    tags: Vec<Reference>,
    quiet: bool,
    pier_progress: bool,
    options: BuildOptions,
}

fn params(q: &Query) -> ApiResult<Params> {
    if q.get_nonempty("remote").is_some() {
        return Err(ApiError::BadRequest(
            "remote build contexts (URLs, git) are not supported by Pier yet".into(),
        ));
    }
    let mut tags = Vec::new();
    for t in q.all("t").into_iter().filter(|t| !t.is_empty()) {
        let r = Reference::parse(t).map_err(|_| {
            ApiError::BadRequest(format!(
                "invalid reference format: repository name ({t}) must be lowercase"
            ))
        })?;
        if r.digest().is_some() {
            return Err(ApiError::BadRequest(format!(
                "invalid reference format: {t} (a tag cannot contain a digest)"
            )));
        }
        tags.push(r.with_default_tag());
    }
    let build_args: BTreeMap<String, Option<String>> = match q.get_nonempty("buildargs") {
        Some(s) => parse_json(s.as_bytes())?,
        None => BTreeMap::new(),
    };
    let labels: BTreeMap<String, String> = match q.get_nonempty("labels") {
        Some(s) => parse_json(s.as_bytes())?,
        None => BTreeMap::new(),
    };
    let mut extra_hosts = Vec::new();
    for h in q.all("extrahosts") {
        extra_hosts.extend(h.split(',').filter(|s| !s.is_empty()).map(str::to_string));
    }
    Ok(Params {
        dockerfile: q
            .get_nonempty("dockerfile")
            .unwrap_or("Dockerfile")
            .to_string(),
        tags,
        quiet: q.bool("q"),
        pier_progress: q.bool("pierprogress"),
        options: BuildOptions {
            build_args,
            target: q.get_nonempty("target").map(str::to_string),
            no_cache: q.bool("nocache"),
            pull: q.bool("pull"),
            labels,
            network: q.get_nonempty("networkmode").map(str::to_string),
            extra_hosts,
            platform: q.get_nonempty("platform").map(str::to_string),
            // Docker's classic stream is one step after the other; the
            // BuildKit-style display of `pier build` can show stages
            // running side by side.
            parallel: q.bool("pierprogress"),
            ..Default::default()
        },
    })
}

/// Unpacks the (maybe compressed) context tar into `dir`.
fn unpack_context(src: &mut std::fs::File, dir: &Path) -> Result<(), ApiError> {
    // The spool file's offset is at its end after writing.
    src.rewind()
        .map_err(|e| ApiError::Internal(format!("reading the build context: {e}")))?;
    let mut head = [0u8; 6];
    let n = src.read(&mut head).unwrap_or(0);
    src.rewind()
        .map_err(|e| ApiError::Internal(format!("reading the build context: {e}")))?;
    let reader: Box<dyn Read> = if n >= 2 && head[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(&mut *src))
    } else if n >= 3 && &head[..3] == b"BZh" {
        Box::new(bzip2::read::BzDecoder::new(&mut *src))
    } else {
        Box::new(&mut *src)
    };
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive
        .unpack(dir)
        .map_err(|e| ApiError::BadRequest(format!("failed to read the build context: {e}")))
}

/// Reads the Dockerfile from the context; removes it and .dockerignore if
/// .dockerignore excludes them (Docker reads them, but COPY never sees them).
fn read_dockerfile(ctx: &Path, name: &str) -> Result<String, ApiError> {
    let cleaned = pier_builder::dockerignore::clean_path(&format!("/{name}"));
    let rel = cleaned.trim_start_matches('/').to_string();
    let path = ctx.join(&rel);
    let text = std::fs::read_to_string(&path)
        .map_err(|_| ApiError::BadRequest(format!("Cannot locate specified Dockerfile: {name}")))?;
    let ignore =
        IgnoreMatcher::for_context(ctx).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    for f in [rel.as_str(), ".dockerignore"] {
        if !ignore.is_empty() && ignore.excluded(f) {
            let _ = std::fs::remove_file(ctx.join(f));
        }
    }
    Ok(text)
}

async fn spool_to(dir: &Path, body: Body) -> ApiResult<std::fs::File> {
    let tmp = tempfile::tempfile_in(dir)
        .map_err(|e| ApiError::Internal(format!("creating spool file: {e}")))?;
    let clone = tmp
        .try_clone()
        .map_err(|e| ApiError::Internal(format!("spool file: {e}")))?;
    let mut file = tokio::fs::File::from_std(clone);
    let mut stream = body.into_data_stream();
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

fn short(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex[..hex.len().min(12)].to_string()
}

fn stream(s: impl Into<String>) -> Value {
    json!({ "stream": s.into() })
}

/// Docker's classic stream lines for one event.
fn classic(ev: &Event) -> Vec<Value> {
    match ev {
        Event::Step(s) => vec![stream(format!(
            "Step {}/{} : {}\n",
            s.number, s.total, s.text
        ))],
        Event::Cached => vec![stream(" ---> Using cache\n")],
        Event::Running(id) => vec![stream(format!(" ---> Running in {}\n", short(id)))],
        Event::Output(b) => vec![stream(String::from_utf8_lossy(b).into_owned())],
        Event::Removed(id) => vec![stream(format!(
            " ---> Removed intermediate container {}\n",
            short(id)
        ))],
        Event::Done(id) if id.is_empty() => Vec::new(),
        Event::Done(id) => vec![stream(format!(" ---> {}\n", short(id)))],
        Event::Warning(w) => vec![stream(w.clone())],
        Event::Failed => Vec::new(),
    }
}

/// The same events for `pier build`'s BuildKit-style display.
fn pier_event(step: usize, ev: &Event) -> Value {
    let v = match ev {
        Event::Step(s) => json!({ "step": {
            "number": s.number, "total": s.total, "stage": s.stage, "multi": s.multi_stage,
            "k": s.stage_step, "n": s.stage_steps, "text": s.text, "line": s.line,
        }}),
        Event::Cached => json!({ "cached": true }),
        Event::Running(id) => json!({ "running": id }),
        Event::Output(b) => json!({ "output": String::from_utf8_lossy(b) }),
        Event::Removed(id) => json!({ "removed": id }),
        Event::Done(id) => json!({ "done": id }),
        Event::Warning(w) => json!({ "warning": w }),
        Event::Failed => json!({ "failed": true }),
    };
    let mut v = v;
    v["at"] = json!(step);
    json!({ "pier": v })
}

fn error_line(e: &BuildError) -> Value {
    let msg = e.to_string();
    let mut detail = json!({ "message": msg });
    if let BuildError::RunFailed { code, .. } = e {
        detail["code"] = json!(code);
    }
    json!({ "errorDetail": detail, "error": msg })
}

fn line_bytes(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

pub async fn build(State(d): AppState, q: Query, req: Request) -> ApiResult<Response> {
    let p = params(&q)?;
    super::build_hooks::install(&d);
    let builder = d.builder.clone();
    let ctx_dir = tempfile::Builder::new()
        .prefix("context-")
        .tempdir_in(builder.tmp_dir())
        .map_err(|e| ApiError::Internal(format!("creating the context dir: {e}")))?;
    // Pier's extension: RUN --mount=type=secret values (`pier build --secret`).
    let req_secrets = req
        .headers()
        .get(pier_builder::secrets::SECRETS_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // The docker CLI sends every stored credential for the build's pulls.
    let registry_auth = match req
        .headers()
        .get("X-Registry-Config")
        .and_then(|v| v.to_str().ok())
    {
        Some(v) => pier_registry::Credentials::from_config_header(v)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?
            .into_iter()
            .map(|(host, c)| (host, c.to_header()))
            .collect(),
        None => BTreeMap::new(),
    };
    let mut spooled = spool_to(builder.tmp_dir(), req.into_body()).await?;
    let ctx_path: PathBuf = ctx_dir.path().to_path_buf();
    let df_name = p.dockerfile.clone();
    let dockerfile = tokio::task::spawn_blocking(move || {
        unpack_context(&mut spooled, &ctx_path)?;
        read_dockerfile(&ctx_path, &df_name)
    })
    .await
    .map_err(join_error)??;
    // Parse errors are answered as HTTP errors, like Docker (nothing has
    // been streamed yet).
    pier_builder::parse(&dockerfile).map_err(build_api_error)?;

    let mut options = p.options;
    if let Some(v) = req_secrets {
        options.secrets = pier_builder::Secrets::from_header(&v).map_err(build_api_error)?;
    }
    options.registry_auth = pier_builder::RegistryAuth(registry_auth);
    options.context = ctx_dir.path().to_path_buf();
    options.dockerfile = dockerfile;
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let b = builder.clone();
    tokio::task::spawn_blocking(move || {
        let _keep = ctx_dir;
        let etx = tx.clone();
        let res = b.build(&options, &|step, ev| {
            let _ = etx.send(Msg::Event(step, ev));
        });
        let _ = match res {
            Ok(out) => tx.send(Msg::Built(out.image_id)),
            Err(e) => tx.send(Msg::Failed(e)),
        };
    });
    // An error before any step output is an HTTP error too.
    let first = rx.recv().await;
    if let Some(Msg::Failed(e)) = first {
        return Err(build_api_error(e));
    }
    let (body_tx, body) = channel_body(64);
    let (quiet, pier_progress, tags) = (p.quiet, p.pier_progress, p.tags);
    let images = d.images.clone();
    tokio::spawn(async move {
        let mut next = first;
        while let Some(msg) = next {
            let lines: Vec<Value> = match msg {
                Msg::Event(_, ev) if quiet && !matches!(ev, Event::Warning(_)) => Vec::new(),
                Msg::Event(step, ev) if pier_progress => vec![pier_event(step, &ev)],
                Msg::Event(_, ev) => classic(&ev),
                Msg::Failed(e) => vec![error_line(&e)],
                Msg::Built(id) => {
                    let mut out = vec![json!({ "aux": { "ID": id } })];
                    let tag_result = {
                        let (images, id, tags) = (images.clone(), id.clone(), tags.clone());
                        tokio::task::spawn_blocking(move || {
                            for t in &tags {
                                images.tag(&id, &t.familiar())?;
                            }
                            Ok::<_, pier_image::ImageError>(())
                        })
                        .await
                    };
                    if quiet {
                        out.push(stream(format!("{id}\n")));
                    } else {
                        out.push(stream(format!("Successfully built {}\n", short(&id))));
                    }
                    match tag_result {
                        Ok(Ok(())) => {
                            if !quiet {
                                for t in &tags {
                                    out.push(stream(format!("Successfully tagged {}\n", t.familiar())));
                                }
                            }
                        }
                        Ok(Err(e)) => out.push(error_line(&BuildError::Image(e))),
                        Err(e) => out.push(json!({ "errorDetail": { "message": e.to_string() }, "error": e.to_string() })),
                    }
                    out
                }
            };
            for l in lines {
                if body_tx.send(Ok(line_bytes(&l))).await.is_err() {
                    return;
                }
            }
            next = rx.recv().await;
        }
    });
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// `POST /build/prune`.
pub async fn prune(State(d): AppState) -> ApiResult<Response> {
    let users: Vec<String> = d
        .containers
        .list()
        .iter()
        .map(|c| c.lock().rec.image_id.clone())
        .collect();
    let builder = d.builder.clone();
    let report = tokio::task::spawn_blocking(move || {
        let in_use = |id: &str| users.iter().any(|u| u == id).then(|| id.to_string());
        builder.prune(&in_use)
    })
    .await
    .map_err(join_error)?
    .map_err(build_api_error)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "CachesDeleted": report.caches_deleted,
            "SpaceReclaimed": report.space_reclaimed,
        }),
    ))
}

/// `system df`'s BuildCache list. Blocking.
pub fn build_cache(d: &crate::daemon::Daemon) -> Vec<Value> {
    d.builder
        .cache_records()
        .into_iter()
        .map(|r| {
            json!({
                "ID": r.id,
                "Parents": [],
                "Type": "regular",
                "Description": r.description,
                "InUse": r.in_use,
                "Shared": false,
                "Size": r.size,
                "CreatedAt": r.created,
                "LastUsedAt": r.created,
                "UsageCount": 1,
            })
        })
        .collect()
}
