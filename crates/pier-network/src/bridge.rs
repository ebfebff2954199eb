//! Linux bridges and veth pairs over rtnetlink (no `ip` binary).
//!
//! Every interface Pier creates on the host gets an interface alias
//! (`IFLA_IFALIAS`, shown by `ip link` as `alias`) of the form
//! `<marker>:<owner>`; `cleanup` deletes exactly the links carrying our
//! marker, so it never touches Docker's or anyone else's interfaces.

use std::net::Ipv4Addr;

use futures_util::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth,
    RouteMessageBuilder,
};
use tracing::{debug, info, warn};

use crate::error::{NetError, Result};
use crate::netns::{netlink_host, netlink_in, NetlinkIn, NetnsRef};

const ENOENT: i32 = 2;
const ENODEV: i32 = 19;
const EEXIST: i32 = 17;

/// The errno of a netlink NACK, if that is what `e` is.
pub(crate) fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

/// What to create for one container endpoint on a bridge.
#[derive(Debug, Clone)]
pub struct VethRequest<'a> {
    pub netns: &'a NetnsRef,
    pub bridge: &'a str,
    /// Name inside the container (`eth0`).
    pub ifname: &'a str,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// Default route via this gateway; `None` for internal networks or when
    /// another network already provides the default route.
    pub gateway: Option<Ipv4Addr>,
    pub mac: [u8; 6],
    pub mtu: Option<u32>,
    /// Written into the host veth's alias after the marker (container ID prefix).
    pub owner: &'a str,
}

/// A link carrying our marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedLink {
    pub index: u32,
    pub name: String,
    pub kind: Option<String>,
    pub alias: String,
}

/// Bridge and veth management in the daemon's namespace.
pub struct BridgeDriver {
    nl: NetlinkIn,
    marker: String,
}

fn link_name(msg: &LinkMessage) -> Option<String> {
    msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

fn link_alias(msg: &LinkMessage) -> Option<String> {
    msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfAlias(n) => Some(n.clone()),
        _ => None,
    })
}

fn link_kind(msg: &LinkMessage) -> Option<String> {
    msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k.to_string()),
            _ => None,
        }),
        _ => None,
    })
}

/// Look a link up by name; `None` if it does not exist.
pub(crate) async fn get_link(h: &Handle, name: &str) -> Result<Option<LinkMessage>> {
    let mut s = h.link().get().match_name(name.to_string()).execute();
    match s.try_next().await {
        Ok(m) => Ok(m),
        Err(e) if matches!(errno(&e), Some(ENODEV) | Some(ENOENT)) => Ok(None),
        Err(e) => Err(NetError::netlink(format!("looking up link {name}"), e)),
    }
}

