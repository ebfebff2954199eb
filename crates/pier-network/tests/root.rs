//! Real networking tests (need root): bridges, veths, nftables, DNS, all in
//! namespaces and on bridges these tests create, with unique names and
//! subnets, removed at the end even on failure.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use pier_network::netns::in_netns;
use pier_network::spec::OPT_BRIDGE_NAME;
use pier_network::{
    parse_publish, ConnectRequest, ContainerState, DnsOverrides, Endpoint, NetError, NetworkRecord,
    NetworkSpec, Networking, PortRequest,
};

fn root() -> bool {
    if nix::unistd::geteuid().is_root() {
        true
    } else {
        eprintln!("SKIPPED: needs root");
        false
    }
}

async fn create(net: &Networking, name: &str, bridge: &str, internal: bool) -> NetworkRecord {
    let mut s = NetworkSpec::bridge(name);
    s.ipam.subnet = Some(rand_subnet().parse().unwrap());
    s.internal = internal;
    s.options.insert(OPT_BRIDGE_NAME.into(), bridge.into());
    net.create_network_spec(&s).await.expect("create network")
}

async fn connect(
    net: &Networking,
    network: &str,
    cid: &str,
    name: &str,
    ns: &Ns,
    aliases: &[String],
    ports: &[PortRequest],
) -> pier_network::Result<Endpoint> {
    let r = ns.r();
    let req = ConnectRequest {
        container_id: cid,
        container_name: name,
        netns: &r,
        aliases,
        ipv4: None,
        mac: None,
        ports,
    };
    net.connect(network, &req)
        .await
        .map(|e| e.expect("an endpoint"))
}

fn cid() -> String {
    format!(
        "{}{}{}{}",
        rand_hex(16),
        rand_hex(16),
        rand_hex(16),
        rand_hex(16)
    )
}

