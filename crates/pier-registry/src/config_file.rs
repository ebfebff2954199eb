//! Credentials in the docker CLI's `config.json` (`$DOCKER_CONFIG`, else
//! `~/.docker`): `auths` entries with base64 `auth`, or a credential helper
//! (`credsStore` for all registries, `credHelpers` per registry) run as
//! `docker-credential-<name> get|store|erase`. Other keys of the file are
//! kept untouched when it is rewritten.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::auth::Credentials;
use crate::error::RegistryError;

/// The key Docker Hub credentials are stored under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// `server` as config.json keys it: Docker Hub's legacy URL, else the host.
pub fn server_key(domain: &str) -> String {
    match domain {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "" => DOCKER_HUB_KEY.into(),
        other => other.to_string(),
    }
}

/// Strips a scheme and path, as `registry.ConvertToHostname`.
fn hostname(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".docker"))
        .unwrap_or_else(|| PathBuf::from(".docker"))
}

pub struct ConfigFile {
    path: PathBuf,
    doc: Map<String, Value>,
}

fn cfg_err(path: &Path, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Credentials(format!("loading config file {}: {e}", path.display()))
}

impl ConfigFile {
    /// Loads `<dir>/config.json`; a missing file is an empty config.
    pub fn load(dir: &Path) -> Result<ConfigFile, RegistryError> {
        let path = dir.join("config.json");
        let doc = match std::fs::read(&path) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(b) => {
                serde_json::from_slice::<Map<String, Value>>(&b).map_err(|e| cfg_err(&path, e))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(cfg_err(&path, e)),
        };
        Ok(ConfigFile { path, doc })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn helper_for(&self, key: &str) -> Option<String> {
        let host = hostname(key);
        let per = self.doc.get("credHelpers").and_then(Value::as_object);
        per.and_then(|m| m.get(key).or_else(|| m.get(host)))
            .or_else(|| self.doc.get("credsStore"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.doc.get("auths").and_then(Value::as_object)
    }

    /// Credentials for `domain` (a reference's domain), or None.
    pub fn get(&self, domain: &str) -> Result<Option<Credentials>, RegistryError> {
        let key = server_key(domain);
        if let Some(helper) = self.helper_for(&key) {
            return helper_get(&helper, &key);
        }
        let Some(auths) = self.auths() else {
            return Ok(None);
        };
        let entry = auths.get(&key).or_else(|| {
            auths
                .iter()
                .find(|(k, _)| hostname(k) == hostname(&key))
                .map(|(_, v)| v)
        });
        let Some(entry) = entry else { return Ok(None) };
        let mut c: Credentials = serde_json::from_value(entry.clone()).unwrap_or_default();
        c.fill_from_auth();
        c.auth.clear();
        c.server_address = key;
        Ok(if c.is_empty() { None } else { Some(c) })
    }

    /// Every stored credential, keyed as config.json keys them, as the
    /// docker CLI's `GetAllCredentials` gathers them for a build's
    /// `X-Registry-Config`: `auths` entries, `credHelpers` registries and,
    /// with a `credsStore`, whatever its `list` names. An entry that cannot
    /// be read is skipped with a warning in the result's second half.
    pub fn all(&self) -> (std::collections::BTreeMap<String, Credentials>, Vec<String>) {
        let mut keys: std::collections::BTreeSet<String> = self
            .auths()
            .map(|a| a.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(per) = self.doc.get("credHelpers").and_then(Value::as_object) {
            keys.extend(per.keys().cloned());
        }
        let mut warnings = Vec::new();
        if let Some(store) = self
            .doc
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            match run_helper(store, "list", b"").and_then(|out| {
                serde_json::from_slice::<Map<String, Value>>(&out).map_err(|e| {
                    RegistryError::Credentials(format!(
                        "docker-credential-{store} list: invalid answer: {e}"
                    ))
                })
            }) {
                Ok(listed) => keys.extend(listed.keys().cloned()),
                Err(e) => warnings.push(e.to_string()),
            }
        }
        let mut out = std::collections::BTreeMap::new();
        for key in keys {
            match self.get(&key) {
                Ok(Some(c)) => {
                    out.insert(key, c);
                }
                Ok(None) => {}
                Err(e) => warnings.push(format!("{key}: {e}")),
            }
        }
        (out, warnings)
    }

    /// Saves credentials the way `docker login` does.
    pub fn store(&mut self, domain: &str, c: &Credentials) -> Result<(), RegistryError> {
        let key = server_key(domain);
        if let Some(helper) = self.helper_for(&key) {
            let (user, secret) = if c.identity_token.is_empty() {
                (c.username.as_str(), c.password.as_str())
            } else {
                ("<token>", c.identity_token.as_str())
            };
            let input = json!({ "ServerURL": key, "Username": user, "Secret": secret });
            run_helper(&helper, "store", input.to_string().as_bytes())?;
            // docker keeps an empty entry so `auths` lists the registry.
            self.auths_mut().insert(key, json!({}));
        } else {
            let auth = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", c.username, c.password));
            let mut entry = Map::new();
            entry.insert("auth".into(), Value::String(auth));
            if !c.identity_token.is_empty() {
                entry.insert(
                    "identitytoken".into(),
                    Value::String(c.identity_token.clone()),
                );
            }
            self.auths_mut().insert(key, Value::Object(entry));
        }
        self.save()
    }

    /// Removes credentials (`docker logout`); false when there were none.
    pub fn erase(&mut self, domain: &str) -> Result<bool, RegistryError> {
        let key = server_key(domain);
        let had = self.auths().is_some_and(|a| a.contains_key(&key));
        if let Some(helper) = self.helper_for(&key) {
            let _ = run_helper(&helper, "erase", key.as_bytes());
        } else if !had {
            return Ok(false);
        }
        self.auths_mut().remove(&key);
        self.save()?;
        Ok(true)
    }

    fn auths_mut(&mut self) -> &mut Map<String, Value> {
        let v = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !v.is_object() {
            *v = Value::Object(Map::new());
        }
        v.as_object_mut().expect("set to an object above")
    }

    fn save(&self) -> Result<(), RegistryError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| cfg_err(&self.path, e))?;
        let mut body = serde_json::to_vec_pretty(&self.doc).map_err(|e| cfg_err(&self.path, e))?;
        body.push(b'\n');
        let tmp = dir.join(format!(".config.json.tmp-{}", std::process::id()));
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| cfg_err(&tmp, e))?;
            f.write_all(&body).map_err(|e| cfg_err(&tmp, e))?;
            f.sync_all().map_err(|e| cfg_err(&tmp, e))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| cfg_err(&self.path, e))
    }
}

