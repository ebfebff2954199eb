//! IP address management, as pure functions over plain data so the rules can
//! be unit-tested without a kernel: Docker's default address pools, picking
//! the next free subnet, validating `--subnet/--gateway/--ip-range`, and
//! handing out container addresses.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};

/// One of Docker's `default-address-pools`: `base` split into subnets of
/// prefix length `size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPool {
    pub base: Ipv4Net,
    pub size: u8,
}

/// Docker's built-in pools: 172.17.0.0/16 … 172.31.0.0/16 as /16s, then
/// 192.168.0.0/16 cut into /20s. (Docker 28 also lists 10.0.0.0/8 only when
/// configured; we keep its default list.)
pub fn default_pools() -> Vec<AddressPool> {
    let mut pools: Vec<AddressPool> = (17..=31)
        .map(|b| AddressPool {
            base: Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).unwrap_or_default(),
            size: 16,
        })
        .collect();
    pools.push(AddressPool {
        base: Ipv4Net::new(Ipv4Addr::new(192, 168, 0, 0), 16).unwrap_or_default(),
        size: 20,
    });
    pools
}

/// Whether two networks share any address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first subnet carved from `pools` (in order) that overlaps nothing in
/// `in_use` (existing networks' subnets and host routes).
pub fn next_free_subnet(pools: &[AddressPool], in_use: &[Ipv4Net]) -> Option<Ipv4Net> {
    pools.iter().find_map(|pool| {
        let subnets = pool.base.subnets(pool.size).ok()?;
        subnets
            .into_iter()
            .find(|cand| !in_use.iter().any(|u| overlaps(cand, u)))
    })
}

/// One IPAM config entry of a network (Docker's `IPAM.Config[]`), validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetConfig {
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Ipv4Net>,
}

/// Parse a CIDR the way Docker does: `10.1.0.0/16`; a host part is masked
/// off (`10.1.2.3/16` → `10.1.0.0/16`).
pub fn parse_subnet(s: &str) -> Result<Ipv4Net> {
    let net: Ipv4Net = s
        .trim()
        .parse()
        .map_err(|_| NetError::invalid(format!("invalid CIDR address: {s}")))?;
    Ok(net.trunc())
}

/// Parse a bare IPv4 address.
pub fn parse_ip(s: &str) -> Result<Ipv4Addr> {
    s.trim()
        .parse()
        .map_err(|_| NetError::invalid(format!("invalid IP address: {s}")))
}

fn usable(subnet: &Ipv4Net, ip: Ipv4Addr) -> bool {
    // /31 and /32 have no network/broadcast convention, but they are also
    // too small for a gateway plus a container; `build_config` refuses them.
    subnet.contains(&ip) && ip != subnet.network() && ip != subnet.broadcast()
}

/// Validate user input and fill in Docker's defaults: the gateway is the
/// first host address of the subnet unless given.
pub fn build_config(
    subnet: Ipv4Net,
    gateway: Option<Ipv4Addr>,
    ip_range: Option<Ipv4Net>,
) -> Result<SubnetConfig> {
    if subnet.prefix_len() > 30 {
        return Err(NetError::invalid(format!(
            "subnet {subnet} is too small: it needs room for a gateway and containers"
        )));
    }
    let gateway = match gateway {
        Some(gw) => {
            if !usable(&subnet, gw) {
                return Err(NetError::invalid(format!(
                    "no matching subnet for gateway {gw}"
                )));
            }
            gw
        }
        None => first_host(&subnet),
    };
    if let Some(range) = ip_range {
        if !subnet.contains(&range) {
            return Err(NetError::invalid(format!(
                "no matching subnet for range {range}"
            )));
        }
    }
    Ok(SubnetConfig {
        subnet,
        gateway,
        ip_range,
    })
}

fn first_host(subnet: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()).saturating_add(1))
}

