//! Turning Docker's `POST /networks/create` body into a validated
//! [`NetworkSpec`]: driver choice, IPAM config, the driver options Pier
//! understands. Refusals use Docker's texts where Docker has one.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use pier_api::models::NetworkCreateRequest;
use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};
use crate::ipam::{parse_ip, parse_subnet};

/// `com.docker.network.bridge.name`: the Linux bridge's name.
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
/// `com.docker.network.bridge.enable_ip_masquerade` ("false" disables NAT out).
pub const OPT_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
/// `com.docker.network.bridge.enable_icc` ("false" drops container-to-container traffic).
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
/// `com.docker.network.driver.mtu`.
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
/// `com.docker.network.bridge.host_binding_ipv4`: default host IP for `-p`.
pub const OPT_HOST_BINDING: &str = "com.docker.network.bridge.host_binding_ipv4";
/// `parent` for macvlan.
pub const OPT_PARENT: &str = "parent";
/// `macvlan_mode` for macvlan (bridge, private, vepa, passthru).
pub const OPT_MACVLAN_MODE: &str = "macvlan_mode";

/// Network drivers Pier implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Bridge,
    Macvlan,
    Host,
    Null,
}

impl Driver {
    /// The name Docker shows in `Driver`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Macvlan => "macvlan",
            Driver::Host => "host",
            Driver::Null => "null",
        }
    }

    /// Map a requested driver name; overlay and plugins are refused.
    pub fn parse(name: &str) -> Result<Driver> {
        match name {
            "" | "bridge" => Ok(Driver::Bridge),
            "macvlan" => Ok(Driver::Macvlan),
            // Docker allows only its predefined host/none networks for these.
            "host" | "null" => Err(NetError::UnsupportedDriver(format!(
                "only one instance of \"{name}\" network is allowed"
            ))),
            "overlay" => Err(NetError::UnsupportedDriver(
                "the \"overlay\" driver needs a multi-host (swarm) cluster, which Pier does not \
                 provide; use the \"bridge\" driver (or \"macvlan\") for single-host networks"
                    .into(),
            )),
            "ipvlan" => Err(NetError::UnsupportedDriver(
                "the \"ipvlan\" driver is not supported by Pier; use \"macvlan\" or \"bridge\""
                    .into(),
            )),
            other => Err(NetError::UnsupportedDriver(format!(
                "plugin \"{other}\" not found"
            ))),
        }
    }
}

/// The user's IPAM request for the (single) IPv4 subnet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubnetRequest {
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Ipv4Net>,
}

/// A validated network creation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    pub name: String,
    pub driver: Driver,
    pub internal: bool,
    pub attachable: bool,
    pub ipam: SubnetRequest,
    pub ipam_options: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

impl NetworkSpec {
    /// A bridge network with defaults, for code and tests that build specs by hand.
    pub fn bridge(name: &str) -> Self {
        NetworkSpec {
            name: name.to_string(),
            driver: Driver::Bridge,
            internal: false,
            attachable: false,
            ipam: SubnetRequest::default(),
            ipam_options: BTreeMap::new(),
            options: BTreeMap::new(),
            labels: BTreeMap::new(),
        }
    }

    /// Validate Docker's create body.
    pub fn from_request(req: &NetworkCreateRequest) -> Result<Self> {
        if req.name.trim().is_empty() {
            return Err(NetError::invalid("network name must not be empty"));
        }
        if req.config_only == Some(true) || req.config_from.is_some() {
            return Err(NetError::invalid(
                "config-only networks are not supported by Pier",
            ));
        }
        if req.ingress == Some(true) {
            return Err(NetError::UnsupportedDriver(
                "ingress networks need a swarm cluster, which Pier does not provide".into(),
            ));
        }
        if req.enable_ipv6 == Some(true) {
            return Err(NetError::invalid(
                "IPv6 networks are not supported by Pier yet",
            ));
        }
        if req.enable_ipv4 == Some(false) {
            return Err(NetError::invalid(
                "IPv4 cannot be disabled on Pier networks",
            ));
        }
        if let Some(scope) = req.scope.as_deref() {
            if !scope.is_empty() && scope != "local" {
                return Err(NetError::invalid(format!(
                    "scope \"{scope}\" is not supported by Pier (only \"local\")"
                )));
            }
        }
        let driver = Driver::parse(req.driver.as_deref().unwrap_or(""))?;
        let mut ipam = SubnetRequest::default();
        let mut ipam_options = BTreeMap::new();
        if let Some(cfg) = &req.ipam {
            if let Some(d) = cfg.driver.as_deref() {
                if !d.is_empty() && d != "default" {
                    return Err(NetError::UnsupportedDriver(format!(
                        "IPAM driver \"{d}\" is not supported by Pier (only \"default\")"
                    )));
                }
            }
            ipam_options.extend(cfg.options.clone().unwrap_or_default());
            let configs = cfg.config.as_deref().unwrap_or(&[]);
            let mut v4 = configs.iter().filter(|c| {
                // An IPv6 entry can only come with EnableIPv6, refused above;
                // still, say so plainly if someone sends one.
                !c.subnet.as_deref().unwrap_or("").contains(':')
            });
            if configs
                .iter()
                .any(|c| c.subnet.as_deref().unwrap_or("").contains(':'))
            {
                return Err(NetError::invalid(
                    "IPv6 networks are not supported by Pier yet",
                ));
            }
            if let Some(c) = v4.next() {
                ipam.subnet = c
                    .subnet
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .map(parse_subnet)
                    .transpose()?;
                ipam.gateway = c
                    .gateway
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .map(parse_ip)
                    .transpose()?;
                ipam.ip_range = c
                    .ip_range
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .map(parse_subnet)
                    .transpose()?;
                if c.auxiliary_addresses
                    .as_ref()
                    .is_some_and(|m| !m.is_empty())
                {
                    return Err(NetError::invalid("--aux-address is not supported by Pier"));
                }
                if ipam.subnet.is_none() && (ipam.gateway.is_some() || ipam.ip_range.is_some()) {
                    // Docker's text for a gateway/range without a subnet.
                    return Err(NetError::invalid(
                        "every ip-range or gateway must have a corresponding subnet",
                    ));
                }
            }
            if v4.next().is_some() {
                return Err(NetError::invalid(
                    "Pier supports one IPv4 subnet per network",
                ));
            }
        }
        let options: BTreeMap<String, String> = req
            .options
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let spec = NetworkSpec {
            name: req.name.clone(),
            driver,
            internal: req.internal.unwrap_or(false),
            attachable: req.attachable.unwrap_or(false),
            ipam,
            ipam_options,
            options,
            labels: req.labels.clone().unwrap_or_default().into_iter().collect(),
        };
        spec.validate_options()?;
        Ok(spec)
    }