fn run_helper(helper: &str, verb: &str, input: &[u8]) -> Result<Vec<u8>, RegistryError> {
    let prog = format!("docker-credential-{helper}");
    let mut child = Command::new(&prog)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            RegistryError::Credentials(format!(
                "error getting credentials - err: exec: \"{prog}\": {e}"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| RegistryError::Credentials(format!("{prog} {verb}: {e}")))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let msg = if msg.is_empty() {
            String::from_utf8_lossy(&out.stderr).trim().to_string()
        } else {
            msg
        };
        return Err(RegistryError::Credentials(msg));
    }
    Ok(out.stdout)
}

fn helper_get(helper: &str, key: &str) -> Result<Option<Credentials>, RegistryError> {
    let out = match run_helper(helper, "get", key.as_bytes()) {
        Ok(o) => o,
        Err(RegistryError::Credentials(m)) if m.contains("credentials not found") => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let v: Value = serde_json::from_slice(&out).map_err(|e| {
        RegistryError::Credentials(format!("docker-credential-{helper}: invalid answer: {e}"))
    })?;
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (user, secret) = (s("Username"), s("Secret"));
    let mut c = Credentials {
        server_address: key.to_string(),
        ..Default::default()
    };
    if user == "<token>" {
        c.identity_token = secret;
    } else {
        c.username = user;
        c.password = secret;
    }
    Ok(if c.is_empty() { None } else { Some(c) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn auths_round_trip_and_keep_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"psFormat":"table {{.ID}}","auths":{"https://index.docker.io/v1/":{"auth":"aHViOnB3"}}}"#,
        )
        .unwrap();
        let mut cfg = ConfigFile::load(dir.path()).unwrap();
        let hub = cfg.get("docker.io").unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("hub", "pw")
        );
        assert_eq!(cfg.get("127.0.0.1:5000").unwrap(), None);
        cfg.store("127.0.0.1:5000", &Credentials::basic("me", "s3cret"))
            .unwrap();
        let again = ConfigFile::load(dir.path()).unwrap();
        let c = again.get("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("me", "s3cret"));
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert!(text.contains("psFormat"), "{text}");
        assert!(text.contains("bWU6czNjcmV0"), "{text}");
        let (all, warnings) = again.all();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            all.keys().collect::<Vec<_>>(),
            vec!["127.0.0.1:5000", "https://index.docker.io/v1/"]
        );
        assert_eq!(all["127.0.0.1:5000"].password, "s3cret");
        assert_eq!(all["https://index.docker.io/v1/"].username, "hub");
        let mut again = again;
        assert!(again.erase("127.0.0.1:5000").unwrap());
        assert!(!again.erase("127.0.0.1:5000").unwrap());
        assert_eq!(
            ConfigFile::load(dir.path())
                .unwrap()
                .get("127.0.0.1:5000")
                .unwrap(),
            None
        );
    }

    #[test]
    fn credential_helpers_are_run() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let store = dir.path().join("store");
        let helper = bin.join("docker-credential-piertest");
        std::fs::write(
            &helper,
            format!(
                "#!/bin/sh\ncase $1 in\n get) read s; if [ -f {st} ]; then cat {st}; else echo credentials not found in native keychain; exit 1; fi;;\n store) cat > {st};;\n erase) rm -f {st};;\nesac\n",
                st = store.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::var("PATH").unwrap_or_default();
        // Only this test uses the helper name, so setting PATH for the process is harmless.
        std::env::set_var("PATH", format!("{}:{path}", bin.display()));
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"credHelpers":{"reg.test:5000":"piertest"}}"#,
        )
        .unwrap();
        let mut cfg = ConfigFile::load(dir.path()).unwrap();
        assert_eq!(cfg.get("reg.test:5000").unwrap(), None);
        cfg.store("reg.test:5000", &Credentials::basic("u", "p"))
            .unwrap();
        let stored = std::fs::read_to_string(&store).unwrap();
        assert!(stored.contains("\"Secret\":\"p\""), "{stored}");
        let c = cfg.get("reg.test:5000").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        let (all, _) = cfg.all();
        assert_eq!(all["reg.test:5000"].password, "p");
        assert!(cfg.erase("reg.test:5000").unwrap());
        assert!(!store.exists());
    }
}
