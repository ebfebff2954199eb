//! rm, kill and exec against paused and restarting containers answer with
//! dockerd's words and codes.
mod common;
use common::*;
use std::time::Duration;

/// Waits for an exit that starts a back-off of 1.6 s or more (the sixth
/// restart on), and returns just after it: the next requests land while
/// the container waits to be restarted, not while a restart is under way.
fn restarting(d: &Daemon, name: &str) -> bool {
    let read = || {
        let s = ok(d.docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}} {{.State.FinishedAt}}",
            name,
        ]));
        let v: Vec<String> = s.split(' ').map(str::to_owned).collect();
        (v[0].clone(), v[1].parse::<u32>().unwrap(), v[2].clone())
    };
    let mut last = read().2;
    eventually(Duration::from_secs(40), || {
        let (status, count, finished) = read();
        let fresh = finished != last;
        last = finished;
        fresh && status == "restarting" && count >= 5
    })
}

#[test]
fn rm_kill_exec_of_paused_and_restarting_containers() {
    let d = Daemon::start();
    ok(d.docker(&["run", "-d", "--name", "p", "busybox", "sleep", "1000"]));
    ok(d.docker(&["pause", "p"]));
    let o = d.docker(&["rm", "p"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        "Error response from daemon: cannot remove container \"/p\": container is paused and must be unpaused first"
    );
    let r = d
        .raw_request("DELETE", "/v1.51/containers/p", None)
        .unwrap();
    assert_eq!(r.status, 409);
    ok(d.docker(&["rm", "-f", "p"]));

    // `false` exits at once: between runs the container is "restarting".
    let id = ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "r",
        "--restart",
        "always",
        "busybox",
        "false",
    ]));
    assert!(restarting(&d, "r"), "never seen restarting");
    let o = d.docker(&["rm", "r"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        "Error response from daemon: cannot remove container \"/r\": container is restarting: stop the container before removing or force remove"
    );
    let r = d
        .raw_request(
            "POST",
            "/v1.51/containers/r/exec",
            Some(br#"{"Cmd":["true"]}"#),
        )
        .unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(
        r.json()["message"],
        format!("Container {id} is restarting, wait until the container is running")
    );
    let o = d.pier(&["exec", "r", "true"]);
    assert!(
        stderr(&o).contains(&format!(
            "Container {id} is restarting, wait until the container is running"
        )),
        "{o:?}"
    );
    // kill between runs succeeds and ends the restarts, as with dockerd.
    ok(d.docker(&["kill", "r"]));
    let count = ok(d.docker(&["inspect", "-f", "{{.RestartCount}}", "r"]));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.Restarting}} {{.RestartCount}}",
            "r"
        ])),
        format!("exited false {count}")
    );
    ok(d.docker(&["rm", "r"]));

    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "r2",
        "--restart",
        "always",
        "busybox",
        "false",
    ]));
    assert!(restarting(&d, "r2"));
    ok(d.docker(&["rm", "-f", "r2"]));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(ok(d.docker(&["ps", "-aq"])), "");
}
