//! Published ports (`-p [ip:]hostPort:containerPort[/proto]`): parsing,
//! host-port allocation and reservation.
//!
//! Forwarding itself is done in the kernel by DNAT rules (see `firewall`),
//! not by a userland proxy. What this module adds is the *reservation*: for
//! every published port Pier keeps a socket bound to `hostIP:hostPort`
//! (TCP: listening, yet never accepting: DNAT rewrites the traffic before it
//! could reach it). That socket
//!  * makes "is the port free?" a real kernel answer (a listener elsewhere
//!    makes our bind fail → Docker's `port is already allocated`), and
//!  * keeps other host programs from binding the port later, which would
//!    otherwise silently lose their traffic to the DNAT rule.
//!
//! Random host ports come from the kernel: binding port 0 picks a free port
//! in `net.ipv4.ip_local_port_range` (32768–60999 by default), like Docker.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::OwnedFd;
use std::sync::Mutex;

use pier_api::models::{PortBinding, PortMap};
use rustix::net::{AddressFamily, SocketType};
use serde::{Deserialize, Serialize};
use tracing::debug;

use crate::error::{NetError, Result};

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(&self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    fn parse(s: &str) -> Result<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "" | "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Err(NetError::invalid(
                "sctp port publishing is not supported by Pier",
            )),
            _ => Err(NetError::invalid(format!("invalid proto: {s}"))),
        }
    }
}

/// Which host port the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPort {
    /// `-p 80`: any free port.
    Any,
    /// `-p 8080:80`.
    Fixed(u16),
    /// `-p 8000-8010:80`: the first free one in the range.
    Range(u16, u16),
}

/// One port to publish, before allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRequest {
    /// `None` = all host addresses (0.0.0.0).
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: HostPort,
    pub container_port: u16,
    pub proto: Proto,
}

/// A published port after allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

fn parse_port(s: &str) -> Result<u16> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(NetError::invalid(format!("invalid port: {s:?}"))),
    }
}

fn parse_range(s: &str) -> Result<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse_port(a)?, parse_port(b)?);
            if a > b {
                return Err(NetError::invalid(format!("invalid port range: {s}")));
            }
            Ok((a, b))
        }
        None => parse_port(s).map(|p| (p, p)),
    }
}

fn parse_host_ip(s: &str) -> Result<Option<Ipv4Addr>> {
    let s = s.trim_start_matches('[').trim_end_matches(']');
    if s.is_empty() || s == "0.0.0.0" {
        return Ok(None);
    }
    s.parse::<Ipv4Addr>()
        .map(Some)
        .map_err(|_| NetError::invalid(format!("invalid host IP {s:?} (Pier publishes IPv4 only)")))
}

/// Parse the CLI's `-p` syntax: `80`, `8080:80`, `127.0.0.1:8080:80/udp`,
/// `127.0.0.1::80`, `8000-8001:80-81`.
pub fn parse_publish(spec: &str) -> Result<Vec<PortRequest>> {
    let (body, proto) = match spec.rsplit_once('/') {
        Some((b, p)) => (b, Proto::parse(p)?),
        None => (spec, Proto::Tcp),
    };
    // The host IP may itself contain ':' only for IPv6, which we refuse;
    // so split from the right: [ip:][hostPort:]containerPort.
    let parts: Vec<&str> = body.rsplitn(3, ':').collect();
    let (ip, host, cont) = match parts.as_slice() {
        [c] => ("", "", *c),
        [c, h] => ("", *h, *c),
        [c, h, ip] => (*ip, *h, *c),
        _ => return Err(NetError::invalid(format!("invalid port spec: {spec}"))),
    };
    let host_ip = parse_host_ip(ip)?;
    let (c_lo, c_hi) = parse_range(cont)?;
    let count = c_hi - c_lo;
    let host: Option<(u16, u16)> = if host.is_empty() {
        None
    } else {
        Some(parse_range(host)?)
    };
    let mut out = Vec::new();
    for i in 0..=count {
        let host_port = match host {
            None => HostPort::Any,
            Some((h_lo, h_hi)) if count == 0 && h_lo != h_hi => HostPort::Range(h_lo, h_hi),
            Some((h_lo, h_hi)) => {
                if h_hi - h_lo != count {
                    return Err(NetError::invalid(format!(
                        "invalid ranges specified for container and host Ports: {cont} and {}",
                        parts.get(1).unwrap_or(&"")
                    )));
                }
                HostPort::Fixed(h_lo + i)
            }
        };
        out.push(PortRequest {
            host_ip,
            host_port,
            container_port: c_lo + i,
            proto,
        });
    }
    Ok(out)
}

