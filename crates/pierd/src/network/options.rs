//! Daemon flags for networking, named like dockerd's where dockerd has one
//! (`--bridge`, `--bip`, `--default-address-pool`), plus
//! `--network-instance`, which names Pier's nftables tables and interface
//! markers so several daemons (parallel tests) never touch each other's.

use std::path::Path;

use clap::Args;
use pier_network::ipam::{self, AddressPool};
use pier_network::{NetConfig, NetError};

#[derive(Debug, Clone, Args)]
pub struct NetArgs {
    /// Linux bridge of the default `bridge` network.
    #[arg(short = 'b', long = "bridge", default_value = "pier0")]
    pub bridge: String,

    /// Default bridge address and prefix, e.g. 172.17.0.1/16 (gateway/subnet).
    #[arg(long)]
    pub bip: Option<String>,

    /// Pool for automatically chosen subnets: base=CIDR,size=N (repeatable).
    #[arg(long = "default-address-pool", value_name = "base=CIDR,size=N")]
    pub default_address_pool: Vec<String>,

    /// Names the nftables tables (`inet NAME`, `ip NAME-nat`) and marks
    /// Pier's interfaces; one per daemon on a host.
    #[arg(long = "network-instance", default_value = "pier")]
    pub instance: String,
}

/// `base=10.10.0.0/16,size=24` (dockerd's syntax).
fn parse_pool(s: &str) -> Result<AddressPool, NetError> {
    let mut base = None;
    let mut size = None;
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("base", v)) => base = Some(ipam::parse_subnet(v)?),
            Some(("size", v)) => {
                size =
                    Some(v.trim().parse::<u8>().map_err(|_| {
                        NetError::InvalidArgument(format!("invalid pool size: {v}"))
                    })?)
            }
            _ => {
                return Err(NetError::InvalidArgument(format!(
                    "invalid default-address-pool {s:?}: expected base=CIDR,size=N"
                )))
            }
        }
    }
    match (base, size) {
        (Some(base), Some(size)) if size >= base.prefix_len() && size <= 30 => {
            Ok(AddressPool { base, size })
        }
        (Some(base), None) => Ok(AddressPool {
            base,
            size: base.prefix_len(),
        }),
        _ => Err(NetError::InvalidArgument(format!(
            "invalid default-address-pool {s:?}: size must be between the base's prefix and 30"
        ))),
    }
}

impl NetArgs {
    /// The library configuration: durable state under the data root,
    /// allocations and endpoints under the exec root (they die with a reboot,
    /// as the containers do).
    pub fn config(&self, data_root: &Path, exec_root: &Path) -> Result<NetConfig, NetError> {
        let mut cfg = NetConfig::new(data_root.join("network"));
        cfg.runtime_dir = Some(exec_root.join("network"));
        cfg.instance = self.instance.clone();
        cfg.default_bridge = self.bridge.clone();
        if let Some(bip) = &self.bip {
            let net: ipnet::Ipv4Net = bip
                .trim()
                .parse()
                .map_err(|_| NetError::InvalidArgument(format!("invalid --bip {bip:?}")))?;
            let gateway = (net.addr() != net.network()).then_some(net.addr());
            cfg.default_bridge_subnet = Some(ipam::build_config(net.trunc(), gateway, None)?);
        }
        if !self.default_address_pool.is_empty() {
            cfg.pools = self
                .default_address_pool
                .iter()
                .map(|p| parse_pool(p))
                .collect::<Result<_, _>>()?;
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_and_bip() {
        let p = parse_pool("base=10.10.0.0/16,size=24").unwrap();
        assert_eq!((p.base.to_string(), p.size), ("10.10.0.0/16".into(), 24));
        assert!(parse_pool("base=10.10.0.0/16,size=8").is_err());
        assert!(parse_pool("nonsense").is_err());
        let a = NetArgs {
            bridge: "pt0".into(),
            bip: Some("172.30.5.1/24".into()),
            default_address_pool: vec!["base=100.64.0.0/18,size=24".into()],
            instance: "pt".into(),
        };
        let cfg = a.config(Path::new("/r"), Path::new("/x")).unwrap();
        let sub = cfg.default_bridge_subnet.unwrap();
        assert_eq!(sub.subnet.to_string(), "172.30.5.0/24");
        assert_eq!(sub.gateway.to_string(), "172.30.5.1");
        assert_eq!(cfg.pools.len(), 1);
        assert_eq!(cfg.instance, "pt");
    }
}