fn random_mac() -> [u8; 6] {
    let mut mac: [u8; 6] = rand::random();
    // Locally administered, unicast.
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

/// Write a sysctl under /proc/sys.
pub fn write_sysctl(path: &str, value: &str) -> Result<()> {
    let full = format!("/proc/sys/{path}");
    if std::fs::read_to_string(&full)
        .map(|v| v.trim() == value)
        .unwrap_or(false)
    {
        return Ok(());
    }
    std::fs::write(&full, value).map_err(|e| NetError::io(format!("writing {full}"), e))
}

impl BridgeDriver {
    /// Open a netlink connection in the current namespace. `marker` names
    /// this Pier instance in interface aliases (`pier` for the daemon).
    pub fn new(marker: &str) -> Result<Self> {
        Ok(BridgeDriver {
            nl: netlink_host()?,
            marker: marker.to_string(),
        })
    }

    fn h(&self) -> &Handle {
        &self.nl.handle
    }

    /// The host-namespace netlink handle.
    pub(crate) fn handle(&self) -> &Handle {
        &self.nl.handle
    }

    fn alias_for(&self, owner: &str) -> String {
        format!("{}:{}", self.marker, owner)
    }

    async fn set_alias(&self, index: u32, alias: &str) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).alias(alias).build();
        self.h()
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| NetError::netlink("setting interface alias", e))
    }

    /// Create the bridge if missing (reusing one left by a crash), give it
    /// `gateway/prefix_len`, bring it up. Returns its ifindex.
    pub async fn ensure_bridge(
        &self,
        name: &str,
        gateway: Ipv4Addr,
        prefix_len: u8,
        mtu: Option<u32>,
        owner: &str,
    ) -> Result<u32> {
        let existing = get_link(self.h(), name).await?;
        let (index, ours) = match existing {
            Some(msg) => {
                if link_kind(&msg).as_deref() != Some("bridge") {
                    return Err(NetError::invalid(format!(
                        "interface {name} exists and is not a bridge"
                    )));
                }
                let ours =
                    link_alias(&msg).is_some_and(|a| a.starts_with(&format!("{}:", self.marker)));
                debug!(bridge = name, ours, "reusing existing bridge");
                (msg.header.index, ours)
            }
            None => {
                let mut b = LinkBridge::new(name).address(random_mac().to_vec());
                if let Some(m) = mtu {
                    b = b.mtu(m);
                }
                match self.h().link().add(b.build()).execute().await {
                    Ok(()) => {}
                    // Someone created it between our lookup and add: reuse it.
                    Err(e) if errno(&e) == Some(EEXIST) => {}
                    Err(e) => return Err(NetError::netlink(format!("creating bridge {name}"), e)),
                }
                let msg = get_link(self.h(), name).await?.ok_or_else(|| {
                    NetError::invalid(format!("bridge {name} vanished right after creation"))
                })?;
                info!(bridge = name, "bridge created");
                (msg.header.index, true)
            }
        };
        if ours {
            self.set_alias(index, &self.alias_for(owner)).await?;
        }
        // Addresses: add ours if missing; on a bridge we own, drop stale
        // IPv4 addresses from an earlier configuration.
        let mut addrs = self
            .h()
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut have = false;
        let mut stale = Vec::new();
        while let Some(a) = addrs
            .try_next()
            .await
            .map_err(|e| NetError::netlink(format!("listing addresses of {name}"), e))?
        {
            let ip = a.attributes.iter().find_map(|at| match at {
                AddressAttribute::Local(std::net::IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            });
            if let Some(ip) = ip {
                if ip == gateway && a.header.prefix_len == prefix_len {
                    have = true;
                } else {
                    stale.push(a);
                }
            }
        }
        if ours {
            for a in stale {
                if let Err(e) = self.h().address().del(a).execute().await {
                    warn!(bridge = name, error = %e, "removing stale bridge address");
                }
            }
        }
        if !have {
            match self
                .h()
                .address()
                .add(index, gateway.into(), prefix_len)
                .execute()
                .await
            {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(EEXIST) => {}
                Err(e) => {
                    return Err(NetError::netlink(
                        format!("adding {gateway}/{prefix_len} to {name}"),
                        e,
                    ))
                }
            }
        }
        self.h()
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("bringing {name} up"), e))?;
        // Lets DNAT'd connections to 127.0.0.1:<published port> leave through
        // the bridge (see firewall.rs: they are masqueraded to the gateway
        // and 127/8 arriving from the bridge is dropped).
        write_sysctl(&format!("net/ipv4/conf/{name}/route_localnet"), "1")?;
        Ok(index)
    }

    /// Delete a link by name; `false` if it did not exist.
    pub async fn delete_link(&self, name: &str) -> Result<bool> {
        let Some(msg) = get_link(self.h(), name).await? else {
            return Ok(false);
        };
        match self.h().link().del(msg.header.index).execute().await {
            Ok(()) => Ok(true),
            Err(e) if matches!(errno(&e), Some(ENODEV) | Some(ENOENT)) => Ok(false),
            Err(e) => Err(NetError::netlink(format!("deleting {name}"), e)),
        }
    }

    /// Create a veth pair: host side `veth<7 hex>` enslaved to the bridge and
    /// up, container side created directly inside the namespace under its
    /// final name and MAC, then addressed and routed. Returns the host name.
    pub async fn attach(&self, req: &VethRequest<'_>) -> Result<String> {
        let bridge = get_link(self.h(), req.bridge)
            .await?
            .ok_or_else(|| NetError::invalid(format!("bridge {} does not exist", req.bridge)))?;
        let ns = req.netns.open()?;
        let mut host = String::new();
        for attempt in 0..4 {
            host = format!("veth{:07x}", rand::random::<u32>() & 0x0fff_ffff);
            // The peer is created directly in the container's namespace,
            // already named and with its MAC: no rename, no move. (It cannot
            // be created up: the kernel refuses to open a veth end before
            // its peer exists, ENOTCONN.)
            let mut peer = LinkMessageBuilder::<LinkUnspec>::new()
                .name(req.ifname.to_string())
                .address(req.mac.to_vec())
                .setns_by_fd(std::os::fd::AsRawFd::as_raw_fd(&ns));
            let mut msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                .name(host.clone())
                .controller(bridge.header.index)
                .up();
            if let Some(m) = req.mtu {
                peer = peer.mtu(m);
                msg = msg.mtu(m);
            }
            let msg = msg
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
                .build();
            match self.h().link().add(msg).execute().await {
                Ok(()) => break,
                Err(e) if errno(&e) == Some(EEXIST) && attempt < 3 => {
                    // Either our random host name collided (retry) or the
                    // container already has `ifname` (report it).
                    if get_link(self.h(), &host).await?.is_none() {
                        return Err(NetError::invalid(format!(
                            "interface {} already exists in the container's namespace",
                            req.ifname
                        )));
                    }
                }
                Err(e) => return Err(NetError::netlink("creating veth pair", e)),
            }
        }
        let res = async {
            if let Some(m) = get_link(self.h(), &host).await? {
                // One request: our marker, and hairpin mode on the bridge port.
                // Hairpin lets a container reach its own published port via
                // the host's address: with br_netfilter the DNAT'd frame is
                // bridged straight back out of the port it came in on.
                let msg = LinkBridgePort::new(m.header.index)
                    .hairpin(true)
                    .alias(self.alias_for(req.owner))
                    .build();
                self.h()
                    .link()
                    .set_port(msg)
                    .execute()
                    .await
                    .map_err(|e| NetError::netlink("configuring the bridge port", e))?;
            }
            configure_inside(req.netns, req.ifname, req.ip, req.prefix_len, req.gateway).await
        }
        .await;
        if let Err(e) = res {
            // Do not leave half an endpoint behind.
            let _ = self.delete_link(&host).await;
            return Err(e);
        }
        Ok(host)
    }

    /// Remove a veth pair by its host-side name (gone already is fine: the
    /// kernel destroys it with the container's namespace). Only a link
    /// carrying our marker is deleted, never one that reused the name.
    pub async fn detach(&self, host_ifname: &str) -> Result<()> {
        self.detach_owned(host_ifname, None).await
    }

    /// [`detach`](Self::detach), and with `owner` only the link made for
    /// that container (`VethRequest::owner`): a late deletion must not hit
    /// a newer link that drew the same random name.
    pub async fn detach_owned(&self, host_ifname: &str, owner: Option<&str>) -> Result<()> {
        let Some(msg) = get_link(self.h(), host_ifname).await? else {
            return Ok(());
        };
        let ours = link_alias(&msg).is_some_and(|a| match owner {
            Some(o) => a == self.alias_for(o),
            None => a.starts_with(&format!("{}:", self.marker)),
        });
        if !ours {
            warn!(link = host_ifname, "not deleting a link that is not ours");
            return Ok(());
        }
        match self.h().link().del(msg.header.index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if matches!(errno(&e), Some(ENODEV) | Some(ENOENT)) => Ok(()),
            Err(e) => Err(NetError::netlink(format!("deleting {host_ifname}"), e)),
        }
    }

    /// IPv4 routes of the main table, except the default route: automatic
    /// subnets must not overlap them.
    pub async fn host_routes(&self) -> Result<Vec<Ipv4Net>> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let mut s = self.h().route().get(msg).execute();
        let mut out = Vec::new();
        while let Some(r) = s
            .try_next()
            .await
            .map_err(|e| NetError::netlink("listing routes", e))?
        {
            if r.header.destination_prefix_length == 0 || r.header.table != 254 {
                continue;
            }
            let dst = r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
                _ => None,
            });
            if let Some(ip) = dst {
                if let Ok(net) = Ipv4Net::new(ip, r.header.destination_prefix_length) {
                    out.push(net.trunc());
                }
            }
        }
        Ok(out)
    }

    /// Links carrying this instance's marker.
    pub async fn marked_links(&self) -> Result<Vec<MarkedLink>> {
        let prefix = format!("{}:", self.marker);
        let mut s = self.h().link().get().execute();
        let mut out = Vec::new();
        while let Some(m) = s
            .try_next()
            .await
            .map_err(|e| NetError::netlink("listing links", e))?
        {
            if let (Some(alias), Some(name)) = (link_alias(&m), link_name(&m)) {
                if alias.starts_with(&prefix) {
                    out.push(MarkedLink {
                        index: m.header.index,
                        name,
                        kind: link_kind(&m),
                        alias,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Delete every link carrying our marker (veths first, then bridges).
    pub async fn cleanup(&self) -> Result<Vec<String>> {
        let mut links = self.marked_links().await?;
        links.sort_by_key(|l| l.kind.as_deref() == Some("bridge"));
        let mut removed = Vec::new();
        for l in links {
            match self.h().link().del(l.index).execute().await {
                Ok(()) => removed.push(l.name),
                // Deleting one veth end removes its peer too.
                Err(e) if matches!(errno(&e), Some(ENODEV) | Some(ENOENT)) => {}
                Err(e) => warn!(link = %l.name, error = %e, "cleanup: deleting link"),
            }
        }
        Ok(removed)
    }
}

/// Inside the container namespace: address `ifname`, bring it and `lo` up,
/// and add the default route (unless one exists already, e.g. from the
/// network the container joined first).
pub(crate) async fn configure_inside(
    ns: &NetnsRef,
    ifname: &str,
    ip: Ipv4Addr,
    prefix_len: u8,
    gateway: Option<Ipv4Addr>,
) -> Result<()> {
    let nl = netlink_in(ns).await?;
    let h = &nl.handle;
    let link = get_link(h, ifname)
        .await?
        .ok_or_else(|| NetError::invalid(format!("{ifname} missing in the container namespace")))?;
    let idx = link.header.index;
    // Address, link up and `lo` up are independent: send them in parallel
    // on the one netlink socket.
    let addr = async {
        match h.address().add(idx, ip.into(), prefix_len).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(EEXIST) => Ok(()),
            Err(e) => Err(NetError::netlink(
                format!("adding {ip}/{prefix_len} to {ifname}"),
                e,
            )),
        }
    };
    let up = async {
        h.link()
            .set(LinkUnspec::new_with_index(idx).up().build())
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("bringing {ifname} up"), e))
    };
    let (a, u, l) = futures_util::future::join3(addr, up, set_lo_up(h)).await;
    a?;
    u?;
    l?;
    if let Some(gw) = gateway {
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(Ipv4Addr::UNSPECIFIED, 0)
            .gateway(gw)
            .output_interface(idx)
            .build();
        match h.route().add(route).execute().await {
            Ok(()) => {}
            Err(e) if errno(&e) == Some(EEXIST) => {
                debug!(ifname, "default route exists already; keeping it");
            }
            Err(e) => {
                return Err(NetError::netlink(
                    format!("adding default route via {gw}"),
                    e,
                ))
            }
        }
    }
    Ok(())
}

/// The loopback device is ifindex 1 in every network namespace
/// (`LOOPBACK_IFINDEX`), which saves a lookup.
pub(crate) async fn set_lo_up(h: &Handle) -> Result<()> {
    h.link()
        .set(LinkUnspec::new_with_index(1).up().build())
        .execute()
        .await
        .map_err(|e| NetError::netlink("bringing lo up", e))
}

/// For `--network none`: only `lo` up.
pub async fn loopback_only(ns: &NetnsRef) -> Result<()> {
    let nl = netlink_in(ns).await?;
    set_lo_up(&nl.handle).await
}

/// Delete an interface inside a container namespace (macvlan disconnect).
pub async fn delete_inside(ns: &NetnsRef, ifname: &str) -> Result<()> {
    let nl = netlink_in(ns).await?;
    if let Some(l) = get_link(&nl.handle, ifname).await? {
        match nl.handle.link().del(l.header.index).execute().await {
            Ok(()) => {}
            Err(e) if matches!(errno(&e), Some(ENODEV) | Some(ENOENT)) => {}
            Err(e) => return Err(NetError::netlink(format!("deleting {ifname}"), e)),
        }
    }
    Ok(())
}
