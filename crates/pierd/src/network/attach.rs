//! A container's endpoints around its run: connected after the shim has
//! created the container (its netns exists, init waits for START) and
//! before START; released when it exits or is removed.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use pier_network::files::HostsEntry;
use pier_network::{
    render_hosts, ConnectRequest, DnsOverrides, HostsInput, NetnsRef, Networking, OwnedNetns,
};

use super::plan::{self, StartPlan};
use super::{net_err, networking};
use crate::containers::record::ContainerRecord;
use crate::containers::ContainerError;
use crate::daemon::Daemon;
use crate::runtime::{self, RuntimeError};

/// A network namespace made by pierd for a container whose networks are
/// all bridges, so they are wired while the shim creates the container
/// (the spec joins it). `None` when the runtime makes the namespace itself:
/// host, none, `container:`, and macvlan (its endpoint record keeps the
/// namespace's path for a later disconnect, which must stay valid).
pub async fn precreate_netns(
    d: &Daemon,
    start_plan: &StartPlan,
) -> Result<Option<OwnedNetns>, ContainerError> {
    let StartPlan::Networks(networks) = start_plan else {
        return Ok(None);
    };
    let net = networking(d)?;
    let all_bridges = networks.iter().all(|(n, _)| {
        net.store()
            .get(n)
            .is_ok_and(|r| r.driver == pier_network::Driver::Bridge)
    });
    if !all_bridges {
        return Ok(None);
    }
    OwnedNetns::create().await.map(Some).map_err(net_err)
}

/// Launches the shim (libcontainer creates the container, init waits for
/// START) and connects the container's networks: at the same time into
/// `own_netns` when pierd made the namespace, else into init's namespace
/// once it exists. A failure leaves no endpoint and no created container.
pub async fn launch_connected(
    d: &Daemon,
    rec: &ContainerRecord,
    dir: &Path,
    shim_cfg: &runtime::ShimConfig,
    own_netns: Option<OwnedNetns>,
    start_plan: &StartPlan,
) -> Result<u32, RuntimeError> {
    let shim_json = dir.join("shim.json");
    let (launched, connected) = match &own_netns {
        Some(ns) => {
            let ns = ns.netns_ref();
            // Its own task: wiring the network runs stretches of synchronous
            // work (IPAM, state files) that would otherwise hold back the
            // shim's spawn on this task.
            let (bin, cfg, json) = (d.shim_path.clone(), shim_cfg.clone(), shim_json.clone());
            let launch = tokio::spawn(async move { runtime::launch(&bin, &cfg, &json).await });
            let launch = async {
                launch
                    .await
                    .unwrap_or_else(|e| Err(RuntimeError::Shim(format!("launch task: {e}"))))
            };
            tokio::join!(launch, connect_at_start(d, rec, dir, &ns, start_plan))
        }
        None => match runtime::launch(&d.shim_path, shim_cfg, &shim_json).await {
            Ok(pid) => {
                let ns = NetnsRef::Pid(pid);
                let connected = connect_at_start(d, rec, dir, &ns, start_plan).await;
                (Ok(pid), connected)
            }
            Err(e) => (Err(e), Ok(())),
        },
    };
    // Init has joined the namespace (or never will): it needs no holder.
    drop(own_netns);
    match (launched, connected) {
        (Ok(pid), Ok(())) => Ok(pid),
        (Ok(_), Err(e)) => {
            abort_created(&shim_cfg.socket).await;
            Err(RuntimeError::Create {
                exit_code: 128,
                message: e.to_string(),
            })
        }
        (Err(e), connected) => {
            if connected.is_ok() {
                release(d, &rec.id).await;
            }
            Err(e)
        }
    }
}

/// Connects the container's fresh namespace `ns` (its init's, or one from
/// [`precreate_netns`]) to its networks and writes its hosts and
/// resolv.conf. On error every endpoint made so far is released.
pub async fn connect_at_start(
    d: &Daemon,
    rec: &ContainerRecord,
    dir: &Path,
    ns: &NetnsRef,
    start_plan: &StartPlan,
) -> Result<(), ContainerError> {
    let networks = match start_plan {
        StartPlan::Host | StartPlan::Join { .. } => return Ok(()),
        StartPlan::Isolated => Vec::new(),
        StartPlan::Networks(n) => n.clone(),
    };
    let net = networking(d)?;
    let res = connect_all(d, net, rec, dir, ns, &networks).await;
    if res.is_err() {
        if let Err(e) = net.disconnect_all(&rec.id).await {
            tracing::warn!(id = %rec.id, "releasing endpoints after a failed start: {e}");
        }
    }
    res
}

async fn connect_all(
    d: &Daemon,
    net: &Networking,
    rec: &ContainerRecord,
    dir: &Path,
    ns: &NetnsRef,
    networks: &[(String, pier_api::models::EndpointSettings)],
) -> Result<(), ContainerError> {
    let ports = plan::port_requests(&rec.host_config, &rec.config)
        .map_err(|e| ContainerError::InvalidParameter(e.to_string()))?;
    let name = rec.name.trim_start_matches('/');
    for (i, (network, settings)) in networks.iter().enumerate() {
        let aliases = settings.aliases.clone().unwrap_or_default();
        let req = ConnectRequest {
            container_id: &rec.id,
            container_name: name,
            netns: ns,
            aliases: &aliases,
            ipv4: plan::requested_ip(settings)?,
            mac: plan::requested_mac(settings)?,
            ports: if i == 0 { &ports } else { &[] },
        };
        net.connect(network, &req).await.map_err(start_error)?;
    }
    net.set_container_dns(&rec.id, &dns_servers(rec));
    write_etc_files(d, net, rec, dir)
}

