//! API version range served and how `/v1.NN/...` prefixes are checked.

/// The newest API version pierd speaks (Docker 28.x).
pub const API_VERSION: &str = "1.51";
/// The oldest API version pierd accepts.
pub const MIN_API_VERSION: &str = "1.24";
/// What `Server:` says and `/version` reports as the engine version.
pub const ENGINE_VERSION: &str = "28.5.0";
pub const SERVER_HEADER: &str = concat!("Pier/", env!("CARGO_PKG_VERSION"), " (linux)");

/// A parsed `major.minor` API version, ordered numerically (1.9 < 1.24).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    pub fn parse(s: &str) -> Option<Self> {
        let (maj, min) = s.split_once('.')?;
        Some(Self {
            major: maj.parse().ok()?,
            minor: min.parse().ok()?,
        })
    }
    pub fn max() -> Self {
        Self::parse(API_VERSION).expect("constant is valid")
    }
    pub fn min() -> Self {
        Self::parse(MIN_API_VERSION).expect("constant is valid")
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Splits a request path into the requested version (if prefixed with
/// `/vX.Y`) and the rest of the path.
pub fn split_version_prefix(path: &str) -> (Option<&str>, &str) {
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        let candidate = &rest[..end];
        if !candidate.is_empty()
            && candidate.contains('.')
            && candidate.chars().all(|c| c.is_ascii_digit() || c == '.')
        {
            let remainder = &rest[end..];
            return (
                Some(candidate),
                if remainder.is_empty() { "/" } else { remainder },
            );
        }
    }
    (None, path)
}

/// Checks a requested version against the served range; the error text is
/// Docker's own so clients print the familiar message.
pub fn check_version(requested: &str) -> Result<ApiVersion, String> {
    let v =
        ApiVersion::parse(requested).ok_or_else(|| format!("invalid API version: {requested}"))?;
    if v < ApiVersion::min() {
        return Err(format!(
            "client version {requested} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        ));
    }
    if v > ApiVersion::max() {
        return Err(format!(
            "client version {requested} is too new. Maximum supported API version is {API_VERSION}"
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_split() {
        assert_eq!(
            split_version_prefix("/v1.51/containers/json"),
            (Some("1.51"), "/containers/json")
        );
        assert_eq!(
            split_version_prefix("/containers/json"),
            (None, "/containers/json")
        );
        assert_eq!(split_version_prefix("/v1.24"), (Some("1.24"), "/"));
        assert_eq!(split_version_prefix("/volumes/x"), (None, "/volumes/x"));
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(check_version("1.9").is_err());
        assert!(check_version("1.24").is_ok());
        assert!(check_version("1.51").is_ok());
        let err = check_version("1.52").unwrap_err();
        assert!(err.contains("too new"), "{err}");
        let err = check_version("1.12").unwrap_err();
        assert!(
            err.contains("Minimum supported API version is 1.24"),
            "{err}"
        );
    }
}