/// Read `HostConfig.PortBindings` (`{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`).
/// IPv6 host IPs are skipped: Pier publishes on IPv4 only.
pub fn requests_from_port_map(map: &PortMap) -> Result<Vec<PortRequest>> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let (port, proto) = match key.split_once('/') {
            Some((p, pr)) => (p, Proto::parse(pr)?),
            None => (key.as_str(), Proto::Tcp),
        };
        let container_port = parse_port(port)?;
        let bindings = map.get(key).and_then(|b| b.as_ref());
        let default = [PortBinding::default()];
        let bindings: &[PortBinding] = match bindings {
            Some(b) if !b.is_empty() => b,
            _ => &default,
        };
        for b in bindings {
            let ip = b.host_ip.as_deref().unwrap_or("");
            if ip.contains(':') {
                continue;
            }
            let host_ip = parse_host_ip(ip)?;
            let host_port = match b.host_port.as_deref().unwrap_or("") {
                "" | "0" => HostPort::Any,
                s => match parse_range(s)? {
                    (a, b) if a == b => HostPort::Fixed(a),
                    (a, b) => HostPort::Range(a, b),
                },
            };
            out.push(PortRequest {
                host_ip,
                host_port,
                container_port,
                proto,
            });
        }
    }
    Ok(out)
}

/// `NetworkSettings.Ports` for inspect: every mapping under its `port/proto`.
pub fn to_port_map(mappings: &[PortMapping]) -> PortMap {
    let mut map: PortMap = HashMap::new();
    for m in mappings {
        let entry = map
            .entry(format!("{}/{}", m.container_port, m.proto.as_str()))
            .or_insert_with(|| Some(Vec::new()));
        if let Some(v) = entry.as_mut() {
            v.push(PortBinding {
                host_ip: Some(m.host_ip.to_string()),
                host_port: Some(m.host_port.to_string()),
            });
        }
    }
    map
}

struct Held {
    owner: String,
    _socket: OwnedFd,
}

/// The set of host ports Pier holds, keyed by (proto, host IP, port).
#[derive(Default)]
pub struct PortReservations {
    held: Mutex<HashMap<(Proto, Ipv4Addr, u16), Held>>,
}

fn taken_text(ip: Ipv4Addr, port: u16) -> NetError {
    NetError::PortAllocated(format!("{ip}:{port}"))
}

impl PortReservations {
    pub fn new() -> Self {
        Self::default()
    }

    fn conflicts(
        held: &HashMap<(Proto, Ipv4Addr, u16), Held>,
        proto: Proto,
        ip: Ipv4Addr,
        port: u16,
    ) -> bool {
        // 0.0.0.0:P and 10.0.0.1:P overlap; check our own table first so the
        // answer does not depend on socket option subtleties.
        held.keys().any(|(p, hip, hport)| {
            *p == proto
                && *hport == port
                && (*hip == ip || hip.is_unspecified() || ip.is_unspecified())
        })
    }

