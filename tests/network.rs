//! Networking end to end: the default bridge, user networks with DNS,
//! isolation, internal networks, published ports, container: mode,
//! macvlan, restart repair and teardown. Each daemon has its own bridge,
//! subnets and nftables tables (tests/common/network.rs); tests talk only
//! to loopback and to addresses they created.
mod common;
use common::*;
use std::io::Read;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

/// A TCP port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// What a connection to 127.0.0.1:port reads (empty on failure).
fn read_from(port: u16) -> String {
    let Ok(mut s) = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(2),
    ) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// A busybox server that answers every TCP connection on `port` with `text`.
const SERVE: &str = "while true; do echo $GREETING | nc -l -p 80; done";

fn ip_of(d: &Daemon, name: &str, network: &str) -> String {
    ok(d.docker(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
        name,
    ]))
}

#[track_caller]
fn fails_with(o: std::process::Output, text: &str) {
    assert!(!o.status.success(), "expected failure: {}", stdout(&o));
    assert!(stderr(&o).contains(text), "stderr: {}", stderr(&o));
}

#[test]
fn default_bridge_gives_an_address_that_reaches_the_gateway() {
    let d = Daemon::start();
    let gw = d.net.gateway();
    let out = ok(d.pier(&[
        "run",
        "--rm",
        "--hostname",
        "box1",
        "busybox",
        "sh",
        "-c",
        &format!("ip -4 addr show eth0; ip route; cat /etc/hosts; ping -c1 -W2 {gw}"),
    ]));
    let prefix = d.net.bridge_prefix();
    assert!(out.contains(&format!("inet {prefix}")), "{out}");
    assert!(out.contains(&format!("default via {gw}")), "{out}");
    assert!(out.contains("1 packets received"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with(&prefix) && l.ends_with("\tbox1")),
        "hosts has the container's own line: {out}"
    );
    // Detached: inspect and ps show the address; rm releases it.
    ok(d.pier(&["run", "-d", "--name", "s1", "busybox", "sleep", "60"]));
    let ip = ok(d.pier(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "s1"]));
    assert!(ip.starts_with(&prefix), "{ip}");
    let gw_seen = ok(d.docker(&["inspect", "-f", "{{.NetworkSettings.Gateway}}", "s1"]));
    assert_eq!(gw_seen, gw);
    let mac = ok(d.docker(&["inspect", "-f", "{{.NetworkSettings.MacAddress}}", "s1"]));
    assert!(mac.starts_with("02:42:ac:1e:"), "{mac}");
    assert_eq!(ip_of(&d, "s1", "bridge"), ip);
    assert_eq!(
        d.net.links().len(),
        2,
        "bridge + one veth: {:?}",
        d.net.links()
    );
    ok(d.pier(&["rm", "-f", "s1"]));
    assert_eq!(d.net.links(), vec![d.net.bridge()], "the veth is gone");
    for e in std::fs::read_dir(d.exec_root.join("network/networks")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["allocations"]["taken"],
            serde_json::json!({}),
            "IPAM released: {text}"
        );
        assert_eq!(v["endpoints"], serde_json::json!({}), "{text}");
    }
}

#[test]
fn user_network_resolves_names_and_aliases_and_is_isolated() {
    let d = Daemon::start();
    ok(d.docker(&["network", "create", "front"]));
    ok(d.docker(&["network", "create", "back"]));
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        "--network-alias",
        "www",
        "-e",
        "GREETING=hi-from-web",
        "busybox",
        "sh",
        "-c",
        SERVE,
    ]));
    let web_ip = ip_of(&d, "web", "front");
    assert!(
        web_ip.starts_with("100."),
        "address from the daemon's pool: {web_ip}"
    );
    let id12 = &ok(d.docker(&["inspect", "-f", "{{.Id}}", "web"]))[..12];
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "front",
        "busybox",
        "sh",
        "-c",
        &format!(
            "cat /etc/resolv.conf; nslookup web; nslookup www; nslookup {id12}; nc -w 3 {web_ip} 80 </dev/null"
        ),
    ]));
    assert!(out.contains("nameserver 127.0.0.11"), "{out}");
    assert_eq!(
        out.matches(&format!("Address: {web_ip}")).count(),
        3,
        "name, alias and short id resolve: {out}"
    );
    assert!(out.contains("hi-from-web"), "{out}");
    // Another network: no name, no route to web.
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox",
        "sh",
        "-c",
        &format!("nslookup web; nc -w 2 {web_ip} 80 </dev/null && echo REACHED"),
    ]);
    let text = stdout(&o);
    assert!(!text.contains(&format!("Address: {web_ip}")), "{text}");
    assert!(
        !text.contains("hi-from-web") && !text.contains("REACHED"),
        "{text}"
    );
    // The default bridge cannot reach it either.
    let text = stdout(&d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!("nc -w 2 {web_ip} 80 </dev/null; echo done"),
    ]));
    assert!(!text.contains("hi-from-web"), "{text}");
    // network connect puts it on both; disconnect takes it off again.
    ok(d.docker(&["network", "connect", "--alias", "api", "back", "web"]));
    let back_ip = ip_of(&d, "web", "back");
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox",
        "nslookup",
        "api",
    ]));
    assert!(out.contains(&format!("Address: {back_ip}")), "{out}");
    ok(d.docker(&["network", "disconnect", "back", "web"]));
    let nets = ok(d.docker(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        "web",
    ]));
    assert_eq!(nets, "front");
}

