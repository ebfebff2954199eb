//! `NetworkSettings` of `GET /containers/{id}/json` and the `Ports` and
//! `NetworkSettings.Networks` of `GET /containers/json`, from the live
//! endpoints.

use std::collections::HashMap;

use pier_api::models::{
    ContainerSummary, ContainerSummaryNetworkSettings, EndpointSettings, PortMap, PortSummary,
    PortSummaryTypeEnum,
};
use pier_network::{models, store, to_port_map, EndpointRecord, NetworkRecord};
use serde_json::Value;

use crate::containers::record::ContainerRecord;
use crate::daemon::Daemon;

fn endpoints(d: &Daemon, id: &str) -> Vec<(NetworkRecord, EndpointRecord)> {
    d.network
        .as_deref()
        .map(|n| n.endpoints_of(id))
        .unwrap_or_default()
}

/// Configured networks of a container without endpoints (created, exited):
/// Docker lists them with empty addresses. `network_id` looks a configured
/// name up.
fn configured(
    rec: &ContainerRecord,
    network_id: impl Fn(&str) -> Option<String>,
) -> HashMap<String, EndpointSettings> {
    let mut out = HashMap::new();
    for (name, mut s) in super::plan::networks_of(rec) {
        s.network_id = Some(network_id(&name).unwrap_or_default());
        s.endpoint_id = Some(String::new());
        s.gateway = Some(String::new());
        s.ip_address = Some(String::new());
        s.ip_prefix_len = Some(0);
        s.ipv6_gateway = Some(String::new());
        s.global_ipv6_address = Some(String::new());
        s.global_ipv6_prefix_len = Some(0);
        s.mac_address = Some(s.mac_address.unwrap_or_default());
        out.insert(name, s);
    }
    out
}

/// A network's ID by name or ID, from the live store.
fn store_id(d: &Daemon, name: &str) -> Option<String> {
    d.network
        .as_deref()
        .and_then(|n| n.store().get(name).ok())
        .map(|r| r.id)
}

fn exposed(rec: &ContainerRecord) -> Vec<String> {
    rec.config
        .exposed_ports
        .iter()
        .flatten()
        .map(|p| {
            if p.contains('/') {
                p.clone()
            } else {
                format!("{p}/tcp")
            }
        })
        .collect()
}

/// The published ports plus every exposed port (unpublished: `null`).
fn port_map(rec: &ContainerRecord, eps: &[(NetworkRecord, EndpointRecord)]) -> PortMap {
    let mut map = PortMap::new();
    if eps.is_empty() {
        return map;
    }
    for p in exposed(rec) {
        map.insert(p, None);
    }
    for (_, ep) in eps {
        map.extend(to_port_map(&ep.ports));
    }
    map
}

/// Fills `NetworkSettings` in an inspect body built by `containers::inspect`.
pub fn fill_inspect(d: &Daemon, rec: &ContainerRecord, v: &mut Value) {
    if d.network.is_none() || rec.network_mode() == store::HOST {
        return;
    }
    let eps = endpoints(d, &rec.id);
    let Some(ns) = v.get_mut("NetworkSettings").and_then(Value::as_object_mut) else {
        return;
    };
    let networks: HashMap<String, EndpointSettings> = if eps.is_empty() {
        configured(rec, |name| store_id(d, name))
    } else {
        eps.iter()
            .map(|(r, ep)| (r.name.clone(), models::endpoint_settings(r, ep)))
            .collect()
    };
    ns.insert(
        "Networks".into(),
        serde_json::to_value(&networks).unwrap_or(Value::Null),
    );
    ns.insert(
        "Ports".into(),
        serde_json::to_value(port_map(rec, &eps)).unwrap_or(Value::Null),
    );
    if rec.state.running() && rec.state.pid > 0 && !eps.is_empty() {
        ns.insert(
            "SandboxKey".into(),
            Value::String(format!("/proc/{}/ns/net", rec.state.pid)),
        );
    }
    // The deprecated top-level fields mirror the default bridge endpoint only.
    if let Some((r, ep)) = eps.iter().find(|(r, _)| r.name == store::BRIDGE) {
        let s = |x: String| Value::String(x);
        ns.insert("IPAddress".into(), s(ep.ip.to_string()));
        ns.insert("IPPrefixLen".into(), Value::from(ep.prefix_len));
        ns.insert(
            "Gateway".into(),
            s(ep.gateway.map(|g| g.to_string()).unwrap_or_default()),
        );
        ns.insert("MacAddress".into(), s(ep.mac.clone()));
        ns.insert("EndpointID".into(), s(ep.endpoint_id.clone()));
        let _ = r;
    }
}

