//! Containers outlive their daemon: pierd killed with -9 comes back with every
//! image and container as it was, and running containers kept running and logging.
mod common;
use common::*;
use std::time::Duration;

#[test]
fn kill9_daemon_containers_keep_running_and_logging() {
    let mut d = Daemon::start();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "s",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 40 ]; do echo tick$i; i=$((i+1)); sleep 0.1; done; sleep 60",
    ]));
    ok(d.docker(&["create", "--name", "c", "busybox", "true"]));
    let out = d.docker(&["run", "--name", "e", "busybox", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    ok(d.docker(&["tag", "busybox", "keep:me"]));
    std::thread::sleep(Duration::from_millis(300));

    d.kill9();
    // While pierd is down the container goes on writing its log.
    std::thread::sleep(Duration::from_millis(4500));
    d.restart();

    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.State.Running}}", "s"])),
        "true"
    );
    let logs = ok(d.docker(&["logs", "s"]));
    let expected: Vec<String> = (0..40).map(|i| format!("tick{i}")).collect();
    assert_eq!(
        logs.lines().collect::<Vec<_>>(),
        expected,
        "logs must be complete across the restart"
    );
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.State.Status}}", "c"])),
        "created"
    );
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.State.ExitCode}}", "e"])),
        "7"
    );
    let tags = ok(d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert!(
        tags.contains("keep:me") && tags.contains("busybox:latest"),
        "{tags}"
    );

    // The re-attached container is still fully controllable.
    ok(d.docker(&["stop", "-t", "1", "s"]));
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.State.ExitCode}}",
            "s"
        ])),
        "false 137"
    );
}

#[test]
fn container_that_exits_while_daemon_is_down_records_its_code() {
    let mut d = Daemon::start();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "x",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 9",
    ]));
    ok(d.docker(&[
        "run", "-d", "--rm", "--name", "gone", "busybox", "sh", "-c", "sleep 1",
    ]));
    d.kill9();
    std::thread::sleep(Duration::from_millis(2500));
    d.restart();
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.State.ExitCode}}",
            "x"
        ])),
        "false 9"
    );
    // AutoRemove is honoured for a container that exited while pierd was down.
    assert!(eventually(Duration::from_secs(5), || !d
        .docker(&["inspect", "gone"])
        .status
        .success()));
}

#[test]
fn sigterm_leaves_containers_running() {
    let mut d = Daemon::start();
    ok(d.docker(&["run", "-d", "--name", "s", "busybox", "sleep", "60"]));
    let st = d.stop();
    assert!(st.success(), "pierd exits 0 on SIGTERM: {st}");
    d.restart();
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.State.Running}}", "s"])),
        "true"
    );
}
