//! The persistent network store.
//!
//! Two kinds of files, both replaced atomically (temp file + rename), so a
//! daemon crash leaves either the old or the new version, never a torn one:
//! * `<dir>/networks/<id>.json`: the network's configuration, on the data
//!   root, written when the network is created, durably (fsync the file,
//!   rename, fsync the directory).
//! * `<runtime_dir>/networks/<id>.json`: its IPAM allocations and endpoints,
//!   rewritten on every connect/disconnect. pierd puts `runtime_dir` on the
//!   exec root (`/run/pier/network`): it survives daemon restarts, where
//!   containers keep running and their addresses stay taken. These writes
//!   are not fsynced: the rename alone makes them atomic for a process
//!   crash, and only a power loss or kernel crash could tear them, which
//!   kills every container too. So a state file that does not parse is
//!   treated as empty, and pierd's `reconcile` after a reboot releases what
//!   is left. Skipping the fsyncs keeps a connect at a few milliseconds.
//!
//! An address is only handed out after its allocation is written, so a
//! daemon crash between two connects cannot give it out twice.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::error::{NetError, Result};
use crate::ipam::{self, AddressPool, Allocations, SubnetConfig};
use crate::persist::{encode, json_files, read_json, remove_if_exists, sync_dir, write_atomic};
use crate::portmap::PortMapping;
use crate::spec::{self, Driver, NetworkSpec};

/// Name of Docker's default bridge network.
pub const BRIDGE: &str = "bridge";
/// Name of the host network.
pub const HOST: &str = "host";
/// Name of the no-network network.
pub const NONE: &str = "none";

/// A network as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub driver: Driver,
    /// RFC 3339 with nanoseconds, like Docker's `Created`.
    pub created: String,
    pub internal: bool,
    pub attachable: bool,
    /// `bridge`, `host`, `none`: cannot be removed.
    pub predefined: bool,
    /// The IPv4 subnet; `None` for host/none.
    pub ipam: Option<SubnetConfig>,
    /// Whether the subnet was given by the user (Docker allows `--ip` only then).
    pub user_subnet: bool,
    pub ipam_options: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// The Linux bridge (bridge driver) or the parent interface (macvlan).
    pub interface: Option<String>,
    #[serde(default)]
    pub allocations: Allocations,
    /// container ID → endpoint.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointRecord>,
}

impl NetworkRecord {
    /// Whether NAT out of the host applies (`--internal` or the masquerade option off disable it).
    pub fn masquerade(&self) -> bool {
        !self.internal
            && self
                .options
                .get(spec::OPT_MASQUERADE)
                .and_then(|v| spec::parse_bool(spec::OPT_MASQUERADE, v).ok())
                .unwrap_or(true)
    }

    /// Whether containers on this network may talk to each other.
    pub fn icc(&self) -> bool {
        self.options
            .get(spec::OPT_ICC)
            .and_then(|v| spec::parse_bool(spec::OPT_ICC, v).ok())
            .unwrap_or(true)
    }

    /// The MTU option, if any.
    pub fn mtu(&self) -> Option<u32> {
        self.options
            .get(spec::OPT_MTU)
            .and_then(|v| spec::parse_mtu(v).ok())
    }