#[test]
fn internal_network_has_no_route_out() {
    let d = Daemon::start();
    ok(d.docker(&["network", "create", "--internal", "sealed"]));
    let gw = d.net.gateway();
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "sealed",
        "busybox",
        "sh",
        "-c",
        &format!("ip route; ping -c1 -W1 {gw} && echo REACHED"),
    ]);
    let out = stdout(&o);
    assert!(!out.contains("default"), "no default route: {out}");
    assert!(!out.contains("REACHED"), "{out}");
    let v = ok(d.docker(&["network", "inspect", "-f", "{{.Internal}}", "sealed"]));
    assert_eq!(v, "true");
}

#[test]
fn published_port_is_reachable_from_the_host_and_a_taken_port_is_refused() {
    let d = Daemon::start();
    let port = free_port();
    let spec = format!("127.0.0.1:{port}:80");
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "srv",
        "-p",
        &spec,
        "-e",
        "GREETING=hello-host",
        "busybox",
        "sh",
        "-c",
        SERVE,
    ]));
    assert!(
        eventually(Duration::from_secs(5), || read_from(port)
            .contains("hello-host")),
        "nothing answered on 127.0.0.1:{port}"
    );
    assert_eq!(
        ok(d.pier(&["port", "srv"])),
        format!("80/tcp -> 127.0.0.1:{port}")
    );
    assert_eq!(
        ok(d.docker(&["port", "srv", "80"])),
        format!("127.0.0.1:{port}")
    );
    let ps = ok(d.pier(&["ps"]));
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    let ps = ok(d.docker(&["ps", "--format", "{{.Ports}}"]));
    assert_eq!(ps, format!("127.0.0.1:{port}->80/tcp"));
    // A second container cannot take the port; the error says why.
    let o = d.docker(&["run", "--rm", "-p", &spec, "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    fails_with(o, "port is already allocated");
    fails_with(
        d.pier(&["run", "--rm", "-p", &spec, "busybox", "true"]),
        "port is already allocated",
    );
    // -P publishes every exposed port on a random host port.
    ok(d.docker(&[
        "run", "-d", "--name", "pp", "--expose", "8080", "-P", "busybox", "sleep", "60",
    ]));
    let hp = ok(d.docker(&[
        "inspect",
        "-f",
        "{{(index (index .NetworkSettings.Ports \"8080/tcp\") 0).HostPort}}",
        "pp",
    ]));
    assert!(hp.parse::<u16>().unwrap() > 0, "{hp}");
    // The port is free again once the container is gone.
    ok(d.docker(&["rm", "-f", "srv"]));
    assert_eq!(read_from(port), "");
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port released");
}

#[test]
fn network_rm_is_refused_while_in_use_and_leaves_nothing_after() {
    let d = Daemon::start();
    let id = ok(d.pier(&["network", "create", "busy"]));
    assert_eq!(id.len(), 64, "{id}");
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "c1",
        "--network",
        "busy",
        "busybox",
        "sleep",
        "60",
    ]));
    let o = d.docker(&["network", "rm", "busy"]);
    fails_with(o, "has active endpoints");
    let r = d.raw_request("DELETE", "/networks/busy", None).unwrap();
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(d.net.links().len(), 2, "{:?}", d.net.links());
    ok(d.docker(&["rm", "-f", "c1"]));
    assert_eq!(ok(d.pier(&["network", "rm", "busy"])), "busy");
    assert!(d.net.links().is_empty(), "{:?}", d.net.links());
    fails_with(
        d.docker(&["network", "inspect", "busy"]),
        "network busy not found",
    );
    fails_with(
        d.docker(&["network", "rm", "bridge"]),
        "pre-defined network",
    );
}

