//! `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` as Docker writes
//! them into the container directory (they are bind-mounted by the spec).

use std::path::Path;

const HOSTS_DEFAULT: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::\tip6-localnet\n\
ff00::\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// Docker's fallback when the host has no usable (non-loopback) resolver.
const DEFAULT_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

pub fn hostname_file(hostname: &str) -> String {
    format!("{hostname}\n")
}

/// The container's hosts file: Docker's defaults plus `<ip> <hostname>`
/// when the container has an address.
pub fn hosts_file(ip: Option<&str>, hostname: &str, domainname: &str) -> String {
    let mut out = HOSTS_DEFAULT.to_string();
    if let Some(ip) = ip {
        if domainname.is_empty() {
            out.push_str(&format!("{ip}\t{hostname}\n"));
        } else {
            out.push_str(&format!("{ip}\t{hostname}.{domainname} {hostname}\n"));
        }
    }
    out
}

fn is_loopback(ns: &str) -> bool {
    let ns = ns.trim();
    ns.starts_with("127.") || ns == "::1" || ns.starts_with("0:0:0:0:0:0:0:1")
}

/// The host's resolv.conf minus loopback nameservers (unreachable from a
/// separate network namespace); Google's resolvers when none is left.
pub fn filtered_resolv_conf(host: &str) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let trimmed = line.trim_start();
        let mut words = trimmed.split_whitespace();
        if words.next() == Some("nameserver") {
            match words.next() {
                Some(ns) if !is_loopback(ns) => servers += 1,
                _ => continue,
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        for ns in DEFAULT_NAMESERVERS {
            out.push_str(&format!("nameserver {ns}\n"));
        }
    }
    out
}

/// Writes the three files into `dir`. Host networking shares the host's
/// hosts and resolv.conf unchanged, as Docker does.
pub fn write_all(
    dir: &Path,
    hostname: &str,
    domainname: &str,
    host_network: bool,
) -> std::io::Result<()> {
    std::fs::write(dir.join("hostname"), hostname_file(hostname))?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if host_network {
        let hosts = std::fs::read_to_string("/etc/hosts")
            .unwrap_or_else(|_| hosts_file(None, hostname, domainname));
        std::fs::write(dir.join("hosts"), hosts)?;
        let resolv = if host_resolv.trim().is_empty() {
            filtered_resolv_conf("")
        } else {
            host_resolv
        };
        std::fs::write(dir.join("resolv.conf"), resolv)?;
    } else {
        // No container networking yet: bridge behaves like none, so there
        // is no address to list.
        std::fs::write(dir.join("hosts"), hosts_file(None, hostname, domainname))?;
        std::fs::write(dir.join("resolv.conf"), filtered_resolv_conf(&host_resolv))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_has_dockers_lines() {
        let h = hosts_file(None, "box", "");
        assert!(h.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
        assert!(h.contains("ff02::2\tip6-allrouters\n"));
        assert!(!h.contains("box"));
        let h = hosts_file(Some("172.17.0.2"), "box", "");
        assert!(h.ends_with("172.17.0.2\tbox\n"));
    }

    #[test]
    fn loopback_resolvers_are_dropped() {
        let r = filtered_resolv_conf("search lan\nnameserver 127.0.0.53\noptions edns0\n");
        assert_eq!(
            r,
            "search lan\noptions edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        let r = filtered_resolv_conf("nameserver 10.0.0.1\nnameserver ::1\n");
        assert_eq!(r, "nameserver 10.0.0.1\n");
    }
}
