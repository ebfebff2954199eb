//! One table row per short/long syntax: a service snippet as users write it
//! and what the model must hold.

use super::Fixture;
use crate::model::*;

type Check = fn(&Service, &Project);

fn port(target: u16, published: Option<&str>, protocol: &str) -> Port {
    Port {
        target,
        published: published.map(str::to_string),
        host_ip: None,
        protocol: protocol.into(),
        mode: "ingress".into(),
        name: None,
    }
}

#[test]
fn service_forms() {
    let cases: &[(&str, Check)] = &[
        ("command: echo \"a b\" 'c d' e\\ f", |s, _| {
            assert_eq!(s.command, Some(vec!["echo".into(), "a b".into(), "c d".into(), "e f".into()]))
        }),
        ("entrypoint: []", |s, _| assert_eq!(s.entrypoint, Some(vec![]))),
        ("entrypoint: /bin/sh -c", |s, _| assert_eq!(s.entrypoint, Some(vec!["/bin/sh".into(), "-c".into()]))),
        ("ports: [\"8000-8001:8000-8001/udp\"]", |s, _| {
            assert_eq!(s.ports, [port(8000, Some("8000"), "udp"), port(8001, Some("8001"), "udp")])
        }),
        ("ports: [{target: 80, published: 8080-8081}]", |s, _| {
            assert_eq!(s.ports, [port(80, Some("8080-8081"), "tcp")])
        }),
        ("ports: [{target: 80, mode: host, name: web}]", |s, _| {
            assert_eq!((s.ports[0].mode.as_str(), s.ports[0].name.as_deref()), ("host", Some("web")))
        }),
        ("ports: [3000]", |s, _| assert_eq!(s.ports, [port(3000, None, "tcp")])),
        ("expose: [\"8000-8010/udp\"]", |s, _| assert_eq!(s.expose, ["8000-8010/udp"])),
        ("volumes: [{type: volume, source: data, target: /d, volume: {nocopy: true, subpath: sub}}]", |s, _| {
            let options = s.volumes[0].volume.clone().expect("volume options");
            assert!(options.nocopy);
            assert_eq!(options.subpath.as_deref(), Some("sub"));
        }),
        ("volumes: [{type: bind, source: /src, target: /dst, bind: {propagation: rslave, selinux: z}}]", |s, _| {
            let bind = s.volumes[0].bind.clone().expect("bind options");
            assert_eq!((bind.propagation.as_deref(), bind.selinux.as_deref()), (Some("rslave"), Some("z")));
            assert!(!bind.create_host_path);
        }),
        ("volumes: [{type: volume, target: /anon}]", |s, _| {
            assert_eq!((s.volumes[0].kind, s.volumes[0].source.as_deref()), (VolumeType::Volume, None))
        }),
        ("volumes: ['data:/d:nocopy']", |s, _| assert!(s.volumes[0].volume.as_ref().is_some_and(|v| v.nocopy))),
        ("tmpfs: /run", |s, _| assert_eq!(s.tmpfs, ["/run"])),
        ("networks: {front: {aliases: [a, b], ipv6_address: 'fd00::5', priority: 10}}", |s, _| {
            let net = &s.networks["front"];
            assert_eq!((net.aliases.len(), net.ipv6_address.as_deref(), net.priority), (2, Some("fd00::5"), 10));
        }),
        ("depends_on: {db: {condition: service_completed_successfully}}", |s, _| {
            assert_eq!(s.depends_on["db"].condition, DependsCondition::ServiceCompletedSuccessfully)
        }),
        ("healthcheck: {test: [NONE]}", |s, _| assert_eq!(s.healthcheck.as_ref().map(|h| h.test.clone()), Some(vec!["NONE".into()]))),
        ("healthcheck: {test: [CMD-SHELL, 'true'], start_interval: 500ms, timeout: 2}", |s, _| {
            let h = s.healthcheck.clone().expect("healthcheck");
            assert_eq!(h.start_interval, Some(GoDuration(500_000_000)));
            assert_eq!(h.timeout, Some(GoDuration(2_000_000_000)));
        }),
        ("restart: on-failure:3", |s, _| assert_eq!(s.restart.as_deref(), Some("on-failure:3"))),
        ("deploy: {replicas: '3', restart_policy: {condition: on-failure, max_attempts: 2}, labels: [a=b]}", |s, _| {
            assert_eq!(s.replicas(), 3);
            let d = s.deploy.clone().expect("deploy");
            assert_eq!(d.restart_policy.map(|r| (r.condition, r.max_attempts)), Some(("on-failure".into(), Some(2))));
            assert_eq!(d.labels["a"], "b");
        }),
        ("deploy: {resources: {limits: {cpus: 2, memory: 1.5G, pids: 100}}}", |s, _| {
            let l = s.deploy.clone().and_then(|d| d.resources).and_then(|r| r.limits).expect("limits");
            assert_eq!((l.cpus, l.memory, l.pids), (Some(2.0), Some(1610612736), Some(100)));
        }),
        ("scale: 4", |s, _| assert_eq!(s.replicas(), 4)),
        ("configs: [motd, {source: motd, target: /etc/motd, mode: '0644', gid: '0'}]", |s, _| {
            assert_eq!(s.configs.len(), 2);
            assert_eq!(s.configs[1].mode, Some(0o644));
            assert_eq!(s.configs[1].gid.as_deref(), Some("0"));
        }),
        ("labels: {a: 1, b: true}", |s, _| assert_eq!((s.labels["a"].as_str(), s.labels["b"].as_str()), ("1", "true"))),
        ("user: 1000", |s, _| assert_eq!(s.user.as_deref(), Some("1000"))),
        ("cap_add: [SYS_ADMIN]\n    security_opt: ['no-new-privileges:true']", |s, _| {
            assert_eq!((s.cap_add.len(), s.security_opt.len()), (1, 1))
        }),
        ("ulimits: {nofile: {soft: '1024', hard: 2048}}", |s, _| assert_eq!(s.ulimits["nofile"], Ulimit { soft: 1024, hard: 2048 })),
        ("init: false\n    privileged: true\n    tty: true\n    stdin_open: true", |s, _| {
            assert_eq!((s.init, s.privileged, s.tty, s.stdin_open), (Some(false), true, true, true))
        }),
        ("stop_grace_period: 1m30s\n    stop_signal: SIGTERM", |s, _| {
            assert_eq!(s.stop_grace_period, Some(GoDuration(90_000_000_000)));
            assert_eq!(s.stop_signal.as_deref(), Some("SIGTERM"));
        }),
        ("extra_hosts: {gw: host-gateway}", |s, _| assert_eq!(s.extra_hosts, ["gw:host-gateway"])),
        ("dns_search: example.com\n    domainname: example.com", |s, _| {
            assert_eq!((s.dns_search.clone(), s.domainname.as_deref()), (vec!["example.com".to_string()], Some("example.com")))
        }),
        ("sysctls: [net.ipv4.ip_forward=1]", |s, _| assert_eq!(s.sysctls["net.ipv4.ip_forward"], "1")),
        ("devices: ['/dev/fuse', {source: /dev/sda, target: /dev/xvda, permissions: r}]", |s, _| {
            assert_eq!(s.devices, ["/dev/fuse", "/dev/sda:/dev/xvda:r"])
        }),
        ("group_add: [audio, 1001]", |s, _| assert_eq!(s.group_add, ["audio", "1001"])),
        ("pull_policy: if_not_present\n    platform: linux/amd64", |s, _| {
            assert_eq!((s.pull_policy.as_deref(), s.platform.as_deref()), (Some("missing"), Some("linux/amd64")))
        }),
        ("shm_size: 64m\n    mem_reservation: 100m\n    memswap_limit: -1\n    cpus: '0.75'\n    cpu_shares: 512\n    cpuset: 0-1\n    pids_limit: 50", |s, _| {
            assert_eq!(s.shm_size, Some(64 << 20));
            assert_eq!(s.mem_reservation, Some(100 << 20));
            assert_eq!(s.memswap_limit, Some(-1));
            assert_eq!(s.cpus, Some(0.75));
            assert_eq!((s.cpu_shares, s.cpuset.as_deref(), s.pids_limit), (Some(512), Some("0-1"), Some(50)));
        }),
        ("logging: {driver: json-file, options: {max-size: 10m}}", |s, _| {
            let l = s.logging.clone().expect("logging");
            assert_eq!((l.driver.as_deref(), l.options["max-size"].as_str()), (Some("json-file"), "10m"));
        }),
        ("container_name: my-web\n    hostname: h\n    mac_address: 02:42:ac:11:00:02", |s, _| {
            assert_eq!(s.container_name.as_deref(), Some("my-web"));
            assert_eq!(s.mac_address.as_deref(), Some("02:42:ac:11:00:02"));
        }),
        ("build: {context: ., dockerfile_inline: 'FROM busybox', args: {A: 1}, tags: [t:1], no_cache: true, pull: true, network: host, shm_size: 1g, platforms: [linux/amd64], extra_hosts: {a: 1.2.3.4}}", |s, p| {
            let b = s.build.clone().expect("build");
            assert_eq!(b.context, p.working_dir.to_string_lossy());
            assert_eq!(b.dockerfile_inline.as_deref(), Some("FROM busybox"));
            assert_eq!(b.args["A"].as_deref(), Some("1"));
            assert!(b.no_cache && b.pull);
            assert_eq!(b.extra_hosts, ["a:1.2.3.4"]);
            assert_eq!((b.network.as_deref(), b.shm_size, b.tags.len()), (Some("host"), Some(1 << 30), 1));
        }),
        ("build: https://github.com/docker/app.git#main", |s, _| {
            assert_eq!(s.build.as_ref().map(|b| b.context.as_str()), Some("https://github.com/docker/app.git#main"))
        }),
        ("ipc: host", |_, _| {}),
    ];
    for (snippet, check) in cases {
        let text = format!(
            "services:\n  s:\n    image: x\n    {snippet}\n  db:\n    image: x\nnetworks:\n  front: {{}}\nvolumes:\n  data: {{}}\nconfigs:\n  motd:\n    content: hi\n"
        );
        let loaded = match crate::load(&Fixture::new(&text).opts) {
            Ok(loaded) => loaded,
            Err(e) => panic!("{snippet}: {e}"),
        };
        check(&loaded.project.services["s"], &loaded.project);
    }
}

#[test]
fn unsupported_keys_warn() {
    let loaded = Fixture::new("services:\n  s:\n    image: x\n    ipc: host\n").load();
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.ends_with("compose.yaml:4: services.s.ipc: not supported by pier, ignored")),
        "{:?}",
        loaded.warnings
    );
}