/// Docker's MAC for an IPv4 endpoint: `02:42` followed by the four address
/// bytes, so 172.17.0.2 gets 02:42:ac:11:00:02.
pub fn mac_for_ip(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// Format a MAC as Docker prints it (lower-case, colon separated).
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parse `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    let bad = || NetError::invalid(format!("invalid MAC address: {s}"));
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (slot, part) in mac.iter_mut().zip(parts) {
        if part.len() != 2 {
            return Err(bad());
        }
        *slot = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 == 1 {
        // A multicast address would make the interface unusable.
        return Err(bad());
    }
    Ok(mac)
}

/// The allocation state of one network: which addresses are taken (and by
/// whom) and where the last dynamic allocation stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocations {
    /// address → owner (a container ID).
    #[serde(default)]
    pub taken: BTreeMap<Ipv4Addr, String>,
    /// Dynamic allocation continues after this address, like libnetwork's
    /// serial allocator, so a just-released address is not handed out again
    /// at once (peers may still have it in their ARP caches).
    #[serde(default)]
    pub last: Option<Ipv4Addr>,
}

impl Allocations {
    /// Allocate an address for `owner`: the requested one if free and valid,
    /// else the next free one after the last allocation (wrapping around),
    /// from the ip-range if set, else the whole subnet.
    pub fn allocate(
        &mut self,
        cfg: &SubnetConfig,
        owner: &str,
        requested: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr> {
        if let Some(ip) = requested {
            // Static addresses may come from the whole subnet, even outside
            // the ip-range (Docker's rule: the range only limits dynamic ones).
            if !usable(&cfg.subnet, ip) {
                return Err(NetError::AddressOutside(ip.to_string()));
            }
            if ip == cfg.gateway || self.taken.contains_key(&ip) {
                return Err(NetError::AddressInUse);
            }
            self.taken.insert(ip, owner.to_string());
            return Ok(ip);
        }
        let range = cfg.ip_range.unwrap_or(cfg.subnet);
        let lo = u32::from(range.network());
        let hi = u32::from(range.broadcast());
        let span = u64::from(hi - lo) + 1;
        let start = match self.last {
            Some(last) if range.contains(&last) => u32::from(last) - lo + 1,
            _ => 0,
        };
        for step in 0..span {
            let off = ((u64::from(start) + step) % span) as u32;
            let ip = Ipv4Addr::from(lo + off);
            if usable(&cfg.subnet, ip) && ip != cfg.gateway && !self.taken.contains_key(&ip) {
                self.taken.insert(ip, owner.to_string());
                self.last = Some(ip);
                return Ok(ip);
            }
        }
        Err(NetError::NoAddress(range.to_string()))
    }

    /// Release an address; releasing a free address is a no-op.
    pub fn release(&mut self, ip: Ipv4Addr) -> bool {
        self.taken.remove(&ip).is_some()
    }

    /// Release every address held by `owner`.
    pub fn release_owner(&mut self, owner: &str) -> Vec<Ipv4Addr> {
        let ips: Vec<Ipv4Addr> = self
            .taken
            .iter()
            .filter(|(_, o)| o.as_str() == owner)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in &ips {
            self.taken.remove(ip);
        }
        ips
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn pools_in_docker_order() {
        let pools = default_pools();
        assert_eq!(pools.len(), 16);
        assert_eq!(pools[0].base, net("172.17.0.0/16"));
        assert_eq!(pools[14].base, net("172.31.0.0/16"));
        assert_eq!(pools[15].size, 20);
    }

    #[test]
    fn next_free_skips_used_and_host_routes() {
        let pools = default_pools();
        assert_eq!(next_free_subnet(&pools, &[]), Some(net("172.17.0.0/16")));
        let used = [net("172.17.0.0/16"), net("172.18.5.0/24")];
        assert_eq!(next_free_subnet(&pools, &used), Some(net("172.19.0.0/16")));
        // A host route covering all of 172.16/12 pushes us to 192.168.0.0/20.
        let used = [net("172.16.0.0/12")];
        assert_eq!(next_free_subnet(&pools, &used), Some(net("192.168.0.0/20")));
        let used = [net("172.16.0.0/12"), net("192.168.0.0/24")];
        assert_eq!(
            next_free_subnet(&pools, &used),
            Some(net("192.168.16.0/20"))
        );
        let used = [net("172.16.0.0/12"), net("192.168.0.0/16")];
        assert_eq!(next_free_subnet(&pools, &used), None);
    }

    #[test]
    fn overlap_both_directions() {
        assert!(overlaps(&net("10.0.0.0/8"), &net("10.1.0.0/16")));
        assert!(overlaps(&net("10.1.0.0/16"), &net("10.0.0.0/8")));
        assert!(!overlaps(&net("10.1.0.0/16"), &net("10.2.0.0/16")));
    }

    #[test]
    fn config_defaults_and_validation() {
        let c = build_config(net("10.9.0.0/24"), None, None).unwrap();
        assert_eq!(c.gateway, Ipv4Addr::new(10, 9, 0, 1));
        assert!(build_config(net("10.9.0.0/24"), Some(Ipv4Addr::new(10, 9, 1, 1)), None).is_err());
        assert!(
            build_config(net("10.9.0.0/24"), Some(Ipv4Addr::new(10, 9, 0, 255)), None).is_err()
        );
        assert!(build_config(net("10.9.0.0/24"), None, Some(net("10.9.1.0/28"))).is_err());
        assert!(build_config(net("10.9.0.0/31"), None, None).is_err());
        assert_eq!(parse_subnet("10.1.2.3/16").unwrap(), net("10.1.0.0/16"));
        assert!(parse_subnet("10.1.2.3").is_err());
    }

    #[test]
    fn allocation_is_serial_and_skips_reserved() {
        let cfg = build_config(net("10.9.0.0/29"), None, None).unwrap();
        let mut a = Allocations::default();
        let got: Vec<_> = (0..5)
            .map(|i| a.allocate(&cfg, &format!("c{i}"), None).unwrap())
            .collect();
        // .0 network, .1 gateway, .7 broadcast are never handed out.
        assert_eq!(
            got.iter().map(|ip| ip.octets()[3]).collect::<Vec<_>>(),
            [2, 3, 4, 5, 6]
        );
        assert!(matches!(
            a.allocate(&cfg, "x", None),
            Err(NetError::NoAddress(_))
        ));
        assert!(a.release(Ipv4Addr::new(10, 9, 0, 3)));
        // The only free address is reused after wrapping.
        assert_eq!(
            a.allocate(&cfg, "y", None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 3)
        );
        assert_eq!(a.release_owner("y"), vec![Ipv4Addr::new(10, 9, 0, 3)]);
        a.release(Ipv4Addr::new(10, 9, 0, 2));
        // Serial: after .3 comes .2 only once everything above is exhausted.
        assert_eq!(
            a.allocate(&cfg, "z", None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 2)
        );
    }

    #[test]
    fn requested_addresses() {
        let cfg = build_config(net("10.9.0.0/24"), None, Some(net("10.9.0.128/25"))).unwrap();
        let mut a = Allocations::default();
        assert_eq!(
            a.allocate(&cfg, "a", None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 128)
        );
        // Outside the range but inside the subnet is allowed for static IPs.
        let ip = Ipv4Addr::new(10, 9, 0, 5);
        assert_eq!(a.allocate(&cfg, "b", Some(ip)).unwrap(), ip);
        assert!(matches!(
            a.allocate(&cfg, "c", Some(ip)),
            Err(NetError::AddressInUse)
        ));
        assert!(matches!(
            a.allocate(&cfg, "c", Some(Ipv4Addr::new(10, 9, 0, 1))),
            Err(NetError::AddressInUse)
        ));
        assert!(matches!(
            a.allocate(&cfg, "c", Some(Ipv4Addr::new(10, 9, 1, 5))),
            Err(NetError::AddressOutside(_))
        ));
        assert!(matches!(
            a.allocate(&cfg, "c", Some(Ipv4Addr::new(10, 9, 0, 255))),
            Err(NetError::AddressOutside(_))
        ));
    }

    #[test]
    fn macs() {
        let mac = mac_for_ip(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(&mac), "02:42:ac:11:00:02");
        assert_eq!(parse_mac("02:42:ac:11:00:02").unwrap(), mac);
        assert!(parse_mac("03:42:ac:11:00:02").is_err());
        assert!(parse_mac("02:42:ac:11:00").is_err());
    }
}
