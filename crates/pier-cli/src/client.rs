//! A small Engine API client over hyper: one connection per request (cheap on
//! a Unix socket, and lets `run` keep attach, wait and start in flight at
//! once), docker's error texts, streamed bodies and hijacked connections.
//!
//! Paths are sent without a `/vX.Y` prefix, which the daemon serves at its
//! own API version; this saves docker's `HEAD /_ping` round trip.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::tls::TlsOptions;

pub const USER_AGENT: &str = concat!("Pier-Client/", env!("CARGO_PKG_VERSION"), " (linux)");
pub const DEFAULT_HOST: &str = "unix:///run/pier.sock";

pub type Body = BoxBody<Bytes, std::io::Error>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// docker's wording, so scripts matching it keep working.
    #[error("Cannot connect to the Docker daemon at {0}. Is the docker daemon running?")]
    Connect(String),
    #[error("Error response from daemon: {message}")]
    Api { status: u16, message: String },
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    Tls(String),
    #[error(
        "Failed to initialize: unable to resolve docker endpoint: invalid bind address format: {0}"
    )]
    BadHost(String),
    #[error("Failed to initialize: unable to resolve docker endpoint: Specify only one -H")]
    TooManyHosts,
}

impl ClientError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[derive(Debug, Clone)]
enum Endpoint {
    Unix(PathBuf),
    Tcp { host: String, port: u16 },
}

#[derive(Clone)]
pub struct Client {
    endpoint: Endpoint,
    /// The address as given, for error messages.
    display: String,
    tls: Option<Arc<tokio_rustls::TlsConnector>>,
}

/// Builds a query string, percent-encoding values.
#[derive(Default)]
pub struct Query(String);

impl Query {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(mut self, key: &str, value: impl AsRef<str>) -> Self {
        self.0.push(if self.0.is_empty() { '?' } else { '&' });
        self.0.push_str(key);
        self.0.push('=');
        self.0.push_str(&encode(value.as_ref()));
        self
    }

    pub fn add_if(self, cond: bool, key: &str, value: impl AsRef<str>) -> Self {
        if cond {
            self.add(key, value)
        } else {
            self
        }
    }

    pub fn path(&self, base: &str) -> String {
        format!("{base}{}", self.0)
    }
}

/// Percent-encodes a query value or path segment.
pub fn encode(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                o.push(b as char)
            }
            _ => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A request body streamed from a blocking reader (a file or stdin) read on
/// its own thread.
pub fn reader_body(mut r: Box<dyn std::io::Read + Send>) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item.map(Frame::data), rx))
    });
    BodyExt::boxed(StreamBody::new(stream))
}

impl Client {
    /// `-H` flag, else `PIER_HOST`, else `DOCKER_HOST`, else the default socket.
    pub fn new(host: Option<&str>, tls: &TlsOptions) -> Result<Self, ClientError> {
        let raw = host
            .map(str::to_string)
            .or_else(|| std::env::var("PIER_HOST").ok().filter(|s| !s.is_empty()))
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        let tls_cfg = tls.connector()?;
        let (endpoint, display) = parse_host(&raw, tls_cfg.is_some())?;
        let tls = match endpoint {
            Endpoint::Tcp { .. } => tls_cfg.map(Arc::new),
            Endpoint::Unix(_) => None,
        };
        Ok(Self {
            endpoint,
            display,
            tls,
        })
    }

    /// The daemon's Unix socket path, when connecting over one.
    pub fn unix_socket(&self) -> Option<&std::path::Path> {
        match &self.endpoint {
            Endpoint::Unix(p) => Some(p),
            Endpoint::Tcp { .. } => None,
        }
    }

    /// The daemon address as given (`unix:///run/pier.sock`).
    pub fn address(&self) -> &str {
        &self.display
    }

