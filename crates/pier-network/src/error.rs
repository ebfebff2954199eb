//! The crate's one error type. Messages that the docker CLI shows to users
//! copy Docker's wording, so scripts grepping for them keep working.

use std::io;
use std::path::PathBuf;

/// Every error this crate returns.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// `network X not found` (HTTP 404).
    #[error("network {0} not found")]
    NotFound(String),

    /// Docker: `network with name X already exists` (HTTP 409).
    #[error("network with name {0} already exists")]
    NameExists(String),

    /// A request was ambiguous: a short ID prefix matches several networks (HTTP 400).
    #[error("network {0} is ambiguous ({1} matches found based on ID prefix)")]
    Ambiguous(String, usize),

    /// Removing `bridge`, `host` or `none` (HTTP 403).
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),

    /// Removing a network that still has containers (HTTP 403).
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    ActiveEndpoints { name: String, id: String },

    /// Overlapping or unavailable subnets (HTTP 403 in Docker's `invalid pool request`).
    #[error("invalid pool request: Pool overlaps with other one on this address space")]
    PoolOverlap,

    /// All default address pools are used up.
    #[error("all predefined address pools have been fully subnetted")]
    PoolsExhausted,

    /// No free address left in the network's subnet / ip-range.
    #[error("no available IPv4 addresses on this network's address pools: {0}")]
    NoAddress(String),

    /// A requested `--ip` is in use (Docker's libnetwork text).
    #[error("Address already in use")]
    AddressInUse,

    /// A requested `--ip` lies outside the configured subnet / ip-range.
    #[error("no configured subnet or ip-range contain the IP address {0}")]
    AddressOutside(String),

    /// A published host port is taken (HTTP 500, Docker's text verbatim).
    #[error("Bind for {0} failed: port is already allocated")]
    PortAllocated(String),

    /// A driver that Pier cannot provide (overlay, plugins).
    #[error("{0}")]
    UnsupportedDriver(String),

    /// The container is already attached to the network (HTTP 403 in Docker).
    #[error("endpoint with name {container} already exists in network {network}")]
    AlreadyAttached { container: String, network: String },

    /// The container is not attached to the network.
    #[error("container {container} is not connected to network {network}")]
    NotAttached { container: String, network: String },

    /// Malformed user input: subnet, gateway, port spec, option value (HTTP 400).
    #[error("{0}")]
    InvalidArgument(String),

    /// A netlink request failed.
    #[error("netlink: {context}: {source}")]
    Netlink {
        context: String,
        #[source]
        source: rtnetlink::Error,
    },

    /// `nft` failed or could not be run.
    #[error("nftables: {0}")]
    Firewall(String),

    /// Entering a network namespace failed.
    #[error("network namespace {path}: {source}")]
    Netns {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A file (store record, sysctl, resolv.conf) could not be read or written.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    /// A store record is not valid JSON.
    #[error("corrupt network record {path}: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// DNS message encoding/decoding failed.
    #[error("dns: {0}")]
    Dns(String),
}

impl NetError {
    /// The HTTP status Docker answers with for this error.
    pub fn status_code(&self) -> u16 {
        match self {
            NetError::NotFound(_) => 404,
            NetError::NameExists(_) | NetError::AlreadyAttached { .. } => 409,
            NetError::Predefined(_) | NetError::ActiveEndpoints { .. } => 403,
            NetError::PoolOverlap | NetError::AddressInUse => 403,
            NetError::Ambiguous(..)
            | NetError::InvalidArgument(_)
            | NetError::AddressOutside(_)
            | NetError::UnsupportedDriver(_) => 400,
            NetError::NotAttached { .. } => 404,
            _ => 500,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        NetError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn netlink(context: impl Into<String>, source: rtnetlink::Error) -> Self {
        NetError::Netlink {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        NetError::InvalidArgument(msg.into())
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = NetError> = std::result::Result<T, E>;
