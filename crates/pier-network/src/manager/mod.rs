//! [`Networking`]: the one object pierd holds. It ties the store, the bridge
//! and macvlan drivers, the firewall, port reservations and the embedded DNS
//! together and keeps them consistent: every connect either fully succeeds
//! or is rolled back, and the firewall is re-rendered from the store after
//! each change that affects it.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;

use pier_api::models::{
    NetworkCreateRequest, NetworkCreateResponse, NetworkInspect, NetworkSummary,
};
use tracing::{info, warn};

mod connect;

use crate::bridge::{self, BridgeDriver};
use crate::dns::{DnsListener, DnsServer};
use crate::error::{NetError, Result};
use crate::files::{render_resolv_conf, DnsOverrides, ResolvConf};
use crate::firewall::{BridgeFw, Firewall, FirewallState, PortFw};
use crate::ipam::{self, AddressPool, SubnetConfig};
use crate::models;
use crate::netns::NetnsRef;
use crate::portmap::{PortRequest, PortReservations};
use crate::reaper::LinkReaper;
use crate::spec::{self, Driver, NetworkSpec};
use crate::store::{self, EndpointRecord, NetworkRecord, NetworkStore, StoreOptions};

/// Daemon-level settings.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Where network configurations live (`<data-root>/network`).
    pub state_dir: PathBuf,
    /// Where allocations and endpoints live: put it on tmpfs
    /// (`<exec-root>/network`); default `<state_dir>/runtime`. See `store`.
    pub runtime_dir: Option<PathBuf>,
    /// Names Pier's nftables tables (`inet <instance>`, `ip <instance>-nat`)
    /// and marks its interfaces (alias `<instance>:...`). `pier` for pierd;
    /// tests use unique names so they can run side by side.
    pub instance: String,
    /// Linux bridge of the default `bridge` network.
    pub default_bridge: String,
    /// `--bip`: subnet and gateway of the default bridge.
    pub default_bridge_subnet: Option<SubnetConfig>,
    /// `--default-address-pool`.
    pub pools: Vec<AddressPool>,
    /// The host's resolver config, source of the DNS upstreams and of the
    /// default bridge's resolv.conf.
    pub resolv_conf: PathBuf,
    /// Overrides the upstreams read from `resolv_conf` (tests).
    pub dns_upstreams: Option<Vec<SocketAddr>>,
    /// Reach the embedded DNS through a DNAT rule inside each container
    /// (Docker's way, leaves port 53 free for the container; one `nft` run
    /// per container) instead of binding 127.0.0.11:53 directly.
    pub dns_dnat: bool,
}

impl NetConfig {
    /// Docker's defaults, state under `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        NetConfig {
            state_dir: state_dir.into(),
            runtime_dir: None,
            instance: "pier".into(),
            default_bridge: "pier0".into(),
            default_bridge_subnet: None,
            pools: ipam::default_pools(),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            dns_upstreams: None,
            dns_dnat: true,
        }
    }
}

/// A container's request to join a network.
#[derive(Debug, Clone)]
pub struct ConnectRequest<'a> {
    pub container_id: &'a str,
    /// Without the leading `/`.
    pub container_name: &'a str,
    pub netns: &'a NetnsRef,
    /// `--network-alias`.
    pub aliases: &'a [String],
    /// `--ip`.
    pub ipv4: Option<Ipv4Addr>,
    /// `--mac-address`; default derived from the IP like Docker.
    pub mac: Option<[u8; 6]>,
    /// `-p`; pass them for the container's first network only.
    pub ports: &'a [PortRequest],
}

/// The result of a connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub network_id: String,
    pub network_name: String,
    pub record: EndpointRecord,
}

/// How a container was left after [`Networking::reconcile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState<'a> {
    Running(&'a NetnsRef),
    Gone,
}

/// What `cleanup_all` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    pub links: Vec<String>,
}

/// Pier's networking.
pub struct Networking {
    cfg: NetConfig,
    store: NetworkStore,
    links: BridgeDriver,
    reaper: LinkReaper,
    firewall: Firewall,
    ports: PortReservations,
    dns: DnsServer,
    host_resolv: ResolvConf,
    listeners: Mutex<HashMap<String, DnsListener>>,
    active: Mutex<HashSet<String>>,
    op: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

impl Networking {
    /// Open the store, create missing predefined networks, recreate the
    /// bridges of user networks (after a reboot they are gone), rebuild the
    /// DNS table and the firewall. Call [`reconcile`](Self::reconcile) next.
    pub async fn open(cfg: NetConfig) -> Result<Self> {
        let links = BridgeDriver::new(&cfg.instance)?;
        let host_routes = links.host_routes().await?;
        let store = NetworkStore::open(
            &cfg.state_dir,
            &StoreOptions {
                default_bridge: cfg.default_bridge.clone(),
                default_bridge_subnet: cfg.default_bridge_subnet,
                pools: cfg.pools.clone(),
                host_routes,
                runtime_dir: cfg.runtime_dir.clone(),
            },
        )?;
        let host_resolv = ResolvConf::read(&cfg.resolv_conf)?;
        let upstreams = cfg
            .dns_upstreams
            .clone()
            .unwrap_or_else(|| reachable(host_resolv.upstreams()));
        let net = Networking {
            firewall: Firewall::new(&cfg.instance),
            reaper: LinkReaper::new(&cfg.instance),
            dns: DnsServer::new(upstreams),
            cfg,
            store,
            links,
            ports: PortReservations::new(),
            host_resolv,
            listeners: Mutex::new(HashMap::new()),
            active: Mutex::new(HashSet::new()),
            op: tokio::sync::Mutex::new(()),
        };
        for rec in net.store.list() {
            net.dns.set_network(&rec.id, &rec.name, rec.internal);
            if rec.driver == Driver::Bridge && (!rec.predefined || !rec.endpoints.is_empty()) {
                net.ensure_bridge(&rec).await?;
            }
            if rec.uses_embedded_dns() {
                for ep in rec.endpoints.values() {
                    net.dns
                        .add_endpoint(&rec.id, &ep.container_id, &ep.dns_names, ep.ip);
                }
            }
        }
        if !lock(&net.active).is_empty() {
            net.apply_firewall().await?;
        }
        Ok(net)
    }

