//! `ports:` (short `[ip:][host:]container[/proto]` with ranges, and long)
//! and `expose:`.

use super::values::{child, map, opt_string, string, Result};
use crate::error::ComposeError;
use crate::model::Port;
use crate::yaml::{Node, Value};

pub fn ports(node: &Node, path: &str) -> Result<Vec<Port>> {
    let Value::Seq(items) = &node.value else {
        if matches!(node.value, Value::Null) {
            return Ok(Vec::new());
        }
        return Err(ComposeError::node(node, path, "must be a list"));
    };
    let mut out = Vec::new();
    for item in items {
        match &item.value {
            Value::Map(_) => out.push(long_port(item, path)?),
            _ => {
                let text = string(item, path)?;
                let parsed = parse_short(&text).ok_or_else(|| {
                    ComposeError::node(item, path, format!("invalid port {text:?}"))
                })?;
                out.extend(parsed);
            }
        }
    }
    Ok(out)
}

fn long_port(node: &Node, path: &str) -> Result<Port> {
    let allowed = [
        "target",
        "published",
        "host_ip",
        "protocol",
        "mode",
        "name",
        "app_protocol",
    ];
    let mut port = Port {
        protocol: "tcp".to_string(),
        mode: "ingress".to_string(),
        ..Port::default()
    };
    let mut target = None;
    for (key, value) in map(node, path, &allowed)? {
        let path = &child(path, key);
        match key.as_str() {
            "target" => {
                let text = string(value, path)?;
                target = Some(text.parse::<u16>().map_err(|_| {
                    ComposeError::node(value, path, format!("invalid port {text:?}"))
                })?);
            }
            "published" => {
                port.published = opt_string(value, path)?;
                if let Some(published) = &port.published {
                    if parse_range(published).is_none() {
                        return Err(ComposeError::node(
                            value,
                            path,
                            format!("invalid port {published:?}"),
                        ));
                    }
                }
            }
            "host_ip" => port.host_ip = opt_string(value, path)?,
            "protocol" => port.protocol = string(value, path)?.to_ascii_lowercase(),
            "mode" => port.mode = string(value, path)?,
            "name" => port.name = opt_string(value, path)?,
            _ => {}
        }
    }
    port.target = target.ok_or_else(|| ComposeError::node(node, path, "target is required"))?;
    Ok(port)
}

/// `80`, `8080:80`, `127.0.0.1:8080:80`, `[::1]:8080:80`, `127.0.0.1::80`,
/// `8000-8001:80-81/udp`. A container range expands into one port each.
pub fn parse_short(text: &str) -> Option<Vec<Port>> {
    let (spec, protocol) = match text.rsplit_once('/') {
        Some((spec, proto)) => (spec, proto.to_ascii_lowercase()),
        None => (text, "tcp".to_string()),
    };
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return None;
    }
    let (host_ip, rest) = if let Some(after) = spec.strip_prefix('[') {
        let (ip, rest) = after.split_once(']')?;
        (Some(ip.to_string()), rest.strip_prefix(':')?)
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.len() {
            1 | 2 => (None, spec),
            3 => (Some(parts[0].to_string()), &spec[parts[0].len() + 1..]),
            _ => return None,
        }
    };
    let (published, container) = match rest.split_once(':') {
        Some((host, container)) => (Some(host).filter(|h| !h.is_empty()), container),
        None if host_ip.is_some() => return None,
        None => (None, rest),
    };
    let (first, last) = parse_range(container)?;
    let host_range = match published {
        Some(host) => Some(parse_range(host)?),
        None => None,
    };
    let count = last - first;
    let mut out = Vec::new();
    for offset in 0..=count {
        let published = match host_range {
            // Equal-length ranges pair up; a host range for one container
            // port is kept as a range for the engine to pick from.
            Some((h_first, h_last)) if h_last - h_first == count => {
                Some((h_first + offset).to_string())
            }
            Some((h_first, h_last)) if count == 0 => Some(format!("{h_first}-{h_last}")),
            Some(_) => return None,
            None => None,
        };
        out.push(Port {
            target: first + offset,
            published,
            host_ip: host_ip.clone().filter(|ip| !ip.is_empty()),
            protocol: protocol.clone(),
            mode: "ingress".to_string(),
            name: None,
        });
    }
    Some(out)
}

fn parse_range(text: &str) -> Option<(u16, u16)> {
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?),
        None => {
            let port = text.parse::<u16>().ok()?;
            (port, port)
        }
    };
    (first <= last).then_some((first, last))
}

/// `expose:` entries as `"80"` / `"8000-8010/udp"`.
pub fn expose(node: &Node, path: &str) -> Result<Vec<String>> {
    let Value::Seq(items) = &node.value else {
        if matches!(node.value, Value::Null) {
            return Ok(Vec::new());
        }
        return Err(ComposeError::node(node, path, "must be a list"));
    };
    let mut out = Vec::new();
    for item in items {
        let text = string(item, path)?;
        let (range, protocol) = match text.split_once('/') {
            Some((r, p)) => (r, Some(p)),
            None => (text.as_str(), None),
        };
        if parse_range(range).is_none()
            || protocol.is_some_and(|p| !matches!(p, "tcp" | "udp" | "sctp"))
        {
            return Err(ComposeError::node(
                item,
                path,
                format!("invalid port {text:?}"),
            ));
        }
        out.push(text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(ports: &[Port]) -> Vec<String> {
        ports
            .iter()
            .map(|p| {
                format!(
                    "{}|{}|{}/{}",
                    p.host_ip.as_deref().unwrap_or(""),
                    p.published.as_deref().unwrap_or(""),
                    p.target,
                    p.protocol
                )
            })
            .collect()
    }

    #[test]
    fn short_syntax() {
        let cases: &[(&str, &[&str])] = &[
            ("80", &["||80/tcp"]),
            ("8080:80", &["|8080|80/tcp"]),
            ("127.0.0.1:8080:80", &["127.0.0.1|8080|80/tcp"]),
            ("127.0.0.1::80", &["127.0.0.1||80/tcp"]),
            ("[::1]:8080:80", &["::1|8080|80/tcp"]),
            ("53:53/udp", &["|53|53/udp"]),
            ("8000-8001:80-81", &["|8000|80/tcp", "|8001|81/tcp"]),
            ("9090-9091:8080", &["|9090-9091|8080/tcp"]),
            ("3000-3001", &["||3000/tcp", "||3001/tcp"]),
        ];
        for (text, want) in cases {
            let got = parse_short(text).unwrap_or_else(|| panic!("{text} parses"));
            assert_eq!(show(&got), *want, "{text}");
        }
        for bad in [
            "80:abc",
            "70000",
            "1:2:3:4",
            "80/xyz",
            "8000-8002:80-81",
            "81-80",
            "",
        ] {
            assert!(parse_short(bad).is_none(), "{bad}");
        }
    }
}
