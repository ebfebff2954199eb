//! Request extractors whose failures are Docker-style JSON errors (never
//! axum's plain-text rejections): query parameters with Docker's boolean
//! rules, and JSON bodies.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use pier_api::filters::Filters;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest JSON request body accepted (create bodies are a few KiB).
const MAX_JSON_BODY: usize = 16 * 1024 * 1024;

/// The decoded query string, keeping repeated keys (`names=a&names=b`).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Self { pairs }
    }

    /// The first value of `key`, like Go's `FormValue`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A non-empty first value.
    pub fn get_nonempty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Docker's `BoolValue`: absent, "", "0", "no", "false", "none" are
    /// false; anything else is true.
    pub fn bool(&self, key: &str) -> bool {
        self.get(key).is_some_and(docker_bool)
    }

    /// An integer parameter; empty counts as absent.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get_nonempty(key) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                ApiError::BadRequest(format!("invalid value for {key}: {v:?} is not an integer"))
            }),
        }
    }

    /// The `filters` parameter.
    pub fn filters(&self) -> Result<Filters, ApiError> {
        Ok(Filters::parse(self.get("filters").unwrap_or(""))?)
    }
}

pub fn docker_bool(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    !(v.is_empty() || v == "0" || v == "no" || v == "false" || v == "none")
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Query::parse(parts.uri.query()))
    }
}

/// A JSON body; malformed input is a 400 with the parser's message.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, MAX_JSON_BODY).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

async fn read_body(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let body = http_body_util::Limited::new(req.into_body(), limit);
    http_body_util::BodyExt::collect(body)
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::BadRequest(format!("error reading request body: {e}")))
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "invalid JSON: request body is empty".into(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("invalid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_booleans() {
        let q = Query::parse(Some("a=1&b=true&c=True&d=0&e=false&f=&g=no&h=yes"));
        assert!(q.bool("a") && q.bool("b") && q.bool("c") && q.bool("h"));
        assert!(!q.bool("d") && !q.bool("e") && !q.bool("f") && !q.bool("g"));
        assert!(!q.bool("absent"));
    }

    #[test]
    fn repeated_keys_and_decoding() {
        let q = Query::parse(Some("names=a&names=b%2Fc&x=1+2"));
        assert_eq!(q.all("names"), ["a", "b/c"]);
        assert_eq!(q.get("x"), Some("1 2"));
    }

    #[test]
    fn ints() {
        let q = Query::parse(Some("t=5&bad=zz&empty="));
        assert_eq!(q.int("t").unwrap(), Some(5));
        assert!(q.int("bad").is_err());
        assert_eq!(q.int("empty").unwrap(), None);
        assert_eq!(q.int("none").unwrap(), None);
    }

    #[test]
    fn json_errors_are_bad_requests() {
        let e = parse_json::<serde_json::Value>(b"{not json").unwrap_err();
        assert!(matches!(e, ApiError::BadRequest(_)));
        let e = parse_json::<serde_json::Value>(b"").unwrap_err();
        assert!(matches!(e, ApiError::BadRequest(_)));
    }
}
