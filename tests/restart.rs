//! Restart policies: on-failure:N, always, unless-stopped, with back-off,
//! RestartCount, the restarting state, and pierd restarts.
mod common;
use common::*;
use std::time::Duration;

fn inspect(d: &Daemon, c: &str, f: &str) -> String {
    ok(d.docker(&["inspect", "-f", f, c]))
}

#[test]
fn on_failure_restarts_exactly_n_times() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "f",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 3",
    ]));
    assert!(eventually(Duration::from_secs(10), || {
        inspect(&d, "f", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
    }));
    // back-off is 100 ms then 200 ms: no third run comes
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        inspect(&d, "f", "{{.RestartCount}} {{.State.ExitCode}}"),
        "2 3"
    );
    assert_eq!(ok(d.docker(&["logs", "f"])), "run\nrun\nrun");
    assert_eq!(
        inspect(
            &d,
            "f",
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "on-failure:2"
    );
    // success does not restart
    ok(d.pier(&[
        "run",
        "-d",
        "--name",
        "ok",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]));
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        inspect(&d, "ok", "{{.RestartCount}} {{.State.Status}}"),
        "0 exited"
    );
    // a manual start resets the count
    let out = d.docker(&["start", "-a", "f"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(eventually(Duration::from_secs(10), || {
        inspect(&d, "f", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
    }));
}

#[test]
fn always_with_backoff_and_restarting_state() {
    let d = Daemon::start();
    ok(d.pier(&[
        "run",
        "-d",
        "--name",
        "a",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]));
    // The back-off doubles (0.1, 0.2, 0.4, 0.8, 1.6 s ...): it restarts
    // again and again, but after ~3 s the count is small, not dozens (how
    // small depends on how long each start takes on a loaded machine).
    let count = || -> i64 { inspect(&d, "a", "{{.RestartCount}}").parse().unwrap_or(-1) };
    assert!(
        eventually(Duration::from_secs(10), || count() >= 2),
        "restart count {}",
        count()
    );
    let n = count();
    assert!((2..=6).contains(&n), "restart count {n}");
    // While waiting it is "restarting", in inspect and in ps.
    assert!(eventually(Duration::from_secs(5), || {
        inspect(&d, "a", "{{.State.Status}} {{.State.Restarting}}") == "restarting true"
    }));
    assert!(eventually(Duration::from_secs(5), || {
        ok(d.docker(&["ps", "--format", "{{.Names}} {{.Status}}"])).contains("a Restarting (1)")
    }));
    assert!(eventually(Duration::from_secs(5), || {
        ok(d.docker(&[
            "ps",
            "-a",
            "--filter",
            "status=restarting",
            "--format",
            "{{.Names}}",
        ])) == "a"
    }));
    // stop cancels it for good
    ok(d.docker(&["stop", "a"]));
    let n = inspect(&d, "a", "{{.RestartCount}}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        inspect(&d, "a", "{{.RestartCount}} {{.State.Status}}"),
        format!("{n} exited")
    );
}

#[test]
fn policies_across_pierd_restarts() {
    let mut d = Daemon::start();
    // exits while pierd is down: restarted when pierd comes back
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "al",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "[ -f /done ] && exec sleep 60; touch /done; sleep 1",
    ]));
    // manually stopped: always comes back at daemon start, unless-stopped does not
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "st-al",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "60",
    ]));
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "st-us",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "60",
    ]));
    ok(d.docker(&["stop", "-t", "0", "st-al", "st-us"]));
    ok(d.docker(&["run", "-d", "--name", "no", "busybox", "sleep", "1"]));
    d.kill9();
    std::thread::sleep(Duration::from_secs(2));
    d.restart();
    assert!(
        eventually(Duration::from_secs(10), || {
            inspect(&d, "al", "{{.RestartCount}} {{.State.Running}}") == "1 true"
        }),
        "{}",
        inspect(&d, "al", "{{.RestartCount}} {{.State.Status}}")
    );
    assert!(eventually(Duration::from_secs(10), || {
        inspect(&d, "st-al", "{{.State.Running}}") == "true"
    }));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(inspect(&d, "st-us", "{{.State.Status}}"), "exited");
    assert_eq!(
        inspect(&d, "no", "{{.State.Status}} {{.RestartCount}}"),
        "exited 0"
    );
    ok(d.docker(&["rm", "-f", "al", "st-al", "st-us", "no"]));
}

#[test]
fn restart_and_rm_conflict() {
    let d = Daemon::start();
    // `update --restart` changes the policy of an existing container
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "u",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; exit 2",
    ]));
    assert_eq!(
        ok(d.docker(&["update", "--restart", "on-failure:1", "u"])),
        "u"
    );
    assert_eq!(
        inspect(&d, "u", "{{.HostConfig.RestartPolicy.Name}}"),
        "on-failure"
    );
    assert!(eventually(Duration::from_secs(10), || {
        inspect(&d, "u", "{{.RestartCount}} {{.State.Status}}") == "1 exited"
    }));
    ok(d.docker(&["run", "-d", "--rm", "--name", "ar", "busybox", "sleep", "5"]));
    let out = d.docker(&["update", "--restart", "always", "ar"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "Restart policy cannot be updated because AutoRemove is enabled for the container"
        ),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["run", "--rm", "--restart", "always", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("can't specify both --restart and --rm")
            || stderr(&out).contains("cannot specify both --restart and --rm"),
        "{}",
        stderr(&out)
    );
}
