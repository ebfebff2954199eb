//! The container's `/etc/hosts` and `/etc/resolv.conf`, rendered like Docker.
//!
//! pierd writes these into the container directory and bind-mounts them.
//! When rewriting them for a running container (connect/disconnect), write
//! in place (truncate + write), not by rename: a bind mount pins the inode.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use crate::dns::DNS_ADDR;
use crate::error::{NetError, Result};

/// One `/etc/hosts` line: an address and its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsEntry {
    pub ip: IpAddr,
    pub names: Vec<String>,
}

/// What goes into a container's `/etc/hosts`.
#[derive(Debug, Clone, Default)]
pub struct HostsInput<'a> {
    pub hostname: &'a str,
    pub domainname: &'a str,
    /// The container's address on its first network (`None`: none/host).
    pub ip: Option<Ipv4Addr>,
    /// `HostConfig.ExtraHosts`: `name:ip` or `name=ip`; the ip may be `host-gateway`.
    pub extra_hosts: &'a [String],
    /// Legacy `--link` entries (`ip  alias name shortid`).
    pub links: &'a [HostsEntry],
    /// What `host-gateway` means (Docker: the default bridge's gateway).
    pub host_gateway: Option<Ipv4Addr>,
    /// Include the `::1` / `ff02::` lines (Docker omits them when the
    /// container has no IPv6 at all; the default keeps Docker's classic file).
    pub ipv6_lines: bool,
}

/// Parse one `--add-host` value.
pub fn parse_extra_host(s: &str, host_gateway: Option<Ipv4Addr>) -> Result<HostsEntry> {
    // `name=ip` (Docker 26+) allows IPv6 without ambiguity; `name:ip` splits
    // at the first ':' so `name:::1` still works.
    let (name, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(|| NetError::invalid(format!("invalid IP address in add-host: {s:?}")))?;
    let name = name.trim();
    let ip_text = ip.trim().trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() {
        return Err(NetError::invalid(format!(
            "invalid hostname in add-host: {s:?}"
        )));
    }
    let ip: IpAddr =
        if ip_text == "host-gateway" {
            IpAddr::V4(host_gateway.ok_or_else(|| {
                NetError::invalid("unable to derive the IP value for host-gateway")
            })?)
        } else {
            ip_text.parse().map_err(|_| {
                NetError::invalid(format!("invalid IP address in add-host: {ip_text:?}"))
            })?
        };
    Ok(HostsEntry {
        ip,
        names: vec![name.to_string()],
    })
}

/// Render `/etc/hosts`.
pub fn render_hosts(input: &HostsInput<'_>) -> Result<String> {
    let mut out = String::from("127.0.0.1\tlocalhost\n");
    if input.ipv6_lines {
        out.push_str(
            "::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\n\
             ff00::0\tip6-mcastprefix\n\
             ff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n",
        );
    }
    for h in input.extra_hosts {
        let e = parse_extra_host(h, input.host_gateway)?;
        out.push_str(&format!("{}\t{}\n", e.ip, e.names.join(" ")));
    }
    for l in input.links {
        out.push_str(&format!("{}\t{}\n", l.ip, l.names.join(" ")));
    }
    if let Some(ip) = input.ip {
        let mut fqdn = input.hostname.to_string();
        if !input.domainname.is_empty() {
            fqdn = format!("{fqdn}.{}", input.domainname);
        }
        let names = match fqdn.split_once('.') {
            Some((short, _)) if !short.is_empty() => format!("{fqdn} {short}"),
            _ => fqdn,
        };
        if !names.is_empty() {
            out.push_str(&format!("{ip}\t{names}\n"));
        }
    }
    Ok(out)
}

/// The parts of a resolv.conf Docker cares about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Parse resolv.conf text (unknown lines are ignored, the last
    /// `search`/`domain` wins, like the libc resolver).
    pub fn parse(text: &str) -> Self {
        let mut rc = ResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("").trim();
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    // Drop a zone suffix (`fe80::1%eth0`): not usable in a container.
                    if let Some(ip) = words
                        .next()
                        .and_then(|w| w.split('%').next())
                        .and_then(|w| w.parse().ok())
                    {
                        rc.nameservers.push(ip);
                    }
                }
                Some("search") | Some("domain") => rc.search = words.map(str::to_string).collect(),
                Some("options") => rc.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        rc
    }

    /// Read and parse a file (a missing file is an empty config).
    pub fn read(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(t) => Ok(Self::parse(&t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(NetError::io(format!("reading {}", path.display()), e)),
        }
    }

    /// Where the embedded DNS forwards to: the host's nameservers on port
    /// 53, IPv4 only. Loopback ones (127.0.0.53 of systemd-resolved) are kept:
    /// the forwarder runs in the daemon's namespace, where they are reachable.
    pub fn upstreams(&self) -> Vec<SocketAddr> {
        self.nameservers
            .iter()
            .filter(|ip| ip.is_ipv4())
            .map(|ip| SocketAddr::new(*ip, 53))
            .collect()
    }
}

/// `--dns`, `--dns-search`, `--dns-option`.
#[derive(Debug, Clone, Default)]
pub struct DnsOverrides<'a> {
    pub dns: &'a [IpAddr],
    pub search: &'a [String],
    pub options: &'a [String],
}

