//! `X-Registry-Auth` from the docker CLI's config.json, as docker sends it
//! with pull and push (base64url JSON; `{}` when there are no credentials),
//! and `X-Registry-Config` (every stored credential) for builds.

use pier_registry::config_file::{default_dir, ConfigFile};
use pier_registry::Credentials;

/// The header value for a registry domain (`docker.io`, `127.0.0.1:5000`).
pub fn header_for(domain: &str) -> String {
    let creds = ConfigFile::load(&default_dir())
        .and_then(|c| c.get(domain))
        .unwrap_or_else(|e| {
            crate::output::errln(&format!("WARNING: {e}"));
            None
        });
    match creds {
        Some(c) => c.to_header(),
        None => Credentials::default().to_header(),
    }
}

/// `X-Registry-Auth` as a header list for `Client::send_with_headers`.
pub fn headers_for(domain: &str) -> Vec<(&'static str, String)> {
    vec![("X-Registry-Auth", header_for(domain))]
}

/// `X-Registry-Config` for `POST /build`: every stored credential, so the
/// build's `FROM` pulls can authenticate (the docker CLI's classic build
/// sends the same).
pub fn config_header() -> (&'static str, String) {
    let all = match ConfigFile::load(&default_dir()) {
        Ok(cfg) => {
            let (all, warnings) = cfg.all();
            for w in warnings {
                crate::output::errln(&format!("WARNING: {w}"));
            }
            all
        }
        Err(e) => {
            crate::output::errln(&format!("WARNING: {e}"));
            Default::default()
        }
    };
    ("X-Registry-Config", Credentials::to_config_header(&all))
}
