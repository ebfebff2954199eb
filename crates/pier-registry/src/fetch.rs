//! Plain URL downloads (the builder's `ADD <url>`) over the same HTTP
//! stack as registry requests: HTTP or HTTPS with the system's roots,
//! redirects followed, the body read up to a limit.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Request;

use crate::endpoint::{verified_config, Scheme};
use crate::error::RegistryError;
use crate::http::{empty, send};

/// A downloaded URL.
pub struct Fetched {
    /// The final URL (after redirects).
    pub url: String,
    /// `Last-Modified`, as sent.
    pub last_modified: Option<String>,
    pub body: Bytes,
}

const MAX_REDIRECTS: usize = 10;

fn bad(url: &str, cause: impl std::fmt::Display) -> RegistryError {
    RegistryError::Transport {
        method: "Get".into(),
        url: url.to_string(),
        cause: cause.to_string(),
    }
}

/// GETs `url`; a status other than 2xx is an error naming it, as Docker's
/// `ADD` reports `invalid response status 404`.
pub async fn get(url: &str, limit: usize) -> Result<Fetched, RegistryError> {
    let mut current = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let uri: hyper::Uri = current.parse().map_err(|e| bad(&current, e))?;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https(Arc::new(verified_config(None)?)),
            _ => return Err(bad(&current, "unsupported protocol scheme")),
        };
        let host = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .ok_or_else(|| bad(&current, "no host in URL"))?;
        let req = Request::get(uri.clone())
            .body(empty())
            .map_err(|e| bad(&current, e))?;
        let resp = send(&scheme, &host, req).await?;
        let status = resp.status();
        if status.is_redirection() {
            let loc = resp
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| bad(&current, "redirect without a Location"))?;
            current = if loc.starts_with("http://") || loc.starts_with("https://") {
                loc.to_string()
            } else {
                let base = format!("{}://{host}", uri.scheme_str().unwrap_or("http"));
                format!("{base}/{}", loc.trim_start_matches('/'))
            };
            continue;
        }
        if !status.is_success() {
            return Err(bad(
                &current,
                format!("invalid response status {}", status.as_u16()),
            ));
        }
        let last_modified = resp
            .headers()
            .get(hyper::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = resp.into_body();
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| bad(&current, format!("reading response: {e}")))?;
            if let Ok(data) = frame.into_data() {
                out.extend_from_slice(&data);
                if out.len() > limit {
                    return Err(bad(&current, format!("larger than {limit} bytes")));
                }
            }
        }
        return Ok(Fetched {
            url: current,
            last_modified,
            body: Bytes::from(out),
        });
    }
    Err(bad(url, "stopped after 10 redirects"))
}