/// Wait until the host shows nothing of ours (namespace teardown in the
/// kernel is asynchronous, so give it a moment).
fn assert_clean(before: &Snapshot) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = leftovers(before, &snapshot());
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left behind: {left:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_ping_isolation_and_orderly_teardown() {
    let _s = serial().await;
    if !root() {
        return;
    }
    let env = Env::new();
    let before = snapshot();
    {
        let net = Networking::open(env.config(vec![])).await.unwrap();
        let a = create(&net, "neta", &env.bridge_name("a"), false).await;
        let b = create(&net, "netb", &env.bridge_name("b"), false).await;
        let (n1, n2, n3) = (Ns::new(), Ns::new(), Ns::new());
        let mut times = Vec::new();
        let mut eps = Vec::new();
        for (ns, network) in [(&n1, "neta"), (&n2, "neta"), (&n3, "netb")] {
            let id = cid();
            let t = Instant::now();
            eps.push(
                connect(&net, network, &id, &format!("c{}", &id[..4]), ns, &[], &[])
                    .await
                    .unwrap(),
            );
            times.push(t.elapsed());
        }
        eprintln!("FIGURE connect, user network (veth+addr+route+lo + DNS listener via in-netns DNAT): {times:?}");
        let (e1, e2, e3) = (&eps[0].record, &eps[1].record, &eps[2].record);
        let gw_a = a.ipam.unwrap().gateway;
        assert_eq!(e1.gateway, Some(gw_a));
        assert_eq!(e1.ifname, "eth0");
        let o = e1.ip.octets();
        assert_eq!(
            e1.mac,
            format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
        );
        assert_eq!(ns_addrs(&n1, "eth0"), vec![format!("{}/24", e1.ip)]);
        let link = String::from_utf8_lossy(&n1.exec(&["ip", "-j", "link", "show", "eth0"]).stdout)
            .to_string();
        assert!(link.contains(&e1.mac), "{link}");
        let route = String::from_utf8_lossy(&n1.exec(&["ip", "route", "show", "default"]).stdout)
            .to_string();
        assert!(
            route.contains(&format!("default via {gw_a} dev eth0")),
            "{route}"
        );
        // Same network: reachable both ways, gateway too.
        assert!(n1.ping(e2.ip), "n1 -> n2");
        assert!(n2.ping(e1.ip), "n2 -> n1");
        assert!(n1.ping(gw_a), "n1 -> gateway");
        // Other network: isolated both ways, though routed through the host.
        assert!(!n3.ping(e1.ip), "n3 -> n1 must be dropped");
        assert!(!n1.ping(e3.ip), "n1 -> n3 must be dropped");
        assert!(n3.ping(b.ipam.unwrap().gateway));
        // The inspect view lists the endpoints.
        let v = serde_json::to_value(net.inspect_network("neta").unwrap()).unwrap();
        assert_eq!(v["Containers"].as_object().unwrap().len(), 2);
        assert_eq!(
            v["Containers"][&e1.container_id]["IPv4Address"],
            format!("{}/24", e1.ip)
        );
        // A network with endpoints cannot go.
        assert!(matches!(
            net.remove_network("neta").await,
            Err(NetError::ActiveEndpoints { .. })
        ));
        // Disconnect removes the veth: no more reachability.
        net.disconnect("neta", &e1.container_id).await.unwrap();
        assert!(!n2.ping(e1.ip));
        assert!(ns_addrs(&n1, "eth0").is_empty());
        for e in [e2, e3] {
            net.disconnect_all(&e.container_id).await.unwrap();
        }
        // disconnect_all leaves the veths to the reaper; settled, they are
        // gone although their namespaces live on.
        net.settle_links().await;
        for ns in [&n2, &n3] {
            let o = ns.exec(&["ip", "link", "show", "eth0"]);
            assert!(!o.status.success(), "eth0 still there after settle");
        }
        net.remove_network("neta").await.unwrap();
        assert_eq!(
            net.prune_networks(&|_| false).await.unwrap(),
            vec!["netb".to_string()]
        );
        assert_eq!(net.list_networks().len(), 3, "bridge, host, none stay");
        // Orderly teardown alone (no cleanup_all) leaves nothing behind.
        let after = snapshot();
        assert!(!after.links.contains(&env.bridge_name("a")));
        assert!(
            !after.tables.iter().any(|t| t.contains(&env.instance)),
            "{:?}",
            after.tables
        );
    }
    assert_clean(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_network_has_no_way_out() {
    let _s = serial().await;
    if !root() {
        return;
    }
    let env = Env::new();
    let before = snapshot();
    {
        let net = Networking::open(env.config(vec![])).await.unwrap();
        create(&net, "inner", &env.bridge_name("i"), true).await;
        create(&net, "outer", &env.bridge_name("o"), false).await;
        let (n1, n2, n3) = (Ns::new(), Ns::new(), Ns::new());
        let e1 = connect(&net, "inner", &cid(), "i1", &n1, &[], &[])
            .await
            .unwrap()
            .record;
        let e2 = connect(&net, "inner", &cid(), "i2", &n2, &[], &[])
            .await
            .unwrap()
            .record;
        let e3 = connect(&net, "outer", &cid(), "o1", &n3, &[], &[])
            .await
            .unwrap()
            .record;
        assert_eq!(e1.gateway, None);
        assert!(n1.ping(e2.ip), "inside the internal network");
        let route = String::from_utf8_lossy(&n1.exec(&["ip", "route"]).stdout).to_string();
        assert!(!route.contains("default"), "{route}");
        // No route anywhere beyond the subnet.
        assert!(!n1
            .exec(&["ip", "route", "get", "192.0.2.77"])
            .status
            .success());
        // Even with a route added by hand, the firewall drops it.
        let gw = net
            .store()
            .get("inner")
            .unwrap()
            .ipam
            .unwrap()
            .gateway
            .to_string();
        assert!(n1
            .exec(&["ip", "route", "add", "default", "via", &gw])
            .status
            .success());
        assert!(!n1.ping(e3.ip), "internal -> other network");
        assert!(!n3.ping(e1.ip), "other network -> internal");
        let v = serde_json::to_value(net.inspect_network("inner").unwrap()).unwrap();
        assert_eq!(v["Internal"], true);
        net.cleanup_all().await.unwrap();
    }
    assert_clean(&before);
}

/// Serve "hello" on 0.0.0.0:80 inside `ns` (a stand-in for a web container).
async fn serve_hello(ns: &Ns) {
    let l = in_netns(&ns.r(), || std::net::TcpListener::bind("0.0.0.0:80"))
        .await
        .unwrap()
        .unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.write_all(b"hello\n");
        }
    });
}

