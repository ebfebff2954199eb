//! The real docker CLI (28.x) drives pierd: the everyday container commands.
mod common;
use common::*;
use std::time::Duration;

#[test]
fn run_rm_echo_prints_hello() {
    let d = Daemon::start();
    let out = d.docker(&["run", "--rm", "busybox", "echo", "hello"]);
    assert_eq!(ok(out), "hello");
    // --rm removed it.
    assert_eq!(ok(d.docker(&["ps", "-aq"])), "");
}

#[test]
fn run_exit_code_is_the_containers() {
    let d = Daemon::start();
    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
}

#[test]
fn stdout_and_stderr_stay_apart() {
    let d = Daemon::start();
    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo to-out; echo to-err >&2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "to-out");
    assert_eq!(stderr(&out).trim(), "to-err");
}

#[test]
fn detached_lifecycle_ps_logs_inspect_stop_rm() {
    let d = Daemon::start();
    let id = ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "s",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 60",
    ]));
    assert_eq!(id.len(), 64, "run -d prints the full id: {id}");

    let ps = ok(d.docker(&["ps"]));
    assert!(ps.starts_with("CONTAINER ID"), "{ps}");
    assert!(
        ps.lines()
            .any(|l| l.starts_with(&id[..12]) && l.trim_end().ends_with(" s")),
        "{ps}"
    );
    assert!(ps.contains("Up "), "{ps}");

    assert!(eventually(Duration::from_secs(5), || stdout(
        &d.docker(&["logs", "s"])
    )
    .contains("started")));
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.State.Running}}", "s"])),
        "true"
    );
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.Name}} {{.Config.Image}}", &id[..12]])),
        "/s busybox"
    );

    let started = std::time::Instant::now();
    assert_eq!(ok(d.docker(&["stop", "-t", "1", "s"])), "s");
    // sleep ignores nothing: SIGTERM to pid 1 without a handler is ignored, so
    // the stop timeout (1 s) then SIGKILL ends it.
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.State.ExitCode}}",
            "s"
        ])),
        "false 137"
    );
    let ps = ok(d.docker(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]));
    assert!(ps.starts_with("s Exited (137)"), "{ps}");
    assert_eq!(ok(d.docker(&["rm", "s"])), "s");
    assert_eq!(ok(d.docker(&["ps", "-aq"])), "");
    let out = d.docker(&["inspect", "s"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("No such object: s") || stderr(&out).contains("No such container: s"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_command_exits_127_and_directory_126() {
    let d = Daemon::start();
    let out = d.docker(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("executable file not found"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["run", "--rm", "busybox", "/etc"]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
}

#[test]
fn unknown_image_exits_125() {
    let d = Daemon::start();
    let out = d.docker(&["run", "--rm", "nosuchimage:v1", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("nosuchimage"), "{}", stderr(&out));
}

#[test]
fn interactive_tty_echoes_typed_input() {
    let d = Daemon::start();
    let mut cmd = d.docker_cmd();
    cmd.args(["run", "-it", "--rm", "busybox", "sh"]);
    let (screen, status) = run_in_pty(
        cmd,
        &[
            (Duration::from_millis(1500), b"echo typed-$((6*7))\r"),
            (Duration::from_millis(500), b"exit 5\r"),
        ],
        Duration::from_secs(15),
    );
    assert!(screen.contains("typed-42"), "terminal showed: {screen:?}");
    assert_eq!(status, Some(5), "terminal showed: {screen:?}");
}

#[test]
fn interactive_stdin_without_tty() {
    let d = Daemon::start();
    let mut cmd = d.docker_cmd();
    cmd.args(["run", "-i", "--rm", "busybox", "sh", "-c", "tr a-z A-Z"]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("docker run -i");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out).trim(), "SHOUT");
}

#[test]
fn env_workdir_user_entrypoint_hostname() {
    let d = Daemon::start();
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hi there",
        "-w",
        "/tmp/new/dir",
        "-u",
        "65534:65534",
        "--hostname",
        "box1",
        "busybox",
        "sh",
        "-c",
        "echo \"$GREETING|$(pwd)|$(id -u):$(id -g)|$(hostname)|$PATH\"",
    ]));
    assert_eq!(out, "hi there|/tmp/new/dir|65534:65534|box1|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        "busybox",
        "via",
        "entrypoint",
    ]));
    assert_eq!(out, "via entrypoint");
    let out = ok(d.docker(&["run", "--rm", "-u", "nobody", "busybox", "id", "-un"]));
    assert_eq!(out, "nobody");
}

#[test]
fn network_none_has_only_loopback_and_host_shares_the_host() {
    let d = Daemon::start();
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ls",
        "/sys/class/net",
    ]));
    assert_eq!(out, "lo");
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "cat",
        "/sys/class/net/lo/operstate",
    ]));
    assert!(out == "unknown" || out == "up", "{out}");
    // The same namespace as the host's (interface lists change while
    // parallel tests add veths and bridges; the namespace identity does not).
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "readlink",
        "/proc/self/ns/net",
    ]));
    assert_eq!(out, host_ns.to_string_lossy());
}

