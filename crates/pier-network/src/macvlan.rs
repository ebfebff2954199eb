//! macvlan endpoints (`docker network create -d macvlan -o parent=IFACE`).
//!
//! The macvlan interface is created directly inside the container's
//! namespace (IFLA_NET_NS_FD on RTM_NEWLINK) under its final name, so there
//! is no host-side interface to track or clean up: it disappears with the
//! namespace. No NAT or firewall rules apply; the container sits directly on
//! the parent's L2 segment, and its gateway is the segment's router.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use rtnetlink::packet_route::link::MacVlanMode;
use rtnetlink::LinkMacVlan;

use crate::bridge::{configure_inside, errno, get_link};
use crate::error::{NetError, Result};
use crate::netns::NetnsRef;

const EEXIST: i32 = 17;

/// What to create for one macvlan endpoint.
#[derive(Debug, Clone)]
pub struct MacvlanRequest<'a> {
    pub netns: &'a NetnsRef,
    /// Host interface the macvlan hangs off.
    pub parent: &'a str,
    /// `bridge` (default), `private`, `vepa`, `passthru`.
    pub mode: &'a str,
    pub ifname: &'a str,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: [u8; 6],
    pub mtu: Option<u32>,
}

fn mode(m: &str) -> MacVlanMode {
    match m {
        "private" => MacVlanMode::Private,
        "vepa" => MacVlanMode::Vepa,
        "passthru" => MacVlanMode::Passthrough,
        _ => MacVlanMode::Bridge,
    }
}

/// Create and configure the macvlan interface inside the container.
pub async fn attach(host: &rtnetlink::Handle, req: &MacvlanRequest<'_>) -> Result<()> {
    let parent = get_link(host, req.parent).await?.ok_or_else(|| {
        NetError::invalid(format!(
            "-o parent interface was not found on the host: {}",
            req.parent
        ))
    })?;
    let ns = req.netns.open()?;
    let mut b = LinkMacVlan::new(req.ifname, parent.header.index, mode(req.mode))
        .address(req.mac.to_vec())
        .up()
        .setns_by_fd(ns.as_raw_fd());
    if let Some(m) = req.mtu {
        b = b.mtu(m);
    }
    match host.link().add(b.build()).execute().await {
        Ok(()) => {}
        Err(e) if errno(&e) == Some(EEXIST) => {
            return Err(NetError::invalid(format!(
                "interface {} already exists in the container's namespace",
                req.ifname
            )))
        }
        Err(e) => {
            return Err(NetError::netlink(
                format!("creating macvlan on {}", req.parent),
                e,
            ))
        }
    }
    let res = configure_inside(req.netns, req.ifname, req.ip, req.prefix_len, req.gateway).await;
    if res.is_err() {
        let _ = crate::bridge::delete_inside(req.netns, req.ifname).await;
    }
    res
}
