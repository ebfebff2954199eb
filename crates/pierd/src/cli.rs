//! Command-line flags, named and defaulted like dockerd's.

use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "pierd",
    version,
    about = "Pier: a Docker-compatible container engine daemon"
)]
pub struct Args {
    /// Where to listen: unix:///path/to.sock or tcp://host:port (repeatable).
    #[arg(short = 'H', long = "host", value_name = "ADDR")]
    pub hosts: Vec<String>,

    /// Root of persistent state (images, containers).
    #[arg(long, default_value = "/var/lib/pier")]
    pub data_root: PathBuf,

    /// Root of volatile state (shim sockets, runtime state). Keep it short:
    /// Unix socket paths must stay under 108 bytes.
    #[arg(long, default_value = "/run/pier")]
    pub exec_root: PathBuf,

    /// The pier-shim binary (default: next to the pierd executable).
    #[arg(long)]
    pub shim_path: Option<PathBuf>,

    /// Serve TLS on tcp:// listeners and require client certificates signed by --tlscacert.
    #[arg(long)]
    pub tlsverify: bool,

    /// CA certificate (PEM) that client certificates must be signed by.
    #[arg(long)]
    pub tlscacert: Option<PathBuf>,

    /// Server certificate chain (PEM).
    #[arg(long)]
    pub tlscert: Option<PathBuf>,

    /// Server private key (PEM).
    #[arg(long)]
    pub tlskey: Option<PathBuf>,

    /// Group that owns the Unix socket (created as a system group if missing).
    #[arg(short = 'G', long, default_value = "pier")]
    pub group: String,

    /// Registry reachable over plain HTTP or unverified TLS: host[:port] or CIDR (repeatable).
    #[arg(long = "insecure-registry", value_name = "REGISTRY")]
    pub insecure_registries: Vec<String>,

    /// Maximum concurrent layer downloads per daemon.
    #[arg(long, default_value_t = 3)]
    pub max_concurrent_downloads: usize,

    /// Maximum concurrent layer uploads per daemon.
    #[arg(long, default_value_t = 5)]
    pub max_concurrent_uploads: usize,

    /// Per-registry trust: <dir>/<host[:port]>/ca.crt, like /etc/docker/certs.d.
    #[arg(long, default_value = "/etc/docker/certs.d")]
    pub registry_certs_dir: PathBuf,

    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(short = 'l', long, default_value = "info")]
    pub log_level: String,

    #[command(flatten)]
    pub net: crate::network::NetArgs,
}

/// A parsed `-H` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Unix(PathBuf),
    Tcp(String),
}

impl ListenAddr {
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(p) = s.strip_prefix("unix://") {
            if p.is_empty() {
                return Err(format!("invalid unix socket address: {s}"));
            }
            return Ok(Self::Unix(PathBuf::from(p)));
        }
        if let Some(a) = s.strip_prefix("tcp://") {
            if a.is_empty() || !a.contains(':') {
                return Err(format!("invalid tcp address {s}: expected tcp://host:port"));
            }
            return Ok(Self::Tcp(a.trim_end_matches('/').to_string()));
        }
        if s.starts_with('/') {
            return Ok(Self::Unix(PathBuf::from(s)));
        }
        Err(format!(
            "unsupported listen address {s}: use unix:///path or tcp://host:port"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            ListenAddr::parse("unix:///run/pier.sock").unwrap(),
            ListenAddr::Unix("/run/pier.sock".into())
        );
        assert_eq!(
            ListenAddr::parse("tcp://127.0.0.1:2376").unwrap(),
            ListenAddr::Tcp("127.0.0.1:2376".into())
        );
        assert!(ListenAddr::parse("fd://").is_err());
        assert!(ListenAddr::parse("tcp://").is_err());
    }
}
