//! Build secrets for `RUN --mount=type=secret`. The classic build API has
//! no way to carry them; `pier build --secret` sends them in Pier's
//! `X-Pier-Build-Secrets` header (see ARCHITECTURE.md). A secret is only
//! visible while the RUN that mounts it runs: as a read-only bind of a
//! file made in the build's scratch space (removed after the step) or as
//! an environment variable of that one process. Its value is in no layer,
//! no image config, no history entry and no cache key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pier_runtime::MountSpec;

use crate::error::{BuildError, IoContext, Result};

/// The header `pier build` sends secrets in: the hex of a JSON object
/// `{ "id": "<hex of the value>" }` (hex keeps any id and value a valid
/// header value without another dependency).
pub const SECRETS_HEADER: &str = "x-pier-build-secrets";

/// Secret values by id. Debug never prints a value.
#[derive(Clone, Default)]
pub struct Secrets(BTreeMap<String, Vec<u8>>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Secrets {
    pub fn insert(&mut self, id: impl Into<String>, value: Vec<u8>) {
        self.0.insert(id.into(), value);
    }

    pub fn get(&self, id: &str) -> Option<&[u8]> {
        self.0.get(id).map(Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The [`SECRETS_HEADER`] value.
    pub fn to_header(&self) -> String {
        let map: BTreeMap<&str, String> = self
            .0
            .iter()
            .map(|(k, v)| (k.as_str(), hex::encode(v)))
            .collect();
        hex::encode(serde_json::to_vec(&map).unwrap_or_default())
    }

    pub fn from_header(value: &str) -> Result<Secrets> {
        let bad = || BuildError::Invalid(format!("invalid {SECRETS_HEADER} header"));
        let json = hex::decode(value.trim()).map_err(|_| bad())?;
        let map: BTreeMap<String, String> = serde_json::from_slice(&json).map_err(|_| bad())?;
        let mut out = Secrets::default();
        for (k, v) in map {
            out.insert(k, hex::decode(v).map_err(|_| bad())?);
        }
        Ok(out)
    }
}

/// Files that must not outlive the RUN step (secret copies).
#[derive(Default)]
pub(crate) struct TempFiles(pub Vec<PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// One `type=secret` mount as written.
pub(crate) struct SecretMount {
    pub id: Option<String>,
    pub target: Option<String>,
    pub env: Option<String>,
    pub required: bool,
    pub mode: Option<u32>,
    pub uid: u32,
    pub gid: u32,
}

/// What a secret mount adds to the RUN: a bind mount (and its mount
/// point), an environment entry, and the key part (id, target, env only).
pub(crate) struct SecretUse {
    pub mount: Option<(MountSpec, String)>,
    pub env: Option<String>,
    pub key: String,
}

impl SecretMount {
    pub fn resolve(
        &self,
        secrets: &Secrets,
        tmp: &Path,
        files: &mut TempFiles,
    ) -> Result<SecretUse> {
        // BuildKit: the id defaults to the target's base name, the target
        // to /run/secrets/<id> (unless only env= is asked for).
        let id = match (&self.id, &self.target) {
            (Some(id), _) => id.clone(),
            (None, Some(t)) => t.rsplit('/').next().unwrap_or_default().to_string(),
            (None, None) => {
                return Err(BuildError::Invalid(
                    "RUN --mount=type=secret needs an id or a target".into(),
                ))
            }
        };
        let key = format!(
            "secret:{id}:{}:{};",
            self.target.as_deref().unwrap_or(""),
            self.env.as_deref().unwrap_or("")
        );
        let Some(value) = secrets.get(&id) else {
            if self.required {
                return Err(BuildError::Invalid(format!("secret {id}: not found")));
            }
            return Ok(SecretUse {
                mount: None,
                env: None,
                key,
            });
        };
        let env = self
            .env
            .as_ref()
            .map(|name| format!("{name}={}", String::from_utf8_lossy(value)));
        let target = match (&self.target, &self.env) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(_)) => None,
            (None, None) => Some(format!("/run/secrets/{id}")),
        };
        let mount = match target {
            None => None,
            Some(target) => {
                let dir = tmp.join(format!("secret-{:016x}", rand::random::<u64>()));
                std::fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
                files.0.push(dir.clone());
                let file = dir.join("value");
                write_private(&file, value, self.mode.unwrap_or(0o400), self.uid, self.gid)?;
                Some((MountSpec::bind(file, &target, true), target))
            }
        };
        Ok(SecretUse { mount, env, key })
    }
}

fn write_private(path: &Path, value: &[u8], mode: u32, uid: u32, gid: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .ctx(|| format!("creating {}", path.display()))?;
    f.write_all(value)
        .ctx(|| format!("writing {}", path.display()))?;
    nix::unistd::chown(path, Some(uid.into()), Some(gid.into()))
        .map_err(|e| BuildError::Runtime(format!("chown {}: {e}", path.display())))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .ctx(|| format!("chmod {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_values() {
        let mut s = Secrets::default();
        s.insert("tok", b"hunter2".to_vec());
        assert_eq!(format!("{s:?}"), "[\"tok\"]");
        let back = Secrets::from_header(&s.to_header()).unwrap();
        assert_eq!(back.get("tok"), Some(&b"hunter2"[..]));
        assert!(Secrets::from_header("zz").is_err());
    }
}