    /// Reserve host ports for `owner` (a container ID): all or nothing.
    pub fn reserve(&self, owner: &str, reqs: &[PortRequest]) -> Result<Vec<PortMapping>> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let mut got: Vec<PortMapping> = Vec::new();
        let res = (|| {
            for r in reqs {
                let ip = r.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
                let (sock, port) = match r.host_port {
                    HostPort::Fixed(p) => (bind_checked(&held, r.proto, ip, p)?, p),
                    HostPort::Range(a, b) => (a..=b)
                        .find_map(|p| bind_checked(&held, r.proto, ip, p).ok().map(|s| (s, p)))
                        .ok_or_else(|| taken_text(ip, a))?,
                    HostPort::Any => bind_any(&held, r.proto, ip)?,
                };
                held.insert(
                    (r.proto, ip, port),
                    Held {
                        owner: owner.to_string(),
                        _socket: sock,
                    },
                );
                got.push(PortMapping {
                    host_ip: ip,
                    host_port: port,
                    container_port: r.container_port,
                    proto: r.proto,
                });
            }
            Ok(())
        })();
        if let Err(e) = res {
            for m in &got {
                held.remove(&(m.proto, m.host_ip, m.host_port));
            }
            return Err(e);
        }
        debug!(owner, ports = ?got, "host ports reserved");
        Ok(got)
    }

    /// Re-take exact ports after a daemon restart (the mappings are in the store).
    pub fn restore(&self, owner: &str, mappings: &[PortMapping]) -> Result<()> {
        let reqs: Vec<PortRequest> = mappings
            .iter()
            .map(|m| PortRequest {
                host_ip: Some(m.host_ip).filter(|ip| !ip.is_unspecified()),
                host_port: HostPort::Fixed(m.host_port),
                container_port: m.container_port,
                proto: m.proto,
            })
            .collect();
        self.reserve(owner, &reqs).map(|_| ())
    }

    /// Release every port held for `owner`.
    pub fn release(&self, owner: &str) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.retain(|_, h| h.owner != owner);
    }

    /// Number of ports held (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.held.lock().map(|h| h.len()).unwrap_or(0)
    }

    /// Whether no port is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn bind_checked(
    held: &HashMap<(Proto, Ipv4Addr, u16), Held>,
    proto: Proto,
    ip: Ipv4Addr,
    port: u16,
) -> Result<OwnedFd> {
    if PortReservations::conflicts(held, proto, ip, port) {
        return Err(taken_text(ip, port));
    }
    bind(proto, ip, port).map(|(fd, _)| fd)
}

fn bind_any(
    held: &HashMap<(Proto, Ipv4Addr, u16), Held>,
    proto: Proto,
    ip: Ipv4Addr,
) -> Result<(OwnedFd, u16)> {
    // The kernel's choice can only collide with a port we hold on another
    // IP (it never returns a port in use on the same address); retry then.
    for _ in 0..32 {
        let (fd, port) = bind(proto, ip, 0)?;
        if !PortReservations::conflicts(held, proto, ip, port) {
            return Ok((fd, port));
        }
    }
    Err(NetError::PortAllocated(format!("{ip}:0")))
}

