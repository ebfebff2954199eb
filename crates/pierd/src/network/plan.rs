//! Create-time checks of a container's network settings, and the plan for
//! its network namespace at start.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use pier_api::models::{ContainerConfig, EndpointSettings, HostConfig, PortBinding, PortMap};
use pier_network::{ipam, requests_from_port_map, store, NetError, PortRequest};

use super::net_err;
use crate::containers::record::ContainerRecord;
use crate::containers::ContainerError;
use crate::daemon::Daemon;
use crate::runtime::NetworkMode;

fn invalid(msg: impl Into<String>) -> ContainerError {
    ContainerError::InvalidParameter(msg.into())
}

/// The target of `container:<name|id>`, if that is the mode.
pub fn container_target(mode: &str) -> Option<&str> {
    mode.strip_prefix("container:")
}

/// Every port to publish: `PortBindings`, plus each exposed port with a
/// random host port under `PublishAllPorts` (`-P`).
pub fn port_requests(
    hc: &HostConfig,
    config: &ContainerConfig,
) -> Result<Vec<PortRequest>, NetError> {
    let mut map: PortMap = hc.port_bindings.clone().unwrap_or_default();
    if hc.publish_all_ports.unwrap_or(false) {
        for port in config.exposed_ports.iter().flatten() {
            let key = if port.contains('/') {
                port.clone()
            } else {
                format!("{port}/tcp")
            };
            if !map.contains_key(&key) && !map.contains_key(port) {
                map.insert(key, Some(vec![PortBinding::default()]));
            }
        }
    }
    requests_from_port_map(&map)
}

/// Docker's checks of `HostConfig` network fields and `EndpointsConfig`
/// at create (`network X not found`, conflicting options, bad ports).
pub fn validate_create(
    d: &Daemon,
    hc: &HostConfig,
    config: &ContainerConfig,
    endpoints: &mut HashMap<String, EndpointSettings>,
    warnings: &mut Vec<String>,
) -> Result<(), ContainerError> {
    // The docker CLI names the implicit network "default".
    if let Some(s) = endpoints.remove("default") {
        endpoints.insert(store::BRIDGE.to_string(), s);
    }
    let mode = hc.network_mode.as_deref().unwrap_or("bridge");
    let has_ports = hc.port_bindings.as_ref().is_some_and(|p| !p.is_empty())
        || hc.publish_all_ports.unwrap_or(false);
    if let Some(target) = container_target(mode) {
        if target.is_empty() {
            return Err(invalid("invalid container format container:<name|id>"));
        }
        // The target is looked up at start, as Docker does (a 404 here
        // would make the docker CLI try to pull the image).
        if has_ports {
            return Err(invalid(
                "conflicting options: port publishing and the container type network mode",
            ));
        }
        if hc.dns.as_ref().is_some_and(|v| !v.is_empty()) {
            return Err(invalid("conflicting options: dns and the network mode"));
        }
        if hc.extra_hosts.as_ref().is_some_and(|v| !v.is_empty()) {
            return Err(invalid(
                "conflicting options: custom host-to-IP mapping and the network mode",
            ));
        }
        if endpoints.keys().any(|k| k != mode) {
            return Err(invalid("container sharing network namespace with another container or host cannot be connected to any other network"));
        }
        return Ok(());
    }
    if mode == store::HOST {
        if has_ports {
            warnings.push("Published ports are discarded when using host network mode".into());
        }
        return Ok(());
    }
    // Without networking (in-process API tests) there is nothing to check
    // against; a start would fail with a clear error.
    let Some(net) = d.network.as_deref() else {
        return Ok(());
    };
    net.store().get(mode).map_err(net_err)?;
    for (name, settings) in endpoints.iter() {
        let rec = net.store().get(name).map_err(net_err)?;
        if let Some(ip) = requested_ip(settings)? {
            if rec.predefined {
                return Err(invalid(
                    "user specified IP address is supported on user defined networks only",
                ));
            }
            if !rec.user_subnet {
                return Err(invalid("user specified IP address is supported only when connecting to networks with user configured subnets"));
            }
            let _ = ip;
        }
        if rec.predefined && settings.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(invalid(
                "network-scoped aliases are only supported for user-defined networks",
            ));
        }
        requested_mac(settings)?;
    }
    if mode != store::NONE {
        port_requests(hc, config).map_err(|e| invalid(e.to_string()))?;
    }
    Ok(())
}