    /// Default host IP for published ports on this network.
    pub fn host_binding_ip(&self) -> Ipv4Addr {
        self.options
            .get(spec::OPT_HOST_BINDING)
            .and_then(|v| v.parse().ok())
            .unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// User-defined networks get the embedded DNS server; the default bridge,
    /// host and none do not (Docker's behaviour).
    pub fn uses_embedded_dns(&self) -> bool {
        !self.predefined && matches!(self.driver, Driver::Bridge | Driver::Macvlan)
    }
}

/// A container's attachment to a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub container_id: String,
    /// Container name without the leading `/`.
    pub container_name: String,
    pub endpoint_id: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub mac: String,
    /// The gateway the container routes through; `None` on internal networks.
    pub gateway: Option<Ipv4Addr>,
    /// Host side of the veth pair (bridge driver).
    pub host_ifname: Option<String>,
    /// The interface name inside the container (`eth0`, `eth1`, ...).
    pub ifname: String,
    pub aliases: Vec<String>,
    /// Names the embedded DNS answers for: name, aliases, short ID.
    pub dns_names: Vec<String>,
    /// Published ports (host port already chosen).
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    /// The netns path used at attach time. Pids are reused, so it is only
    /// trusted while the namespace behind it still has inode `netns_inode`.
    pub netns: Option<PathBuf>,
    /// Identity (inode of the nsfs file) of the namespace at attach time.
    #[serde(default)]
    pub netns_inode: Option<u64>,
}

/// How [`NetworkStore::open`] sets up the predefined networks.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Linux bridge of the default `bridge` network (`pier0`).
    pub default_bridge: String,
    /// `--bip`: fixes the default bridge's subnet and gateway.
    pub default_bridge_subnet: Option<SubnetConfig>,
    /// Pools for automatic subnets.
    pub pools: Vec<AddressPool>,
    /// Host routes that automatic subnets must not overlap.
    pub host_routes: Vec<Ipv4Net>,
    /// Where allocations and endpoints go (volatile state); default `<dir>/runtime`.
    pub runtime_dir: Option<PathBuf>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            default_bridge: "pier0".into(),
            default_bridge_subnet: None,
            pools: ipam::default_pools(),
            host_routes: Vec::new(),
            runtime_dir: None,
        }
    }
}

/// The volatile half of a network record.
#[derive(Debug, Default, Serialize, Deserialize)]
struct NetState {
    #[serde(default)]
    allocations: Allocations,
    #[serde(default)]
    endpoints: BTreeMap<String, EndpointRecord>,
}

/// The store. All methods are synchronous and quick (small files); they are
/// safe to call from async code for the sizes involved.
pub struct NetworkStore {
    dir: PathBuf,
    runtime_dir: PathBuf,
    pools: Vec<AddressPool>,
    nets: Mutex<BTreeMap<String, NetworkRecord>>,
    // Held for the store's lifetime: a second daemon on the same root would
    // hand out the same addresses.
    _lock: File,
}

