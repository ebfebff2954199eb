//! `POST /images/create?fromImage=&tag=&platform=`: pull one tag, a digest
//! or every tag, layers downloaded and unpacked in parallel (bounded by
//! `--max-concurrent-downloads`), each verified before it is stored.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;
use pier_image::reference::Reference;
use pier_image::ImageStore;
use pier_registry::manifest::{Descriptor, ManifestKind, Platform, PulledManifest};
use pier_registry::{RegistryClient, RegistryError};

use super::progress::{short, Progress, Throttle};
use super::{client, credentials, new_stream, settings, stream_response};
use crate::daemon::Daemon;
use crate::server::error::{join_error, ApiError, ApiResult};
use crate::server::extract::Query;

/// dockerd's wording of registry errors for pulls.
pub fn pull_error(r: &Reference, e: RegistryError) -> ApiError {
    if e.is_auth() || matches!(e.code(), Some("NAME_UNKNOWN")) {
        return ApiError::NotFound(format!(
            "pull access denied for {}, repository does not exist or may require 'docker login': {e}",
            r.familiar_name()
        ));
    }
    if e.is_not_found() {
        return ApiError::NotFound(format!("manifest for {} not found: {e}", r.familiar()));
    }
    match e {
        RegistryError::NoMatchingPlatform(_) => ApiError::NotFound(e.to_string()),
        RegistryError::BadManifest(_) | RegistryError::DigestMismatch { .. } => {
            ApiError::BadRequest(e.to_string())
        }
        other => ApiError::Internal(other.to_string()),
    }
}

/// An image manifest resolved for the requested platform, with its config.
struct Resolved {
    /// Digest the user sees (`Digest:` line, RepoDigests): the index's when
    /// the tag points at a manifest list.
    top_digest: String,
    manifest: PulledManifest,
    layers: Vec<Descriptor>,
    config: Vec<u8>,
    diff_ids: Vec<String>,
}

async fn resolve(
    c: &RegistryClient,
    r: &Reference,
    reference: &str,
    platform: &Platform,
    explicit_platform: bool,
) -> Result<Resolved, ApiError> {
    let repo = r.path();
    let top = c
        .get_manifest(repo, reference)
        .await
        .map_err(|e| pull_error(r, e))?;
    let top_digest = top.digest.clone();
    let top_kind_is_image = matches!(top.kind, ManifestKind::Image(_));
    let manifest = match &top.kind {
        ManifestKind::Index(idx) => {
            let d = idx.select(platform).map_err(|e| pull_error(r, e))?;
            c.get_manifest(repo, &d.digest)
                .await
                .map_err(|e| pull_error(r, e))?
        }
        ManifestKind::Image(_) => top,
    };
    let ManifestKind::Image(im) = &manifest.kind else {
        return Err(ApiError::BadRequest(format!(
            "manifest {} is a list inside a list",
            manifest.digest
        )));
    };
    let layers = im.layers.clone();
    let config = c
        .get_blob_bytes(repo, &im.config.digest)
        .await
        .map_err(|e| pull_error(r, e))?;
    let diff_ids = ImageStore::config_diff_ids(&config)?;
    if explicit_platform && top_kind_is_image {
        let v: serde_json::Value = serde_json::from_slice(&config).unwrap_or_default();
        let actual = Platform {
            os: v["os"].as_str().unwrap_or_default().to_string(),
            architecture: v["architecture"].as_str().unwrap_or_default().to_string(),
            variant: v["variant"].as_str().unwrap_or_default().to_string(),
        };
        if !platform.matches(&actual) {
            return Err(ApiError::NotFound(format!(
                "image with reference {} was found but does not match the specified platform: wanted {platform}, actual: {actual}",
                r.familiar()
            )));
        }
    }
    if diff_ids.len() != layers.len() {
        return Err(ApiError::BadRequest(format!(
            "manifest {} has {} layers but its config lists {} diff IDs",
            manifest.digest,
            layers.len(),
            diff_ids.len()
        )));
    }
    Ok(Resolved {
        top_digest,
        manifest,
        layers,
        config,
        diff_ids,
    })
}

pub async fn pull(d: Arc<Daemon>, q: &Query, headers: &HeaderMap) -> ApiResult<Response> {
    let image = q.get_nonempty("fromImage").unwrap_or_default();
    let tag = q.get_nonempty("tag");
    let named = Reference::parse_named(image).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let r = match tag {
        Some(t) if t.starts_with("sha256:") => named.with_digest(t),
        Some(t) if named.is_name_only() => Reference::parse_named(&format!("{image}:{t}"))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        _ => named,
    };
    let all_tags = r.is_name_only();
    let explicit_platform = q.get_nonempty("platform").is_some();
    let platform = match q.get_nonempty("platform") {
        Some(p) => Platform::parse(p).map_err(|e| ApiError::BadRequest(e.to_string()))?,
        None => Platform::host(),
    };
    let creds = credentials(headers)?;
    let c = Arc::new(client(
        &r,
        creds,
        vec![pier_registry::client::pull_scope(r.path())],
    )?);
    c.ping()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // Everything that can fail before the first byte is an HTTP error, as
    // with dockerd; later failures end the stream with an error message.
    let (targets, first) = if all_tags {
        let tags = c.list_tags(r.path()).await.map_err(|e| pull_error(&r, e))?;
        (
            tags.into_iter().map(|t| r.with_tag(&t)).collect::<Vec<_>>(),
            None,
        )
    } else {
        let reference = r.digest().or(r.tag()).unwrap_or("latest").to_string();
        let first = resolve(&c, &r, &reference, &platform, explicit_platform).await?;
        (vec![r.clone()], Some(first))
    };
    let (progress, writer, body) = new_stream();
    tokio::spawn(async move {
        let mut first = first;
        let mut newer = false;
        for target in &targets {
            let resolved = match first.take() {
                Some(f) => Ok(f),
                None => {
                    let reference = target.tag().unwrap_or("latest").to_string();
                    resolve(&c, target, &reference, &platform, explicit_platform).await
                }
            };
            let outcome = match resolved {
                Ok(res) => pull_one(&d, &c, target, res, &progress).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(n) => newer |= n,
                Err(e) => {
                    progress.error(&e.to_string());
                    break;
                }
            }
            if !all_tags {
                let what = target.familiar();
                progress.status(&if newer {
                    format!("Status: Downloaded newer image for {what}")
                } else {
                    format!("Status: Image is up to date for {what}")
                });
                drop(progress);
                let _ = writer.await;
                return;
            }
        }
        if all_tags {
            let what = r.familiar_name();
            progress.status(&if newer {
                format!("Status: Downloaded newer image for {what}")
            } else {
                format!("Status: Image is up to date for {what}")
            });
        }
        drop(progress);
        let _ = writer.await;
    });
    Ok(stream_response(body))
}

