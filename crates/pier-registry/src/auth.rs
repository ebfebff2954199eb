//! Registry authentication: credentials as the Engine API carries them
//! (`X-Registry-Auth`), `WWW-Authenticate` challenges, and the Bearer token
//! flow of the distribution spec (GET realm?service=&scope= with basic auth).

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

/// Docker's `registry.AuthConfig` (field names as on the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// base64("user:password"), as in config.json.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(
        default,
        rename = "serveraddress",
        skip_serializing_if = "String::is_empty"
    )]
    pub server_address: String,
    #[serde(
        default,
        rename = "identitytoken",
        skip_serializing_if = "String::is_empty"
    )]
    pub identity_token: String,
    #[serde(
        default,
        rename = "registrytoken",
        skip_serializing_if = "String::is_empty"
    )]
    pub registry_token: String,
}

impl Credentials {
    pub fn basic(username: &str, password: &str) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
            ..Default::default()
        }
    }

    /// Decodes `X-Registry-Auth` (base64url JSON; Docker also accepts
    /// standard base64). An empty header is anonymous.
    pub fn from_header(value: &str) -> Result<Option<Credentials>, RegistryError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let raw = base64::engine::general_purpose::URL_SAFE
            .decode(value)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value))
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(value))
            .map_err(|e| {
                RegistryError::Credentials(format!("invalid X-Registry-Auth header: {e}"))
            })?;
        let mut c: Credentials = serde_json::from_slice(&raw).map_err(|e| {
            RegistryError::Credentials(format!("invalid X-Registry-Auth header: {e}"))
        })?;
        c.fill_from_auth();
        Ok(if c.is_empty() { None } else { Some(c) })
    }

    /// Decodes `X-Registry-Config` (the docker CLI's classic build sends
    /// every stored credential: base64url JSON `{"<server>": AuthConfig}`)
    /// into (registry host, credentials) pairs; server keys are reduced to
    /// their host as `registry.ConvertToHostname` does (Docker Hub's legacy
    /// key becomes `docker.io`).
    pub fn from_config_header(value: &str) -> Result<Vec<(String, Credentials)>, RegistryError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(Vec::new());
        }
        let bad = |e: &dyn std::fmt::Display| {
            RegistryError::Credentials(format!("invalid X-Registry-Config header: {e}"))
        };
        let raw = base64::engine::general_purpose::URL_SAFE
            .decode(value)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value))
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(value))
            .map_err(|e| bad(&e))?;
        let map: std::collections::BTreeMap<String, Credentials> =
            serde_json::from_slice(&raw).map_err(|e| bad(&e))?;
        Ok(map
            .into_iter()
            .map(|(k, mut c)| {
                c.fill_from_auth();
                let host = k
                    .strip_prefix("https://")
                    .or_else(|| k.strip_prefix("http://"))
                    .unwrap_or(&k);
                let host = host.split('/').next().unwrap_or(host);
                let host = match host {
                    "index.docker.io" | "registry-1.docker.io" => "docker.io",
                    h => h,
                };
                (host.to_string(), c)
            })
            .collect())
    }

    /// `X-Registry-Config` for credentials keyed by server (the inverse of
    /// [`from_config_header`](Self::from_config_header)).
    pub fn to_config_header(all: &std::collections::BTreeMap<String, Credentials>) -> String {
        let json = serde_json::to_vec(all).unwrap_or_else(|_| b"{}".to_vec());
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }

    /// base64url JSON for `X-Registry-Auth`.
    pub fn to_header(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }

    /// Splits `auth` into username and password when those are empty.
    pub fn fill_from_auth(&mut self) {
        if self.username.is_empty() && !self.auth.is_empty() {
            if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(self.auth.trim()) {
                if let Ok(s) = String::from_utf8(raw) {
                    if let Some((u, p)) = s.split_once(':') {
                        self.username = u.to_string();
                        self.password = p.to_string();
                    }
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.identity_token.is_empty()
            && self.registry_token.is_empty()
    }

    pub(crate) fn basic_header(&self) -> Option<String> {
        if self.username.is_empty() && self.password.is_empty() {
            return None;
        }
        let raw = format!("{}:{}", self.username, self.password);
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Bearer realm="...",service="...",scope="..."` or `Basic realm=...`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        });
    }
    None
}

/// `k="v", k2=v2` with quoted strings that may contain commas.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next().is_none() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_string(), val.trim().to_string()));
    }
    out
}

/// The token server's answer.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub access_token: String,
}

impl TokenResponse {
    pub fn into_token(self) -> Option<String> {
        if !self.token.is_empty() {
            Some(self.token)
        } else if !self.access_token.is_empty() {
            Some(self.access_token)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn registry_auth_header_round_trip() {
        let c = Credentials {
            server_address: "127.0.0.1:5000".into(),
            ..Credentials::basic("u", "p w")
        };
        let back = Credentials::from_header(&c.to_header()).unwrap().unwrap();
        assert_eq!(back, c);
        assert_eq!(Credentials::from_header("").unwrap(), None);
        // docker sends "e30=" ({}) for anonymous pulls.
        assert_eq!(Credentials::from_header("e30=").unwrap(), None);
        assert!(Credentials::from_header("!!!").is_err());
        let mut c = Credentials {
            auth: base64::engine::general_purpose::STANDARD.encode("me:secret"),
            ..Default::default()
        };
        c.fill_from_auth();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("me", "secret"));
        assert_eq!(c.basic_header().unwrap(), "Basic bWU6c2VjcmV0");
    }

    #[test]
    fn registry_config_round_trips_with_hosts_as_keys() {
        let mut all = std::collections::BTreeMap::new();
        all.insert(
            "https://index.docker.io/v1/".to_string(),
            Credentials::basic("hub", "pw"),
        );
        all.insert("127.0.0.1:5000".to_string(), Credentials::basic("me", "s3"));
        let back = Credentials::from_config_header(&Credentials::to_config_header(&all)).unwrap();
        let hosts: Vec<(&str, &str)> = back
            .iter()
            .map(|(h, c)| (h.as_str(), c.password.as_str()))
            .collect();
        assert_eq!(hosts, vec![("127.0.0.1:5000", "s3"), ("docker.io", "pw")]);
        let none = Credentials::to_config_header(&Default::default());
        assert!(Credentials::from_config_header(&none).unwrap().is_empty());
    }
}
