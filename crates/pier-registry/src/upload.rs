//! Pushing: blob existence checks, uploads (monolithic POST + PUT, or a
//! streamed PATCH then PUT) with
//! cross-repository mounts, and manifests.

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header;
use hyper::{Method, Response, StatusCode};

use crate::client::{encode_pairs, sha256_digest, RegistryClient, ReqBody, UploadOutcome};
use crate::error::RegistryError;
use crate::http::Body;

impl RegistryClient {
    /// HEAD a blob: does the repository have it?
    pub async fn blob_exists(&self, repo: &str, digest: &str) -> Result<bool, RegistryError> {
        let resp = self
            .request(
                Method::HEAD,
                &format!("/v2/{repo}/blobs/{digest}"),
                &[],
                ReqBody::Empty,
            )
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(RegistryError::Api {
                status: s.as_u16(),
                errors: Vec::new(),
            }),
        }
    }

    fn location(resp: &Response<Incoming>) -> Result<String, RegistryError> {
        resp.headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| RegistryError::BadManifest("upload answer without a Location".into()))
    }

    /// POST an upload, as a cross-repository mount when `mount_from` is set.
    pub async fn start_upload(
        &self,
        repo: &str,
        mount: Option<(&str, &str)>,
    ) -> Result<UploadOutcome, RegistryError> {
        let mut path = format!("/v2/{repo}/blobs/uploads/");
        if let Some((digest, from)) = mount {
            let q = encode_pairs(&[("mount", digest), ("from", from)]);
            path = format!("{path}?{q}");
        }
        let resp = self
            .request(Method::POST, &path, &[], ReqBody::Bytes(Bytes::new()))
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(UploadOutcome::Mounted),
            StatusCode::ACCEPTED => Ok(UploadOutcome::Started(Self::location(&resp)?)),
            _ => Err(Self::fail(resp).await),
        }
    }

    /// PUT the whole blob to an upload session (monolithic upload).
    pub async fn finish_upload(
        &self,
        location: &str,
        digest: &str,
        body: Body,
        size: u64,
    ) -> Result<(), RegistryError> {
        let sep = if location.contains('?') { '&' } else { '?' };
        let q = encode_pairs(&[("digest", digest)]);
        let path = format!("{location}{sep}{q}");
        let resp = self
            .request(
                Method::PUT,
                &path,
                &[(header::CONTENT_TYPE, "application/octet-stream".into())],
                ReqBody::Stream(body, size),
            )
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(Self::fail(resp).await)
        }
    }

    /// PATCH a stream of unknown length into an upload session (chunked
    /// transfer encoding, the distribution API's "stream upload"), so a
    /// blob can be sent while it is being produced. Returns the location to
    /// finish the upload at (a PUT with the digest and an empty body).
    pub async fn upload_stream(&self, location: &str, body: Body) -> Result<String, RegistryError> {
        let resp = self
            .request(
                Method::PATCH,
                location,
                &[(header::CONTENT_TYPE, "application/octet-stream".into())],
                ReqBody::Chunked(body),
            )
            .await?;
        if resp.status().is_success() {
            Self::location(&resp)
        } else {
            Err(Self::fail(resp).await)
        }
    }

    /// PUT a manifest under a tag or digest; returns its digest.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String, RegistryError> {
        let digest = sha256_digest(&bytes);
        let resp = self
            .request(
                Method::PUT,
                &format!("/v2/{repo}/manifests/{reference}"),
                &[(header::CONTENT_TYPE, media_type.to_string())],
                ReqBody::Bytes(Bytes::from(bytes)),
            )
            .await?;
        if resp.status().is_success() {
            Ok(digest)
        } else {
            Err(Self::fail(resp).await)
        }
    }
}
