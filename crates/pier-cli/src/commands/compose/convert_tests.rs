//! Unit tests of the service → create-body mapping, on hand-built projects.

use super::convert::*;
use pier_compose::*;
use serde_json::json;

fn project() -> Project {
    let mut p = Project {
        name: "demo".into(),
        working_dir: "/srv/demo".into(),
        config_files: vec!["/srv/demo/compose.yaml".into()],
        ..Project::default()
    };
    p.networks.insert(
        "default".into(),
        Network {
            name: "demo_default".into(),
            ..Network::default()
        },
    );
    p.networks.insert(
        "back".into(),
        Network {
            name: "demo_back".into(),
            ..Network::default()
        },
    );
    p.volumes.insert(
        "data".into(),
        Volume {
            name: "demo_data".into(),
            ..Volume::default()
        },
    );
    p.secrets.insert(
        "token".into(),
        FileObject {
            name: "demo_token".into(),
            file: Some("/srv/demo/token.txt".into()),
            ..FileObject::default()
        },
    );
    p.secrets.insert(
        "pw".into(),
        FileObject {
            name: "demo_pw".into(),
            environment: Some("PW".into()),
            content: Some("hunter2".into()),
            ..FileObject::default()
        },
    );
    p
}

fn inst() -> Instance {
    Instance {
        number: 2,
        name: "demo-web-2".into(),
        config_hash: "abc".into(),
        publish_ports: true,
        ..Instance::default()
    }
}

