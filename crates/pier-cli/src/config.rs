//! The bits of docker's client config file (`~/.docker/config.json`, or
//! `$DOCKER_CONFIG/config.json`, or `--config DIR`) that change output:
//! `psFormat`, `imagesFormat` and `detachKeys`.

use std::path::PathBuf;
use std::sync::OnceLock;

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub ps_format: Option<String>,
    pub images_format: Option<String>,
    pub networks_format: Option<String>,
    pub detach_keys: Option<String>,
}

static DIR: OnceLock<PathBuf> = OnceLock::new();
static LOADED: OnceLock<Config> = OnceLock::new();

/// `--config DIR` (call before [`load`]).
pub fn set_dir(dir: &str) {
    let _ = DIR.set(PathBuf::from(dir));
}

fn dir() -> Option<PathBuf> {
    if let Some(d) = DIR.get() {
        return Some(d.clone());
    }
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker"))
}

/// Reads the config file once; a missing or unreadable file means defaults.
pub fn load() -> Config {
    LOADED
        .get_or_init(|| {
            let Some(path) = dir().map(|d| d.join("config.json")) else {
                return Config::default();
            };
            let Ok(data) = std::fs::read(path) else {
                return Config::default();
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) else {
                return Config::default();
            };
            let s = |k: &str| {
                v.get(k)
                    .and_then(|x| x.as_str())
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
            };
            Config {
                ps_format: s("psFormat"),
                images_format: s("imagesFormat"),
                networks_format: s("networksFormat"),
                detach_keys: s("detachKeys"),
            }
        })
        .clone()
}
