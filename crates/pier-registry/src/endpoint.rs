//! Where a registry lives and how to talk to it, with Docker's rules:
//! `docker.io` is served by `registry-1.docker.io`; loopback registries
//! (127.0.0.0/8, ::1, `localhost`) and those listed with
//! `--insecure-registry` (host[:port] or CIDR) are "insecure": TLS without
//! verification first, then plain HTTP. Every other registry needs verified
//! TLS. A `ca.crt` under `<certs-dir>/<host[:port]>/` (Docker's
//! `/etc/docker/certs.d`) is trusted for that registry in addition to the
//! system roots, and then TLS is always verified.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;

use crate::error::RegistryError;

pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Daemon-wide registry settings.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// `--insecure-registry` values: `host[:port]` or a CIDR.
    pub insecure: Vec<String>,
    /// Docker's `certs.d`: `<dir>/<host[:port]>/ca.crt`.
    pub certs_dir: PathBuf,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            certs_dir: PathBuf::from("/etc/docker/certs.d"),
        }
    }
}

/// The URL scheme and TLS settings of one attempt.
#[derive(Clone)]
pub(crate) enum Scheme {
    Https(Arc<ClientConfig>),
    Http,
}

impl Scheme {
    pub fn as_str(&self) -> &'static str {
        match self {
            Scheme::Https(_) => "https",
            Scheme::Http => "http",
        }
    }
}

/// One registry as seen from a reference's domain.
#[derive(Clone)]
pub struct RegistryHost {
    /// As written in references: `docker.io`, `127.0.0.1:5000`.
    pub name: String,
    /// What we connect to: `registry-1.docker.io`, `127.0.0.1:5000`.
    pub api_host: String,
    /// Schemes to try, in order.
    pub(crate) schemes: Vec<Scheme>,
}

impl std::fmt::Debug for RegistryHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let schemes: Vec<&str> = self.schemes.iter().map(Scheme::as_str).collect();
        f.debug_struct("RegistryHost")
            .field("name", &self.name)
            .field("api_host", &self.api_host)
            .field("schemes", &schemes)
            .finish()
    }
}

fn host_only(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl RegistryOptions {
    /// Docker's `isSecureIndex` turned around.
    pub fn is_insecure(&self, host: &str) -> bool {
        let h = host_only(host);
        let ip = h.parse::<IpAddr>().ok();
        if h == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
            return true;
        }
        self.insecure
            .iter()
            .any(|entry| entry == host || entry == h || ip.is_some_and(|ip| in_cidr(ip, entry)))
    }

    fn ca_file(&self, host: &str) -> Option<PathBuf> {
        let p = self.certs_dir.join(host).join("ca.crt");
        p.is_file().then_some(p)
    }

    /// How to reach the registry named `domain` (a reference's domain).
    pub fn host(&self, domain: &str) -> Result<RegistryHost, RegistryError> {
        let api_host = if domain == DOCKER_HUB || domain == "index.docker.io" {
            DOCKER_HUB_API.to_string()
        } else {
            domain.to_string()
        };
        let schemes = if let Some(ca) = self.ca_file(domain) {
            vec![Scheme::Https(Arc::new(verified_config(Some(&ca))?))]
        } else if self.is_insecure(domain) {
            vec![Scheme::Https(Arc::new(unverified_config()?)), Scheme::Http]
        } else {
            vec![Scheme::Https(Arc::new(verified_config(None)?))]
        };
        Ok(RegistryHost {
            name: domain.to_string(),
            api_host,
            schemes,
        })
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_err(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Credentials(format!("TLS setup: {e}"))
}

fn add_pem_file(roots: &mut RootCertStore, path: &Path) -> Result<usize, RegistryError> {
    let mut n = 0;
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| {
        RegistryError::io(
            format!("reading {}", path.display()),
            std::io::Error::other(e.to_string()),
        )
    })?;
    for cert in iter.flatten() {
        if roots.add(cert).is_ok() {
            n += 1;
        }
    }
    Ok(n)
}

pub(crate) fn verified_config(extra_ca: Option<&Path>) -> Result<ClientConfig, RegistryError> {
    let mut roots = RootCertStore::empty();
    if Path::new(SYSTEM_ROOTS).exists() {
        let _ = add_pem_file(&mut roots, Path::new(SYSTEM_ROOTS));
    }
    if let Some(ca) = extra_ca {
        if add_pem_file(&mut roots, ca)? == 0 {
            return Err(RegistryError::Credentials(format!(
                "no certificates in {}",
                ca.display()
            )));
        }
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn unverified_config() -> Result<ClientConfig, RegistryError> {
    let verifier = Arc::new(AcceptAnyCert(provider()));
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// Go's `InsecureSkipVerify`: accepts any server certificate but still
/// checks handshake signatures. Used for insecure registries here and for
/// `pier --tls` without `--tlsverify`.
#[derive(Debug)]
pub struct AcceptAnyCert(pub Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_registries_are_insecure() {
        let o = RegistryOptions {
            insecure: vec!["10.1.0.0/16".into(), "reg.example:5000".into()],
            certs_dir: PathBuf::from("/nonexistent"),
        };
        assert!(o.is_insecure("127.0.0.1:5000"));
        assert!(o.is_insecure("127.8.9.10"));
        assert!(o.is_insecure("localhost:5000"));
        assert!(o.is_insecure("[::1]:5000"));
        assert!(o.is_insecure("10.1.2.3:443"));
        assert!(o.is_insecure("reg.example:5000"));
        assert!(!o.is_insecure("reg.example"));
        assert!(!o.is_insecure("10.2.0.1"));
        assert!(!o.is_insecure("docker.io"));
        let h = o.host("docker.io").unwrap();
        assert_eq!(h.api_host, "registry-1.docker.io");
        assert_eq!(h.schemes.len(), 1);
        assert_eq!(o.host("127.0.0.1:5000").unwrap().schemes.len(), 2);
    }
}