#[test]
fn container_mode_shares_the_network_namespace() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "owner",
        "--hostname",
        "ownerhost",
        "busybox",
        "sleep",
        "60",
    ]));
    let ip = ip_of(&d, "owner", "bridge");
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:owner",
        "busybox",
        "sh",
        "-c",
        "ip -4 addr show eth0; hostname; cat /etc/hostname",
    ]));
    assert!(out.contains(&format!("inet {ip}/")), "{out}");
    assert!(
        out.ends_with("ownerhost\nownerhost"),
        "shares the hostname: {out}"
    );
    fails_with(
        d.docker(&[
            "run",
            "--rm",
            "--network",
            "container:nosuch",
            "busybox",
            "true",
        ]),
        "No such container: nosuch",
    );
    fails_with(
        d.docker(&[
            "run",
            "--rm",
            "--network",
            "container:owner",
            "-p",
            "80",
            "busybox",
            "true",
        ]),
        "conflicting options: port publishing and the container type network mode",
    );
}

#[test]
fn dns_hosts_mac_ip_and_link_options() {
    let d = Daemon::start();
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--dns",
        "10.1.2.3",
        "--dns-search",
        "example.test",
        "--dns-option",
        "ndots:2",
        "--add-host",
        "db.local:10.9.8.7",
        "--add-host",
        "gw:host-gateway",
        "--mac-address",
        "02:42:0a:0b:0c:0d",
        "busybox",
        "sh",
        "-c",
        "cat /etc/resolv.conf /etc/hosts; cat /sys/class/net/eth0/address",
    ]));
    assert!(out.contains("nameserver 10.1.2.3"), "{out}");
    assert!(out.contains("search example.test"), "{out}");
    assert!(out.contains("options ndots:2"), "{out}");
    assert!(out.contains("10.9.8.7\tdb.local"), "{out}");
    assert!(out.contains(&format!("{}\tgw", d.net.gateway())), "{out}");
    assert!(out.contains("02:42:0a:0b:0c:0d"), "{out}");
    // --ip on a network with a user subnet; legacy --link on the bridge.
    let subnet = d.net.user_subnet(1);
    ok(d.docker(&["network", "create", "--subnet", &subnet, "fixed"]));
    let want = subnet.replace(".0/24", ".77");
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "pinned",
        "--network",
        "fixed",
        "--ip",
        &want,
        "busybox",
        "sleep",
        "60",
    ]));
    assert_eq!(ip_of(&d, "pinned", "fixed"), want);
    fails_with(
        d.docker(&["run", "--rm", "--ip", "172.30.0.9", "busybox", "true"]),
        "user specified IP address is supported on user defined networks only",
    );
    ok(d.docker(&["run", "-d", "--name", "db", "busybox", "sleep", "60"]));
    let db_ip = ip_of(&d, "db", "bridge");
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--link",
        "db:database",
        "busybox",
        "cat",
        "/etc/hosts",
    ]));
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("{db_ip}\tdatabase ")) && l.ends_with(" db")),
        "{out}"
    );
}

#[test]
fn kill9_and_restart_keep_addresses_ports_and_names() {
    let mut d = Daemon::start();
    let port = free_port();
    ok(d.docker(&["network", "create", "keep"]));
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "keep",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "-e",
        "GREETING=still-here",
        "busybox",
        "sh",
        "-c",
        SERVE,
    ]));
    let ip = ip_of(&d, "srv", "keep");
    assert!(eventually(Duration::from_secs(5), || read_from(port)
        .contains("still-here")));
    d.kill9();
    d.restart();
    assert_eq!(ip_of(&d, "srv", "keep"), ip, "same address after restart");
    assert!(
        eventually(Duration::from_secs(5), || read_from(port)
            .contains("still-here")),
        "port still published after restart"
    );
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "keep",
        "busybox",
        "nslookup",
        "srv",
    ]));
    assert!(
        out.contains(&format!("Address: {ip}")),
        "DNS answers again: {out}"
    );
    // No duplicate address, and the port stays taken.
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "second",
        "--network",
        "keep",
        "busybox",
        "sleep",
        "60",
    ]));
    assert_ne!(ip_of(&d, "second", "keep"), ip);
    fails_with(
        d.docker(&[
            "run",
            "--rm",
            "-p",
            &format!("127.0.0.1:{port}:80"),
            "busybox",
            "true",
        ]),
        "port is already allocated",
    );
    // Full teardown: nothing of ours is left on the host.
    ok(d.docker(&["rm", "-f", "srv", "second"]));
    ok(d.docker(&["network", "rm", "keep"]));
    assert!(d.stop().success());
    assert!(d.net.links().is_empty(), "links left: {:?}", d.net.links());
    assert!(
        d.net.nft_tables().is_empty(),
        "tables left: {:?}",
        d.net.nft_tables()
    );
}

