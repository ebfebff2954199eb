//! The distribution API calls pierd needs, with authentication handled once
//! per client: a client serves one registry and one set of scopes (a pull of
//! one repository, or a push with its mount sources).

use std::sync::Mutex;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncRead;

use crate::auth::{parse_challenge, Challenge, Credentials, TokenResponse};
use crate::endpoint::{RegistryHost, Scheme};
use crate::error::RegistryError;
use crate::http::{self, Body};
use crate::manifest::{PulledManifest, ACCEPT};

const MANIFEST_LIMIT: usize = 8 * 1024 * 1024;
const MAX_REDIRECTS: usize = 5;

/// A request body that can be sent again after an auth challenge, or a
/// stream that cannot (sent only once auth is settled).
pub enum ReqBody {
    Empty,
    Bytes(Bytes),
    Stream(Body, u64),
    /// A stream of unknown length, sent chunked.
    Chunked(Body),
}

#[derive(Default)]
struct AuthState {
    scheme: Option<usize>,
    challenge: Option<Challenge>,
    token: Option<String>,
}

pub struct RegistryClient {
    host: RegistryHost,
    creds: Option<Credentials>,
    scopes: Vec<String>,
    state: Mutex<AuthState>,
}

/// A blob body being downloaded.
pub struct BlobStream {
    /// Bytes this response carries (after `offset`), when the registry says.
    pub length: Option<u64>,
    /// Where the body starts in the blob: the requested offset if the
    /// registry honoured the range, else 0.
    pub offset: u64,
    body: Incoming,
}

impl BlobStream {
    pub fn into_async_read(self) -> impl AsyncRead + Send + Unpin + 'static {
        let stream = self
            .body
            .into_data_stream()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, e.to_string()));
        tokio_util::io::StreamReader::new(stream)
    }
}

/// What a cross-repository mount request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// 201: the blob is now in the target repository.
    Mounted,
    /// 202: an upload session was started instead (Location).
    Started(String),
}

pub fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

pub fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

fn hdr(v: &str) -> Result<HeaderValue, RegistryError> {
    HeaderValue::from_str(v).map_err(|e| RegistryError::Auth(format!("invalid header value: {e}")))
}

pub(crate) fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.finish()
}

pub(crate) fn sha256_digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

impl RegistryClient {
    pub fn new(host: RegistryHost, creds: Option<Credentials>, scopes: Vec<String>) -> Self {
        Self {
            host,
            creds: creds.filter(|c| !c.is_empty()),
            scopes,
            state: Mutex::new(AuthState::default()),
        }
    }

