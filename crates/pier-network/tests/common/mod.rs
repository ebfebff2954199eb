//! Test scaffolding: namespaces standing in for containers, unique names and
//! subnets, Drop guards that remove everything even when a test fails, and
//! host snapshots to prove that nothing is left behind.
//!
//! Tests only ever talk to loopback and to addresses inside namespaces and
//! bridges they created themselves.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Output};

use pier_network::{NetConfig, NetnsRef};

/// Tests in one binary run one at a time: the before/after host snapshots
/// would otherwise see each other's interfaces.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static M: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    M.lock().await
}

pub fn rand_hex(n: usize) -> String {
    let v: u64 = rand::random();
    format!("{v:016x}")[..n].to_string()
}

/// A random 10.a.b.0/24 (avoiding 10.255/16 where this host's resolver lives).
pub fn rand_subnet() -> String {
    let a: u8 = rand::random::<u8>() % 200 + 20;
    let b: u8 = rand::random();
    format!("10.{a}.{b}.0/24")
}

pub fn sh(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"))
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Ns {
    pub name: String,
}

impl Ns {
    pub fn new() -> Ns {
        let name = format!("pt-{}", rand_hex(8));
        let o = sh("ip", &["netns", "add", &name]);
        assert!(
            o.status.success(),
            "ip netns add: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Ns { name }
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.name))
    }

    pub fn r(&self) -> NetnsRef {
        NetnsRef::Path(self.path())
    }

    pub fn exec(&self, args: &[&str]) -> Output {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(args);
        sh("ip", &all)
    }

    /// One ping with a 1 s timeout (busybox: the image has no iputils).
    pub fn ping(&self, ip: Ipv4Addr) -> bool {
        self.exec(&["busybox", "ping", "-c1", "-W1", &ip.to_string()])
            .status
            .success()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = sh("ip", &["netns", "del", &self.name]);
    }
}

/// A unique Pier instance: its own tables, marker, bridge names, store dir.
/// Dropping it removes the instance's tables and links (from a separate
/// thread with its own runtime, as Drop cannot await).
pub struct Env {
    pub instance: String,
    pub dir: tempfile::TempDir,
    pub extra_links: Vec<String>,
}

impl Env {
    pub fn new() -> Env {
        Env {
            instance: format!("pt{}", rand_hex(6)),
            dir: tempfile::tempdir().expect("tempdir"),
            extra_links: Vec::new(),
        }
    }

    pub fn config(&self, upstreams: Vec<SocketAddr>) -> NetConfig {
        let mut c = NetConfig::new(self.dir.path().join("network"));
        c.instance = self.instance.clone();
        // Like pierd's exec root on a normal host: tmpfs.
        c.runtime_dir = Some(PathBuf::from(format!("/dev/shm/{}", self.instance)));
        c.default_bridge = format!("{}d", self.instance);
        let sub: ipnet::Ipv4Net = rand_subnet().parse().unwrap();
        c.default_bridge_subnet = Some(pier_network::ipam::build_config(sub, None, None).unwrap());
        c.dns_upstreams = Some(upstreams);
        c
    }

    pub fn bridge_name(&self, tag: &str) -> String {
        format!("{}{}", self.instance, tag)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let inst = self.instance.clone();
        let _ = std::fs::remove_dir_all(format!("/dev/shm/{inst}"));
        let links = std::mem::take(&mut self.extra_links);
        let _ = std::thread::spawn(move || {
            for l in links {
                let _ = sh("ip", &["link", "del", &l]);
            }
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(pier_network::cleanup_all(&inst));
            }
        })
        .join();
    }
}

/// Host state relevant to us: link names and the nft ruleset.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub links: BTreeSet<String>,
    pub tables: BTreeSet<String>,
    pub ruleset: String,
}

pub fn snapshot() -> Snapshot {
    let o = sh("ip", &["-j", "link", "show"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("ip -j link");
    let links = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["ifname"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let o = sh("nft", &["-j", "list", "ruleset"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    let mut tables = BTreeSet::new();
    let mut items = Vec::new();
    for item in v["nftables"].as_array().cloned().unwrap_or_default() {
        if item.get("metainfo").is_some() {
            continue;
        }
        if let Some(t) = item.get("table") {
            tables.insert(format!(
                "{} {}",
                t["family"].as_str().unwrap_or(""),
                t["name"].as_str().unwrap_or("")
            ));
        }
        items.push(item);
    }
    Snapshot {
        links,
        tables,
        ruleset: serde_json::to_string(&items).unwrap_or_default(),
    }
}

/// What `after` has that `before` had not.
pub fn leftovers(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut v: Vec<String> = after
        .links
        .difference(&before.links)
        .map(|l| format!("link {l}"))
        .collect();
    v.extend(
        after
            .tables
            .difference(&before.tables)
            .map(|t| format!("table {t}")),
    );
    if v.is_empty() && before.ruleset != after.ruleset {
        v.push(format!(
            "ruleset changed:\nbefore {}\nafter  {}",
            before.ruleset, after.ruleset
        ));
    }
    v
}

/// The IPv4 addresses of `ifname` inside `ns`.
pub fn ns_addrs(ns: &Ns, ifname: &str) -> Vec<String> {
    let o = ns.exec(&["ip", "-j", "-4", "addr", "show", "dev", ifname]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| {
            Some(format!(
                "{}/{}",
                a["local"].as_str()?,
                a["prefixlen"].as_u64()?
            ))
        })
        .collect()
}
