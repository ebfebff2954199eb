//! Errors of the registry client. Texts follow what dockerd prints, since
//! pierd hands them to the CLI unchanged.

use std::fmt;

use serde::Deserialize;

/// One item of the registry's `{"errors":[...]}` body.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ApiErrorItem {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl fmt::Display for ApiErrorItem {
    /// distribution's `errcode.Error`: "manifest unknown: manifest unknown".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code.replace('_', " ").to_lowercase();
        if self.message.is_empty() {
            write!(f, "{code}")
        } else {
            write!(f, "{code}: {}", self.message)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    InvalidReference(String),
    /// Connection refused, DNS, TLS handshake: `Get "url": <cause>`.
    #[error("{method} \"{url}\": {cause}")]
    Transport {
        method: String,
        url: String,
        cause: String,
    },
    /// A registry answer with an `errors` body (or a bare status).
    #[error("{}", api_text(*status, errors))]
    Api {
        status: u16,
        errors: Vec<ApiErrorItem>,
    },
    /// The token server refused or answered nonsense.
    #[error("{0}")]
    Auth(String),
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("no matching manifest for {0} in the manifest list entries")]
    NoMatchingPlatform(String),
    #[error("{0}")]
    BadManifest(String),
    /// ~/.docker/config.json or a credential helper.
    #[error("{0}")]
    Credentials(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn api_text(status: u16, errors: &[ApiErrorItem]) -> String {
    if errors.is_empty() {
        return format!("unexpected status code {status}");
    }
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl RegistryError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RegistryError::Io {
            context: context.into(),
            source,
        }
    }

    /// HTTP status of a registry answer, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The first registry error code (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            RegistryError::Api { errors, .. } => errors.first().map(|e| e.code.as_str()),
            _ => None,
        }
    }

    /// 401/403 or the registry's UNAUTHORIZED/DENIED codes.
    pub fn is_auth(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
            || matches!(self.code(), Some("UNAUTHORIZED" | "DENIED"))
            || matches!(self, RegistryError::Auth(_))
    }

    /// The repository or manifest does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
            || matches!(
                self.code(),
                Some("MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "BLOB_UNKNOWN")
            )
    }

    pub(crate) fn from_body(status: u16, body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            errors: Vec<ApiErrorItem>,
        }
        let errors = serde_json::from_slice::<Body>(body)
            .map(|b| b.errors)
            .unwrap_or_default();
        RegistryError::Api { status, errors }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_read_like_distribution() {
        let e = RegistryError::from_body(
            404,
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#,
        );
        assert_eq!(e.to_string(), "manifest unknown: manifest unknown");
        assert!(e.is_not_found());
        assert!(!e.is_auth());
        let e = RegistryError::from_body(401, b"not json");
        assert_eq!(e.to_string(), "unexpected status code 401");
        assert!(e.is_auth());
    }
}
