//! Image references the way docker's CLI normalizes and prints them
//! (`distribution/reference`: `ParseNormalizedNamed`, `FamiliarName`,
//! `FamiliarString`, `TagNameOnly`).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

const DEFAULT_DOMAIN: &str = "docker.io";

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*
    if c.is_empty() {
        return false;
    }
    let b = c.as_bytes();
    if !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit() {
        return false;
    }
    if !b[b.len() - 1].is_ascii_lowercase() && !b[b.len() - 1].is_ascii_digit() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let ch = b[i];
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            i += 1;
            continue;
        }
        // Separator run.
        let start = i;
        while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "."
            || sep == "_"
            || sep == "__"
            || (!sep.is_empty() && sep.bytes().all(|x| x == b'-'));
        if !ok {
            return false;
        }
    }
    true
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    if host.starts_with('[') {
        return host.ends_with(']');
    }
    !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
}

impl Reference {
    /// `reference.ParseNormalizedNamed`; `None` for anything docker rejects
    /// (uppercase names, 64-hex IDs, bad tags).
    pub fn parse(s: &str) -> Option<Reference> {
        if s.is_empty() || s.len() > 255 + 140 {
            return None;
        }
        if s.len() == 64
            && s.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        {
            return None;
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let (alg, hex) = d.split_once(':')?;
                if alg.is_empty() || hex.is_empty() || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return None;
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map(|p| p + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(p) => {
                let p = last_slash + p;
                (&rest[..p], Some(rest[p + 1..].to_string()))
            }
            None => (rest, None),
        };
        if let Some(t) = &tag {
            if !valid_tag(t) {
                return None;
            }
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.bytes().any(|c| c.is_ascii_uppercase()) =>
            {
                if !valid_domain(first) {
                    return None;
                }
                (first.to_string(), remainder.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if !path.split('/').all(valid_component) {
            return None;
        }
        Some(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// docker's error text for a reference [`Reference::parse`] rejects.
    pub fn parse_error(s: &str) -> String {
        if s.len() == 64
            && s.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        {
            return format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            );
        }
        let lower = s.to_ascii_lowercase();
        if lower != s && Reference::parse(&lower).is_some() {
            let name = s.split(['@']).next().unwrap_or(s);
            let last_slash = name.rfind('/').map(|p| p + 1).unwrap_or(0);
            let name = match name[last_slash..].rfind(':') {
                Some(p) => &name[..last_slash + p],
                None => name,
            };
            let full = match name.split_once('/') {
                Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => {
                    name.to_string()
                }
                Some(_) => name.to_string(),
                None => format!("library/{name}"),
            };
            return format!("invalid reference format: repository name ({full}) must be lowercase");
        }
        "invalid reference format".to_string()
    }

    /// Fully qualified name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `reference.FamiliarName`: `busybox`, `user/app`, `quay.io/x/y`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix("library/") {
                Some(short) if !short.contains('/') => short.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// `reference.FamiliarString`: familiar name plus `:tag` and `@digest`.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// What `docker ps` shows for a truncated image column: name and tag
    /// without the digest.
    pub fn familiar_without_digest(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        s
    }

    /// `reference.TagNameOnly`: adds `:latest` when there is neither tag nor digest.
    pub fn with_default_tag(mut self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some("latest".into());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(
            r.clone().with_default_tag().familiar_string(),
            "busybox:latest"
        );
        let r = Reference::parse("docker.io/library/busybox:1.36").unwrap();
        assert_eq!(r.familiar_string(), "busybox:1.36");
        let r = Reference::parse("localhost:5000/app:v1").unwrap();
        assert_eq!(r.familiar_name(), "localhost:5000/app");
        let r = Reference::parse("user/app").unwrap();
        assert_eq!(r.familiar_name(), "user/app");
        assert_eq!(
            Reference::parse(
                "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            )
            .unwrap()
            .familiar_without_digest(),
            "busybox"
        );
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            Reference::parse_error("UPPER"),
            "invalid reference format: repository name (library/UPPER) must be lowercase"
        );
        assert_eq!(Reference::parse_error("a:b:c"), "invalid reference format");
    }

    #[test]
    fn rejects_what_docker_rejects() {
        assert!(Reference::parse("BusyBox").is_none());
        assert!(Reference::parse("a:b:c").is_none());
        assert!(Reference::parse(&"a".repeat(64)).is_none());
        assert!(Reference::parse("").is_none());
        assert!(Reference::parse("foo:").is_none());
    }
}
