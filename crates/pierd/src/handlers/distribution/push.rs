//! `POST /images/{name}/push?tag=`: layers the registry has are skipped
//! (HEAD), blobs known to exist in another repository of the same registry
//! are mounted (`?mount=&from=`), the rest uploaded in parallel (bounded by
//! `--max-concurrent-uploads`); then the config and the manifest.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use pier_image::reference::Reference;
use pier_image::{ImageStore, PushImage, PushLayer};
use pier_registry::client::{pull_scope, push_scope};
use pier_registry::{RegistryClient, UploadOutcome};
use serde_json::json;

use super::progress::{short, Progress, Throttle};
use super::{client, credentials, new_stream, settings, stream_response};
use crate::daemon::Daemon;
use crate::server::error::{join_error, ApiError, ApiResult};
use crate::server::extract::Query;

fn push_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// The local tags of `repo` to push (`-a`), or the one asked for.
fn targets(images: &ImageStore, named: &Reference, tag: Option<&str>) -> ApiResult<Vec<Reference>> {
    if let Some(t) = tag.or(named.tag()) {
        let r = named.with_tag(t);
        images
            .get(&r.familiar())
            .map_err(|_| ApiError::NotFound(format!("tag does not exist: {}", r.familiar())))?;
        return Ok(vec![r]);
    }
    let repo = named.repository();
    let mut out: Vec<Reference> = images
        .list()
        .iter()
        .flat_map(|rec| rec.repo_tags.clone())
        .filter_map(|t| Reference::parse_named(&t).ok())
        .filter(|t| t.repository() == repo && t.tag().is_some())
        .collect();
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err(ApiError::NotFound(format!(
            "An image does not exist locally with the tag: {}",
            named.familiar_name()
        )));
    }
    Ok(out)
}

pub async fn push(
    d: Arc<Daemon>,
    name: &str,
    q: &Query,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let named = Reference::parse_named(name).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let tag = q.get_nonempty("tag").map(str::to_string);
    let images = d.images.clone();
    let n2 = named.clone();
    let (targets, plans) = tokio::task::spawn_blocking(move || -> ApiResult<_> {
        let targets = targets(&images, &n2, tag.as_deref())?;
        let plans = targets
            .iter()
            .map(|t| images.push_image(&t.familiar()).map_err(ApiError::from))
            .collect::<ApiResult<Vec<PushImage>>>()?;
        Ok((targets, plans))
    })
    .await
    .map_err(join_error)??;
    // Mount sources need pull access in the token too.
    let prefix = format!("{}/", named.domain());
    let mut scopes = vec![push_scope(named.path())];
    for plan in &plans {
        for l in &plan.layers {
            for src in d.images.blob_sources(&l.digest) {
                if let Some(path) = src.strip_prefix(&prefix) {
                    let s = pull_scope(path);
                    if path != named.path() && !scopes.contains(&s) {
                        scopes.push(s);
                    }
                }
            }
        }
    }
    let c = Arc::new(client(&named, credentials(headers)?, scopes)?);
    c.ping().await.map_err(push_err)?;
    let (progress, writer, body) = new_stream();
    tokio::spawn(async move {
        progress.status(&format!("The push refers to repository [{}]", named.name()));
        for (target, plan) in targets.iter().zip(plans) {
            if let Err(e) = push_one(&d, &c, target, plan, &progress).await {
                progress.error(&e.to_string());
                break;
            }
        }
        drop(progress);
        let _ = writer.await;
    });
    Ok(stream_response(body))
}