/// The networks as one `GET /containers/json` sees them: read once per
/// listing rather than once or twice per container (every look-up in the
/// store clones every network record, endpoints included).
pub struct ListNetworks {
    /// Sorted by name, as `NetworkStore::list` (and `endpoints_of`) order them.
    nets: Vec<NetworkRecord>,
}

impl ListNetworks {
    pub fn new(d: &Daemon) -> Self {
        let nets = d
            .network
            .as_deref()
            .map(|n| n.store().list())
            .unwrap_or_default();
        Self { nets }
    }

    /// `Networking::endpoints_of` on this view.
    fn endpoints_of(&self, id: &str) -> Vec<(&NetworkRecord, &EndpointRecord)> {
        self.nets
            .iter()
            .filter_map(|r| r.endpoints.get(id).map(|e| (r, e)))
            .collect()
    }

    /// `NetworkStore::get`'s rules on this view: full ID, exact name, then a
    /// unique ID prefix.
    fn id_of(&self, key: &str) -> Option<String> {
        if key.is_empty() {
            return None;
        }
        let by = |f: &dyn Fn(&NetworkRecord) -> bool| self.nets.iter().find(|r| f(r));
        if let Some(r) = by(&|r| r.id == key).or_else(|| by(&|r| r.name == key)) {
            return Some(r.id.clone());
        }
        let mut prefixed = self.nets.iter().filter(|r| r.id.starts_with(key));
        match (prefixed.next(), prefixed.next()) {
            (Some(r), None) => Some(r.id.clone()),
            _ => None,
        }
    }
}

/// Fills `Ports` and `NetworkSettings.Networks` of one `ps` row.
pub fn fill_summary(
    d: &Daemon,
    nets: &ListNetworks,
    rec: &ContainerRecord,
    row: &mut ContainerSummary,
) {
    if d.network.is_none() || rec.network_mode() == store::HOST {
        return;
    }
    let eps = nets.endpoints_of(&rec.id);
    let mut ports = Vec::new();
    for (_, ep) in &eps {
        for m in &ep.ports {
            ports.push(PortSummary {
                ip: Some(m.host_ip.to_string()),
                private_port: m.container_port,
                public_port: Some(m.host_port),
                typ: Some(proto(m.proto.as_str())),
            });
        }
    }
    if !eps.is_empty() {
        for p in exposed(rec) {
            let (port, pr) = p.split_once('/').unwrap_or((&p, "tcp"));
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            if !ports.iter().any(|x| x.private_port == port) {
                ports.push(PortSummary {
                    ip: None,
                    private_port: port,
                    public_port: None,
                    typ: Some(proto(pr)),
                });
            }
        }
    }
    row.ports = Some(ports);
    let networks = if eps.is_empty() {
        configured(rec, |name| nets.id_of(name))
    } else {
        eps.iter()
            .map(|(r, ep)| (r.name.clone(), models::endpoint_settings(r, ep)))
            .collect()
    };
    row.network_settings = Some(ContainerSummaryNetworkSettings {
        networks: Some(networks),
    });
}

fn proto(p: &str) -> PortSummaryTypeEnum {
    match p {
        "udp" => PortSummaryTypeEnum::UDP,
        "sctp" => PortSummaryTypeEnum::SCTP,
        _ => PortSummaryTypeEnum::TCP,
    }
}