#[test]
fn service_fields_map_to_the_create_body() {
    let p = project();
    let mut s = Service {
        name: "web".into(),
        image: Some("busybox".into()),
        command: Some(vec!["httpd".into(), "-f".into()]),
        user: Some("1000".into()),
        working_dir: Some("/w".into()),
        hostname: Some("h".into()),
        read_only: true,
        init: Some(true),
        restart: Some("on-failure:3".into()),
        stop_grace_period: Some(GoDuration(5_000_000_000)),
        stop_signal: Some("SIGINT".into()),
        cap_add: vec!["NET_ADMIN".into()],
        tmpfs: vec!["/tmp:size=64k".into()],
        extra_hosts: vec!["h1:10.0.0.1".into()],
        expose: vec!["9000-9001".into()],
        ..Service::default()
    };
    s.environment.insert("A".into(), Some("1".into()));
    s.environment.insert("UNSET".into(), None);
    s.ports.push(Port {
        target: 80,
        published: Some("8080".into()),
        host_ip: Some("127.0.0.1".into()),
        protocol: "tcp".into(),
        mode: "ingress".into(),
        name: None,
    });
    s.volumes.push(ServiceVolume {
        kind: VolumeType::Volume,
        source: Some("data".into()),
        target: "/data".into(),
        ..ServiceVolume::default()
    });
    s.volumes.push(ServiceVolume {
        kind: VolumeType::Volume,
        source: None,
        target: "/anon".into(),
        ..ServiceVolume::default()
    });
    s.networks.insert(
        "default".into(),
        ServiceNetwork {
            aliases: vec!["www".into()],
            ..ServiceNetwork::default()
        },
    );
    s.networks.insert(
        "back".into(),
        ServiceNetwork {
            ipv4_address: Some("10.5.0.9".into()),
            priority: 10,
            ..ServiceNetwork::default()
        },
    );
    s.healthcheck = Some(Healthcheck {
        test: vec!["CMD-SHELL".into(), "true".into()],
        interval: Some(GoDuration(1_000_000_000)),
        retries: Some(3),
        ..Healthcheck::default()
    });
    s.deploy = Some(Deploy {
        resources: Some(Resources {
            limits: Some(ResourceLimits {
                cpus: Some(0.5),
                memory: Some(64 << 20),
                pids: Some(50),
            }),
            reservations: None,
        }),
        ..Deploy::default()
    });
    s.ulimits.insert(
        "nofile".into(),
        Ulimit {
            soft: 100,
            hard: 200,
        },
    );
    s.secrets.push(FileReference {
        source: "token".into(),
        ..FileReference::default()
    });
    s.secrets.push(FileReference {
        source: "pw".into(),
        target: Some("db_pw".into()),
        ..FileReference::default()
    });
    let (b, inject) = create_body(&p, &s, &inst()).unwrap();
    assert_eq!(b["Image"], "busybox");
    assert_eq!(b["Env"], json!(["A=1"]));
    assert_eq!(b["Cmd"], json!(["httpd", "-f"]));
    assert_eq!(b["User"], "1000");
    assert_eq!(b["WorkingDir"], "/w");
    assert_eq!(b["Hostname"], "h");
    assert_eq!(b["StopTimeout"], 5);
    assert_eq!(b["StopSignal"], "SIGINT");
    assert_eq!(b["Labels"]["com.docker.compose.container-number"], "2");
    assert_eq!(b["Labels"]["com.docker.compose.oneoff"], "False");
    assert_eq!(
        b["Labels"]["com.docker.compose.project.config_files"],
        "/srv/demo/compose.yaml"
    );
    assert_eq!(
        b["ExposedPorts"],
        json!({"80/tcp": {}, "9000/tcp": {}, "9001/tcp": {}})
    );
    let h = &b["HostConfig"];
    assert_eq!(
        h["PortBindings"]["80/tcp"],
        json!([{"HostIp": "127.0.0.1", "HostPort": "8080"}])
    );
    assert_eq!(
        h["RestartPolicy"],
        json!({"Name": "on-failure", "MaximumRetryCount": 3})
    );
    assert_eq!(h["ReadonlyRootfs"], true);
    assert_eq!(h["Init"], true);
    assert_eq!(h["Memory"], 64 << 20);
    assert_eq!(h["NanoCpus"], 500_000_000);
    assert_eq!(h["PidsLimit"], 50);
    assert_eq!(h["Tmpfs"], json!({"/tmp": "size=64k"}));
    assert_eq!(h["CapAdd"], json!(["NET_ADMIN"]));
    assert_eq!(h["ExtraHosts"], json!(["h1:10.0.0.1"]));
    assert_eq!(
        h["Ulimits"],
        json!([{"Name": "nofile", "Soft": 100, "Hard": 200}])
    );
    let mounts = h["Mounts"].as_array().unwrap();
    assert_eq!(
        mounts[0],
        json!({"Type": "volume", "Source": "demo_data", "Target": "/data", "ReadOnly": false})
    );
    assert_eq!(
        mounts[1],
        json!({"Type": "volume", "Target": "/anon", "ReadOnly": false})
    );
    assert_eq!(
        mounts[2],
        json!({"Type": "bind", "Source": "/srv/demo/token.txt", "Target": "/run/secrets/token", "ReadOnly": true})
    );
    // The environment secret is injected, never in Env.
    assert_eq!(
        inject,
        [InjectedFile {
            path: "/run/secrets/db_pw".into(),
            content: b"hunter2".to_vec(),
            mode: 0o444
        }]
    );
    assert!(!b.to_string().contains("hunter2"));
    // Highest-priority network first, at create; the address there.
    assert_eq!(h["NetworkMode"], "demo_back");
    let ep = &b["NetworkingConfig"]["EndpointsConfig"]["demo_back"];
    assert_eq!(ep["Aliases"], json!(["web", "demo-web-2"]));
    assert_eq!(ep["IPAMConfig"]["IPv4Address"], "10.5.0.9");
    assert_eq!(b["Healthcheck"]["Test"], json!(["CMD-SHELL", "true"]));
    assert_eq!(b["Healthcheck"]["Interval"], 1_000_000_000i64);
    assert_eq!(b["Healthcheck"]["Retries"], 3);
    let second = &service_networks(&s)[1];
    assert_eq!(second.0, "default");
    assert_eq!(
        endpoint(&s, &inst(), &second.1)["Aliases"],
        json!(["web", "demo-web-2", "www"])
    );
}

#[test]
fn run_containers_publish_only_when_asked() {
    let p = project();
    let mut s = Service {
        name: "web".into(),
        ..Service::default()
    };
    s.ports.push(Port {
        target: 80,
        protocol: "tcp".into(),
        mode: "ingress".into(),
        ..Port::default()
    });
    let mut i = inst();
    i.publish_ports = false;
    i.oneoff = true;
    i.extra_env = vec!["X=1".into()];
    let (b, _) = create_body(&p, &s, &i).unwrap();
    assert_eq!(b["Image"], "demo-web");
    assert_eq!(b["HostConfig"]["PortBindings"], json!({}));
    assert_eq!(b["Labels"]["com.docker.compose.oneoff"], "True");
    assert_eq!(b["Env"], json!(["X=1"]));
    assert_eq!(b["HostConfig"]["NetworkMode"], "none");
}

#[test]
fn injected_files_tar_with_parents() {
    let t = inject_tar(&[InjectedFile {
        path: "/run/secrets/x".into(),
        content: b"v".to_vec(),
        mode: 0o400,
    }])
    .unwrap();
    let mut a = tar::Archive::new(t.as_slice());
    let names: Vec<String> = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["run/", "run/secrets/", "run/secrets/x"]);
}