async fn push_one(
    d: &Arc<Daemon>,
    c: &Arc<RegistryClient>,
    r: &Reference,
    mut plan: PushImage,
    progress: &Progress,
) -> Result<(), ApiError> {
    let repo = r.path().to_string();
    let layers = std::mem::take(&mut plan.layers);
    for l in layers.iter().rev() {
        progress.status_id(&short(&l.diff_id), "Preparing");
    }
    let mut tasks = Vec::new();
    for l in layers.into_iter().rev() {
        tasks.push(tokio::spawn(push_layer(
            d.images.clone(),
            c.clone(),
            r.clone(),
            l,
            progress.clone(),
        )));
    }
    let mut pushed = Vec::new();
    let mut first_err = None;
    for t in tasks {
        match t.await.map_err(join_error).and_then(|r| r) {
            Ok(l) => pushed.push(l),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    pushed.reverse();
    let regenerate = plan.manifest.is_empty();
    plan.layers = pushed;
    if regenerate {
        plan.manifest = pier_image::build_manifest(&plan);
    }
    let source = format!("{}/{}", r.domain(), repo);
    if !c.blob_exists(&repo, &plan.id).await.map_err(push_err)? {
        let loc = match mount_or_start(&d.images, c, r, &plan.id).await?.0 {
            UploadOutcome::Started(l) => l,
            UploadOutcome::Mounted => String::new(),
        };
        if !loc.is_empty() {
            let size = plan.config.len() as u64;
            let body = http_body_util::Full::new(bytes::Bytes::from(plan.config.clone()))
                .map_err(|never| match never {})
                .boxed();
            c.finish_upload(&loc, &plan.id, body, size)
                .await
                .map_err(push_err)?;
        }
    }
    let _ = d.images.add_blob_source(&plan.id, &source);
    let tag = r.tag().unwrap_or("latest").to_string();
    let size = plan.manifest.len();
    let digest = c
        .put_manifest(
            &repo,
            &tag,
            &plan.manifest_media_type,
            plan.manifest.clone(),
        )
        .await
        .map_err(push_err)?;
    let _ = d.images.add_repo_digest(&plan.id, &r.with_digest(&digest));
    progress.status(&format!("{tag}: digest: {digest} size: {size}"));
    progress.send(
        json!({ "progressDetail": {}, "aux": { "Tag": tag, "Digest": digest, "Size": size } }),
    );
    Ok(())
}

/// Mounts `digest` from another repository of the same registry where it
/// is known to exist (returning where from), else starts an upload.
async fn mount_or_start(
    images: &ImageStore,
    c: &RegistryClient,
    r: &Reference,
    digest: &str,
) -> Result<(UploadOutcome, String), ApiError> {
    let prefix = format!("{}/", r.domain());
    for src in images.blob_sources(digest) {
        let Some(from) = src.strip_prefix(&prefix) else {
            continue;
        };
        if from == r.path() {
            continue;
        }
        match c.start_upload(r.path(), Some((digest, from))).await {
            Ok(UploadOutcome::Mounted) => {
                tracing::debug!("mounted {digest} from {from}");
                return Ok((UploadOutcome::Mounted, from.to_string()));
            }
            // The registry started a normal upload instead.
            Ok(started) => return Ok((started, String::new())),
            Err(e) => tracing::debug!("mount of {digest} from {from} failed: {e}"),
        }
    }
    let started = c.start_upload(r.path(), None).await.map_err(push_err)?;
    Ok((started, String::new()))
}

async fn push_layer(
    images: Arc<ImageStore>,
    c: Arc<RegistryClient>,
    r: Reference,
    layer: PushLayer,
    progress: Progress,
) -> Result<PushLayer, ApiError> {
    let sid = short(&layer.diff_id);
    let repo = r.path().to_string();
    let s = settings();
    let _permit = match s.uploads.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            progress.status_id(&sid, "Waiting");
            s.uploads.clone().acquire_owned().await.map_err(push_err)?
        }
    };
    let source = format!("{}/{}", r.domain(), repo);
    if !layer.digest.is_empty()
        && c.blob_exists(&repo, &layer.digest)
            .await
            .map_err(push_err)?
    {
        progress.status_id(&sid, "Layer already exists");
        let _ = images.add_blob_source(&layer.digest, &source);
        return Ok(layer);
    }
    if layer.path.as_os_str().is_empty() || !layer.path.exists() {
        // A layer stored uncompressed: gzip it straight into the upload,
        // no blob file and no second pass. With no digest known yet there
        // is nothing to mount.
        let started = if layer.digest.is_empty() {
            (
                c.start_upload(&repo, None).await.map_err(push_err)?,
                String::new(),
            )
        } else {
            mount_or_start(&images, &c, &r, &layer.digest).await?
        };
        let location = match started {
            (UploadOutcome::Mounted, from) => {
                progress.status_id(&sid, &format!("Mounted from {from}"));
                let _ = images.add_blob_source(&layer.digest, &source);
                return Ok(layer);
            }
            (UploadOutcome::Started(l), _) => l,
        };
        let layer = gzip_upload(&images, &c, &location, layer, &sid, &progress).await?;
        progress.status_id(&sid, "Pushed");
        let _ = images.add_blob_source(&layer.digest, &source);
        return Ok(layer);
    }
    let location = match mount_or_start(&images, &c, &r, &layer.digest).await? {
        (UploadOutcome::Mounted, from) => {
            progress.status_id(&sid, &format!("Mounted from {from}"));
            let _ = images.add_blob_source(&layer.digest, &source);
            return Ok(layer);
        }
        (UploadOutcome::Started(l), _) => l,
    };
    let file = tokio::fs::File::open(&layer.path)
        .await
        .map_err(|e| push_err(format!("opening {}: {e}", layer.path.display())))?;
    let size = layer.size;
    let mut sent = 0u64;
    let mut throttle = Throttle::new();
    let p = progress.clone();
    let sid2 = sid.clone();
    let stream =
        tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).map_ok(move |chunk| {
            sent += chunk.len() as u64;
            if throttle.ready() {
                p.bar(&sid2, "Pushing", sent.min(size), size);
            }
            Frame::data(chunk)
        });
    let body = StreamBody::new(stream).boxed();
    c.finish_upload(&location, &layer.digest, body, size)
        .await
        .map_err(push_err)?;
    progress.status_id(&sid, "Pushed");
    let _ = images.add_blob_source(&layer.digest, &source);
    Ok(layer)
}

