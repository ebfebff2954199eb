//! Store records → Docker API models (`bollard_stubs` via `pier_api::models`),
//! field for field as `docker network inspect` shows them.

use std::collections::HashMap;

use pier_api::models::{
    self, ConfigReference, EndpointIpamConfig, EndpointResource, EndpointSettings, Ipam,
    IpamConfig, Network, NetworkInspect, NetworkSummary,
};

use crate::store::{EndpointRecord, NetworkRecord};

/// Build a `BollardDate` from RFC 3339 text whatever the stubs' date type is
/// (a `String`, or a chrono/time value when another crate in the build turns
/// those features on): round-trip through the model's own deserializer.
fn bollard_date(s: &str) -> Option<models::BollardDate> {
    let n: Network = serde_json::from_value(serde_json::json!({ "Created": s })).ok()?;
    n.created
}

fn ipam(rec: &NetworkRecord) -> Ipam {
    let config = rec
        .ipam
        .map(|c| {
            vec![IpamConfig {
                subnet: Some(c.subnet.to_string()),
                ip_range: c.ip_range.map(|r| r.to_string()),
                gateway: Some(c.gateway.to_string()),
                auxiliary_addresses: None,
            }]
        })
        .unwrap_or_default();
    Ipam {
        driver: Some("default".into()),
        config: Some(config),
        options: if rec.ipam_options.is_empty() {
            None
        } else {
            Some(rec.ipam_options.clone().into_iter().collect())
        },
    }
}

fn endpoint_resource(ep: &EndpointRecord) -> EndpointResource {
    EndpointResource {
        name: Some(ep.container_name.clone()),
        endpoint_id: Some(ep.endpoint_id.clone()),
        mac_address: Some(ep.mac.clone()),
        ipv4_address: Some(format!("{}/{}", ep.ip, ep.prefix_len)),
        ipv6_address: Some(String::new()),
    }
}

/// `GET /networks/{id}`.
pub fn network_inspect(rec: &NetworkRecord) -> NetworkInspect {
    NetworkInspect {
        name: Some(rec.name.clone()),
        id: Some(rec.id.clone()),
        created: bollard_date(&rec.created),
        scope: Some("local".into()),
        driver: Some(rec.driver.as_str().into()),
        enable_ipv4: Some(true),
        enable_ipv6: Some(false),
        ipam: Some(ipam(rec)),
        internal: Some(rec.internal),
        attachable: Some(rec.attachable),
        ingress: Some(false),
        config_from: Some(ConfigReference {
            network: Some(String::new()),
        }),
        config_only: Some(false),
        options: Some(rec.options.clone().into_iter().collect()),
        labels: Some(rec.labels.clone().into_iter().collect()),
        peers: None,
        containers: Some(
            rec.endpoints
                .iter()
                .map(|(id, ep)| (id.clone(), endpoint_resource(ep)))
                .collect::<HashMap<_, _>>(),
        ),
        services: None,
        status: None,
    }
}

/// `GET /networks` list item.
pub fn network_summary(rec: &NetworkRecord) -> NetworkSummary {
    NetworkSummary {
        name: Some(rec.name.clone()),
        id: Some(rec.id.clone()),
        created: bollard_date(&rec.created),
        scope: Some("local".into()),
        driver: Some(rec.driver.as_str().into()),
        enable_ipv4: Some(true),
        enable_ipv6: Some(false),
        ipam: Some(ipam(rec)),
        internal: Some(rec.internal),
        attachable: Some(rec.attachable),
        ingress: Some(false),
        config_from: Some(ConfigReference {
            network: Some(String::new()),
        }),
        config_only: Some(false),
        options: Some(rec.options.clone().into_iter().collect()),
        labels: Some(rec.labels.clone().into_iter().collect()),
        peers: None,
    }
}

/// The `Network` model (same fields as the summary).
pub fn network(rec: &NetworkRecord) -> Network {
    let s = network_summary(rec);
    Network {
        name: s.name,
        id: s.id,
        created: s.created,
        scope: s.scope,
        driver: s.driver,
        enable_ipv4: s.enable_ipv4,
        enable_ipv6: s.enable_ipv6,
        ipam: s.ipam,
        internal: s.internal,
        attachable: s.attachable,
        ingress: s.ingress,
        config_from: s.config_from,
        config_only: s.config_only,
        options: s.options,
        labels: s.labels,
        peers: s.peers,
    }
}

/// A container's `NetworkSettings.Networks[<name>]` entry.
pub fn endpoint_settings(rec: &NetworkRecord, ep: &EndpointRecord) -> EndpointSettings {
    EndpointSettings {
        ipam_config: if rec.user_subnet {
            Some(EndpointIpamConfig {
                ipv4_address: Some(ep.ip.to_string()),
                ..Default::default()
            })
        } else {
            None
        },
        links: None,
        mac_address: Some(ep.mac.clone()),
        aliases: Some(ep.aliases.clone()),
        driver_opts: None,
        gw_priority: Some(0),
        network_id: Some(rec.id.clone()),
        endpoint_id: Some(ep.endpoint_id.clone()),
        gateway: Some(ep.gateway.map(|g| g.to_string()).unwrap_or_default()),
        ip_address: Some(ep.ip.to_string()),
        ip_prefix_len: Some(i64::from(ep.prefix_len)),
        ipv6_gateway: Some(String::new()),
        global_ipv6_address: Some(String::new()),
        global_ipv6_prefix_len: Some(0),
        dns_names: if rec.uses_embedded_dns() {
            Some(ep.dns_names.clone())
        } else {
            None
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NetworkStore, StoreOptions};

    #[test]
    fn inspect_shape() {
        let dir = tempfile::tempdir().unwrap();
        let store = NetworkStore::open(dir.path(), &StoreOptions::default()).unwrap();
        let bridge = store.get("bridge").unwrap();
        let v = serde_json::to_value(network_inspect(&bridge)).unwrap();
        assert_eq!(v["Name"], "bridge");
        assert_eq!(v["Driver"], "bridge");
        assert_eq!(v["Scope"], "local");
        assert_eq!(v["EnableIPv6"], false);
        assert_eq!(v["IPAM"]["Driver"], "default");
        assert_eq!(v["IPAM"]["Config"][0]["Subnet"], "172.17.0.0/16");
        assert_eq!(v["IPAM"]["Config"][0]["Gateway"], "172.17.0.1");
        assert_eq!(v["Options"]["com.docker.network.bridge.name"], "pier0");
        assert!(v["Containers"].as_object().unwrap().is_empty());
        assert_eq!(v["Id"].as_str().unwrap().len(), 64);
        assert!(v["Created"].as_str().unwrap().ends_with('Z'));
        let host = store.get("host").unwrap();
        let v = serde_json::to_value(network_summary(&host)).unwrap();
        assert_eq!(v["Driver"], "host");
        assert!(v["IPAM"]["Config"].as_array().unwrap().is_empty());
        assert_eq!(store.get("none").unwrap().driver.as_str(), "null");
    }
}