    /// The underlying store (records, IPAM).
    pub fn store(&self) -> &NetworkStore {
        &self.store
    }

    /// Wait until the veths of stopped containers are deleted (they are
    /// deleted after the endpoints are released, see `reaper`): before
    /// answering `rm`, and at shutdown.
    pub async fn settle_links(&self) {
        self.reaper.settle().await;
    }

    /// The embedded DNS server.
    pub fn dns(&self) -> &DnsServer {
        &self.dns
    }

    /// Ports currently reserved on the host.
    pub fn port_reservations(&self) -> &PortReservations {
        &self.ports
    }

    /// The address `host-gateway` stands for: the default bridge's gateway.
    pub fn host_gateway(&self) -> Option<Ipv4Addr> {
        self.store
            .get(store::BRIDGE)
            .ok()
            .and_then(|r| r.ipam)
            .map(|c| c.gateway)
    }

    async fn ensure_bridge(&self, rec: &NetworkRecord) -> Result<()> {
        if lock(&self.active).contains(&rec.id) {
            return Ok(());
        }
        let (Some(name), Some(cfg)) = (rec.interface.as_deref(), rec.ipam) else {
            return Err(NetError::invalid(format!(
                "network {} has no bridge",
                rec.name
            )));
        };
        self.links
            .ensure_bridge(
                name,
                cfg.gateway,
                cfg.subnet.prefix_len(),
                rec.mtu(),
                short(&rec.id),
            )
            .await?;
        if !rec.internal {
            // Docker enables forwarding with its first bridge; containers
            // cannot reach beyond the host without it.
            bridge::write_sysctl("net/ipv4/ip_forward", "1")?;
        }
        lock(&self.active).insert(rec.id.clone());
        Ok(())
    }

    fn firewall_state(&self) -> FirewallState {
        let active = lock(&self.active).clone();
        let mut st = FirewallState::default();
        for rec in self.store.list() {
            if rec.driver != Driver::Bridge || !active.contains(&rec.id) {
                continue;
            }
            let (Some(bridge), Some(cfg)) = (rec.interface.clone(), rec.ipam) else {
                continue;
            };
            st.bridges.push(BridgeFw {
                bridge: bridge.clone(),
                subnet: cfg.subnet,
                internal: rec.internal,
                masquerade: rec.masquerade(),
                icc: rec.icc(),
            });
            if rec.internal {
                continue;
            }
            for ep in rec.endpoints.values() {
                for m in &ep.ports {
                    st.ports.push(PortFw {
                        bridge: bridge.clone(),
                        container_ip: ep.ip,
                        mapping: *m,
                    });
                }
            }
        }
        st
    }

    async fn apply_firewall(&self) -> Result<()> {
        self.firewall.apply(&self.firewall_state()).await
    }

