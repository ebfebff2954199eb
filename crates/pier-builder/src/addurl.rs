//! `ADD <url>`: each URL downloaded into a scratch directory that then
//! serves as the step's source root. As Docker: the file is named after
//! the URL's last path segment, gets mode 0600 (unless `--chmod`) and the
//! server's `Last-Modified` as mtime, is never extracted, and
//! `--checksum=sha256:...` must match its content.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{BuildError, IoContext, Result};

/// Largest download accepted (the step's plan holds it in memory).
const MAX_DOWNLOAD: usize = 1 << 30;

pub(crate) fn is_url(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

/// The downloads of one ADD step; the directory goes away on drop.
pub(crate) struct Downloads {
    pub dir: PathBuf,
    /// The file names in `dir`, in source order.
    pub names: Vec<String>,
}

impl Drop for Downloads {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The file name Docker gives a URL's download.
fn file_name(url: &str) -> Result<String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = rest
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .split_once('/')
        .map(|(_, p)| p)
        .unwrap_or("");
    let name = path.rsplit('/').next().unwrap_or("");
    if name.is_empty() || name == "." || name == ".." {
        return Err(BuildError::Invalid(format!(
            "cannot determine filename from url: {url}"
        )));
    }
    Ok(name.to_string())
}

/// Parses `--checksum` (only sha256 is accepted, as BuildKit's).
fn expected_digest(checksum: &str) -> Result<String> {
    let hex = checksum.strip_prefix("sha256:").unwrap_or("");
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(BuildError::Invalid(format!(
            "invalid checksum digest format {checksum:?} (want sha256:<64 hex digits>)"
        )));
    }
    Ok(hex.to_ascii_lowercase())
}

pub(crate) fn download(urls: &[String], checksum: Option<&str>, tmp: &Path) -> Result<Downloads> {
    let expected = checksum.map(expected_digest).transpose()?;
    if expected.is_some() && urls.len() != 1 {
        return Err(BuildError::Invalid(
            "checksum can't be specified for multiple sources".into(),
        ));
    }
    let dir = tmp.join(format!("add-url-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
    let mut out = Downloads {
        dir,
        names: Vec::new(),
    };
    for url in urls {
        let name = file_name(url)?;
        let fetched = crate::run::block_on(pier_registry::fetch::get(url, MAX_DOWNLOAD))?
            .map_err(|e| BuildError::Invalid(format!("ADD {url}: {e}")))?;
        if let Some(want) = &expected {
            let got = hex::encode(Sha256::digest(&fetched.body));
            if &got != want {
                return Err(BuildError::Invalid(format!(
                    "ADD {url}: digest mismatch: expected sha256:{want}, got sha256:{got}"
                )));
            }
        }
        let path = out.dir.join(&name);
        std::fs::write(&path, &fetched.body).ctx(|| format!("writing {}", path.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .ctx(|| format!("chmod {}", path.display()))?;
        let mtime = fetched
            .last_modified
            .as_deref()
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
            .map(|t| t.timestamp())
            .unwrap_or(0);
        let ts = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: mtime,
                tv_nsec: 0,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: mtime,
                tv_nsec: 0,
            },
        };
        rustix::fs::utimensat(rustix::fs::CWD, &path, &ts, rustix::fs::AtFlags::empty())
            .map_err(|e| BuildError::Runtime(format!("setting mtime of {name}: {e}")))?;
        if !out.names.contains(&name) {
            out.names.push(name);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_urls() {
        assert_eq!(
            file_name("http://h:1/a/b/file.txt?x=1").unwrap(),
            "file.txt"
        );
        assert!(file_name("http://h/").is_err());
        assert!(file_name("http://h").is_err());
        assert!(expected_digest("sha256:abc").is_err());
        assert!(expected_digest("md5:00").is_err());
    }
}