/// Sends the gzip blob of an uncompressed layer while a blocking thread
/// makes it (PATCH with a chunked body), then finishes the upload with the
/// digest the compression produced. The registry verifies that digest
/// against what it received before it commits the blob.
async fn gzip_upload(
    images: &Arc<ImageStore>,
    c: &RegistryClient,
    location: &str,
    mut layer: PushLayer,
    sid: &str,
    progress: &Progress,
) -> Result<PushLayer, ApiError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
    let img = images.clone();
    let p = progress.clone();
    let (sid2, total) = (sid.to_string(), layer.tar_size);
    let producer = tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter { tx: tx.clone() };
        let mut throttle = Throttle::new();
        let mut report = |done: u64| {
            if throttle.ready() {
                p.bar(&sid2, "Pushing", done.min(total), total);
            }
        };
        let res = img.gzip_layer_into(&mut layer, &mut out, &mut report);
        if let Err(e) = &res {
            // Fails the PATCH instead of ending the blob early.
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
        res.map(|()| layer)
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).map_ok(Frame::data);
    // On a failed PATCH the compressor stops by itself once the connection
    // drops the body (its sends fail): not waited for.
    let next = c
        .upload_stream(location, StreamBody::new(stream).boxed())
        .await
        .map_err(push_err)?;
    let layer = producer.await.map_err(join_error)??;
    let empty = http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed();
    c.finish_upload(&next, &layer.digest, empty, 0)
        .await
        .map_err(push_err)?;
    Ok(layer)
}

/// Hands what the compressor writes to the upload body, in 1 MiB pieces.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for piece in buf.chunks(1 << 20) {
            self.tx
                .blocking_send(Ok(bytes::Bytes::copy_from_slice(piece)))
                .map_err(|_| std::io::Error::other("upload ended early"))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