    /// `POST /networks/create`.
    pub async fn create_network(
        &self,
        req: &NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse> {
        let spec = NetworkSpec::from_request(req)?;
        let rec = self.create_network_spec(&spec).await?;
        Ok(NetworkCreateResponse {
            id: rec.id,
            warning: String::new(),
        })
    }

    /// Create a network from a validated spec.
    pub async fn create_network_spec(&self, spec: &NetworkSpec) -> Result<NetworkRecord> {
        let _g = self.op.lock().await;
        let routes = if spec.ipam.subnet.is_none() {
            self.links.host_routes().await?
        } else {
            Vec::new()
        };
        if spec.driver == Driver::Macvlan {
            let parent = spec
                .options
                .get(spec::OPT_PARENT)
                .map(String::as_str)
                .unwrap_or("");
            if bridge::get_link(self.links_handle(), parent)
                .await?
                .is_none()
            {
                return Err(NetError::invalid(format!(
                    "-o parent interface was not found on the host: {parent}"
                )));
            }
        }
        let rec = self.store.create(spec, &routes)?;
        if rec.driver == Driver::Bridge {
            let res = async {
                self.ensure_bridge(&rec).await?;
                self.apply_firewall().await
            }
            .await;
            if let Err(e) = res {
                warn!(network = %rec.name, error = %e, "network setup failed; rolling back");
                lock(&self.active).remove(&rec.id);
                let _ = self.store.remove(&rec.id);
                if let Some(b) = &rec.interface {
                    let _ = self.links.delete_link(b).await;
                }
                let _ = self.apply_firewall().await;
                return Err(e);
            }
        }
        self.dns.set_network(&rec.id, &rec.name, rec.internal);
        info!(name = %rec.name, id = %rec.id, driver = rec.driver.as_str(), "network created");
        Ok(rec)
    }

    fn links_handle(&self) -> &rtnetlink::Handle {
        self.links.handle()
    }

    /// `DELETE /networks/{id}`: refused while containers are attached.
    pub async fn remove_network(&self, name_or_id: &str) -> Result<()> {
        let _g = self.op.lock().await;
        // Its last containers' veths go before the bridge does.
        self.reaper.settle().await;
        let rec = self.store.remove(name_or_id)?;
        self.dns.remove_network(&rec.id);
        let was_active = lock(&self.active).remove(&rec.id);
        if rec.driver == Driver::Bridge {
            if let Some(b) = &rec.interface {
                self.links.delete_link(b).await?;
            }
            if was_active {
                self.apply_firewall().await?;
            }
        }
        info!(name = %rec.name, "network removed");
        Ok(())
    }

    /// `POST /networks/prune`: remove user networks without endpoints for
    /// which `keep` is false (pierd applies the `until`/`label` filters).
    /// Returns the removed networks' names.
    pub async fn prune_networks(
        &self,
        keep: &dyn Fn(&NetworkRecord) -> bool,
    ) -> Result<Vec<String>> {
        let candidates: Vec<NetworkRecord> = self
            .store
            .list()
            .into_iter()
            .filter(|r| !r.predefined && r.endpoints.is_empty() && !keep(r))
            .collect();
        let mut removed = Vec::new();
        for rec in candidates {
            match self.remove_network(&rec.id).await {
                Ok(()) => removed.push(rec.name),
                // Got an endpoint meanwhile: not unused any more.
                Err(NetError::ActiveEndpoints { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// `GET /networks/{id}`.
    pub fn inspect_network(&self, name_or_id: &str) -> Result<NetworkInspect> {
        self.store
            .get(name_or_id)
            .map(|r| models::network_inspect(&r))
    }

    /// `GET /networks` (filters are the caller's business).
    pub fn list_networks(&self) -> Vec<NetworkSummary> {
        self.store
            .list()
            .iter()
            .map(models::network_summary)
            .collect()
    }

    /// `--dns` for one container: the embedded server forwards there.
    pub fn set_container_dns(&self, container_id: &str, servers: &[IpAddr]) {
        let ups = (!servers.is_empty())
            .then(|| servers.iter().map(|ip| SocketAddr::new(*ip, 53)).collect());
        self.dns.set_container_upstreams(container_id, ups);
    }

    /// The container's `/etc/resolv.conf`: embedded DNS if it is on a
    /// user-defined network, else the host's resolvers (see `files`).
    pub fn resolv_conf_for(&self, container_id: &str, ov: &DnsOverrides<'_>) -> String {
        let embedded = self
            .endpoints_of(container_id)
            .iter()
            .any(|(r, _)| r.uses_embedded_dns());
        render_resolv_conf(&self.host_resolv, ov, embedded)
    }

    /// Remove everything this instance put on the host: its nftables
    /// tables, and every bridge/veth carrying its marker. Only for daemon
    /// shutdown with no container running, or repair after a crash; the
    /// store is left alone (bridges are recreated on the next open).
    pub async fn cleanup_all(&self) -> Result<CleanupReport> {
        let _g = self.op.lock().await;
        self.reaper.settle().await;
        lock(&self.listeners).clear();
        lock(&self.active).clear();
        cleanup_host(&self.cfg.instance, &self.links, &self.firewall).await
    }
}

/// Keep loopback resolvers (systemd-resolved's 127.0.0.53) only if
/// something serves them: the forwarder runs in the daemon's namespace where
/// they would work, but a dead one would cost every query a timeout. If we
/// can bind the address ourselves, nobody is listening there.
fn reachable(ups: Vec<SocketAddr>) -> Vec<SocketAddr> {
    ups.into_iter()
        .filter(|a| !a.ip().is_loopback() || std::net::UdpSocket::bind(a).is_err())
        .collect()
}

async fn cleanup_host(
    instance: &str,
    links: &BridgeDriver,
    fw: &Firewall,
) -> Result<CleanupReport> {
    fw.remove().await?;
    let removed = links.cleanup().await?;
    info!(instance, links = removed.len(), "network cleanup done");
    Ok(CleanupReport { links: removed })
}

/// [`Networking::cleanup_all`] without a store (e.g. `pierd --cleanup`).
pub async fn cleanup_all(instance: &str) -> Result<CleanupReport> {
    cleanup_host(
        instance,
        &BridgeDriver::new(instance)?,
        &Firewall::new(instance),
    )
    .await
}
