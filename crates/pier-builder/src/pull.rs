//! Base images from a registry: `FROM` (and `COPY --from=<image>`) images
//! that are not in the store are pulled, and with `--pull` they are always
//! pulled first, as Docker's classic builder does. The builder does not
//! know pierd's registry client; pierd installs an [`ImagePuller`].

use crate::error::{BuildError, Result};
use crate::executor::Builder;
use crate::runnet::BoxFuture;

pub trait ImagePuller: Send + Sync {
    /// Pulls `reference` for `platform` (None: the host's). Returns the
    /// status lines to show (`latest: Pulling from ...`, `Digest: ...`,
    /// `Status: ...`), or the registry's error text.
    /// `auth`: registry host → `X-Registry-Auth` value, from the build
    /// request's `X-Registry-Config`.
    fn pull<'a>(
        &'a self,
        reference: &'a str,
        platform: Option<&'a str>,
        auth: &'a std::collections::BTreeMap<String, String>,
    ) -> BoxFuture<'a, std::result::Result<Vec<String>, String>>;
}

impl Builder {
    /// Installs pierd's puller (first call wins).
    pub fn set_image_puller(&self, puller: std::sync::Arc<dyn ImagePuller>) {
        let _ = self.puller.set(puller);
    }

    pub fn has_image_puller(&self) -> bool {
        self.puller.get().is_some()
    }

    /// Makes sure `reference` is in the store: pulled when missing, or
    /// always when `always` (`--pull`). `out` gets the pull's status text.
    pub(crate) fn ensure_image(
        &self,
        reference: &str,
        always: bool,
        platform: Option<&str>,
        auth: &std::collections::BTreeMap<String, String>,
        out: &mut dyn FnMut(Vec<u8>),
    ) -> Result<pier_image::ImageRecord> {
        let local = self.store.get(reference);
        let missing = matches!(local, Err(pier_image::ImageError::NotFound(_)));
        let Some(puller) = self.puller.get() else {
            return local.map_err(|e| not_found(reference, e));
        };
        // An image ID or digest-less local-only name cannot be pulled
        // better than what is here.
        if !(missing || always) || looks_like_id(reference) {
            return local.map_err(|e| not_found(reference, e));
        }
        let lines = match crate::run::block_on(puller.pull(reference, platform, auth))? {
            Ok(lines) => lines,
            // A missing image that cannot be pulled keeps Docker's
            // wording; the registry's answer is shown above it.
            Err(e) if missing && !always => {
                out(format!("pulling {reference}: {e}\n").into_bytes());
                return Err(not_found(reference, pier_image::ImageError::NotFound(e)));
            }
            Err(e) => return Err(BuildError::Invalid(e)),
        };
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
            out(text.into_bytes());
        }
        Ok(self.store.get(reference)?)
    }
}

fn looks_like_id(r: &str) -> bool {
    let hex = r.strip_prefix("sha256:").unwrap_or(r);
    (r.starts_with("sha256:") || hex.len() == 64) && hex.chars().all(|c| c.is_ascii_hexdigit())
}

fn not_found(reference: &str, e: pier_image::ImageError) -> BuildError {
    match e {
        pier_image::ImageError::NotFound(_) => BuildError::Invalid(format!(
            "pull access denied for {reference}, repository does not exist or may require 'docker login'"
        )),
        other => other.into(),
    }
}
