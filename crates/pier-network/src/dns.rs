//! The embedded DNS server (Docker's 127.0.0.11).
//!
//! One [`DnsServer`] holds the name table of all networks; each container
//! on a user-defined network gets its own listener (UDP + TCP on
//! 127.0.0.11:53) created *inside its network namespace* (see `netns`), so
//! the server always knows which container asks and answers only with names
//! from networks that container is attached to. Names are the container
//! name, its network aliases and its short ID (pierd decides the list);
//! `name.network` works too. A/AAAA/PTR for known names are answered
//! locally (TTL 600 like Docker); everything else is forwarded verbatim to
//! the upstream resolvers (from the daemon's namespace, so the host's
//! loopback resolvers such as 127.0.0.53 are reachable). A container only
//! on internal networks gets no forwarding, and with no upstream an unknown
//! name is NXDOMAIN.

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tracing::{debug, trace};

use crate::error::{NetError, Result};
use crate::netns::{in_netns, NetnsRef};

/// Docker's embedded DNS address.
pub const DNS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
const TTL: u32 = 600;
/// Like Docker's resolver: at most this many queries in flight per container.
const MAX_INFLIGHT: usize = 100;

#[derive(Debug, Default)]
struct NetEntry {
    name: String,
    internal: bool,
    /// lower-cased name → (container ID, address)
    records: HashMap<String, Vec<(String, Ipv4Addr)>>,
    /// container ID → (primary name, address), for PTR
    primary: HashMap<String, (String, Ipv4Addr)>,
}

#[derive(Debug, Default)]
struct Member {
    networks: BTreeSet<String>,
    upstreams: Option<Vec<SocketAddr>>,
}

#[derive(Debug, Default)]
struct Table {
    networks: HashMap<String, NetEntry>,
    members: HashMap<String, Member>,
}

struct Inner {
    table: RwLock<Table>,
    upstreams: RwLock<Vec<SocketAddr>>,
    timeout: Duration,
}

/// The name table plus the query handling. Cheap to clone.
#[derive(Clone)]
pub struct DnsServer {
    inner: Arc<Inner>,
}

/// What a local lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Known name: these addresses.
    Found(Vec<Ipv4Addr>),
    /// Not ours; forward to these resolvers (empty: none allowed/configured).
    Forward(Vec<SocketAddr>),
}

