//! `X-Registry-Auth` from the docker CLI's config.json, as docker sends it
//! with pull and push (base64url JSON; `{}` when there are no credentials).

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