    async fn connect(&self) -> Result<Box<dyn Io>, ClientError> {
        let err = |_| ClientError::Connect(self.display.clone());
        match &self.endpoint {
            Endpoint::Unix(p) => Ok(Box::new(
                tokio::net::UnixStream::connect(p).await.map_err(err)?,
            )),
            Endpoint::Tcp { host, port } => {
                let s = tokio::net::TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(err)?;
                let _ = s.set_nodelay(true);
                match &self.tls {
                    None => Ok(Box::new(s)),
                    Some(c) => {
                        let name = rustls_pki_types::ServerName::try_from(host.clone())
                            .map_err(|e| ClientError::Tls(e.to_string()))?;
                        let t = c
                            .connect(name, s)
                            .await
                            .map_err(|e| ClientError::Tls(format!("error during connect: {e}")))?;
                        Ok(Box::new(t))
                    }
                }
            }
        }
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
    ) -> Request<Body> {
        let host = match &self.endpoint {
            Endpoint::Unix(_) => "api.moby.localhost".to_string(),
            Endpoint::Tcp { host, port } => format!("{host}:{port}"),
        };
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("Host", host)
            .header("User-Agent", USER_AGENT);
        if let Some(ct) = content_type {
            b = b.header("Content-Type", ct);
        }
        b.body(body).unwrap_or_else(|_| Request::new(empty()))
    }

    /// Sends a request; non-2xx answers become [`ClientError::Api`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
    ) -> Result<Response<Incoming>, ClientError> {
        self.send_with_headers(method, path, body, content_type, &[])
            .await
    }

    /// [`send`](Self::send) with extra headers (`X-Registry-Auth`).
    pub async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
        headers: &[(&str, String)],
    ) -> Result<Response<Incoming>, ClientError> {
        let io = self.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        let mut req = self.request(method, path, body, content_type);
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                hyper::header::HeaderName::from_bytes(k.as_bytes()),
                hyper::header::HeaderValue::from_str(v),
            ) {
                req.headers_mut().insert(k, v);
            }
        }
        let resp = sender.send_request(req).await.map_err(|e| {
            let mut msg = format!("error during connect: {e}");
            if self.tls.is_none() && matches!(self.endpoint, Endpoint::Tcp { .. }) && e.is_parse() {
                msg.push_str("\n* Are you trying to connect to a TLS-enabled daemon without TLS?");
            }
            ClientError::Protocol(msg)
        })?;
        check(resp).await
    }

    pub async fn get(&self, path: &str) -> Result<Response<Incoming>, ClientError> {
        self.send(Method::GET, path, empty(), None).await
    }

    pub async fn get_bytes(&self, path: &str) -> Result<Bytes, ClientError> {
        read_all(self.get(path).await?).await
    }

    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        let b = self.get_bytes(path).await?;
        parse_json(&b)
    }

    pub async fn post(&self, path: &str) -> Result<Bytes, ClientError> {
        read_all(self.send(Method::POST, path, empty(), None).await?).await
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Bytes, ClientError> {
        let data = serde_json::to_vec(body).map_err(|e| ClientError::Protocol(e.to_string()))?;
        read_all(
            self.send(Method::POST, path, full(data), Some("application/json"))
                .await?,
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Result<Bytes, ClientError> {
        read_all(self.send(Method::DELETE, path, empty(), None).await?).await
    }

    /// A hijacked connection (`Connection: Upgrade`, `Upgrade: tcp`, 101).
    pub async fn hijack(&self, path: &str) -> Result<hyper::upgrade::Upgraded, ClientError> {
        self.hijack_with(path, None).await
    }

    /// A hijacked connection whose request carries a JSON body (exec start).
    pub async fn hijack_with(
        &self,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<hyper::upgrade::Upgraded, ClientError> {
        let io = self.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        let mut req = match body {
            Some(b) => self.request(
                Method::POST,
                path,
                full(serde_json::to_vec(b).unwrap_or_default()),
                Some("application/json"),
            ),
            None => self.request(Method::POST, path, empty(), Some("text/plain")),
        };
        req.headers_mut().insert(
            "Connection",
            hyper::header::HeaderValue::from_static("Upgrade"),
        );
        req.headers_mut()
            .insert("Upgrade", hyper::header::HeaderValue::from_static("tcp"));
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            check(resp).await?;
            return Err(ClientError::Protocol(
                "server did not upgrade the connection".into(),
            ));
        }
        hyper::upgrade::on(resp)
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }
}

/// Turns error statuses into docker's "Error response from daemon" errors.
async fn check(resp: Response<Incoming>) -> Result<Response<Incoming>, ClientError> {
    let status = resp.status();
    if status.is_success() || status.is_informational() || status.is_redirection() {
        return Ok(resp);
    }
    let is_json = resp
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = read_all(resp).await.unwrap_or_default();
    if body.is_empty() {
        return Err(ClientError::Api {
            status: status.as_u16(),
            message: format!(
                "request returned {} for API route and version, check if the server supports the requested API version",
                status
            ),
        });
    }
    let message = if is_json {
        serde_json::from_slice::<pier_api::ErrorBody>(&body)
            .map(|e| e.message.trim().to_string())
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).trim().to_string())
    } else {
        String::from_utf8_lossy(&body).trim().to_string()
    };
    Err(ClientError::Api {
        status: status.as_u16(),
        message,
    })
}

