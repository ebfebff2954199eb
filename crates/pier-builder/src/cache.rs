//! The persistent layer cache: one small file per step key under
//! `R/builder/cache/`, holding the image the step produced. Keys cover the
//! parent image, the instruction with its expanded arguments, and for
//! COPY/ADD the content checksum of what is copied. A hit is only used if
//! the image is still in the store.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{IoContext, Result};

#[derive(Debug, Clone)]
pub struct BuildCache {
    dir: PathBuf,
}

/// Builds a step key from its parts.
pub fn step_key(parent: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(parent.as_bytes());
    for p in parts {
        h.update([0u8]);
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

impl BuildCache {
    pub fn open(dir: &Path) -> Result<BuildCache> {
        std::fs::create_dir_all(dir).ctx(|| format!("creating {}", dir.display()))?;
        Ok(BuildCache {
            dir: dir.to_path_buf(),
        })
    }

    pub fn get(&self, key: &str) -> Option<String> {
        let id = std::fs::read_to_string(self.dir.join(key)).ok()?;
        let id = id.trim();
        (!id.is_empty()).then(|| id.to_string())
    }

    /// Records `key → image id` (temp file + rename, so readers never see
    /// half a file).
    pub fn put(&self, key: &str, image_id: &str) -> Result<()> {
        let tmp = self.dir.join(format!(".{key}.{}", rand::random::<u32>()));
        std::fs::write(&tmp, image_id).ctx(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, self.dir.join(key)).ctx(|| "recording a cache entry".into())
    }

    pub fn forget(&self, key: &str) {
        let _ = std::fs::remove_file(self.dir.join(key));
    }

    /// Every entry: (key, image id).
    pub fn entries(&self) -> Vec<(String, String)> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        rd.filter_map(|e| e.ok())
            .filter_map(|e| {
                let key = e.file_name().to_string_lossy().into_owned();
                if key.starts_with('.') {
                    return None;
                }
                self.get(&key).map(|id| (key, id))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_forget() {
        let t = tempfile::tempdir().unwrap();
        let c = BuildCache::open(t.path()).unwrap();
        let k = step_key("sha256:a", &["RUN", "echo hi"]);
        assert_ne!(k, step_key("sha256:a", &["RUN echo", "hi"]));
        assert_eq!(c.get(&k), None);
        c.put(&k, "sha256:b").unwrap();
        let again = BuildCache::open(t.path()).unwrap();
        assert_eq!(again.get(&k).as_deref(), Some("sha256:b"));
        assert_eq!(again.entries().len(), 1);
        again.forget(&k);
        assert_eq!(c.get(&k), None);
    }
}