    pub fn host(&self) -> &RegistryHost {
        &self.host
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn scheme(&self) -> Option<Scheme> {
        let i = self.lock().scheme?;
        self.host.schemes.get(i).cloned()
    }

    /// `scheme://api_host` of the scheme in use.
    pub fn base_url(&self) -> String {
        let s = self
            .scheme()
            .unwrap_or_else(|| self.host.schemes[0].clone());
        format!("{}://{}", s.as_str(), self.host.api_host)
    }

    /// `GET /v2/`: picks the scheme (TLS first, plain HTTP for insecure
    /// registries) and learns the auth challenge.
    pub async fn ping(&self) -> Result<(), RegistryError> {
        if self.lock().scheme.is_some() {
            return Ok(());
        }
        let mut last = None;
        for (i, scheme) in self.host.schemes.iter().enumerate() {
            let url = format!("{}://{}/v2/", scheme.as_str(), self.host.api_host);
            let req = Request::get(&url)
                .body(http::empty())
                .map_err(|e| RegistryError::Auth(e.to_string()))?;
            match http::send(scheme, &self.host.api_host, req).await {
                Ok(resp) => {
                    let challenge = resp
                        .headers()
                        .get_all(header::WWW_AUTHENTICATE)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .find_map(parse_challenge);
                    let status = resp.status();
                    let mut st = self.lock();
                    st.scheme = Some(i);
                    if status == StatusCode::UNAUTHORIZED {
                        st.challenge = challenge;
                    }
                    return Ok(());
                }
                Err(e) => {
                    tracing::debug!("ping {url}: {e}");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::Auth("no endpoint".into())))
    }

    /// Checks the credentials the way `docker login` does: `/v2/` must
    /// answer 200 once authenticated.
    pub async fn login(&self) -> Result<(), RegistryError> {
        self.ping().await?;
        let resp = self
            .request(Method::GET, "/v2/", &[], ReqBody::Empty)
            .await?;
        if resp.status().is_success() {
            return Ok(());
        }
        let status = resp.status();
        Err(RegistryError::Auth(format!(
            "login attempt to {}/v2/ failed with status: {} {}",
            self.base_url(),
            status.as_u16(),
            status.canonical_reason().unwrap_or_default()
        )))
    }

    /// Built outside the async fn: the serializer is not `Send`.
    fn token_query(&self, service: Option<&str>) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(s) = service {
            q.append_pair("service", s);
        }
        for s in &self.scopes {
            q.append_pair("scope", s);
        }
        if let Some(c) = &self.creds {
            if !c.username.is_empty() {
                q.append_pair("account", &c.username);
            }
        }
        q.finish()
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
    ) -> Result<String, RegistryError> {
        if let Some(c) = &self.creds {
            if !c.registry_token.is_empty() {
                return Ok(c.registry_token.clone());
            }
        }
        let query = self.token_query(service);
        let sep = if realm.contains('?') { '&' } else { '?' };
        let url = format!("{realm}{sep}{query}");
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| RegistryError::Auth(format!("invalid token realm {realm:?}: {e}")))?;
        let host = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .ok_or_else(|| RegistryError::Auth(format!("invalid token realm {realm:?}")))?;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            _ => self
                .host
                .schemes
                .iter()
                .find(|s| matches!(s, Scheme::Https(_)))
                .cloned()
                .unwrap_or(Scheme::Http),
        };
        let mut req = Request::get(&url);
        if let Some(b) = self.creds.as_ref().and_then(Credentials::basic_header) {
            req = req.header(header::AUTHORIZATION, hdr(&b)?);
        }
        let req = req
            .body(http::empty())
            .map_err(|e| RegistryError::Auth(e.to_string()))?;
        let resp = http::send(&scheme, &host, req).await?;
        let status = resp.status();
        let body = http::read_body(resp, MANIFEST_LIMIT).await?;
        if !status.is_success() {
            let e = RegistryError::from_body(status.as_u16(), &body);
            return Err(match e {
                RegistryError::Api { ref errors, .. } if errors.is_empty() => {
                    RegistryError::Auth(format!(
                        "Get \"{realm}\": {}",
                        if status == StatusCode::UNAUTHORIZED {
                            "unauthorized: incorrect username or password".to_string()
                        } else {
                            format!("unexpected status {}", status.as_u16())
                        }
                    ))
                }
                other => other,
            });
        }
        serde_json::from_slice::<TokenResponse>(&body)
            .ok()
            .and_then(TokenResponse::into_token)
            .ok_or_else(|| RegistryError::Auth(format!("no token in the answer of {realm}")))
    }

    /// The Authorization header for the current challenge, fetching a token
    /// first if needed.
    async fn authorization(&self, refresh: bool) -> Result<Option<String>, RegistryError> {
        let (challenge, token) = {
            let st = self.lock();
            (st.challenge.clone(), st.token.clone())
        };
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.creds.as_ref().and_then(Credentials::basic_header)),
            Some(Challenge::Bearer { realm, service, .. }) => {
                if let (Some(t), false) = (token, refresh) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let t = self.fetch_token(&realm, service.as_deref()).await?;
                self.lock().token = Some(t.clone());
                Ok(Some(format!("Bearer {t}")))
            }
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base_url())
        }
    }

    /// Sends an authenticated request; answers a 401 once by (re)doing the
    /// challenge when the body can be sent again.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(header::HeaderName, String)],
        body: ReqBody,
    ) -> Result<Response<Incoming>, RegistryError> {
        self.ping().await?;
        let scheme = self.scheme().unwrap_or(Scheme::Http);
        let url = self.url(path);
        let build = |auth: Option<&str>, body: Body, len: Option<u64>| {
            let mut req = Request::builder().method(method.clone()).uri(&url);
            for (k, v) in headers {
                req = req.header(k, hdr(v)?);
            }
            if let Some(a) = auth {
                req = req.header(header::AUTHORIZATION, hdr(a)?);
            }
            if let Some(l) = len {
                req = req.header(header::CONTENT_LENGTH, l);
            }
            req.body(body)
                .map_err(|e| RegistryError::Auth(format!("building request: {e}")))
        };
        let auth = self.authorization(false).await?;
        let (first, again) = match body {
            ReqBody::Empty => (http::empty(), Some(Bytes::new())),
            ReqBody::Bytes(b) => (http::full(b.clone()), Some(b)),
            ReqBody::Stream(s, len) => {
                let req = build(auth.as_deref(), s, Some(len))?;
                return http::send(&scheme, &self.host.api_host, req).await;
            }
            ReqBody::Chunked(s) => {
                let req = build(auth.as_deref(), s, None)?;
                return http::send(&scheme, &self.host.api_host, req).await;
            }
        };
        let len = again
            .as_ref()
            .map(|b| b.len() as u64)
            .filter(|_| method != Method::GET && method != Method::HEAD);
        let resp = http::send(
            &scheme,
            &self.host.api_host,
            build(auth.as_deref(), first, len)?,
        )
        .await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(parse_challenge);
        let Some(challenge) = challenge else {
            return Ok(resp);
        };
        let had_token = auth.is_some();
        let same = self.lock().challenge.as_ref() == Some(&challenge);
        if same && had_token && matches!(challenge, Challenge::Basic) {
            return Ok(resp);
        }
        self.lock().challenge = Some(challenge);
        let auth = self.authorization(true).await?;
        if auth.is_none() {
            return Ok(resp);
        }
        let body = http::full(again.unwrap_or_default());
        http::send(
            &scheme,
            &self.host.api_host,
            build(auth.as_deref(), body, len)?,
        )
        .await
    }

    pub(crate) async fn fail(resp: Response<Incoming>) -> RegistryError {
        let status = resp.status().as_u16();
        let body = http::read_body(resp, 64 * 1024).await.unwrap_or_default();
        RegistryError::from_body(status, &body)
    }

    /// GET a manifest by tag or digest; a digest reference is verified.
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<PulledManifest, RegistryError> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = self
            .request(
                Method::GET,
                &path,
                &[(header::ACCEPT, ACCEPT.to_string())],
                ReqBody::Empty,
            )
            .await?;
        if !resp.status().is_success() {
            return Err(Self::fail(resp).await);
        }
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = http::read_body(resp, MANIFEST_LIMIT).await?.to_vec();
        let digest = sha256_digest(&bytes);
        if reference.starts_with("sha256:") && reference != digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {reference}"),
                expected: reference.to_string(),
                actual: digest,
            });
        }
        PulledManifest::parse(bytes, &ct, digest)
    }

    /// GET a small blob (an image config) and verify it.
    pub async fn get_blob_bytes(&self, repo: &str, digest: &str) -> Result<Vec<u8>, RegistryError> {
        let blob = self.get_blob(repo, digest, 0).await?;
        let resp_body = blob
            .body
            .collect()
            .await
            .map_err(|e| RegistryError::Transport {
                method: "Get".into(),
                url: format!("{}/v2/{repo}/blobs/{digest}", self.base_url()),
                cause: e.to_string(),
            })?;
        let bytes = resp_body.to_bytes().to_vec();
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob {digest}"),
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// GET a blob from `offset` on (a Range request when offset > 0).
    pub async fn get_blob(
        &self,
        repo: &str,
        digest: &str,
        offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        let mut path = format!("/v2/{repo}/blobs/{digest}");
        let mut headers = Vec::new();
        if offset > 0 {
            headers.push((header::RANGE, format!("bytes={offset}-")));
        }
        for _ in 0..MAX_REDIRECTS {
            let resp = if path.starts_with('/') {
                self.request(Method::GET, &path, &headers, ReqBody::Empty)
                    .await?
            } else {
                // Redirects to storage (S3 and friends) carry their own
                // credentials in the URL: no registry auth there.
                let uri: hyper::Uri = path
                    .parse()
                    .map_err(|e| RegistryError::BadManifest(format!("bad redirect {path}: {e}")))?;
                let host = uri.authority().map(|a| a.to_string()).unwrap_or_default();
                let scheme = if uri.scheme_str() == Some("http") {
                    Scheme::Http
                } else {
                    self.host.schemes[0].clone()
                };
                let mut req = Request::get(&path);
                for (k, v) in &headers {
                    req = req.header(k, hdr(v)?);
                }
                let req = req
                    .body(http::empty())
                    .map_err(|e| RegistryError::Auth(e.to_string()))?;
                http::send(&scheme, &host, req).await?
            };
            let status = resp.status();
            if status.is_redirection() {
                let loc = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                path = if loc.starts_with('/') {
                    loc
                } else {
                    loc.to_string()
                };
                continue;
            }
            if !status.is_success() {
                return Err(Self::fail(resp).await);
            }
            let length = resp
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let offset = if status == StatusCode::PARTIAL_CONTENT {
                offset
            } else {
                0
            };
            return Ok(BlobStream {
                length,
                offset,
                body: resp.into_body(),
            });
        }
        Err(RegistryError::BadManifest(format!(
            "too many redirects fetching {digest}"
        )))
    }

    /// All tags of a repository (following `Link` pagination).
    pub async fn list_tags(&self, repo: &str) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut out = Vec::new();
        let mut path = format!("/v2/{repo}/tags/list");
        loop {
            let resp = self
                .request(Method::GET, &path, &[], ReqBody::Empty)
                .await?;
            if !resp.status().is_success() {
                return Err(Self::fail(resp).await);
            }
            let next = resp
                .headers()
                .get(header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.split(';').next())
                .map(|l| {
                    l.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string()
                });
            let body = http::read_body(resp, MANIFEST_LIMIT).await?;
            let tags: Tags = serde_json::from_slice(&body)
                .map_err(|e| RegistryError::BadManifest(format!("invalid tag list: {e}")))?;
            out.extend(tags.tags.unwrap_or_default());
            match next {
                Some(n) if n.starts_with('/') && n != path => path = n,
                _ => break,
            }
        }
        Ok(out)
    }
}
