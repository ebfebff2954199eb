//! One HTTP/1.1 request per connection over plain TCP or rustls. Registries
//! here are mostly local and layers are fetched in parallel, so a fresh
//! connection per request costs little and never serialises two downloads
//! behind one another on a shared connection.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::endpoint::Scheme;
use crate::error::RegistryError;

pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

fn transport(method: &str, url: &str, cause: impl std::fmt::Display) -> RegistryError {
    RegistryError::Transport {
        method: method_name(method),
        url: url.to_string(),
        cause: cause.to_string(),
    }
}

/// Go's `http.Client` prefixes errors with the method in title case.
fn method_name(m: &str) -> String {
    let mut c = m.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// `host[:port]` → (host for SNI, "host:port" to dial).
fn dial_target(host: &str, scheme: &Scheme) -> (String, String) {
    let default_port = match scheme {
        Scheme::Https(_) => 443,
        Scheme::Http => 80,
    };
    if let Some(rest) = host.strip_prefix('[') {
        let (h, tail) = rest.split_once(']').unwrap_or((rest, ""));
        let addr = match tail.strip_prefix(':') {
            Some(p) => format!("[{h}]:{p}"),
            None => format!("[{h}]:{default_port}"),
        };
        return (h.to_string(), addr);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => (h.to_string(), host.to_string()),
        _ => (host.to_string(), format!("{host}:{default_port}")),
    }
}

/// Sends `req` (whose URI is the full URL) to `host` with `scheme`.
pub(crate) async fn send(
    scheme: &Scheme,
    host: &str,
    req: Request<Body>,
) -> Result<Response<Incoming>, RegistryError> {
    let method = req.method().to_string();
    let url = req.uri().to_string();
    let (sni, addr) = dial_target(host, scheme);
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
        .await
        .map_err(|_| transport(&method, &url, format!("dial tcp {addr}: i/o timeout")))?
        .map_err(|e| {
            transport(
                &method,
                &url,
                format!("dial tcp {addr}: connect: {}", go_errno(&e)),
            )
        })?;
    let _ = tcp.set_nodelay(true);
    match scheme {
        Scheme::Http => exchange(tcp, req, &method, &url).await,
        Scheme::Https(cfg) => {
            let name = ServerName::try_from(sni.clone())
                .map_err(|e| transport(&method, &url, format!("invalid server name {sni}: {e}")))?;
            let tls = tokio_rustls::TlsConnector::from(cfg.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| transport(&method, &url, format!("tls: {e}")))?;
            exchange(tls, req, &method, &url).await
        }
    }
}

/// Go prints `connection refused`, not Rust's "Connection refused (os error 111)".
fn go_errno(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => e.to_string(),
    }
}

async fn exchange<S>(
    stream: S,
    mut req: Request<Body>,
    method: &str,
    url: &str,
) -> Result<Response<Incoming>, RegistryError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| transport(method, url, e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("registry connection ended: {e}");
        }
    });
    // The full URL served to build the error texts; on the wire the request
    // line carries only the path and the Host header names the registry.
    let uri = req.uri().clone();
    if let Some(auth) = uri.authority() {
        let host = hyper::header::HeaderValue::from_str(auth.as_str())
            .map_err(|e| transport(method, url, e))?;
        req.headers_mut().insert(hyper::header::HOST, host);
    }
    let pq = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    *req.uri_mut() = pq.parse().map_err(|e| transport(method, url, e))?;
    if !req.headers().contains_key(hyper::header::USER_AGENT) {
        req.headers_mut().insert(
            hyper::header::USER_AGENT,
            hyper::header::HeaderValue::from_static(concat!("pier/", env!("CARGO_PKG_VERSION"))),
        );
    }
    sender
        .send_request(req)
        .await
        .map_err(|e| transport(method, url, e))
}

/// Reads a whole (small) response body.
pub(crate) async fn read_body(
    resp: Response<Incoming>,
    limit: usize,
) -> Result<Bytes, RegistryError> {
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| RegistryError::Transport {
            method: "Get".into(),
            url: String::new(),
            cause: format!("reading response: {e}"),
        })?;
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
            if out.len() > limit {
                return Err(RegistryError::BadManifest(format!(
                    "response larger than {limit} bytes"
                )));
            }
        }
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_targets() {
        assert_eq!(
            dial_target("127.0.0.1:5000", &Scheme::Http),
            ("127.0.0.1".into(), "127.0.0.1:5000".into())
        );
        assert_eq!(
            dial_target("registry-1.docker.io", &Scheme::Http),
            (
                "registry-1.docker.io".into(),
                "registry-1.docker.io:80".into()
            )
        );
        assert_eq!(
            dial_target("[::1]:5000", &Scheme::Http),
            ("::1".into(), "[::1]:5000".into())
        );
        assert_eq!(method_name("GET"), "Get");
    }
}