#[test]
fn macvlan_on_a_dummy_parent_and_overlay_is_refused() {
    let d = Daemon::start();
    // No dummy driver on this kernel: one end of a veth pair is the parent.
    let parent = format!("ptmv{}", d.net.index);
    let peer = format!("ptmp{}", d.net.index);
    let _ = Command::new("ip").args(["link", "del", &parent]).output();
    let st = Command::new("ip")
        .args([
            "link", "add", &parent, "type", "veth", "peer", "name", &peer,
        ])
        .status()
        .unwrap();
    assert!(st.success());
    for l in [&parent, &peer] {
        let _ = Command::new("ip").args(["link", "set", l, "up"]).status();
    }
    let subnet = d.net.user_subnet(2);
    let gw = subnet.replace(".0/24", ".1");
    let res = std::panic::catch_unwind(|| {
        ok(d.docker(&[
            "network",
            "create",
            "-d",
            "macvlan",
            "--subnet",
            &subnet,
            "--gateway",
            &gw,
            "-o",
            &format!("parent={parent}"),
            "mv",
        ]));
        let out = ok(d.docker(&[
            "run",
            "--rm",
            "--network",
            "mv",
            "busybox",
            "ip",
            "-4",
            "addr",
            "show",
            "eth0",
        ]));
        let prefix = subnet.replace(".0/24", ".");
        assert!(out.contains(&format!("inet {prefix}")), "{out}");
        ok(d.docker(&["network", "rm", "mv"]));
        fails_with(
            d.docker(&[
                "network",
                "create",
                "-d",
                "macvlan",
                "-o",
                "parent=nosuchlink0",
                "mv2",
            ]),
            "parent interface was not found",
        );
        fails_with(
            d.docker(&["network", "create", "-d", "overlay", "ov"]),
            "multi-host",
        );
    });
    let _ = Command::new("ip").args(["link", "del", &parent]).output();
    if let Err(e) = res {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn pier_network_commands_print_what_docker_prints() {
    let d = Daemon::start();
    let subnet = d.net.user_subnet(3);
    let id = ok(d.pier(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "--label",
        "team=a",
        "-o",
        "com.docker.network.bridge.enable_icc=true",
        "alpha",
    ]));
    assert_eq!(
        ok(d.docker(&["network", "inspect", "-f", "{{.Id}}", "alpha"])),
        id
    );
    ok(d.docker(&["network", "create", "beta10"]));
    ok(d.docker(&["network", "create", "beta9"]));
    for args in [
        vec!["network", "ls"],
        vec!["network", "ls", "-q"],
        vec!["network", "ls", "--no-trunc"],
        vec!["network", "ls", "--filter", "label=team=a"],
        vec![
            "network",
            "ls",
            "--format",
            "{{.Name}}\t{{.Driver}}\t{{.Labels}}\t{{.Internal}}",
        ],
        vec![
            "network",
            "ls",
            "--format",
            "table {{.Name}}\t{{.IPv6}}\t{{.Label \"team\"}}",
        ],
        vec!["network", "inspect", "alpha"],
        vec![
            "network",
            "inspect",
            "-f",
            "{{json .IPAM.Config}}",
            "alpha",
            "bridge",
        ],
    ] {
        assert_eq!(
            ok(d.pier(&args)),
            ok(d.docker(&args)),
            "pier and docker differ for {args:?}"
        );
    }
    let ls = ok(d.pier(&["network", "ls"]));
    let names: Vec<&str> = ls
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        names,
        ["alpha", "beta9", "beta10", "bridge", "host", "none"]
    );
    // connect/disconnect by the pier CLI, seen by docker.
    ok(d.pier(&["run", "-d", "--name", "c", "busybox", "sleep", "60"]));
    let want = subnet.replace(".0/24", ".50");
    ok(d.pier(&[
        "network", "connect", "--ip", &want, "--alias", "cee", "alpha", "c",
    ]));
    assert_eq!(ip_of(&d, "c", "alpha"), want);
    let out = ok(d.pier(&[
        "run",
        "--rm",
        "--network",
        "alpha",
        "busybox",
        "nslookup",
        "cee",
    ]));
    assert!(out.contains(&format!("Address: {want}")), "{out}");
    fails_with(d.pier(&["network", "rm", "alpha"]), "has active endpoints");
    ok(d.pier(&["network", "disconnect", "alpha", "c"]));
    fails_with(
        d.pier(&["network", "disconnect", "alpha", "c"]),
        "is not connected to network alpha",
    );
    // prune removes the unused ones and says so.
    let out = ok(d.pier(&["network", "prune", "-f", "--filter", "label=team=a"]));
    assert_eq!(out, "Deleted Networks:\nalpha");
    let out = ok(d.docker(&["network", "prune", "-f"]));
    assert!(out.starts_with("Deleted Networks:\n"), "{out}");
    assert_eq!(ok(d.pier(&["network", "ls", "-q"])).lines().count(), 3);
    let o = d.pier(&["network", "rm", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        "Error response from daemon: network nosuch not found"
    );
    assert!(d.pier(&["network", "rm", "-f", "nosuch"]).status.success());
}
