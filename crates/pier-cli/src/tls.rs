//! Client TLS as docker does it: `--tls` (encrypt, no server verification),
//! `--tlsverify` (verify the daemon against `--tlscacert`), client
//! certificate from `--tlscert`/`--tlskey`; defaults from `DOCKER_CERT_PATH`
//! (else `~/.docker`) and `DOCKER_TLS_VERIFY`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;

use crate::client::ClientError;

#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    pub tls: bool,
    pub verify: bool,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

fn cert_dir() -> PathBuf {
    if let Ok(p) = std::env::var("DOCKER_CERT_PATH") {
        if !p.is_empty() {
            return PathBuf::from(p);
        }
    }
    std::env::var("HOME")
        .map(|h| PathBuf::from(h).join(".docker"))
        .unwrap_or_else(|_| PathBuf::from(".docker"))
}

fn pem_err(p: &Path, e: &dyn std::fmt::Display) -> ClientError {
    ClientError::Tls(format!("could not read {}: {e}", p.display()))
}

impl TlsOptions {
    /// Applies `DOCKER_TLS_VERIFY` and the default certificate paths.
    pub fn resolve(mut self) -> Self {
        if std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty()) {
            self.verify = true;
        }
        if self.verify {
            self.tls = true;
        }
        if self.tls {
            let dir = cert_dir();
            let default = |name: &str| -> Option<PathBuf> {
                let p = dir.join(name);
                p.exists().then_some(p)
            };
            if self.ca.is_none() {
                self.ca = default("ca.pem");
            }
            if self.cert.is_none() {
                self.cert = default("cert.pem");
            }
            if self.key.is_none() {
                self.key = default("key.pem");
            }
        }
        self
    }

    /// A connector when TLS is on.
    pub fn connector(&self) -> Result<Option<tokio_rustls::TlsConnector>, ClientError> {
        if !self.tls {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        let builder = if self.verify {
            let ca = self.ca.as_deref().ok_or_else(|| {
                ClientError::Tls("--tlsverify needs a CA certificate (--tlscacert)".into())
            })?;
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).map_err(|e| pem_err(ca, &e))? {
                roots
                    .add(c.map_err(|e| pem_err(ca, &e))?)
                    .map_err(|e| pem_err(ca, &e))?;
            }
            builder.with_root_certificates(roots)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(pier_registry::endpoint::AcceptAnyCert(
                    provider,
                )))
        };
        let cfg = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                    .map_err(|e| pem_err(cert, &e))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| pem_err(cert, &e))?;
                let k = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, &e))?;
                builder
                    .with_client_auth_cert(chain, k)
                    .map_err(|e| ClientError::Tls(e.to_string()))?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(Some(tokio_rustls::TlsConnector::from(Arc::new(cfg))))
    }
}