fn fetch(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_ports_reach_the_container() {
    let _s = serial().await;
    if !root() {
        return;
    }
    let mut env = Env::new();
    let before = snapshot();
    {
        let net = Networking::open(env.config(vec![])).await.unwrap();
        let a = create(&net, "web", &env.bridge_name("w"), false).await;
        let gw = a.ipam.unwrap().gateway;
        let (c1, c2) = (Ns::new(), Ns::new());
        serve_hello(&c1).await;
        let ports = parse_publish("80").unwrap();
        let e1 = connect(&net, "web", &cid(), "web1", &c1, &[], &ports)
            .await
            .unwrap()
            .record;
        let p = e1.ports[0].host_port;
        assert!(
            (32768..=60999).contains(&p),
            "random port {p} from ip_local_port_range"
        );
        // From the host itself: loopback and the bridge gateway.
        assert_eq!(
            fetch(SocketAddr::from((Ipv4Addr::LOCALHOST, p))).unwrap(),
            "hello\n"
        );
        assert_eq!(fetch(SocketAddr::from((gw, p))).unwrap(), "hello\n");
        // From "another host": a namespace behind a plain veth, not a pier bridge.
        let outside = Ns::new();
        let hostif = env.bridge_name("x");
        env.extra_links.push(hostif.clone());
        let sub = rand_subnet();
        let pre = sub.trim_end_matches(".0/24");
        let (hip, oip) = (format!("{pre}.1"), format!("{pre}.2"));
        for args in [
            vec![
                "link",
                "add",
                &hostif,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &outside.name,
            ],
            vec!["addr", "add", &format!("{hip}/24"), "dev", &hostif],
            vec!["link", "set", &hostif, "up"],
        ] {
            assert!(sh("ip", &args).status.success(), "ip {args:?}");
        }
        for args in [
            vec!["ip", "addr", "add", &format!("{oip}/24"), "dev", "eth0"],
            vec!["ip", "link", "set", "eth0", "up"],
            vec!["ip", "link", "set", "lo", "up"],
        ] {
            assert!(outside.exec(&args).status.success());
        }
        let target = SocketAddr::from((hip.parse::<Ipv4Addr>().unwrap(), p));
        let got = in_netns(&outside.r(), move || fetch(target)).await.unwrap();
        assert_eq!(got.unwrap(), "hello\n");
        // Hairpin: the container itself and a neighbour reach the published
        // port through the host's address.
        let target = SocketAddr::from((gw, p));
        assert_eq!(
            in_netns(&c1.r(), move || fetch(target))
                .await
                .unwrap()
                .unwrap(),
            "hello\n"
        );
        let c3 = Ns::new();
        let e3 = connect(&net, "web", &cid(), "web4", &c3, &[], &[])
            .await
            .unwrap()
            .record;
        assert_eq!(
            in_netns(&c3.r(), move || fetch(target))
                .await
                .unwrap()
                .unwrap(),
            "hello\n"
        );
        net.disconnect("web", &e3.container_id).await.unwrap();
        // A port taken by someone else: Docker's error, and nothing half-done.
        let holder = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let q = holder.local_addr().unwrap().port();
        let links_before = snapshot().links;
        let err = connect(
            &net,
            "web",
            &cid(),
            "web2",
            &c2,
            &[],
            &parse_publish(&format!("{q}:80")).unwrap(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("Bind for 0.0.0.0:{q} failed: port is already allocated")
        );
        assert_eq!(
            snapshot().links,
            links_before,
            "a failed connect leaves no veth"
        );
        assert_eq!(net.store().get("web").unwrap().endpoints.len(), 1);
        // Our own port cannot be published twice either.
        let err = connect(
            &net,
            "web",
            &cid(),
            "web3",
            &c2,
            &[],
            &parse_publish(&format!("{p}:80")).unwrap(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("Bind for 0.0.0.0:{p} failed: port is already allocated")
        );
        // Nobody else can bind it while it is published.
        assert!(std::net::TcpListener::bind(("127.0.0.1", p)).is_err());
        // After disconnect: rule and reservation gone.
        net.disconnect("web", &e1.container_id).await.unwrap();
        assert!(fetch(SocketAddr::from((Ipv4Addr::LOCALHOST, p))).is_err());
        assert!(!snapshot().ruleset.contains(&format!("\"right\":{p}")));
        assert!(net.port_reservations().is_empty());
        net.remove_network("web").await.unwrap();
    }
    drop(env);
    assert_clean(&before);
}

async fn dns_query(ns: &Ns, name: &str, tcp: bool) -> (ResponseCode, Vec<Ipv4Addr>) {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(
        Name::from_ascii(format!("{name}.")).unwrap(),
        RecordType::A,
    ));
    let q = m.to_vec().unwrap();
    let resp = in_netns(&ns.r(), move || -> std::io::Result<Vec<u8>> {
        let server = SocketAddr::from((pier_network::DNS_ADDR, 53));
        if tcp {
            let mut s = TcpStream::connect_timeout(&server, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            let mut out = (q.len() as u16).to_be_bytes().to_vec();
            out.extend_from_slice(&q);
            s.write_all(&out)?;
            let mut l = [0u8; 2];
            s.read_exact(&mut l)?;
            let mut r = vec![0u8; u16::from_be_bytes(l) as usize];
            s.read_exact(&mut r)?;
            Ok(r)
        } else {
            let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.send_to(&q, server)?;
            let mut buf = [0u8; 1500];
            let n = s.recv(&mut buf)?;
            Ok(buf[..n].to_vec())
        }
    })
    .await
    .unwrap()
    .expect("dns exchange");
    let r = Message::from_vec(&resp).unwrap();
    let ips = r
        .answers
        .iter()
        .filter_map(|a| match &a.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    (r.metadata.response_code, ips)
}

/// A stand-in upstream resolver on loopback: `forwarded.test` → 10.9.9.9, else NXDOMAIN.
async fn fake_upstream() -> SocketAddr {
    let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = s.recv_from(&mut buf).await {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::response(q.metadata.id, q.metadata.op_code);
            let Some(query) = q.queries.first().cloned() else {
                continue;
            };
            r.add_query(query.clone());
            if query.name().to_ascii() == "forwarded.test." {
                r.add_answer(hickory_proto::rr::Record::from_rdata(
                    query.name().clone(),
                    60,
                    RData::A(hickory_proto::rr::rdata::A(Ipv4Addr::new(10, 9, 9, 9))),
                ));
            } else {
                r.metadata.response_code = ResponseCode::NXDomain;
            }
            let _ = s.send_to(&r.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_dns_is_scoped_per_network() {
    let _s = serial().await;
    if !root() {
        return;
    }
    let env = Env::new();
    let before = snapshot();
    {
        let up = fake_upstream().await;
        let net = Networking::open(env.config(vec![up])).await.unwrap();
        create(&net, "front", &env.bridge_name("f"), false).await;
        create(&net, "back", &env.bridge_name("b"), false).await;
        let (n1, n2, n3) = (Ns::new(), Ns::new(), Ns::new());
        let id1 = cid();
        let e1 = connect(&net, "front", &id1, "alpha", &n1, &["web".to_string()], &[])
            .await
            .unwrap()
            .record;
        let e2 = connect(&net, "front", &cid(), "beta", &n2, &[], &[])
            .await
            .unwrap()
            .record;
        let e3 = connect(&net, "back", &cid(), "gamma", &n3, &[], &[])
            .await
            .unwrap()
            .record;
        assert_eq!(
            e1.dns_names,
            vec!["alpha".to_string(), "web".into(), id1[..12].to_string()]
        );
        assert_eq!(
            dns_query(&n2, "alpha", false).await,
            (ResponseCode::NoError, vec![e1.ip])
        );
        assert_eq!(
            dns_query(&n2, "WEB", false).await,
            (ResponseCode::NoError, vec![e1.ip])
        );
        assert_eq!(
            dns_query(&n2, &id1[..12], false).await,
            (ResponseCode::NoError, vec![e1.ip])
        );
        assert_eq!(
            dns_query(&n2, "alpha.front", false).await,
            (ResponseCode::NoError, vec![e1.ip])
        );
        assert_eq!(
            dns_query(&n2, "alpha", true).await,
            (ResponseCode::NoError, vec![e1.ip]),
            "over TCP"
        );
        assert_eq!(
            dns_query(&n1, "beta", false).await,
            (ResponseCode::NoError, vec![e2.ip])
        );
        // Not sharing a network: not resolved (forwarded, and upstream says NXDOMAIN).
        assert_eq!(
            dns_query(&n2, "gamma", false).await.0,
            ResponseCode::NXDomain
        );
        assert_eq!(
            dns_query(&n3, "alpha", false).await.0,
            ResponseCode::NXDomain
        );
        assert_eq!(
            dns_query(&n3, "gamma", false).await,
            (ResponseCode::NoError, vec![e3.ip])
        );
        assert_eq!(
            dns_query(&n2, "no-such-name", false).await.0,
            ResponseCode::NXDomain
        );
        // Everything else goes to the upstream.
        assert_eq!(
            dns_query(&n2, "forwarded.test", false).await,
            (ResponseCode::NoError, vec![Ipv4Addr::new(10, 9, 9, 9)])
        );
        assert_eq!(
            dns_query(&n2, "forwarded.test", true).await.0,
            ResponseCode::ServFail,
            "fake upstream has no TCP"
        );
        // Docker's DNAT trick: port 53 stays free for the container's own
        // DNS server, and queries to 127.0.0.11:53 still reach us.
        let own53 = in_netns(&n2.r(), || {
            let u = std::net::UdpSocket::bind("0.0.0.0:53")?;
            let t = std::net::TcpListener::bind("0.0.0.0:53")?;
            Ok::<_, std::io::Error>((u, t))
        })
        .await
        .unwrap();
        assert!(own53.is_ok(), "container cannot bind :53: {own53:?}");
        assert_eq!(
            dns_query(&n2, "alpha", false).await,
            (ResponseCode::NoError, vec![e1.ip])
        );
        assert_eq!(
            dns_query(&n2, "alpha", true).await,
            (ResponseCode::NoError, vec![e1.ip])
        );
        drop(own53);
        // A real client: busybox nslookup against 127.0.0.11.
        let o = n2.exec(&["busybox", "nslookup", "alpha", "127.0.0.11"]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains(&e1.ip.to_string()),
            "nslookup: {out} {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(net
            .resolv_conf_for(&e2.container_id, &DnsOverrides::default())
            .starts_with("nameserver 127.0.0.11\n"));
        // Disconnecting removes the name.
        net.disconnect("front", &id1).await.unwrap();
        assert_eq!(
            dns_query(&n2, "alpha", false).await.0,
            ResponseCode::NXDomain
        );
        net.cleanup_all().await.unwrap();
    }
    assert_clean(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_addresses_ports_and_names() {
    let _s = serial().await;
    if !root() {
        return;
    }
    let env = Env::new();
    let before = snapshot();
    {
        let mut cfg = env.config(vec![]);
        // The other DNS mode: 127.0.0.11:53 bound directly.
        cfg.dns_dnat = false;
        let (n1, n2, n3) = (Ns::new(), Ns::new(), Ns::new());
        serve_hello(&n1).await;
        let (id1, id3) = (cid(), cid());
        let (e1, p) = {
            let net = Networking::open(cfg.clone()).await.unwrap();
            create(&net, "app", &env.bridge_name("a"), false).await;
            let e1 = connect(
                &net,
                "app",
                &id1,
                "one",
                &n1,
                &[],
                &parse_publish("80").unwrap(),
            )
            .await
            .unwrap()
            .record;
            connect(&net, "app", &id3, "three", &n3, &[], &[])
                .await
                .unwrap();
            let p = e1.ports[0].host_port;
            (e1, p)
            // Dropped here like a daemon exiting without cleanup: veths,
            // bridge and rules stay; DNS listeners and port holders go.
        };
        let net = Networking::open(cfg.clone()).await.unwrap();
        let (r1, r3) = (n1.r(), n3.r());
        let gone = id3.clone();
        net.reconcile(&|c: &str| {
            if c == gone {
                ContainerState::Gone
            } else {
                ContainerState::Running(if c == id1 { &r1 } else { &r3 })
            }
        })
        .await
        .unwrap();
        // The gone container's endpoint and address were released.
        let rec = net.store().get("app").unwrap();
        assert_eq!(rec.endpoints.len(), 1);
        assert_eq!(rec.allocations.taken.len(), 1);
        // The port is held again and still forwards.
        assert!(std::net::TcpListener::bind(("0.0.0.0", p)).is_err());
        assert_eq!(
            fetch(SocketAddr::from((Ipv4Addr::LOCALHOST, p))).unwrap(),
            "hello\n"
        );
        // New endpoints never reuse a live address; names still resolve.
        let e2 = connect(&net, "app", &cid(), "two", &n2, &[], &[])
            .await
            .unwrap()
            .record;
        assert_ne!(e2.ip, e1.ip);
        assert_eq!(
            dns_query(&n2, "one", false).await,
            (ResponseCode::NoError, vec![e1.ip])
        );
        assert_eq!(
            dns_query(&n1, "two", false).await,
            (ResponseCode::NoError, vec![e2.ip])
        );
        net.cleanup_all().await.unwrap();
    }
    assert_clean(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_after_crash_removes_everything() {
    let _s = serial().await;
    if !root() {
        return;
    }
    let env = Env::new();
    let before = snapshot();
    {
        let (n1, n2) = (Ns::new(), Ns::new());
        let net = Networking::open(env.config(vec![])).await.unwrap();
        create(&net, "x", &env.bridge_name("x"), false).await;
        create(&net, "y", &env.bridge_name("y"), true).await;
        connect(
            &net,
            "x",
            &cid(),
            "a",
            &n1,
            &[],
            &parse_publish("127.0.0.1::80").unwrap(),
        )
        .await
        .unwrap();
        let c2 = cid();
        connect(&net, "y", &c2, "b", &n2, &[], &[]).await.unwrap();
        // Also the default bridge (created on first use), as a second network.
        let e = connect(&net, "bridge", &c2, "b", &n2, &[], &[])
            .await
            .unwrap()
            .record;
        assert_eq!(e.ifname, "eth1");
        assert!(snapshot().links.contains(&format!("{}d", env.instance)));
        // The default bridge has no embedded DNS: interfaces only (its
        // first connect above also created the bridge).
        let n4 = Ns::new();
        let mut times = Vec::new();
        for _ in 0..3 {
            let id = cid();
            let t = Instant::now();
            connect(&net, "bridge", &id, "d", &n4, &[], &[])
                .await
                .unwrap();
            times.push(t.elapsed());
            net.disconnect_all(&id).await.unwrap();
            // n4 is reused: its eth0 goes (deferred) before the next connect.
            net.settle_links().await;
        }
        eprintln!("FIGURE connect, default bridge (veth+addr+route+lo): {times:?}");
        // "kill -9": nothing is torn down.
        std::mem::forget(net);
        let report = pier_network::cleanup_all(&env.instance).await.unwrap();
        assert!(report.links.len() >= 3, "{report:?}");
    }
    assert_clean(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn macvlan_and_none() {
    let _s = serial().await;
    if !root() {
        return;
    }
    let mut env = Env::new();
    let before = snapshot();
    {
        let parent = env.bridge_name("p");
        env.extra_links.push(parent.clone());
        // No dummy driver in this kernel: one end of a veth pair is as good a parent.
        let peer = env.bridge_name("q");
        assert!(sh(
            "ip",
            &["link", "add", &parent, "type", "veth", "peer", "name", &peer]
        )
        .status
        .success());
        assert!(sh("ip", &["link", "set", &parent, "up"]).status.success());
        // The parent needs a carrier for its macvlans to be up.
        assert!(sh("ip", &["link", "set", &peer, "up"]).status.success());
        let net = Networking::open(env.config(vec![])).await.unwrap();
        let mut s = NetworkSpec::bridge("mv");
        s.driver = pier_network::Driver::Macvlan;
        s.ipam.subnet = Some(rand_subnet().parse().unwrap());
        s.options.insert("parent".into(), parent.clone());
        net.create_network_spec(&s).await.unwrap();
        let mut bad = s.clone();
        bad.name = "mv2".into();
        bad.ipam.subnet = Some(rand_subnet().parse().unwrap());
        bad.options.insert("parent".into(), "nosuchif0".into());
        assert!(net.create_network_spec(&bad).await.is_err());
        let links_before = snapshot().links;
        let (n1, n2, n3) = (Ns::new(), Ns::new(), Ns::new());
        let e1 = connect(&net, "mv", &cid(), "m1", &n1, &[], &[])
            .await
            .unwrap()
            .record;
        let e2 = connect(&net, "mv", &cid(), "m2", &n2, &[], &[])
            .await
            .unwrap()
            .record;
        assert_eq!(e1.host_ifname, None);
        assert_eq!(
            snapshot().links,
            links_before,
            "macvlan adds nothing on the host side"
        );
        assert!(n1.ping(e2.ip));
        net.disconnect("mv", &e2.container_id).await.unwrap();
        assert!(!n1.ping(e2.ip));
        // none: only lo, up.
        let r = n3.r();
        let req = ConnectRequest {
            container_id: "n",
            container_name: "n",
            netns: &r,
            aliases: &[],
            ipv4: None,
            mac: None,
            ports: &[],
        };
        assert!(net.connect("none", &req).await.unwrap().is_none());
        let lo = String::from_utf8_lossy(&n3.exec(&["ip", "-j", "link", "show", "lo"]).stdout)
            .to_string();
        assert!(lo.contains("\"UP\""), "{lo}");
        assert!(net.connect("host", &req).await.unwrap().is_none());
        // Our own namespace is never mistaken for a container's.
        let me = pier_network::NetnsRef::Pid(std::process::id());
        let req = ConnectRequest { netns: &me, ..req };
        let err = net.connect("mv", &req).await.unwrap_err();
        assert!(
            err.to_string().contains("host's own network namespace"),
            "{err}"
        );
        net.disconnect_all(&e1.container_id).await.unwrap();
        net.remove_network("mv").await.unwrap();
    }
    drop(env);
    assert_clean(&before);
}