#[test]
fn etc_files_are_provided_like_docker() {
    let d = Daemon::start();
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--hostname",
        "h1",
        "busybox",
        "sh",
        "-c",
        "cat /etc/hostname; cat /etc/hosts; test -f /etc/resolv.conf && echo resolv-ok",
    ]));
    assert!(out.starts_with("h1\n"), "{out}");
    assert!(
        out.contains("127.0.0.1\tlocalhost") || out.contains("127.0.0.1 localhost"),
        "{out}"
    );
    assert!(out.contains("resolv-ok"), "{out}");
}

#[test]
fn save_load_round_trip_keeps_the_image_id() {
    let d = Daemon::start();
    let id = ok(d.docker(&["inspect", "-f", "{{.Id}}", "busybox"]));
    let tar = d.dir.path().join("bb-saved.tar");
    ok(d.docker(&["save", "-o", tar.to_str().unwrap(), "busybox"]));
    ok(d.docker(&["rmi", "busybox"]));
    assert!(!d.docker(&["inspect", "busybox"]).status.success());
    let out = ok(d.docker(&["load", "-i", tar.to_str().unwrap()]));
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    assert_eq!(ok(d.docker(&["inspect", "-f", "{{.Id}}", "busybox"])), id);
    assert_eq!(
        ok(d.docker(&["run", "--rm", "busybox", "echo", "after-load"])),
        "after-load"
    );
}

#[test]
fn images_tag_history_rmi() {
    let d = Daemon::start();
    ok(d.docker(&["tag", "busybox", "mybox:v1"]));
    let images = ok(d.docker(&["images"]));
    let header = images.lines().next().unwrap();
    assert!(
        header.starts_with("REPOSITORY") && header.contains("IMAGE ID"),
        "{images}"
    );
    assert!(
        images
            .lines()
            .any(|l| l.starts_with("mybox") && l.contains("v1")),
        "{images}"
    );
    let listed = ok(d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort();
    assert_eq!(listed, ["busybox:latest", "mybox:v1"]);
    assert_eq!(ok(d.docker(&["images", "-q"])).lines().count(), 2);
    let history = ok(d.docker(&["history", "busybox"]));
    assert!(history.starts_with("IMAGE"), "{history}");

    // In use by a container: refused without -f.
    ok(d.docker(&["create", "--name", "user", "mybox:v1", "true"]));
    let id = ok(d.docker(&["inspect", "-f", "{{.Id}}", "busybox"]));
    let out = d.docker(&["rmi", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("conflict"), "{}", stderr(&out));
    // Untagging one of two tags works.
    let out = ok(d.docker(&["rmi", "mybox:v1"]));
    assert!(out.contains("Untagged: mybox:v1"), "{out}");
    ok(d.docker(&["rm", "user"]));
    let out = ok(d.docker(&["rmi", "busybox"]));
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert_eq!(ok(d.docker(&["images", "-q"])), "");
}

#[test]
fn import_a_rootfs_tar_and_run_it() {
    let d = Daemon::start();
    // A rootfs tar holding the host's static busybox and a marker file.
    let work = d.dir.path().join("imp");
    std::fs::create_dir_all(work.join("rootfs/bin")).unwrap();
    std::fs::copy("/bin/busybox", work.join("rootfs/bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", work.join("rootfs/bin/sh")).unwrap();
    std::fs::write(work.join("rootfs/marker"), "imported\n").unwrap();
    let tar = work.join("rootfs.tar");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(work.join("rootfs"))
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let out = ok(d.docker(&[
        "import",
        "-c",
        "CMD [\"/bin/sh\",\"-c\",\"cat /marker\"]",
        tar.to_str().unwrap(),
        "imported:v1",
    ]));
    assert!(out.starts_with("sha256:"), "{out}");
    assert_eq!(ok(d.docker(&["run", "--rm", "imported:v1"])), "imported");
}

#[test]
fn logs_follow_tail_and_timestamps() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "l",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; done; sleep 1; echo late",
    ]));
    // follow ends when the container stops, and saw everything.
    let out = ok(d.docker(&["logs", "-f", "l"]));
    assert_eq!(out, "line1\nline2\nline3\nline4\nline5\nlate");
    assert_eq!(ok(d.docker(&["logs", "--tail", "2", "l"])), "line5\nlate");
    let ts = ok(d.docker(&["logs", "-t", "--tail", "1", "l"]));
    let (stamp, text) = ts.split_once(' ').unwrap();
    assert_eq!(text, "late");
    assert!(stamp.ends_with('Z') && stamp.contains('T'), "{ts}");
}

#[test]
fn kill_signal_and_wait() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "k",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' USR1; while :; do sleep 0.1; done",
    ]));
    std::thread::sleep(Duration::from_millis(300));
    ok(d.docker(&["kill", "-s", "USR1", "k"]));
    assert_eq!(ok(d.docker(&["wait", "k"])), "42");
    let out = d.docker(&["kill", "k"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));
}

#[test]
fn name_conflict_and_rm_running() {
    let d = Daemon::start();
    ok(d.docker(&["run", "-d", "--name", "dup", "busybox", "sleep", "30"]));
    let out = d.docker(&["create", "--name", "dup", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is already in use"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["rm", "dup"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("container is running"),
        "{}",
        stderr(&out)
    );
    ok(d.docker(&["rm", "-f", "dup"]));
    assert_eq!(ok(d.docker(&["ps", "-aq"])), "");
}
