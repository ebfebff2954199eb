//! Builder features beyond the everyday: RUN's network (default bridge,
//! none, host, user networks), ADD from URLs, .xz archives, build secrets,
//! `--pull`.
mod common;
use common::*;
use std::path::Path;
use std::process::Output;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, content) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, content).unwrap();
    }
}

fn build(d: &Daemon, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["build", "--progress", "plain"];
    args.extend_from_slice(extra);
    let dir = dir.to_str().unwrap().to_string();
    args.push(&dir);
    d.pier(&args)
}

#[track_caller]
fn built(o: Output) -> String {
    assert!(
        o.status.success(),
        "build failed ({:?}): stdout={} stderr={}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stderr(&o)
}

fn cat(d: &Daemon, image: &str, path: &str) -> String {
    ok(d.pier(&["run", "--rm", "--network", "none", image, "cat", path]))
}

#[test]
fn run_steps_use_the_default_bridge_none_host_or_a_user_network() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN ls /sys/class/net > /links.txt\n\
             RUN ip -4 addr show > /addr.txt\n\
             RUN cat /etc/hosts > /hosts.txt\n\
             RUN --network=none ls /sys/class/net > /step-none.txt\n",
        )],
    );
    built(build(&d, ctx.path(), &["-t", "net-default"]));
    // Docker's classic builder: RUN on the default bridge.
    assert_eq!(cat(&d, "net-default", "/links.txt"), "eth0\nlo");
    let addr = cat(&d, "net-default", "/addr.txt");
    assert!(addr.contains(&d.net.bridge_prefix()), "{addr}");
    let hosts = cat(&d, "net-default", "/hosts.txt");
    assert!(hosts.contains("localhost"), "{hosts}");
    assert!(hosts.contains(&d.net.bridge_prefix()), "{hosts}");
    assert_eq!(cat(&d, "net-default", "/step-none.txt"), "lo");
    // The RUN containers' endpoints are released.
    let inspect = ok(d.pier(&["network", "inspect", "bridge", "-f", "{{json .Containers}}"]));
    assert_eq!(inspect, "{}");

    // --network none for the whole build.
    built(build(
        &d,
        ctx.path(),
        &["-t", "net-none", "--network", "none"],
    ));
    assert_eq!(cat(&d, "net-none", "/links.txt"), "lo");

    // --network host: the host's links, this daemon's bridge among them.
    built(build(
        &d,
        ctx.path(),
        &["-t", "net-host", "--network", "host"],
    ));
    let links = cat(&d, "net-host", "/links.txt");
    assert!(links.lines().any(|l| l == d.net.bridge()), "{links}");

    // A user network.
    let subnet = d.net.user_subnet(1);
    ok(d.pier(&["network", "create", "--subnet", &subnet, "buildnet"]));
    built(build(
        &d,
        ctx.path(),
        &["-t", "net-user", "--network", "buildnet"],
    ));
    let prefix = subnet.trim_end_matches("0/24");
    let addr = cat(&d, "net-user", "/addr.txt");
    assert!(addr.contains(prefix), "{prefix} not in {addr}");
    // An unknown network fails the build naming it.
    let out = build(&d, ctx.path(), &["--no-cache", "--network", "nosuchnet"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nosuchnet"), "{}", stderr(&out));

    // The real docker CLI through the classic API, with networkmode=none.
    let out = d.docker(&[
        "build",
        "-q",
        "--network",
        "none",
        "-t",
        "net-docker",
        ctx.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(cat(&d, "net-docker", "/links.txt"), "lo");
    let out = d.docker(&[
        "build",
        "-q",
        "-t",
        "net-docker2",
        ctx.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(cat(&d, "net-docker2", "/links.txt"), "eth0\nlo");
}

#[test]
fn from_images_are_pulled_when_missing_and_always_with_pull() {
    use common::registry::{free_port, Registry};
    let d = Daemon::start();
    let reg = Registry::start();
    let base = format!("{}/base:1", reg.addr());
    // The registry gets a newer base than the one kept locally.
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[("Dockerfile", "FROM busybox\nRUN echo new > /marker\n")],
    );
    built(build(&d, ctx.path(), &["-t", &base]));
    ok(d.pier(&["push", &base]));
    ok(d.pier(&["tag", "busybox", &base]));

    let app = tempfile::tempdir().unwrap();
    write(
        app.path(),
        &[(
            "Dockerfile",
            &format!("FROM {base}\nRUN (cat /marker 2>/dev/null || echo old) > /seen\n"),
        )],
    );
    // Without --pull the local image is used.
    built(build(&d, app.path(), &["-t", "app"]));
    assert_eq!(cat(&d, "app", "/seen"), "old");
    // --pull takes the registry's.
    let progress = built(build(&d, app.path(), &["-t", "app", "--pull"]));
    assert!(progress.contains("Pulling from base"), "{progress}");
    assert_eq!(cat(&d, "app", "/seen"), "new");

    // A missing base image is pulled (docker CLI, classic API).
    ok(d.pier(&["rmi", "-f", &base, "app"]));
    let out = d.docker(&["build", "-t", "app2", app.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("Status: Downloaded newer image for {base}")),
        "{}",
        stdout(&out)
    );
    assert_eq!(cat(&d, "app2", "/seen"), "new");
    // COPY --from an image that is not here pulls it too.
    ok(d.pier(&["rmi", "-f", &base]));
    write(
        app.path(),
        &[(
            "Dockerfile",
            &format!("FROM busybox\nCOPY --from={base} /marker /copied\n"),
        )],
    );
    built(build(&d, app.path(), &["-t", "app3"]));
    assert_eq!(cat(&d, "app3", "/copied"), "new");

    // --pull with the registry unreachable fails the build, naming it.
    let gone = format!("127.0.0.1:{}/gone:1", free_port());
    ok(d.pier(&["tag", "busybox", &gone]));
    write(
        app.path(),
        &[("Dockerfile", &format!("FROM {gone}\nRUN true\n"))],
    );
    built(build(&d, app.path(), &["-t", "app4"]));
    let out = build(&d, app.path(), &["--pull"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&gone[..gone.find('/').unwrap()]), "{err}");
    assert!(err.contains("connection refused"), "{err}");
    let out = d.docker(&["build", "--pull", app.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("connection refused"),
        "{}",
        stderr(&out)
    );
}