/// Pulls one resolved image; true when something new was stored or tagged.
async fn pull_one(
    d: &Arc<Daemon>,
    c: &Arc<RegistryClient>,
    r: &Reference,
    res: Resolved,
    progress: &Progress,
) -> Result<bool, ApiError> {
    let id = r.digest().or(r.tag()).unwrap_or("latest").to_string();
    progress.send(serde_json::json!({ "status": format!("Pulling from {}", r.path()), "id": id }));
    // As dockerd: an image whose config is already here needs no layers.
    let config_digest = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&res.config))
    );
    let have_image = d.images.get(&config_digest).is_ok();
    let mut tasks = Vec::new();
    for (desc, diff_id) in res.layers.iter().zip(&res.diff_ids) {
        if have_image {
            break;
        }
        let sid = short(&desc.digest);
        if d.images.has_layer_diff(diff_id) {
            progress.status_id(&sid, "Already exists");
            continue;
        }
        progress.status_id(&sid, "Pulling fs layer");
        tasks.push(tokio::spawn(pull_layer(
            d.images.clone(),
            c.clone(),
            r.path().to_string(),
            desc.clone(),
            diff_id.clone(),
            progress.clone(),
        )));
    }
    let mut first_err = None;
    for t in tasks {
        let res = t.await.map_err(join_error).and_then(|r| r);
        if let Err(e) = res {
            first_err.get_or_insert(e);
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    progress.status(&format!("Digest: {}", res.top_digest));
    let mut refs = vec![r.with_digest(&res.top_digest)];
    if r.digest().is_none() {
        refs.insert(0, r.clone());
    }
    let images = d.images.clone();
    let manifest = (res.manifest.digest.clone(), res.manifest.bytes.clone());
    let config = res.config;
    let (_, up_to_date) =
        tokio::task::spawn_blocking(move || images.register_pulled(config, manifest, refs))
            .await
            .map_err(join_error)??;
    let source = format!("{}/{}", r.domain(), r.path());
    for l in &res.layers {
        let _ = d.images.add_blob_source(&l.digest, &source);
    }
    let _ = d.images.add_blob_source(&config_digest, &source);
    Ok(!up_to_date)
}

/// Downloads, verifies and unpacks one layer, resuming a partial download.
async fn pull_layer(
    images: Arc<ImageStore>,
    c: Arc<RegistryClient>,
    repo: String,
    desc: Descriptor,
    diff_id: String,
    progress: Progress,
) -> Result<(), ApiError> {
    let sid = short(&desc.digest);
    let s = settings();
    let permit = match s.downloads.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            progress.status_id(&sid, "Waiting");
            s.downloads
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
        }
    };
    let lock = s.blob_lock(&desc.digest);
    let _guard = lock.lock().await;
    if images.has_layer_diff(&diff_id) {
        // Another pull stored it meanwhile.
        progress.status_id(&sid, "Pull complete");
        return Ok(());
    }
    let offset = images.partial_len(&desc.digest);
    let blob = c
        .get_blob(&repo, &desc.digest, offset)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if blob.offset > 0 {
        tracing::info!("resuming {} at byte {}", desc.digest, blob.offset);
    }
    let start = blob.offset;
    let reader = blob.into_async_read();
    let (digest, size) = (desc.digest.clone(), desc.size);
    let p = progress.clone();
    let sid2 = sid.clone();
    let res = tokio::task::spawn_blocking(move || {
        let mut sync = tokio_util::io::SyncIoBridge::new(reader);
        let mut throttle = Throttle::new();
        let mut report = |n: u64| {
            if throttle.ready() {
                p.bar(&sid2, "Downloading", n.min(size), size);
            }
        };
        images.pull_layer(&mut sync, start, &digest, size, &diff_id, &mut report)
    })
    .await
    .map_err(join_error)?;
    drop(permit);
    match res {
        Ok(()) => {
            progress.status_id(&sid, "Verifying Checksum");
            progress.status_id(&sid, "Download complete");
            progress.bar(&sid, "Extracting", size, size);
            progress.status_id(&sid, "Pull complete");
            Ok(())
        }
        Err(e) => Err(ApiError::Image(e)),
    }
}