/// `--ip`.
pub fn requested_ip(s: &EndpointSettings) -> Result<Option<Ipv4Addr>, ContainerError> {
    match s
        .ipam_config
        .as_ref()
        .and_then(|c| c.ipv4_address.as_deref())
        .filter(|a| !a.is_empty())
    {
        None => Ok(None),
        Some(a) => a
            .parse()
            .map(Some)
            .map_err(|_| invalid(format!("invalid IPv4 address: {a}"))),
    }
}

/// `--mac-address` (per endpoint since API 1.44).
pub fn requested_mac(s: &EndpointSettings) -> Result<Option<[u8; 6]>, ContainerError> {
    match s.mac_address.as_deref().filter(|m| !m.is_empty()) {
        None => Ok(None),
        Some(m) => ipam::parse_mac(m)
            .map(Some)
            .map_err(|_| invalid(format!("invalid MAC address: {m}"))),
    }
}

/// What to do with a container's network namespace at start.
#[derive(Debug, Clone)]
pub enum StartPlan {
    Host,
    /// `none`: a namespace with only `lo`.
    Isolated,
    /// `container:<x>`: join x's namespace and share its hosts/resolv.conf.
    Join {
        netns: PathBuf,
        etc_dir: PathBuf,
        hostname: String,
        domainname: String,
    },
    /// Bridge/macvlan networks, `NetworkMode` first.
    Networks(Vec<(String, EndpointSettings)>),
}

impl StartPlan {
    pub fn runtime_mode(&self) -> NetworkMode {
        match self {
            StartPlan::Host => NetworkMode::Host,
            StartPlan::Join { netns, .. } => NetworkMode::Join(netns.clone()),
            StartPlan::Isolated | StartPlan::Networks(_) => NetworkMode::None,
        }
    }

    /// The other container's hostname and domain name under `container:<x>`.
    pub fn names(&self) -> Option<(String, String)> {
        match self {
            StartPlan::Join {
                hostname,
                domainname,
                ..
            } => Some((hostname.clone(), domainname.clone())),
            _ => None,
        }
    }

    /// Where /etc/hostname, hosts and resolv.conf come from when they are
    /// another container's.
    pub fn etc_dir(&self) -> Option<&PathBuf> {
        match self {
            StartPlan::Join { etc_dir, .. } => Some(etc_dir),
            _ => None,
        }
    }
}

/// The networks a container joins, `NetworkMode` first, then the other
/// `EndpointsConfig` entries by name.
pub fn networks_of(rec: &ContainerRecord) -> Vec<(String, EndpointSettings)> {
    let mode = rec.network_mode().to_string();
    let mut out = vec![(
        mode.clone(),
        rec.endpoints_config.get(&mode).cloned().unwrap_or_default(),
    )];
    let mut others: Vec<_> = rec
        .endpoints_config
        .iter()
        .filter(|(k, _)| **k != mode)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    others.sort_by(|a, b| a.0.cmp(&b.0));
    out.extend(others);
    out
}

pub fn plan(d: &Daemon, rec: &ContainerRecord) -> Result<StartPlan, ContainerError> {
    let mode = rec.network_mode();
    if let Some(target) = container_target(mode) {
        let other = d.containers.get(target)?;
        let (running, pid, hostname, domainname) = {
            let g = other.lock();
            (
                g.rec.state.running(),
                g.rec.state.pid,
                g.rec.config.hostname.clone().unwrap_or_default(),
                g.rec.config.domainname.clone().unwrap_or_default(),
            )
        };
        if !running || pid <= 0 {
            return Err(ContainerError::Runtime(format!(
                "cannot join network namespace of a non running container: {}",
                other.id
            )));
        }
        return Ok(StartPlan::Join {
            netns: PathBuf::from(format!("/proc/{pid}/ns/net")),
            etc_dir: other.dir.clone(),
            hostname,
            domainname,
        });
    }
    Ok(match mode {
        store::HOST => StartPlan::Host,
        store::NONE => StartPlan::Isolated,
        _ => StartPlan::Networks(networks_of(rec)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_all_adds_exposed_ports() {
        let mut hc = HostConfig {
            publish_all_ports: Some(true),
            ..Default::default()
        };
        let mut pm = PortMap::new();
        pm.insert(
            "80/tcp".into(),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some("8080".into()),
            }]),
        );
        hc.port_bindings = Some(pm);
        let config = ContainerConfig {
            exposed_ports: Some(vec!["80/tcp".into(), "53/udp".into()]),
            ..Default::default()
        };
        let reqs = port_requests(&hc, &config).unwrap();
        assert_eq!(reqs.len(), 2);
        hc.publish_all_ports = Some(false);
        assert_eq!(port_requests(&hc, &config).unwrap().len(), 1);
    }
}