pub async fn read_all(resp: Response<Incoming>) -> Result<Bytes, ClientError> {
    resp.into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ClientError::Protocol(e.to_string()))
}

pub fn parse_json(b: &[u8]) -> Result<serde_json::Value, ClientError> {
    serde_json::from_slice(b).map_err(|e| ClientError::Protocol(format!("Error reading JSON: {e}")))
}

/// Reads the next chunk of a streamed response body.
pub async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>, ClientError> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(ClientError::Protocol(e.to_string())),
            Some(Ok(f)) => {
                if let Ok(d) = f.into_data() {
                    if !d.is_empty() {
                        return Ok(Some(d));
                    }
                }
            }
        }
    }
}

/// Parses docker's host syntax: `unix:///path`, `tcp://host[:port]`,
/// `host:port` (tcp).
fn parse_host(raw: &str, tls: bool) -> Result<(Endpoint, String), ClientError> {
    let bad = || ClientError::BadHost(raw.to_string());
    if let Some(p) = raw.strip_prefix("unix://") {
        if p.is_empty() {
            return Err(bad());
        }
        return Ok((Endpoint::Unix(PathBuf::from(p)), raw.to_string()));
    }
    let rest = if let Some(r) = raw.strip_prefix("tcp://") {
        r
    } else if let Some(r) = raw.strip_prefix("http://") {
        r
    } else if raw.contains("://") {
        return Err(bad());
    } else {
        raw
    };
    let rest = rest.trim_end_matches('/');
    let default_port = if tls { 2376 } else { 2375 };
    let (host, port) = if let Some(h) = rest.strip_prefix('[') {
        let (h, after) = h.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None => default_port,
        };
        (h.to_string(), port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad())?),
            None => (rest.to_string(), default_port),
        }
    };
    let host = if host.is_empty() {
        "localhost".to_string()
    } else {
        host
    };
    let display = format!(
        "tcp://{}:{port}",
        if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        }
    );
    Ok((Endpoint::Tcp { host, port }, display))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_like_docker() {
        let (e, d) = parse_host("unix:///tmp/x.sock", false).unwrap();
        assert!(matches!(e, Endpoint::Unix(p) if p == std::path::Path::new("/tmp/x.sock")));
        assert_eq!(d, "unix:///tmp/x.sock");
        let (e, d) = parse_host("tcp://127.0.0.1:2376", true).unwrap();
        assert!(matches!(e, Endpoint::Tcp { ref host, port: 2376 } if host == "127.0.0.1"));
        assert_eq!(d, "tcp://127.0.0.1:2376");
        let (_, d) = parse_host("tcp://example.com", false).unwrap();
        assert_eq!(d, "tcp://example.com:2375");
        assert!(parse_host("ssh://x", false).is_err());
        assert!(parse_host("unix://", false).is_err());
    }

    #[test]
    fn query_encoding() {
        let q = Query::new()
            .add("filters", r#"{"a":["b c"]}"#)
            .add("all", "1");
        assert_eq!(
            q.path("/containers/json"),
            "/containers/json?filters=%7B%22a%22%3A%5B%22b%20c%22%5D%7D&all=1"
        );
    }
}
