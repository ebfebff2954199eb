//! `pier` itself: the same verbs, tables, templates and exit codes as docker.
mod common;
use common::*;
use std::time::Duration;

#[test]
fn run_echo_and_exit_codes() {
    let d = Daemon::start();
    assert_eq!(
        ok(d.pier(&["run", "--rm", "busybox", "echo", "hello from pier"])),
        "hello from pier"
    );
    assert_eq!(
        d.pier(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])
            .status
            .code(),
        Some(3)
    );
    let out = d.pier(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("executable file not found"),
        "{}",
        stderr(&out)
    );
    let out = d.pier(&["run", "--rm", "busybox", "/etc"]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    let out = d.pier(&["run", "--rm", "nosuchimage", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Unable to find image 'nosuchimage:latest' locally"),
        "{}",
        stderr(&out)
    );
    let out = d.pier(&["run", "--no-such-flag", "busybox"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
}

#[test]
fn ps_table_and_format_match_docker() {
    let d = Daemon::start();
    ok(d.pier(&[
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "tier=front",
        "busybox",
        "sleep",
        "60",
    ]));
    ok(d.pier(&["create", "--name", "idle", "busybox", "true"]));
    // Both clients print the same table (timing columns aside).
    let pier_ps = ok(d.pier(&[
        "ps",
        "-a",
        "--format",
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.State}}\t{{.Names}}",
    ]));
    let docker_ps = ok(d.docker(&[
        "ps",
        "-a",
        "--format",
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.State}}\t{{.Names}}",
    ]));
    assert_eq!(pier_ps, docker_ps);
    assert!(
        pier_ps.starts_with("CONTAINER ID   IMAGE     COMMAND"),
        "{pier_ps}"
    );
    let running = ok(d.pier(&["ps", "--format", "{{.Names}}"]));
    assert_eq!(running, "web");
    let filtered = ok(d.pier(&["ps", "-a", "--filter", "label=tier=front", "-q"]));
    assert_eq!(filtered.len(), 12);
    let filtered = ok(d.pier(&[
        "ps",
        "-a",
        "--filter",
        "status=created",
        "--format",
        "{{.Names}}",
    ]));
    assert_eq!(filtered, "idle");
    let json = ok(d.pier(&["ps", "--format", "{{json .}}"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["Names"], "web");
    assert_eq!(ok(d.pier(&["ps", "-aq"])).lines().count(), 2);
    assert_eq!(
        ok(d.pier(&["ps", "-n", "1", "--format", "{{.Names}}"])),
        "idle"
    );
    // Column widths follow the values ("Less than a second ago" vs "1
    // second ago" a moment later): compare the columns' names.
    let columns = |out: &str| -> Vec<String> {
        out.lines()
            .next()
            .unwrap_or_default()
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    };
    let header = ok(d.pier(&["ps"]));
    let docker_header = ok(d.docker(&["ps"]));
    assert_eq!(columns(&header), columns(&docker_header));
    assert_eq!(columns(&header).len(), 7, "{header}");
}

#[test]
fn inspect_and_images_match_docker() {
    let d = Daemon::start();
    ok(d.pier(&["run", "-d", "--name", "c1", "busybox", "sleep", "30"]));
    assert_eq!(
        ok(d.pier(&["inspect", "-f", "{{.State.Running}}", "c1"])),
        "true"
    );
    let pier_json: serde_json::Value =
        serde_json::from_str(&ok(d.pier(&["inspect", "c1"]))).unwrap();
    let docker_json: serde_json::Value =
        serde_json::from_str(&ok(d.docker(&["inspect", "c1"]))).unwrap();
    assert_eq!(pier_json[0]["Id"], docker_json[0]["Id"]);
    assert_eq!(pier_json[0]["Config"], docker_json[0]["Config"]);
    assert_eq!(ok(d.pier(&["images"])), ok(d.docker(&["images"])));
    assert_eq!(
        ok(d.pier(&["images", "-q"])),
        ok(d.docker(&["images", "-q"]))
    );
    assert_eq!(
        ok(d.pier(&[
            "image",
            "inspect",
            "-f",
            "{{.Id}} {{json .Config.Cmd}}",
            "busybox"
        ])),
        ok(d.docker(&[
            "image",
            "inspect",
            "-f",
            "{{.Id}} {{json .Config.Cmd}}",
            "busybox"
        ]))
    );
    assert_eq!(
        ok(d.pier(&["history", "busybox"])),
        ok(d.docker(&["history", "busybox"]))
    );
}

#[test]
fn detached_logs_stop_wait_rm() {
    let d = Daemon::start();
    ok(d.pier(&[
        "run",
        "-d",
        "--name",
        "t",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; sleep 30",
    ]));
    assert!(eventually(Duration::from_secs(5), || d
        .pier(&["logs", "t"])
        .stderr
        == b"err\n"));
    let out = d.pier(&["logs", "t"]);
    assert_eq!(stdout(&out), "out\n");
    ok(d.pier(&["stop", "-t", "1", "t"]));
    assert_eq!(ok(d.pier(&["wait", "t"])), "137");
    ok(d.pier(&["rm", "t"]));
    let out = d.pier(&["rm", "t"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("No such container: t"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn start_attach_and_kill() {
    let d = Daemon::start();
    ok(d.pier(&[
        "create",
        "--name",
        "a",
        "busybox",
        "sh",
        "-c",
        "echo attached-out; exit 4",
    ]));
    let out = d.pier(&["start", "-a", "a"]);
    assert_eq!(stdout(&out).trim(), "attached-out");
    assert_eq!(out.status.code(), Some(4));
    ok(d.pier(&["run", "-d", "--name", "k", "busybox", "sleep", "30"]));
    ok(d.pier(&["kill", "k"]));
    assert_eq!(
        ok(d.pier(&["inspect", "-f", "{{.State.ExitCode}}", "k"])),
        "137"
    );
}

#[test]
fn save_load_import_tag_rmi() {
    let d = Daemon::start();
    let tar = d.dir.path().join("s.tar");
    ok(d.pier(&["tag", "busybox", "copy:1"]));
    ok(d.pier(&["save", "-o", tar.to_str().unwrap(), "copy:1"]));
    let out = ok(d.pier(&["rmi", "copy:1"]));
    assert!(out.contains("Untagged: copy:1"), "{out}");
    let out = ok(d.pier(&["load", "-i", tar.to_str().unwrap()]));
    assert_eq!(out, "Loaded image: copy:1");
    assert_eq!(ok(d.pier(&["run", "--rm", "copy:1", "echo", "ok"])), "ok");
    // The save output is accepted by skopeo as a docker archive, when skopeo is here.
    if std::path::Path::new("/usr/bin/skopeo").exists() {
        let out = std::process::Command::new("skopeo")
            .args(["inspect", &format!("docker-archive:{}", tar.display())])
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo: {}", stderr(&out));
    }
}

#[test]
fn interactive_tty_under_pier() {
    let d = Daemon::start();
    let mut cmd = d.pier_cmd();
    cmd.args(["run", "-it", "--rm", "busybox", "sh"]);
    let (screen, status) = run_in_pty(
        cmd,
        &[
            (
                Duration::from_millis(1000),
                b"stty size; echo typed-$((6*7))\r",
            ),
            (Duration::from_millis(500), b"exit 0\r"),
        ],
        Duration::from_secs(15),
    );
    assert!(screen.contains("typed-42"), "{screen:?}");
    assert!(
        screen.contains("24 80"),
        "terminal size reaches the container: {screen:?}"
    );
    assert_eq!(status, Some(0), "{screen:?}");
}

#[test]
fn version_and_info() {
    let d = Daemon::start_empty();
    let out = ok(d.pier(&["version", "--format", "{{.Server.APIVersion}}"]));
    assert_eq!(out, "1.51");
    let out = ok(d.pier(&["info", "--format", "{{.OSType}} {{.Driver}}"]));
    assert_eq!(out, "linux overlay2");
    // The docker CLI's own templates work against pierd.
    ok(d.docker(&["version"]));
    ok(d.docker(&["info"]));
}

/// A container started again right after it exited reuses its id: the
/// previous run's shim is still deleting its runtime state and must neither
/// make the new start fail nor unlink the new shim's control socket.
#[test]
fn restart_right_after_exit_keeps_the_new_shim_reachable() {
    let d = Daemon::start();
    let id = ok(d.pier(&[
        "create",
        "--name",
        "again",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "if [ -e /ran ]; then sleep 30; else touch /ran; echo first; fi",
    ]))
    .trim()
    .to_string();
    let out = ok(d.pier(&["start", "-a", "again"]));
    assert_eq!(out.trim(), "first");
    ok(d.pier(&["start", "again"]));
    let socket = d.exec_root.join("shim").join(format!("{}.sock", &id[..12]));
    // Long enough for the first run's shim to have finished and left.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        socket.exists(),
        "control socket of the running shim is gone"
    );
    // A new attach needs that socket: it must see the container's output
    // once it is stopped.
    let running = ok(d.pier(&["inspect", "-f", "{{.State.Running}}", "again"]));
    assert_eq!(running.trim(), "true");
    let mut attach = d
        .pier_cmd()
        .args(["attach", "--no-stdin", "again"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn pier attach");
    std::thread::sleep(Duration::from_millis(500));
    ok(d.pier(&["stop", "-t", "1", "again"]));
    let st = attach.wait().expect("wait for pier attach");
    let mut err = String::new();
    use std::io::Read;
    if let Some(mut e) = attach.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(err.is_empty(), "attach failed: {err}");
    assert_ne!(st.code(), Some(1), "attach failed: {err}");
    // `restart` stops and starts within one request: no client round
    // trip gives the old shim time to finish.
    ok(d.pier(&["start", "again"]));
    for _ in 0..5 {
        ok(d.pier(&["restart", "-t", "0", "again"]));
        let running = ok(d.pier(&["inspect", "-f", "{{.State.Running}}", "again"]));
        assert_eq!(running.trim(), "true");
    }
    ok(d.pier(&["rm", "-f", "again"]));
}