/// A failure while connecting fails the start with the library's text
/// (`Bind for 0.0.0.0:8080 failed: port is already allocated`).
fn start_error(e: pier_network::NetError) -> ContainerError {
    match e {
        pier_network::NetError::NotFound(n) => ContainerError::NetworkNotFound(n),
        e @ pier_network::NetError::PortAllocated(_) => ContainerError::Runtime(format!(
            "driver failed programming external connectivity on endpoint: {e}"
        )),
        other => ContainerError::Runtime(other.to_string()),
    }
}

fn dns_servers(rec: &ContainerRecord) -> Vec<IpAddr> {
    rec.host_config
        .dns
        .iter()
        .flatten()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// `--link name:alias` entries for /etc/hosts: the linked container's
/// address on the first network it shares with us.
fn link_entries(d: &Daemon, net: &Networking, rec: &ContainerRecord) -> Vec<HostsEntry> {
    let mine: Vec<String> = net
        .endpoints_of(&rec.id)
        .into_iter()
        .map(|(r, _)| r.id)
        .collect();
    let mut out = Vec::new();
    for link in rec.host_config.links.iter().flatten() {
        let (target, alias) = link.split_once(':').unwrap_or((link, link));
        let target = target.trim_start_matches('/');
        let alias = alias.rsplit('/').next().unwrap_or(alias);
        let Ok(other) = d.containers.get(target) else {
            continue;
        };
        let Some((_, ep)) = net
            .endpoints_of(&other.id)
            .into_iter()
            .find(|(r, _)| mine.contains(&r.id))
        else {
            continue;
        };
        let other_name = other.name().trim_start_matches('/').to_string();
        let mut names = vec![alias.to_string()];
        for n in [other.id[..12.min(other.id.len())].to_string(), other_name] {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        out.push(HostsEntry {
            ip: IpAddr::V4(ep.ip),
            names,
        });
    }
    out
}

/// Writes hosts and resolv.conf in place: they are bind-mounted into a
/// container that may already exist, and a rename would leave the mount on
/// the old inode.
pub fn write_etc_files(
    d: &Daemon,
    net: &Networking,
    rec: &ContainerRecord,
    dir: &Path,
) -> Result<(), ContainerError> {
    let ip: Option<Ipv4Addr> = net.endpoints_of(&rec.id).first().map(|(_, ep)| ep.ip);
    let hostname = rec.config.hostname.clone().unwrap_or_default();
    let domainname = rec.config.domainname.clone().unwrap_or_default();
    let links = link_entries(d, net, rec);
    let extra_hosts = rec.host_config.extra_hosts.clone().unwrap_or_default();
    let hosts = render_hosts(&HostsInput {
        hostname: &hostname,
        domainname: &domainname,
        ip,
        extra_hosts: &extra_hosts,
        links: &links,
        host_gateway: net.host_gateway(),
        ipv6_lines: true,
    })
    .map_err(|e| ContainerError::InvalidParameter(e.to_string()))?;
    let dns = dns_servers(rec);
    let search = rec.host_config.dns_search.clone().unwrap_or_default();
    let options = rec.host_config.dns_options.clone().unwrap_or_default();
    let resolv = net.resolv_conf_for(
        &rec.id,
        &DnsOverrides {
            dns: &dns,
            search: &search,
            options: &options,
        },
    );
    write_in_place(&dir.join("hosts"), hosts.as_bytes())?;
    write_in_place(&dir.join("resolv.conf"), resolv.as_bytes())
}

fn write_in_place(path: &Path, bytes: &[u8]) -> Result<(), ContainerError> {
    use crate::containers::IoContext;
    std::fs::write(path, bytes).ctx(|| format!("writing {}", path.display()))
}

/// Releases every endpoint of a container (it stopped or is removed).
pub async fn release(d: &Daemon, id: &str) {
    let Some(net) = d.network.as_deref() else {
        return;
    };
    if let Err(e) = net.disconnect_all(id).await {
        tracing::warn!(id, "releasing network endpoints: {}", net_err(e));
    }
}

/// Waits until the host-side veths of released endpoints are deleted
/// (`release` leaves that to pier-network's reaper).
pub async fn settle(d: &Daemon) {
    if let Some(net) = d.network.as_deref() {
        net.settle_links().await;
    }
}

/// Kills a created container whose start is abandoned (its networking
/// failed) and waits for its shim to record the end, so the failed start
/// leaves no process and no late exit record behind.
pub async fn abort_created(socket: &Path) {
    use crate::runtime::{next_event_conn, ShimConnection, ShimEvent, ShimRequest};
    let Ok(mut conn) = ShimConnection::connect(socket).await else {
        return;
    };
    if conn.send(&ShimRequest::Signal(9)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(ev) = next_event_conn(&mut conn).await {
            if matches!(ev, ShimEvent::Exited { .. }) {
                break;
            }
        }
    })
    .await;
}
