//! `exec`: through `pier` and the real docker CLI, with a TTY under a pty.
mod common;
use common::*;
use std::time::Duration;

fn running(d: &Daemon, name: &str) {
    ok(d.pier(&["run", "-d", "--name", name, "busybox", "sleep", "600"]));
}

#[test]
fn exec_output_exit_codes_env_user_workdir() {
    let d = Daemon::start();
    running(&d, "ex1");
    assert_eq!(ok(d.pier(&["exec", "ex1", "echo", "hi there"])), "hi there");
    let o = d.pier(&["exec", "ex1", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    // env: the container's, overridden by -e and --env-file
    let envf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(envf.path(), "FROMFILE=yes\n").unwrap();
    let env = ok(d.pier(&[
        "exec",
        "-e",
        "FOO=bar",
        "--env-file",
        envf.path().to_str().unwrap(),
        "ex1",
        "env",
    ]));
    assert!(env.lines().any(|l| l == "FOO=bar"), "{env}");
    assert!(env.lines().any(|l| l == "FROMFILE=yes"), "{env}");
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
    assert!(env.lines().any(|l| l == "HOME=/root"), "{env}");
    // user and workdir
    assert_eq!(
        ok(d.pier(&["exec", "-u", "nobody", "ex1", "id", "-u"])),
        "65534"
    );
    // the same user resolution as for the container's own process
    assert_eq!(
        ok(d.pier(&["exec", "-u", "1234:5678", "ex1", "id"])),
        ok(d.pier(&["run", "--rm", "-u", "1234:5678", "busybox", "id"]))
    );
    assert_eq!(ok(d.pier(&["exec", "-w", "/etc", "ex1", "pwd"])), "/etc");
    // the exec runs inside the container's namespaces and cgroup
    let host_ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let ns = ok(d.pier(&["exec", "ex1", "readlink", "/proc/self/ns/pid"]));
    assert_ne!(ns, host_ns.to_string_lossy());
    let ps = ok(d.pier(&["exec", "ex1", "ps", "-o", "pid,comm"]));
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "sleep"]),
        "{ps}"
    );
    let caps = ok(d.pier(&["exec", "ex1", "grep", "CapEff", "/proc/self/status"]));
    assert!(caps.ends_with("00000000a80425fb"), "{caps}");
    let caps = ok(d.pier(&[
        "exec",
        "--privileged",
        "ex1",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]));
    // every capability pierd itself holds
    let held = std::fs::read_to_string("/proc/self/status").unwrap();
    let held = held
        .lines()
        .find_map(|l| l.strip_prefix("CapPrm:"))
        .unwrap()
        .trim()
        .to_string();
    assert!(caps.ends_with(&held), "{caps} vs {held}");
    // not found / not executable: docker's texts and 126/127
    let o = d.pier(&["exec", "ex1", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{o:?}");
    assert!(
        stdout(&o).contains("OCI runtime exec failed: exec failed: unable to start container process: exec: \"nosuchcmd\": executable file not found in $PATH: unknown"),
        "{o:?}"
    );
    let o = d.pier(&["exec", "ex1", "/etc"]);
    assert_eq!(o.status.code(), Some(126), "{o:?}");
    let o = d.pier(&["exec", "ex1", "-u", "nosuchuser", "true"]);
    assert_ne!(o.status.code(), Some(0), "{o:?}");
    // stdin
    let mut cmd = d.pier_cmd();
    cmd.args(["exec", "-i", "ex1", "sh", "-c", "tr a-z A-Z"]);
    let out = pipe_stdin(cmd, b"shout\n");
    assert_eq!(out, "SHOUT\n");
    // stopped container: docker's 409 text
    ok(d.pier(&["run", "--name", "ex-stopped", "busybox", "true"]));
    let o = d.pier(&["exec", "ex-stopped", "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is not running"), "{o:?}");
    ok(d.pier(&["rm", "-f", "ex1", "ex-stopped"]));
}

fn pipe_stdin(mut cmd: std::process::Command, input: &[u8]) -> String {
    let o = common::output_with_stdin(&mut cmd, input);
    assert!(o.status.success(), "{o:?}");
    stdout(&o)
}

#[test]
fn exec_detached_and_inspect() {
    let d = Daemon::start();
    running(&d, "ex2");
    ok(d.pier(&[
        "exec",
        "-d",
        "ex2",
        "sh",
        "-c",
        "echo done > /tmp/marker; exit 3",
    ]));
    assert!(eventually(Duration::from_secs(10), || {
        stdout(&d.pier(&["exec", "ex2", "cat", "/tmp/marker"])) == "done\n"
    }));
    // Through the API: create, start detached, inspect.
    let r = d
        .raw_request(
            "POST",
            "/v1.51/containers/ex2/exec",
            Some(br#"{"Cmd":["sh","-c","sleep 1; exit 5"]}"#),
        )
        .unwrap();
    assert_eq!(r.status, 201);
    let id = r.json()["Id"].as_str().unwrap().to_string();
    let r = d
        .raw_request(
            "POST",
            &format!("/v1.51/exec/{id}/start"),
            Some(br#"{"Detach":true}"#),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let v = d
        .raw_request("GET", &format!("/v1.51/exec/{id}/json"), None)
        .unwrap()
        .json();
    assert_eq!(v["Running"], true);
    assert!(v["Pid"].as_i64().unwrap() > 0);
    assert_eq!(v["ProcessConfig"]["entrypoint"], "sh");
    assert!(eventually(Duration::from_secs(10), || {
        let v = d
            .raw_request("GET", &format!("/v1.51/exec/{id}/json"), None)
            .unwrap()
            .json();
        v["Running"] == false && v["ExitCode"] == 5
    }));
    let r = d
        .raw_request(
            "POST",
            &format!("/v1.51/exec/{id}/start"),
            Some(br#"{"Detach":true}"#),
        )
        .unwrap();
    assert_eq!(r.status, 409);
    let ids = ok(d.docker(&["inspect", "--format", "{{json .ExecIDs}}", "ex2"]));
    assert!(ids.contains(&id), "{ids}");
    let r = d
        .raw_request("GET", "/v1.51/exec/nosuch/json", None)
        .unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "No such exec instance: nosuch");
    let r = d
        .raw_request("POST", "/v1.51/containers/ex2/exec", Some(br#"{"Cmd":[]}"#))
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "No exec command specified");
    // exec keeps working with a container started before pierd restarted
    let mut d = d;
    d.kill9();
    d.restart();
    assert_eq!(
        ok(d.pier(&["exec", "ex2", "echo", "after restart"])),
        "after restart"
    );
    ok(d.pier(&["rm", "-f", "ex2"]));
}

#[test]
fn docker_cli_exec_and_tty() {
    let d = Daemon::start();
    running(&d, "ex3");
    assert_eq!(
        ok(d.docker(&["exec", "ex3", "echo", "from docker"])),
        "from docker"
    );
    let o = d.docker(&["exec", "ex3", "sh", "-c", "exit 42"]);
    assert_eq!(o.status.code(), Some(42));
    let o = d.docker(&["exec", "ex3", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{o:?}");
    // -t without -i: output through the pty (CRLF line ends)
    let o = d.docker(&["exec", "-t", "ex3", "sh", "-c", "tty; echo x"]);
    let out = stdout(&o);
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(out.contains("x\r\n"), "{out}");
    // docker exec -it under a real pseudo-terminal
    let mut cmd = d.docker_cmd();
    cmd.args(["exec", "-it", "ex3", "sh"]);
    let (screen, code) = run_in_pty(
        cmd,
        &[
            (
                Duration::from_millis(800),
                b"stty size; echo \"in-$((6*7))\"\r",
            ),
            (Duration::from_millis(500), b"exit 3\r"),
        ],
        Duration::from_secs(20),
    );
    assert!(screen.contains("in-42"), "{screen}");
    assert!(screen.contains("24 80"), "{screen}");
    assert_eq!(code, Some(3), "{screen}");
    // detach keys leave the process running
    let mut cmd = d.pier_cmd();
    cmd.args(["exec", "-it", "ex3", "sh", "-c", "echo started; sleep 30"]);
    let (screen, code) = run_in_pty(
        cmd,
        &[(Duration::from_millis(1000), b"\x10\x11")],
        Duration::from_secs(15),
    );
    assert!(screen.contains("started"), "{screen}");
    assert_eq!(code, Some(0), "{screen}");
    let ps = ok(d.pier(&["exec", "ex3", "ps", "-o", "args"]));
    assert!(ps.contains("sleep 30"), "{ps}");
    ok(d.pier(&["rm", "-f", "ex3"]));
}