/// A container's listener; dropping it stops serving.
pub struct DnsListener {
    pub udp_addr: SocketAddr,
    pub tcp_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DnsListener {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // Table updates are single assignments; a poisoned lock still holds a
    // consistent table.
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl DnsServer {
    /// A server forwarding unknown names to `upstreams` (may be empty).
    pub fn new(upstreams: Vec<SocketAddr>) -> Self {
        DnsServer {
            inner: Arc::new(Inner {
                table: RwLock::new(Table::default()),
                upstreams: RwLock::new(upstreams),
                timeout: Duration::from_secs(3),
            }),
        }
    }

    /// Replace the default upstream resolvers.
    pub fn set_upstreams(&self, upstreams: Vec<SocketAddr>) {
        *write(&self.inner.upstreams) = upstreams;
    }

    /// Per-container upstreams (`--dns`); `None` = the defaults.
    pub fn set_container_upstreams(&self, container_id: &str, upstreams: Option<Vec<SocketAddr>>) {
        write(&self.inner.table)
            .members
            .entry(container_id.to_string())
            .or_default()
            .upstreams = upstreams;
    }

    /// Declare (or update) a network: its name serves `name.network` lookups;
    /// containers only on internal networks get no forwarding.
    pub fn set_network(&self, network_id: &str, name: &str, internal: bool) {
        let mut t = write(&self.inner.table);
        let e = t.networks.entry(network_id.to_string()).or_default();
        e.name = name.to_string();
        e.internal = internal;
    }

    /// Forget a network and all its records.
    pub fn remove_network(&self, network_id: &str) {
        let mut t = write(&self.inner.table);
        t.networks.remove(network_id);
        for m in t.members.values_mut() {
            m.networks.remove(network_id);
        }
    }

    /// Register a container on a network under `names` (first = primary,
    /// used for reverse lookups).
    pub fn add_endpoint(
        &self,
        network_id: &str,
        container_id: &str,
        names: &[String],
        ip: Ipv4Addr,
    ) {
        let mut t = write(&self.inner.table);
        let net = t
            .networks
            .entry(network_id.to_string())
            .or_insert_with(|| NetEntry {
                name: network_id.to_string(),
                ..Default::default()
            });
        remove_records(net, container_id);
        for n in names.iter().map(|n| norm(n)).filter(|n| !n.is_empty()) {
            let v = net.records.entry(n).or_default();
            if !v.iter().any(|(c, _)| c == container_id) {
                v.push((container_id.to_string(), ip));
            }
        }
        if let Some(p) = names.first() {
            net.primary
                .insert(container_id.to_string(), (p.clone(), ip));
        }
        t.members
            .entry(container_id.to_string())
            .or_default()
            .networks
            .insert(network_id.to_string());
    }

    /// Unregister a container from a network.
    pub fn remove_endpoint(&self, network_id: &str, container_id: &str) {
        let mut t = write(&self.inner.table);
        if let Some(net) = t.networks.get_mut(network_id) {
            remove_records(net, container_id);
        }
        let gone = match t.members.get_mut(container_id) {
            Some(m) => {
                m.networks.remove(network_id);
                m.networks.is_empty() && m.upstreams.is_none()
            }
            None => false,
        };
        if gone {
            t.members.remove(container_id);
        }
    }

    /// Resolve `name` as container `container_id` sees it.
    pub fn lookup(&self, container_id: &str, name: &str) -> Lookup {
        let q = norm(name);
        let t = read(&self.inner.table);
        let Some(member) = t.members.get(container_id) else {
            return Lookup::Forward(Vec::new());
        };
        // Stable order: by network name, like Docker's sorted endpoints.
        let mut nets: Vec<&NetEntry> = member
            .networks
            .iter()
            .filter_map(|n| t.networks.get(n))
            .collect();
        nets.sort_by(|a, b| a.name.cmp(&b.name));
        for net in &nets {
            let hit = net.records.get(&q).or_else(|| {
                q.strip_suffix(&format!(".{}", net.name.to_ascii_lowercase()))
                    .and_then(|short| net.records.get(short))
            });
            if let Some(v) = hit {
                return Lookup::Found(v.iter().map(|(_, ip)| *ip).collect());
            }
        }
        if nets.iter().all(|n| n.internal) {
            return Lookup::Forward(Vec::new());
        }
        let ups = member
            .upstreams
            .clone()
            .unwrap_or_else(|| read(&self.inner.upstreams).clone());
        Lookup::Forward(ups)
    }

    fn reverse(&self, container_id: &str, ip: Ipv4Addr) -> Option<String> {
        let t = read(&self.inner.table);
        let member = t.members.get(container_id)?;
        member
            .networks
            .iter()
            .filter_map(|n| t.networks.get(n))
            .find_map(|net| {
                net.primary
                    .values()
                    .find(|(_, a)| *a == ip)
                    .map(|(name, _)| format!("{}.{}.", name, net.name))
            })
    }

    /// Serve container `container_id` on sockets the caller created.
    pub fn serve(
        &self,
        container_id: &str,
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
    ) -> Result<DnsListener> {
        let io = |e| NetError::io("preparing DNS sockets", e);
        udp.set_nonblocking(true).map_err(io)?;
        tcp.set_nonblocking(true).map_err(io)?;
        let udp = Arc::new(UdpSocket::from_std(udp).map_err(io)?);
        let tcp = TcpListener::from_std(tcp).map_err(io)?;
        let udp_addr = udp.local_addr().map_err(io)?;
        let tcp_addr = tcp.local_addr().map_err(io)?;
        let limit = Arc::new(Semaphore::new(MAX_INFLIGHT));
        let (s1, c1, l1) = (self.clone(), container_id.to_string(), limit.clone());
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                // Over the limit: drop the query; the client retries.
                let Ok(permit) = l1.clone().try_acquire_owned() else {
                    continue;
                };
                let (s, c, sock, q) = (s1.clone(), c1.clone(), udp.clone(), buf[..n].to_vec());
                tokio::spawn(async move {
                    if let Some(resp) = s.answer(&c, &q, false).await {
                        let _ = sock.send_to(&resp, peer).await;
                    }
                    drop(permit);
                });
            }
        });
        let (s2, c2) = (self.clone(), container_id.to_string());
        let tcp_task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = tcp.accept().await else {
                    continue;
                };
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    continue;
                };
                let (s, c) = (s2.clone(), c2.clone());
                tokio::spawn(async move {
                    s.serve_tcp(&c, stream).await;
                    drop(permit);
                });
            }
        });
        debug!(container = container_id, %udp_addr, "embedded DNS listening");
        Ok(DnsListener {
            udp_addr,
            tcp_addr,
            tasks: vec![udp_task, tcp_task],
        })
    }

    /// Bind 127.0.0.11:53 (UDP and TCP) inside the container's namespace and
    /// serve it. Fast (no extra process), but the container can then not
    /// bind port 53 on all its addresses itself; see [`listen_in_netns_dnat`](Self::listen_in_netns_dnat).
    pub async fn listen_in_netns(&self, container_id: &str, ns: &NetnsRef) -> Result<DnsListener> {
        self.listen_in_netns_on(container_id, ns, SocketAddr::from((DNS_ADDR, 53)))
            .await
    }

    /// Like [`listen_in_netns`](Self::listen_in_netns) on another address (tests, custom setups).
    pub async fn listen_in_netns_on(
        &self,
        container_id: &str,
        ns: &NetnsRef,
        addr: SocketAddr,
    ) -> Result<DnsListener> {
        let (udp, tcp) = in_netns(ns, move || -> std::io::Result<_> {
            let udp = std::net::UdpSocket::bind(addr)?;
            let tcp = std::net::TcpListener::bind(addr)?;
            Ok((udp, tcp))
        })
        .await?
        .map_err(|e| NetError::io(format!("binding {addr} in {}", ns.path().display()), e))?;
        self.serve(container_id, udp, tcp)
    }

    /// Docker's way: bind 127.0.0.11 on two random ports inside the
    /// container's namespace and DNAT port 53 to them with a small nftables
    /// table in that namespace (`table ip pier-dns`, created by running
    /// `nft` from the thread that entered the namespace, so the child
    /// inherits it). Port 53 stays free for the container's own DNS server
    /// (pi-hole, coredns...). Costs one `nft` run per container.
    pub async fn listen_in_netns_dnat(
        &self,
        container_id: &str,
        ns: &NetnsRef,
    ) -> Result<DnsListener> {
        let (udp, tcp) = in_netns(ns, move || -> std::io::Result<_> {
            let udp = std::net::UdpSocket::bind((DNS_ADDR, 0))?;
            let tcp = std::net::TcpListener::bind((DNS_ADDR, 0))?;
            let rules = dnat_rules(udp.local_addr()?.port(), tcp.local_addr()?.port());
            run_nft_here(&rules)?;
            Ok((udp, tcp))
        })
        .await?
        .map_err(|e| NetError::io(format!("setting up DNS in {}", ns.path().display()), e))?;
        self.serve(container_id, udp, tcp)
    }

    async fn serve_tcp(&self, container_id: &str, mut s: TcpStream) {
        let idle = Duration::from_secs(10);
        loop {
            let mut len = [0u8; 2];
            match tokio::time::timeout(idle, s.read_exact(&mut len)).await {
                Ok(Ok(_)) => {}
                _ => return,
            }
            let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if !matches!(
                tokio::time::timeout(idle, s.read_exact(&mut q)).await,
                Ok(Ok(_))
            ) {
                return;
            }
            let Some(resp) = self.answer(container_id, &q, true).await else {
                return;
            };
            let Ok(n) = u16::try_from(resp.len()) else {
                return;
            };
            let mut out = n.to_be_bytes().to_vec();
            out.extend_from_slice(&resp);
            if s.write_all(&out).await.is_err() {
                return;
            }
        }
    }

    /// Answer one wire-format query; `None` when it is not worth a reply.
    pub async fn answer(&self, container_id: &str, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
        let req = Message::from_vec(query).ok()?;
        if req.metadata.message_type != MessageType::Query {
            return None;
        }
        let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
        resp.metadata.recursion_desired = req.metadata.recursion_desired;
        resp.metadata.recursion_available = true;
        if req.metadata.op_code != OpCode::Query || req.queries.len() != 1 {
            resp.metadata.response_code = ResponseCode::NotImp;
            return resp.to_vec().ok();
        }
        let q = req.queries[0].clone();
        resp.add_query(q.clone());
        let qname = q.name().to_ascii();
        let qtype = q.query_type();
        if qtype == RecordType::PTR {
            if let Some(ip) = q.name().parse_arpa_name().ok().and_then(|n| match n {
                ipnet::IpNet::V4(v4) if v4.prefix_len() == 32 => Some(v4.addr()),
                _ => None,
            }) {
                if let Some(target) = self
                    .reverse(container_id, ip)
                    .and_then(|t| Name::from_ascii(t).ok())
                {
                    resp.add_answer(Record::from_rdata(
                        q.name().clone(),
                        TTL,
                        RData::PTR(PTR(target)),
                    ));
                    return resp.to_vec().ok();
                }
            }
        }
        match self.lookup(container_id, &qname) {
            Lookup::Found(ips) => {
                trace!(container = container_id, name = %qname, ?ips, "local answer");
                if matches!(qtype, RecordType::A | RecordType::ANY) {
                    for ip in ips {
                        resp.add_answer(Record::from_rdata(q.name().clone(), TTL, RData::A(A(ip))));
                    }
                }
                // AAAA and other types for a known name: NOERROR, no data.
                resp.to_vec().ok()
            }
            Lookup::Forward(ups) if ups.is_empty() => {
                resp.metadata.response_code = ResponseCode::NXDomain;
                resp.to_vec().ok()
            }
            Lookup::Forward(ups) => {
                for up in ups {
                    let r = if tcp {
                        forward_tcp(up, query, self.inner.timeout).await
                    } else {
                        forward_udp(up, query, self.inner.timeout).await
                    };
                    match r {
                        Ok(bytes) => return Some(bytes),
                        Err(e) => debug!(upstream = %up, error = %e, "DNS forward failed"),
                    }
                }
                resp.metadata.response_code = ResponseCode::ServFail;
                resp.to_vec().ok()
            }
        }
    }
}