/// Docker's fallback when the host has no usable nameserver.
pub const DEFAULT_DNS: [Ipv4Addr; 2] = [Ipv4Addr::new(8, 8, 8, 8), Ipv4Addr::new(8, 8, 4, 4)];

/// Render a container's `/etc/resolv.conf`.
///
/// `embedded` (user-defined networks): `nameserver 127.0.0.11` plus
/// `ndots:0` unless an ndots option is given; `--dns` servers are then used
/// by the embedded server as upstreams (see `DnsServer::set_container_upstreams`),
/// not written here. Otherwise (default bridge): `--dns` or the host's
/// nameservers minus loopback and IPv6 ones (unreachable from the
/// container), falling back to 8.8.8.8/8.8.4.4.
pub fn render_resolv_conf(host: &ResolvConf, ov: &DnsOverrides<'_>, embedded: bool) -> String {
    let mut out = String::new();
    let servers: Vec<IpAddr> = if embedded {
        vec![IpAddr::V4(DNS_ADDR)]
    } else if !ov.dns.is_empty() {
        ov.dns.to_vec()
    } else {
        let usable: Vec<IpAddr> = host
            .nameservers
            .iter()
            .copied()
            .filter(|ip| ip.is_ipv4() && !ip.is_loopback())
            .collect();
        if usable.is_empty() {
            DEFAULT_DNS.iter().map(|ip| IpAddr::V4(*ip)).collect()
        } else {
            usable
        }
    };
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    let search: Vec<&String> = if ov.search.is_empty() {
        host.search.iter().collect()
    } else {
        ov.search.iter().collect()
    };
    // `--dns-search .` means "no search domains".
    let search: Vec<&String> = search.into_iter().filter(|s| s.as_str() != ".").collect();
    if !search.is_empty() {
        out.push_str(&format!(
            "search {}\n",
            search
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    let mut options: Vec<String> = if ov.options.is_empty() {
        host.options.clone()
    } else {
        ov.options.to_vec()
    };
    if embedded && !options.iter().any(|o| o.starts_with("ndots:")) {
        // Names without dots go to the embedded server first, as Docker does.
        options.push("ndots:0".into());
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_like_docker() {
        let extra = vec![
            "db.local:10.0.0.9".to_string(),
            "host.docker.internal:host-gateway".to_string(),
            "v6=::1".to_string(),
        ];
        let links = vec![HostsEntry {
            ip: "172.17.0.3".parse().unwrap(),
            names: vec!["web".into(), "0123456789ab".into(), "webapp".into()],
        }];
        let h = render_hosts(&HostsInput {
            hostname: "3f4e5d6c7b8a",
            domainname: "",
            ip: Some(Ipv4Addr::new(172, 17, 0, 2)),
            extra_hosts: &extra,
            links: &links,
            host_gateway: Some(Ipv4Addr::new(172, 17, 0, 1)),
            ipv6_lines: true,
        })
        .unwrap();
        assert_eq!(
            h,
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n\
             10.0.0.9\tdb.local\n172.17.0.1\thost.docker.internal\n::1\tv6\n172.17.0.3\tweb 0123456789ab webapp\n172.17.0.2\t3f4e5d6c7b8a\n"
        );
        let h = render_hosts(&HostsInput {
            hostname: "web",
            domainname: "example.com",
            ip: Some(Ipv4Addr::new(10, 0, 0, 2)),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(h, "127.0.0.1\tlocalhost\n10.0.0.2\tweb.example.com web\n");
        assert!(render_hosts(&HostsInput {
            extra_hosts: &["x:host-gateway".to_string()],
            ..Default::default()
        })
        .is_err());
        assert!(render_hosts(&HostsInput {
            extra_hosts: &["x:nope".to_string()],
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn resolv_conf_variants() {
        let host = ResolvConf::parse("# comment\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nnameserver fe80::1%eth0\nsearch corp.example lab.example\noptions edns0 trust-ad\n");
        assert_eq!(host.nameservers.len(), 3);
        assert_eq!(
            host.upstreams(),
            vec![
                "127.0.0.53:53".parse().unwrap(),
                "10.255.255.53:53".parse().unwrap()
            ]
        );
        // Default bridge: host servers minus loopback and IPv6.
        assert_eq!(
            render_resolv_conf(&host, &DnsOverrides::default(), false),
            "nameserver 10.255.255.53\nsearch corp.example lab.example\noptions edns0 trust-ad\n"
        );
        // User network: the embedded server.
        assert_eq!(
            render_resolv_conf(&host, &DnsOverrides::default(), true),
            "nameserver 127.0.0.11\nsearch corp.example lab.example\noptions edns0 trust-ad ndots:0\n"
        );
        // Overrides.
        let dns = ["1.1.1.1".parse().unwrap()];
        let search = [".".to_string()];
        let opts = ["ndots:2".to_string()];
        let ov = DnsOverrides {
            dns: &dns,
            search: &search,
            options: &opts,
        };
        assert_eq!(
            render_resolv_conf(&host, &ov, false),
            "nameserver 1.1.1.1\noptions ndots:2\n"
        );
        assert_eq!(
            render_resolv_conf(&host, &ov, true),
            "nameserver 127.0.0.11\noptions ndots:2\n"
        );
        // Only loopback on the host: Docker's public fallback.
        let lo = ResolvConf::parse("nameserver 127.0.0.53\n");
        assert_eq!(
            render_resolv_conf(&lo, &DnsOverrides::default(), false),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }
}