impl NetworkStore {
    /// Open (creating if needed) the store in `dir` and make sure `bridge`,
    /// `host` and `none` exist.
    pub fn open(dir: &Path, opts: &StoreOptions) -> Result<Self> {
        let nets_dir = dir.join("networks");
        fs::create_dir_all(&nets_dir)
            .map_err(|e| NetError::io(format!("creating {}", nets_dir.display()), e))?;
        let lock = File::create(dir.join("lock"))
            .map_err(|e| NetError::io(format!("creating {}/lock", dir.display()), e))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
            |e| {
                NetError::io(
                    format!(
                        "network store {} is in use by another process",
                        dir.display()
                    ),
                    e.into(),
                )
            },
        )?;
        let runtime_dir = opts
            .runtime_dir
            .clone()
            .unwrap_or_else(|| dir.join("runtime"));
        let state_dir = runtime_dir.join("networks");
        fs::create_dir_all(&state_dir)
            .map_err(|e| NetError::io(format!("creating {}", state_dir.display()), e))?;
        let mut nets = BTreeMap::new();
        for path in json_files(&nets_dir)? {
            let rec: NetworkRecord = read_json(&path)?;
            nets.insert(rec.id.clone(), rec);
        }
        for path in json_files(&state_dir)? {
            let id = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match nets.get_mut(&id) {
                Some(rec) => match read_json::<NetState>(&path) {
                    Ok(st) => {
                        rec.allocations = st.allocations;
                        rec.endpoints = st.endpoints;
                    }
                    // Only a power loss can tear it (see the module docs), and
                    // that ended every container: nothing is allocated.
                    Err(e) => warn!(error = %e, "ignoring unreadable network state"),
                },
                // The network was removed but the crash came before its state went.
                None => remove_if_exists(&path)?,
            }
        }
        let store = NetworkStore {
            dir: dir.to_path_buf(),
            runtime_dir,
            pools: opts.pools.clone(),
            nets: Mutex::new(nets),
            _lock: lock,
        };
        store.ensure_predefined(opts)?;
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, NetworkRecord>> {
        // A panic while holding the lock cannot leave a half-applied record:
        // records are only replaced whole, after they were written.
        self.nets.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ensure_predefined(&self, opts: &StoreOptions) -> Result<()> {
        let mut nets = self.lock();
        let has = |nets: &BTreeMap<String, NetworkRecord>, n: &str| {
            nets.values()
                .find(|r| r.predefined && r.name == n)
                .map(|r| r.id.clone())
        };
        match has(&nets, BRIDGE) {
            Some(id) => {
                // `--bip` changed since last start: follow it if nothing is attached.
                if let (Some(want), Some(rec)) = (opts.default_bridge_subnet, nets.get(&id)) {
                    if rec.ipam != Some(want) && rec.endpoints.is_empty() {
                        let mut rec = rec.clone();
                        rec.ipam = Some(want);
                        rec.allocations = Allocations::default();
                        self.write(&rec)?;
                        nets.insert(id, rec);
                    }
                }
            }
            None => {
                let mut in_use: Vec<Ipv4Net> = opts.host_routes.clone();
                in_use.extend(nets.values().filter_map(|r| r.ipam.map(|c| c.subnet)));
                let cfg = match opts.default_bridge_subnet {
                    Some(c) => c,
                    None => {
                        let subnet = ipam::next_free_subnet(&self.pools, &in_use)
                            .ok_or(NetError::PoolsExhausted)?;
                        ipam::build_config(subnet, None, None)?
                    }
                };
                let options = BTreeMap::from([
                    (
                        "com.docker.network.bridge.default_bridge".to_string(),
                        "true".to_string(),
                    ),
                    (spec::OPT_ICC.to_string(), "true".to_string()),
                    (spec::OPT_MASQUERADE.to_string(), "true".to_string()),
                    (spec::OPT_HOST_BINDING.to_string(), "0.0.0.0".to_string()),
                    (
                        spec::OPT_BRIDGE_NAME.to_string(),
                        opts.default_bridge.clone(),
                    ),
                    (spec::OPT_MTU.to_string(), "1500".to_string()),
                ]);
                let rec = self.new_record(BRIDGE, Driver::Bridge, Some(cfg), options, true);
                let rec = NetworkRecord {
                    interface: Some(opts.default_bridge.clone()),
                    ..rec
                };
                info!(subnet = %cfg.subnet, bridge = %opts.default_bridge, "created default bridge network record");
                self.write(&rec)?;
                nets.insert(rec.id.clone(), rec);
            }
        }
        for (name, driver) in [(HOST, Driver::Host), (NONE, Driver::Null)] {
            if has(&nets, name).is_none() {
                let rec = self.new_record(name, driver, None, BTreeMap::new(), true);
                self.write(&rec)?;
                nets.insert(rec.id.clone(), rec);
            }
        }
        Ok(())
    }

    fn new_record(
        &self,
        name: &str,
        driver: Driver,
        ipam: Option<SubnetConfig>,
        options: BTreeMap<String, String>,
        predefined: bool,
    ) -> NetworkRecord {
        NetworkRecord {
            id: random_id(),
            name: name.to_string(),
            driver,
            created: now_rfc3339(),
            internal: false,
            attachable: false,
            predefined,
            ipam,
            user_subnet: false,
            ipam_options: BTreeMap::new(),
            options,
            labels: BTreeMap::new(),
            interface: None,
            allocations: Allocations::default(),
            endpoints: BTreeMap::new(),
        }
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// All networks, sorted by name.
    pub fn list(&self) -> Vec<NetworkRecord> {
        let mut v: Vec<NetworkRecord> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Look a network up like Docker: full ID, then exact name, then unique ID prefix.
    pub fn get(&self, name_or_id: &str) -> Result<NetworkRecord> {
        let nets = self.lock();
        find(&nets, name_or_id).map(|id| nets[&id].clone())
    }

    /// Create a user network. `host_routes` are only consulted for automatic subnets.
    pub fn create(&self, spec: &NetworkSpec, host_routes: &[Ipv4Net]) -> Result<NetworkRecord> {
        spec.validate_options()?;
        let mut nets = self.lock();
        if nets.values().any(|r| r.name == spec.name) {
            return Err(NetError::NameExists(spec.name.clone()));
        }
        let existing: Vec<Ipv4Net> = nets
            .values()
            .filter_map(|r| r.ipam.map(|c| c.subnet))
            .collect();
        let cfg = match spec.ipam.subnet {
            Some(subnet) => {
                // Docker checks user subnets against other networks only;
                // overlapping a host route is the user's call.
                if existing.iter().any(|s| ipam::overlaps(s, &subnet)) {
                    return Err(NetError::PoolOverlap);
                }
                ipam::build_config(subnet, spec.ipam.gateway, spec.ipam.ip_range)?
            }
            None => {
                let mut in_use = existing.clone();
                in_use.extend_from_slice(host_routes);
                let subnet =
                    ipam::next_free_subnet(&self.pools, &in_use).ok_or(NetError::PoolsExhausted)?;
                ipam::build_config(subnet, None, None)?
            }
        };
        let mut rec = self.new_record(
            &spec.name,
            spec.driver,
            Some(cfg),
            spec.options.clone(),
            false,
        );
        rec.internal = spec.internal;
        rec.attachable = spec.attachable;
        rec.user_subnet = spec.ipam.subnet.is_some();
        rec.ipam_options = spec.ipam_options.clone();
        rec.labels = spec.labels.clone();
        rec.interface = match spec.driver {
            Driver::Bridge => Some(
                spec.options
                    .get(spec::OPT_BRIDGE_NAME)
                    .cloned()
                    .unwrap_or_else(|| format!("br-{}", &rec.id[..12])),
            ),
            Driver::Macvlan => spec.options.get(spec::OPT_PARENT).cloned(),
            Driver::Host | Driver::Null => None,
        };
        if rec.driver == Driver::Bridge {
            if let Some(ifname) = &rec.interface {
                if nets
                    .values()
                    .any(|r| r.driver == Driver::Bridge && r.interface.as_ref() == Some(ifname))
                {
                    return Err(NetError::invalid(format!(
                        "bridge name {ifname} is already used by another network"
                    )));
                }
            }
        }
        self.write(&rec)?;
        debug!(name = %rec.name, id = %rec.id, subnet = %cfg.subnet, "network record created");
        nets.insert(rec.id.clone(), rec.clone());
        Ok(rec)
    }

    /// Remove a user network that has no endpoints; returns the removed record.
    pub fn remove(&self, name_or_id: &str) -> Result<NetworkRecord> {
        let mut nets = self.lock();
        let id = find(&nets, name_or_id)?;
        let rec = &nets[&id];
        if rec.predefined {
            return Err(NetError::Predefined(rec.name.clone()));
        }
        if !rec.endpoints.is_empty() {
            return Err(NetError::ActiveEndpoints {
                name: rec.name.clone(),
                id: rec.id.clone(),
            });
        }
        remove_if_exists(&self.record_path(&id))?;
        remove_if_exists(&self.state_path(&id))?;
        sync_dir(&self.dir.join("networks"));
        nets.remove(&id).ok_or(NetError::NotFound(id))
    }

    /// Apply `f` to a copy of a network record and persist it; the in-memory
    /// record changes only if `f` succeeds and the write is durable.
    pub fn update<T>(
        &self,
        network_id: &str,
        f: impl FnOnce(&mut NetworkRecord) -> Result<T>,
    ) -> Result<T> {
        let mut nets = self.lock();
        let id = find(&nets, network_id)?;
        let old = &nets[&id];
        let mut rec = old.clone();
        let out = f(&mut rec)?;
        if config_part(&rec) != config_part(old) {
            self.write_config(&rec)?;
        }
        if rec.allocations != old.allocations || rec.endpoints != old.endpoints {
            self.write_state(&rec)?;
        }
        nets.insert(id, rec);
        Ok(out)
    }

    /// Allocate an address on a network for `owner` (a container ID).
    pub fn allocate_ip(
        &self,
        network: &str,
        owner: &str,
        requested: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr> {
        self.update(network, |rec| {
            let cfg = rec.ipam.ok_or_else(|| {
                NetError::invalid(format!("network {} has no IP address management", rec.name))
            })?;
            if requested.is_some() && !rec.user_subnet {
                // Docker's text: static IPs only on networks with a user subnet.
                return Err(NetError::invalid(
                    "invalid endpoint settings:\nuser specified IP address is supported only when connecting to networks with user configured subnets",
                ));
            }
            rec.allocations.allocate(&cfg, owner, requested)
        })
    }

    /// Release an address; unknown addresses are ignored.
    pub fn release_ip(&self, network: &str, ip: Ipv4Addr) -> Result<bool> {
        self.update(network, |rec| Ok(rec.allocations.release(ip)))
    }

    /// Record an endpoint (replacing one for the same container).
    pub fn put_endpoint(&self, network: &str, ep: EndpointRecord) -> Result<()> {
        self.update(network, |rec| {
            rec.endpoints.insert(ep.container_id.clone(), ep);
            Ok(())
        })
    }

    /// Forget a container's endpoint and release its addresses.
    pub fn remove_endpoint(
        &self,
        network: &str,
        container_id: &str,
    ) -> Result<Option<EndpointRecord>> {
        self.update(network, |rec| {
            rec.allocations.release_owner(container_id);
            Ok(rec.endpoints.remove(container_id))
        })
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join("networks").join(format!("{id}.json"))
    }

    fn state_path(&self, id: &str) -> PathBuf {
        self.runtime_dir.join("networks").join(format!("{id}.json"))
    }

    /// Persist both halves (creation, `--bip` change).
    fn write(&self, rec: &NetworkRecord) -> Result<()> {
        self.write_config(rec)?;
        self.write_state(rec)
    }

    fn write_config(&self, rec: &NetworkRecord) -> Result<()> {
        write_atomic(
            &self.record_path(&rec.id),
            &encode(&config_part(rec))?,
            true,
        )
    }

    fn write_state(&self, rec: &NetworkRecord) -> Result<()> {
        let st = NetState {
            allocations: rec.allocations.clone(),
            endpoints: rec.endpoints.clone(),
        };
        write_atomic(&self.state_path(&rec.id), &encode(&st)?, false)
    }
}

/// The record without its volatile half.
fn config_part(rec: &NetworkRecord) -> NetworkRecord {
    NetworkRecord {
        allocations: Allocations::default(),
        endpoints: BTreeMap::new(),
        ..rec.clone()
    }
}

fn find(nets: &BTreeMap<String, NetworkRecord>, key: &str) -> Result<String> {
    if key.is_empty() {
        return Err(NetError::NotFound(key.to_string()));
    }
    if nets.contains_key(key) {
        return Ok(key.to_string());
    }
    if let Some(r) = nets.values().find(|r| r.name == key) {
        return Ok(r.id.clone());
    }
    let matches: Vec<&String> = nets.keys().filter(|id| id.starts_with(key)).collect();
    match matches.len() {
        0 => Err(NetError::NotFound(key.to_string())),
        1 => Ok(matches[0].clone()),
        n => Err(NetError::Ambiguous(key.to_string(), n)),
    }
}

/// A 64-hex-digit random ID, like Docker's.
pub fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
