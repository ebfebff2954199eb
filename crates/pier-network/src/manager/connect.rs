//! Connecting and disconnecting containers, and re-adopting them after a
//! daemon restart. Every connect either completes (interface, address,
//! store record, ports, firewall, DNS) or is rolled back.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Instant;

use tracing::{debug, warn};

use super::{lock, short, ConnectRequest, ContainerState, Endpoint, Networking};
use crate::bridge::{self, VethRequest};
use crate::error::{NetError, Result};
use crate::ipam::{self, SubnetConfig};
use crate::macvlan::{self, MacvlanRequest};
use crate::netns::NetnsRef;
use crate::portmap::PortRequest;
use crate::spec::{self, Driver};
use crate::store::{self, EndpointRecord, NetworkRecord};

/// When a bridge endpoint's host-side veth is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unlink {
    /// Before the call returns: the namespace lives on (`network
    /// disconnect`, a failed connect being rolled back).
    Now,
    /// By the reaper: the container has stopped.
    Later,
}

impl Networking {
    /// Every endpoint a container has: (network record, endpoint).
    pub fn endpoints_of(&self, container_id: &str) -> Vec<(NetworkRecord, EndpointRecord)> {
        self.store
            .list()
            .into_iter()
            .filter_map(|r| r.endpoints.get(container_id).cloned().map(|e| (r, e)))
            .collect()
    }

    /// Attach a container to a network. `Ok(None)` for `host` (nothing to
    /// do) and `none` (only `lo` is brought up).
    pub async fn connect(
        &self,
        network: &str,
        req: &ConnectRequest<'_>,
    ) -> Result<Option<Endpoint>> {
        let started = Instant::now();
        let _g = self.op.lock().await;
        let rec = self.store.get(network)?;
        if rec.driver != Driver::Host && req.netns.is_host() {
            return Err(NetError::invalid(format!(
                "refusing to attach {} to network {}: {} is the host's own network namespace",
                req.container_name,
                rec.name,
                req.netns.path().display()
            )));
        }
        match rec.driver {
            Driver::Host => return Ok(None),
            Driver::Null => {
                bridge::loopback_only(req.netns).await?;
                return Ok(None);
            }
            Driver::Bridge | Driver::Macvlan => {}
        }
        if rec.endpoints.contains_key(req.container_id) {
            return Err(NetError::AlreadyAttached {
                container: req.container_name.to_string(),
                network: rec.name.clone(),
            });
        }
        let cfg = rec
            .ipam
            .ok_or_else(|| NetError::invalid(format!("network {} has no subnet", rec.name)))?;
        if rec.driver == Driver::Bridge {
            let was_active = lock(&self.active).contains(&rec.id);
            self.ensure_bridge(&rec).await?;
            // A bridge brought up by its first container (the default one)
            // needs its NAT and isolation rules now, not at the next change.
            if !was_active {
                self.apply_firewall().await?;
            }
        }
        if req.ipv4.is_some() || req.mac.is_some() {
            // A stopped container's veth may still hold this address or MAC.
            self.reaper.settle().await;
        }
        let ip = self
            .store
            .allocate_ip(&rec.id, req.container_id, req.ipv4)?;
        let res = self.connect_allocated(&rec, cfg, ip, req).await;
        match res {
            Ok(ep) => {
                debug!(container = req.container_id, network = %rec.name, %ip, elapsed_us = started.elapsed().as_micros() as u64, "connected");
                Ok(Some(ep))
            }
            Err(e) => {
                let _ = self.store.release_ip(&rec.id, ip);
                Err(e)
            }
        }
    }

