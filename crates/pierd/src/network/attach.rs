//! A container's endpoints around its run: connected after the shim has
//! created the container (its netns exists, init waits for START) and
//! before START; released when it exits or is removed.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use pier_network::files::HostsEntry;
use pier_network::{render_hosts, ConnectRequest, DnsOverrides, HostsInput, NetnsRef, Networking};

use super::plan::{self, StartPlan};
use super::{net_err, networking};
use crate::containers::record::ContainerRecord;
use crate::containers::ContainerError;
use crate::daemon::Daemon;

/// Connects the container's fresh namespace (init `pid`) to its networks
/// and writes its hosts and resolv.conf. On error every endpoint made so
/// far is released.
pub async fn connect_at_start(
    d: &Daemon,
    rec: &ContainerRecord,
    dir: &Path,
    pid: u32,
    start_plan: &StartPlan,
) -> Result<(), ContainerError> {
    let networks = match start_plan {
        StartPlan::Host | StartPlan::Join { .. } => return Ok(()),
        StartPlan::Isolated => Vec::new(),
        StartPlan::Networks(n) => n.clone(),
    };
    let net = networking(d)?;
    let res = connect_all(d, net, rec, dir, pid, &networks).await;
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
    pid: u32,
    networks: &[(String, pier_api::models::EndpointSettings)],
) -> Result<(), ContainerError> {
    let ns = NetnsRef::Pid(pid);
    let ports = plan::port_requests(&rec.host_config, &rec.config)
        .map_err(|e| ContainerError::InvalidParameter(e.to_string()))?;
    let name = rec.name.trim_start_matches('/');
    for (i, (network, settings)) in networks.iter().enumerate() {
        let aliases = settings.aliases.clone().unwrap_or_default();
        let req = ConnectRequest {
            container_id: &rec.id,
            container_name: name,
            netns: &ns,
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
