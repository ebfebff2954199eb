//! Docker-compatible networking for Pier.
//!
//! pierd holds one [`Networking`] (see [`manager`]) and calls it for the
//! network endpoints of the Engine API and around container start/stop:
//!
//! * [`store`]: persistent network records (`<state_dir>/networks/<id>.json`)
//!   with Docker's fields, the predefined `bridge`/`host`/`none` networks,
//!   and per-network IPAM allocations; [`models`] turns them into
//!   `bollard_stubs` models (`NetworkInspect`, `NetworkSummary`, `EndpointSettings`).
//! * [`ipam`]: Docker's default address pools, subnet choice, address allocation.
//! * [`spec`]: validation of `POST /networks/create` bodies.
//! * [`bridge`] / [`macvlan`]: interfaces over rtnetlink; [`netns`]: doing
//!   netlink and socket work inside a container's namespace.
//! * [`firewall`]: nftables rules in Pier's own tables (NAT, isolation,
//!   internal networks, published ports); [`portmap`]: `-p` parsing and
//!   host-port reservation.
//! * [`dns`]: the embedded DNS server at 127.0.0.11 in each container.
//! * [`files`]: `/etc/hosts` and `/etc/resolv.conf` rendering.
//! * `reaper`: stopped containers' veths deleted on a thread of their own.
//!
//! Everything needs root (CAP_NET_ADMIN) except the pure parts (ipam, spec,
//! store, models, portmap parsing, files, firewall rendering).

pub mod bridge;
pub mod dns;
pub mod error;
pub mod files;
pub mod firewall;
pub mod ipam;
pub mod macvlan;
pub mod manager;
pub mod models;
pub mod netns;
mod persist;
pub mod portmap;
mod reaper;
pub mod spec;
pub mod store;

pub use dns::{DnsListener, DnsServer, DNS_ADDR};
pub use error::{NetError, Result};
pub use files::{
    render_hosts, render_resolv_conf, DnsOverrides, HostsEntry, HostsInput, ResolvConf,
};
pub use manager::{
    cleanup_all, CleanupReport, ConnectRequest, ContainerState, Endpoint, NetConfig, Networking,
};
pub use netns::{NetnsRef, OwnedNetns};
pub use portmap::{
    parse_publish, requests_from_port_map, to_port_map, HostPort, PortMapping, PortRequest, Proto,
};
pub use spec::{Driver, NetworkSpec};
pub use store::{EndpointRecord, NetworkRecord, NetworkStore, StoreOptions};