fn bind(proto: Proto, ip: Ipv4Addr, port: u16) -> Result<(OwnedFd, u16)> {
    let addr = SocketAddrV4::new(ip, port);
    let map_err = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            taken_text(ip, port)
        } else if e.raw_os_error() == Some(rustix::io::Errno::ADDRNOTAVAIL.raw_os_error()) {
            NetError::invalid(format!(
                "Bind for {ip}:{port} failed: {ip} is not an address of this host"
            ))
        } else {
            NetError::io(format!("binding {proto:?} {addr}"), e)
        }
    };
    match proto {
        Proto::Udp => {
            let s = UdpSocket::bind(addr).map_err(map_err)?;
            let port = s.local_addr().map(|a| a.port()).unwrap_or(port);
            Ok((OwnedFd::from(s), port))
        }
        Proto::Tcp => {
            let fd = rustix::net::socket_with(
                AddressFamily::INET,
                SocketType::STREAM,
                rustix::net::SocketFlags::CLOEXEC,
                None,
            )
            .map_err(|e| map_err(e.into()))?;
            // Like Docker's port allocator: SO_REUSEADDR so TIME_WAIT
            // leftovers of an earlier local server do not block us, while a
            // listener elsewhere still makes the bind fail. We listen too:
            // with both sides setting SO_REUSEADDR the kernel only refuses a
            // second bind when one of them is listening. No connection ever
            // reaches this socket, because the DNAT rules rewrite every
            // packet for this port before local delivery.
            rustix::net::sockopt::set_socket_reuseaddr(&fd, true).map_err(|e| map_err(e.into()))?;
            rustix::net::bind(&fd, &addr).map_err(|e| map_err(e.into()))?;
            rustix::net::listen(&fd, 1).map_err(|e| map_err(e.into()))?;
            let port = match rustix::net::getsockname(&fd) {
                Ok(a) => std::net::SocketAddr::try_from(a)
                    .map(|a| a.port())
                    .unwrap_or(port),
                Err(_) => port,
            };
            Ok((fd, port))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_specs() {
        let r = parse_publish("8080:80").unwrap();
        assert_eq!(
            r,
            vec![PortRequest {
                host_ip: None,
                host_port: HostPort::Fixed(8080),
                container_port: 80,
                proto: Proto::Tcp
            }]
        );
        let r = parse_publish("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(r[0].host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(r[0].proto, Proto::Udp);
        let r = parse_publish("80").unwrap();
        assert_eq!(r[0].host_port, HostPort::Any);
        let r = parse_publish("127.0.0.1::80").unwrap();
        assert_eq!(
            (r[0].host_ip, r[0].host_port),
            (Some(Ipv4Addr::LOCALHOST), HostPort::Any)
        );
        let r = parse_publish("8000-8001:80-81").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[1].host_port, r[1].container_port),
            (HostPort::Fixed(8001), 81)
        );
        assert_eq!(
            parse_publish("8000-8010:80").unwrap()[0].host_port,
            HostPort::Range(8000, 8010)
        );
        assert!(parse_publish("8000-8001:80-83").is_err());
        assert!(parse_publish("0:80").is_err());
        assert!(parse_publish("80/sctp").is_err());
        assert!(parse_publish("x:80").is_err());
    }

    #[test]
    fn port_map_round_trip() {
        let map: PortMap = serde_json::from_str(
            r#"{"80/tcp":[{"HostIp":"","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],"53/udp":null,"90/tcp":[{"HostIp":"127.0.0.1","HostPort":"9000-9005"}]}"#,
        )
        .unwrap();
        let reqs = requests_from_port_map(&map).unwrap();
        assert_eq!(reqs.len(), 3);
        assert_eq!(
            reqs[0],
            PortRequest {
                host_ip: None,
                host_port: HostPort::Any,
                container_port: 53,
                proto: Proto::Udp
            }
        );
        assert_eq!(reqs[1].host_port, HostPort::Fixed(8080));
        assert_eq!(reqs[2].host_port, HostPort::Range(9000, 9005));
        let pm = to_port_map(&[PortMapping {
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
            container_port: 80,
            proto: Proto::Tcp,
        }]);
        let v = serde_json::to_value(pm).unwrap();
        assert_eq!(v["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(v["80/tcp"][0]["HostIp"], "0.0.0.0");
    }

    #[test]
    fn reservations_detect_conflicts() {
        let r = PortReservations::new();
        let any = r
            .reserve("a", &parse_publish("127.0.0.1::80").unwrap())
            .unwrap();
        let p = any[0].host_port;
        assert!((1024..=65535).contains(&p));
        // Same port on 0.0.0.0 overlaps our 127.0.0.1 reservation.
        let e = r
            .reserve("b", &parse_publish(&format!("{p}:80")).unwrap())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("Bind for 0.0.0.0:{p} failed: port is already allocated")
        );
        // UDP is a separate space.
        r.reserve(
            "b",
            &parse_publish(&format!("127.0.0.1:{p}:80/udp")).unwrap(),
        )
        .unwrap();
        // A foreign listener makes the bind fail with Docker's text.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let lp = l.local_addr().unwrap().port();
        let e = r
            .reserve("c", &parse_publish(&format!("127.0.0.1:{lp}:80")).unwrap())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("Bind for 127.0.0.1:{lp} failed: port is already allocated")
        );
        // All-or-nothing: the first request of a failing batch is released again.
        let before = r.len();
        let batch = [
            parse_publish("127.0.0.1::81").unwrap(),
            parse_publish(&format!("127.0.0.1:{lp}:80")).unwrap(),
        ]
        .concat();
        assert!(r.reserve("d", &batch).is_err());
        assert_eq!(r.len(), before);
        r.release("a");
        r.release("b");
        assert!(r.is_empty());
        // Released ports can be taken again.
        r.reserve("e", &parse_publish(&format!("127.0.0.1:{p}:80")).unwrap())
            .unwrap();
    }
}