    /// Check the driver options Pier interprets.
    pub fn validate_options(&self) -> Result<()> {
        if let Some(name) = self.options.get(OPT_BRIDGE_NAME) {
            validate_ifname(name)?;
        }
        for key in [OPT_MASQUERADE, OPT_ICC] {
            if let Some(v) = self.options.get(key) {
                parse_bool(key, v)?;
            }
        }
        if let Some(v) = self.options.get(OPT_MTU) {
            parse_mtu(v)?;
        }
        if let Some(v) = self.options.get(OPT_HOST_BINDING) {
            parse_ip(v)?;
        }
        if self.driver == Driver::Macvlan {
            match self.options.get(OPT_PARENT) {
                Some(p) => validate_ifname(p)?,
                None => {
                    return Err(NetError::invalid(
                        "macvlan networks need -o parent=<host interface>",
                    ))
                }
            }
            if let Some(m) = self.options.get(OPT_MACVLAN_MODE) {
                if !matches!(m.as_str(), "bridge" | "private" | "vepa" | "passthru") {
                    return Err(NetError::invalid(format!(
                        "unknown macvlan mode {m}: use bridge, private, vepa or passthru"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Linux interface names: 1–15 bytes, no '/', ':' or whitespace.
pub fn validate_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(NetError::invalid(format!(
            "invalid interface name {name:?}: 1-15 characters from [A-Za-z0-9._-]"
        )))
    }
}

pub(crate) fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "1" | "True" | "TRUE" => Ok(true),
        "false" | "0" | "False" | "FALSE" => Ok(false),
        _ => Err(NetError::invalid(format!(
            "invalid value {v:?} for option {key}: expected true or false"
        ))),
    }
}

pub(crate) fn parse_mtu(v: &str) -> Result<u32> {
    match v.parse::<u32>() {
        Ok(m) if (68..=65535).contains(&m) => Ok(m),
        _ => Err(NetError::invalid(format!(
            "invalid MTU {v:?}: must be between 68 and 65535"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pier_api::models::{Ipam, IpamConfig};
    use std::collections::HashMap;

    fn req(name: &str) -> NetworkCreateRequest {
        NetworkCreateRequest {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn drivers() {
        assert_eq!(
            NetworkSpec::from_request(&req("a")).unwrap().driver,
            Driver::Bridge
        );
        let mut r = req("o");
        r.driver = Some("overlay".into());
        let e = NetworkSpec::from_request(&r).unwrap_err().to_string();
        assert!(e.contains("multi-host"), "{e}");
        r.driver = Some("weave".into());
        assert_eq!(
            NetworkSpec::from_request(&r).unwrap_err().to_string(),
            "plugin \"weave\" not found"
        );
        r.driver = Some("macvlan".into());
        assert!(NetworkSpec::from_request(&r).is_err());
        r.options = Some(HashMap::from([("parent".to_string(), "eth0".to_string())]));
        assert_eq!(
            NetworkSpec::from_request(&r).unwrap().driver,
            Driver::Macvlan
        );
    }

    #[test]
    fn ipam_fields() {
        let mut r = req("n");
        r.ipam = Some(Ipam {
            driver: Some("default".into()),
            config: Some(vec![IpamConfig {
                subnet: Some("10.5.0.0/16".into()),
                gateway: Some("10.5.0.254".into()),
                ip_range: Some("10.5.1.0/24".into()),
                ..Default::default()
            }]),
            options: None,
        });
        let s = NetworkSpec::from_request(&r).unwrap();
        assert_eq!(s.ipam.subnet, Some("10.5.0.0/16".parse().unwrap()));
        assert_eq!(s.ipam.gateway, Some(Ipv4Addr::new(10, 5, 0, 254)));
        assert_eq!(s.ipam.ip_range, Some("10.5.1.0/24".parse().unwrap()));
        if let Some(ipam) = r.ipam.as_mut() {
            ipam.config = Some(vec![IpamConfig {
                gateway: Some("10.5.0.254".into()),
                ..Default::default()
            }]);
        }
        assert!(NetworkSpec::from_request(&r).is_err());
    }

    #[test]
    fn options_checked() {
        let mut r = req("n");
        r.options = Some(HashMap::from([(
            OPT_BRIDGE_NAME.to_string(),
            "much-too-long-name".to_string(),
        )]));
        assert!(NetworkSpec::from_request(&r).is_err());
        r.options = Some(HashMap::from([(OPT_MTU.to_string(), "9000".to_string())]));
        assert!(NetworkSpec::from_request(&r).is_ok());
        r.options = Some(HashMap::from([(OPT_ICC.to_string(), "maybe".to_string())]));
        assert!(NetworkSpec::from_request(&r).is_err());
    }
}