/// The container-side table: queries to 127.0.0.11:53 go to our ports;
/// conntrack rewrites the replies' source port back to 53. Replaces an
/// older table (a restarted daemon binds new ports) in one transaction.
fn dnat_rules(udp_port: u16, tcp_port: u16) -> String {
    format!(
        "add table ip pier-dns\n\
         delete table ip pier-dns\n\
         table ip pier-dns {{\n\
         \tchain output {{\n\
         \t\ttype nat hook output priority -100; policy accept;\n\
         \t\tip daddr {DNS_ADDR} udp dport 53 dnat to {DNS_ADDR}:{udp_port}\n\
         \t\tip daddr {DNS_ADDR} tcp dport 53 dnat to {DNS_ADDR}:{tcp_port}\n\
         \t}}\n\
         }}\n"
    )
}

/// Run `nft -f -` in the calling thread's network namespace.
fn run_nft_here(rules: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut child = std::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(rules.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "nft: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn remove_records(net: &mut NetEntry, container_id: &str) {
    net.records.retain(|_, v| {
        v.retain(|(c, _)| c != container_id);
        !v.is_empty()
    });
    net.primary.remove(container_id);
}

async fn forward_udp(up: SocketAddr, query: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    let bind: SocketAddr = if up.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(up).await?;
    sock.send(query).await?;
    let mut buf = vec![0u8; 65535];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let n = tokio::time::timeout_at(deadline, sock.recv(&mut buf))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "upstream timed out")
            })??;
        // Same transaction ID, or it is a stray packet.
        if n >= 2 && query.len() >= 2 && buf[..2] == query[..2] {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn forward_tcp(up: SocketAddr, query: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    let fut = async {
        let mut s = TcpStream::connect(up).await?;
        let len =
            u16::try_from(query.len()).map_err(|_| std::io::Error::other("query too long"))?;
        let mut out = len.to_be_bytes().to_vec();
        out.extend_from_slice(query);
        s.write_all(&out).await?;
        let mut l = [0u8; 2];
        s.read_exact(&mut l).await?;
        let mut resp = vec![0u8; usize::from(u16::from_be_bytes(l))];
        s.read_exact(&mut resp).await?;
        Ok(resp)
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "upstream timed out"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scoping() {
        let d = DnsServer::new(vec!["127.0.0.1:5353".parse().unwrap()]);
        d.set_network("n1", "front", false);
        d.set_network("n2", "back", true);
        d.add_endpoint(
            "n1",
            "c1",
            &names(&["web", "www", "aaaaaaaaaaaa"]),
            Ipv4Addr::new(10, 0, 0, 2),
        );
        d.add_endpoint("n1", "c2", &names(&["client"]), Ipv4Addr::new(10, 0, 0, 3));
        d.add_endpoint("n2", "c3", &names(&["db"]), Ipv4Addr::new(10, 1, 0, 2));
        d.add_endpoint("n2", "c1", &names(&["web"]), Ipv4Addr::new(10, 1, 0, 3));
        let ip = |v| Lookup::Found(vec![v]);
        assert_eq!(d.lookup("c2", "WEB."), ip(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(d.lookup("c2", "www"), ip(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(d.lookup("c2", "web.front"), ip(Ipv4Addr::new(10, 0, 0, 2)));
        // c2 is not on "back": db is not visible, so it is forwarded.
        assert!(matches!(d.lookup("c2", "db"), Lookup::Forward(v) if v.len() == 1));
        // c3 only on the internal network: sees web's address there, no forwarding.
        assert_eq!(d.lookup("c3", "web"), ip(Ipv4Addr::new(10, 1, 0, 3)));
        assert_eq!(d.lookup("c3", "example.com"), Lookup::Forward(vec![]));
        // Per-container upstreams.
        d.set_container_upstreams("c2", Some(vec!["127.0.0.2:53".parse().unwrap()]));
        assert_eq!(
            d.lookup("c2", "x.org"),
            Lookup::Forward(vec!["127.0.0.2:53".parse().unwrap()])
        );
        assert_eq!(
            d.reverse("c2", Ipv4Addr::new(10, 0, 0, 2)).as_deref(),
            Some("web.front.")
        );
        d.remove_endpoint("n1", "c1");
        assert!(matches!(d.lookup("c2", "web"), Lookup::Forward(_)));
        d.remove_network("n2");
        assert_eq!(d.lookup("c3", "db"), Lookup::Forward(vec![]));
    }

    #[tokio::test]
    async fn wire_answers() {
        let d = DnsServer::new(vec![]);
        d.add_endpoint("n", "c", &names(&["web"]), Ipv4Addr::new(10, 0, 0, 2));
        let mut q = Message::query();
        q.add_query(hickory_proto::op::Query::query(
            Name::from_ascii("web.").unwrap(),
            RecordType::A,
        ));
        let r =
            Message::from_vec(&d.answer("c", &q.to_vec().unwrap(), false).await.unwrap()).unwrap();
        assert_eq!(r.metadata.id, q.metadata.id);
        assert_eq!(r.answers.len(), 1);
        let mut q = Message::query();
        q.add_query(hickory_proto::op::Query::query(
            Name::from_ascii("nope.").unwrap(),
            RecordType::A,
        ));
        let r =
            Message::from_vec(&d.answer("c", &q.to_vec().unwrap(), false).await.unwrap()).unwrap();
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
        let mut q = Message::query();
        q.add_query(hickory_proto::op::Query::query(
            Name::from_ascii("2.0.0.10.in-addr.arpa.").unwrap(),
            RecordType::PTR,
        ));
        let r =
            Message::from_vec(&d.answer("c", &q.to_vec().unwrap(), false).await.unwrap()).unwrap();
        assert_eq!(r.answers.len(), 1);
    }
}