    async fn connect_allocated(
        &self,
        rec: &NetworkRecord,
        cfg: SubnetConfig,
        ip: Ipv4Addr,
        req: &ConnectRequest<'_>,
    ) -> Result<Endpoint> {
        let mac = req.mac.unwrap_or_else(|| ipam::mac_for_ip(ip));
        let used: BTreeSet<String> = self
            .endpoints_of(req.container_id)
            .into_iter()
            .map(|(_, e)| e.ifname)
            .collect();
        let ifname = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !used.contains(n))
            .unwrap_or_else(|| "eth0".into());
        let gateway = (!rec.internal).then_some(cfg.gateway);
        let prefix_len = cfg.subnet.prefix_len();
        let endpoint_id = store::random_id();
        let host_ifname = match rec.driver {
            Driver::Bridge => {
                let bridge = rec.interface.as_deref().unwrap_or_default();
                Some(
                    self.links
                        .attach(&VethRequest {
                            netns: req.netns,
                            bridge,
                            ifname: &ifname,
                            ip,
                            prefix_len,
                            gateway,
                            mac,
                            mtu: rec.mtu(),
                            owner: short(req.container_id),
                        })
                        .await?,
                )
            }
            _ => {
                let parent = rec.interface.as_deref().unwrap_or_default();
                let mode = rec
                    .options
                    .get(spec::OPT_MACVLAN_MODE)
                    .map(String::as_str)
                    .unwrap_or("bridge");
                macvlan::attach(
                    self.links_handle(),
                    &MacvlanRequest {
                        netns: req.netns,
                        parent,
                        mode,
                        ifname: &ifname,
                        ip,
                        prefix_len,
                        gateway,
                        mac,
                        mtu: rec.mtu(),
                    },
                )
                .await?;
                None
            }
        };
        let mut dns_names = vec![req.container_name.to_string()];
        dns_names.extend(req.aliases.iter().filter(|a| !a.is_empty()).cloned());
        dns_names.push(short(req.container_id).to_string());
        dns_names.dedup();
        let mut ep = EndpointRecord {
            container_id: req.container_id.to_string(),
            container_name: req.container_name.to_string(),
            endpoint_id,
            ip,
            prefix_len,
            mac: ipam::format_mac(&mac),
            gateway,
            host_ifname,
            ifname: ifname.clone(),
            aliases: req.aliases.to_vec(),
            dns_names,
            ports: Vec::new(),
            netns: Some(req.netns.path()),
            netns_inode: req.netns.inode().ok(),
        };
        let res = self.finish_connect(rec, &mut ep, req).await;
        if let Err(e) = res {
            self.ports.release(&ep.endpoint_id);
            let _ = self.store.remove_endpoint(&rec.id, req.container_id);
            self.dns.remove_endpoint(&rec.id, req.container_id);
            self.unlink(rec, &ep, Unlink::Now).await;
            if !ep.ports.is_empty() {
                let _ = self.apply_firewall().await;
            }
            return Err(e);
        }
        Ok(Endpoint {
            network_id: rec.id.clone(),
            network_name: rec.name.clone(),
            record: ep,
        })
    }

    async fn finish_connect(
        &self,
        rec: &NetworkRecord,
        ep: &mut EndpointRecord,
        req: &ConnectRequest<'_>,
    ) -> Result<()> {
        let publish = rec.driver == Driver::Bridge && !rec.internal && !req.ports.is_empty();
        if !req.ports.is_empty() && !publish {
            warn!(network = %rec.name, "ports are not published on internal or macvlan networks");
        }
        if publish {
            let default_ip = rec.host_binding_ip();
            let reqs: Vec<PortRequest> = req
                .ports
                .iter()
                .map(|p| PortRequest {
                    host_ip: p
                        .host_ip
                        .or(Some(default_ip).filter(|i| !i.is_unspecified())),
                    ..*p
                })
                .collect();
            ep.ports = self.ports.reserve(&ep.endpoint_id, &reqs)?;
        }
        self.store.put_endpoint(&rec.id, ep.clone())?;
        if publish {
            self.apply_firewall().await?;
        }
        if rec.uses_embedded_dns() {
            self.dns
                .add_endpoint(&rec.id, &ep.container_id, &ep.dns_names, ep.ip);
            self.ensure_listener(&ep.container_id, req.netns).await?;
        }
        Ok(())
    }

    async fn ensure_listener(&self, container_id: &str, ns: &NetnsRef) -> Result<()> {
        if lock(&self.listeners).contains_key(container_id) {
            return Ok(());
        }
        let l = if self.cfg.dns_dnat {
            self.dns.listen_in_netns_dnat(container_id, ns).await?
        } else {
            self.dns.listen_in_netns(container_id, ns).await?
        };
        lock(&self.listeners).insert(container_id.to_string(), l);
        Ok(())
    }

    async fn unlink(&self, rec: &NetworkRecord, ep: &EndpointRecord, when: Unlink) {
        let res = match (&ep.host_ifname, &ep.netns) {
            (Some(host), _) if when == Unlink::Later => {
                self.reaper.delete_later(host, short(&ep.container_id));
                Ok(())
            }
            (Some(host), _) => self.links.detach(host).await,
            // Only into the very namespace we attached to: a reused pid in
            // /proc/<pid>/ns/net could point at someone else's (or ours).
            (None, Some(ns)) => {
                let r = NetnsRef::Path(ns.clone());
                match (r.inode().ok(), ep.netns_inode) {
                    (Some(now), Some(then)) if now == then && !r.is_host() => {
                        bridge::delete_inside(&r, &ep.ifname).await
                    }
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        };
        if let Err(e) = res {
            warn!(network = %rec.name, container = %ep.container_id, error = %e, "removing endpoint interface");
        }
    }

    /// Detach a container from a network (`network disconnect`, or stop).
    pub async fn disconnect(&self, network: &str, container_id: &str) -> Result<()> {
        let _g = self.op.lock().await;
        self.disconnect_locked(network, container_id, Unlink::Now)
            .await
    }

    async fn disconnect_locked(
        &self,
        network: &str,
        container_id: &str,
        when: Unlink,
    ) -> Result<()> {
        let rec = self.store.get(network)?;
        let Some(ep) = rec.endpoints.get(container_id).cloned() else {
            return Err(NetError::NotAttached {
                container: container_id.to_string(),
                network: rec.name.clone(),
            });
        };
        self.unlink(&rec, &ep, when).await;
        self.ports.release(&ep.endpoint_id);
        self.store.remove_endpoint(&rec.id, container_id)?;
        self.dns.remove_endpoint(&rec.id, container_id);
        if !self
            .endpoints_of(container_id)
            .iter()
            .any(|(r, _)| r.uses_embedded_dns())
        {
            lock(&self.listeners).remove(container_id);
        }
        if !ep.ports.is_empty() {
            self.apply_firewall().await?;
        }
        Ok(())
    }

    /// Detach a container from every network (container stopped or removed).
    /// Its host-side veths are deleted a moment later, off this call (see
    /// `reaper`); [`settle_links`](Self::settle_links) waits for that.
    pub async fn disconnect_all(&self, container_id: &str) -> Result<()> {
        let _g = self.op.lock().await;
        let mut first_err = None;
        for (rec, _) in self.endpoints_of(container_id) {
            if let Err(e) = self
                .disconnect_locked(&rec.id, container_id, Unlink::Later)
                .await
            {
                warn!(network = %rec.name, container = container_id, error = %e, "disconnect");
                first_err.get_or_insert(e);
            }
        }
        lock(&self.listeners).remove(container_id);
        self.dns.set_container_upstreams(container_id, None);
        first_err.map_or(Ok(()), Err)
    }

    /// After a daemon restart: for every container that still has endpoints,
    /// `state` says whether it is still running (then its host ports and DNS
    /// listener are taken again) or gone (then its endpoints are released).
    pub async fn reconcile<'a>(&self, state: &dyn Fn(&str) -> ContainerState<'a>) -> Result<()> {
        let containers: BTreeSet<String> = self
            .store
            .list()
            .iter()
            .flat_map(|r| r.endpoints.keys().cloned())
            .collect();
        for c in containers {
            match state(&c) {
                ContainerState::Running(ns) => {
                    for (rec, ep) in self.endpoints_of(&c) {
                        if !ep.ports.is_empty() {
                            if let Err(e) = self.ports.restore(&ep.endpoint_id, &ep.ports) {
                                warn!(container = %c, error = %e, "re-reserving published ports");
                            }
                        }
                        if rec.uses_embedded_dns() {
                            self.ensure_listener(&c, ns).await?;
                        }
                    }
                }
                ContainerState::Gone => self.disconnect_all(&c).await?,
            }
        }
        if !lock(&self.active).is_empty() {
            self.apply_firewall().await?;
        }
        Ok(())
    }
}
