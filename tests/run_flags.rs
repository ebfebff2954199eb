//! `run`/`create` flags, end to end, observed from inside the container.
mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn env_and_label_files_hostname_user_workdir() {
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("e.env");
    std::fs::write(&env, "A=1\n# comment\nB=two words\n\nC\n").unwrap();
    let labels = dir.path().join("l.txt");
    std::fs::write(&labels, "team=core\n# x\nowner=me\n").unwrap();
    let envp = env.display().to_string();
    let labp = labels.display().to_string();
    for cli in ["pier", "docker"] {
        let name = format!("f-{cli}");
        let args = [
            "run",
            "--name",
            &name,
            "--env-file",
            &envp,
            "--label-file",
            &labp,
            "--hostname",
            "myhost",
            "-w",
            "/made/here",
            "busybox",
            "sh",
            "-c",
            "echo \"$A|$B\"; hostname; cat /etc/hostname; pwd",
        ];
        let out = if cli == "pier" {
            d.pier(&args)
        } else {
            d.docker(&args)
        };
        assert_eq!(
            stdout(&out),
            "1|two words\nmyhost\nmyhost\n/made/here\n",
            "{cli}: {}",
            stderr(&out)
        );
        assert_eq!(
            ok(d.docker(&["inspect", "-f", "{{.Config.Labels.team}} {{.Config.Labels.owner}} {{.Config.Hostname}} {{.Config.WorkingDir}}", &name])),
            "core me myhost /made/here"
        );
    }
    // --user by name and number, --group-add by name and number
    assert!(
        ok(d.docker(&["run", "--rm", "--user", "nobody", "busybox", "id"]))
            .starts_with("uid=65534(nobody) gid=65534(nobody)")
    );
    assert_eq!(
        ok(d.pier(&[
            "run",
            "--rm",
            "--user",
            "1000:1000",
            "--group-add",
            "nobody",
            "--group-add",
            "42",
            "busybox",
            "id"
        ])),
        "uid=1000 gid=1000 groups=42,65534(nobody)"
    );
    let out = d.docker(&["run", "--rm", "--group-add", "nosuchgroup", "busybox", "id"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("Unable to find group nosuchgroup"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["run", "--rm", "--user", "nosuchuser", "busybox", "id"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("unable to find user nosuchuser"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn entrypoint_readonly_shm() {
    let d = Daemon::start();
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--rm",
            "--entrypoint",
            "",
            "busybox",
            "echo",
            "plain"
        ])),
        "plain"
    );
    assert_eq!(
        ok(d.pier(&[
            "run",
            "--rm",
            "--entrypoint",
            "echo",
            "busybox",
            "via",
            "ep"
        ])),
        "via ep"
    );
    let out = d.docker(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    // /tmp-less writes still work on /dev/shm with a read-only root
    assert_eq!(
        ok(d.pier(&[
            "run",
            "--rm",
            "--read-only",
            "busybox",
            "sh",
            "-c",
            "echo x > /dev/shm/f && cat /dev/shm/f"
        ])),
        "x"
    );
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--shm-size",
        "16m",
        "busybox",
        "df",
        "-k",
        "/dev/shm",
    ]));
    assert!(
        out.lines().nth(1).unwrap().split_whitespace().nth(1) == Some("16384"),
        "{out}"
    );
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.ShmSize}}",
            &ok(d.docker(&["create", "--shm-size", "16m", "busybox"]))
        ])),
        "16777216"
    );
}

#[test]
fn init_reaps_and_forwards_signals() {
    let d = Daemon::start();
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "sh -c 'sleep 0.2 & exit 0'; sleep 0.8; ps -o pid,stat,comm; true",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[1].trim().starts_with("1 ") && lines[1].ends_with("docker-init"),
        "{out}"
    );
    assert!(
        !out.lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(1) == Some("Z")),
        "zombie left: {out}"
    );
    assert_eq!(
        ok(d.docker(&["run", "--rm", "--init", "busybox", "cat", "/proc/1/cmdline"]))
            .replace('\0', " ")
            .trim(),
        "/sbin/docker-init -- cat /proc/1/cmdline"
    );
    // Without an init `sleep` is PID 1 and ignores SIGTERM: stop waits out
    // the timeout and kills (137). With one, SIGTERM reaches sleep (143).
    ok(d.docker(&[
        "run", "-d", "--name", "with", "--init", "busybox", "sleep", "60",
    ]));
    ok(d.docker(&["run", "-d", "--name", "without", "busybox", "sleep", "60"]));
    let t = Instant::now();
    ok(d.docker(&["stop", "-t", "5", "with"]));
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.State.ExitCode}}", "with"])),
        "143"
    );
    ok(d.docker(&["stop", "-t", "1", "without"]));
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.State.ExitCode}}", "without"])),
        "137"
    );
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.HostConfig.Init}}", "with"])),
        "true"
    );
    let out = d.docker(&["run", "--rm", "--init", "busybox", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127));
}

#[test]
fn stop_signal_timeout_cidfile_pull_platform() {
    let d = Daemon::start();
    // --stop-signal: the shell traps USR1 and exits 42
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "sig",
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "30",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' USR1; while true; do sleep 0.1; done",
    ]));
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    ok(d.docker(&["stop", "sig"]));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{.Config.StopSignal}} {{.Config.StopTimeout}}",
            "sig"
        ])),
        "42 SIGUSR1 30"
    );
    // --stop-timeout 1: a process ignoring TERM is killed after about a second
    ok(d.pier(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--stop-timeout",
        "1",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.1; done",
    ]));
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    ok(d.pier(&["stop", "slow"]));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert_eq!(
        ok(d.pier(&["inspect", "-f", "{{.State.ExitCode}}", "slow"])),
        "137"
    );
    // --cidfile
    let dir = tempfile::tempdir().unwrap();
    let cid = dir.path().join("cid");
    let cidp = cid.display().to_string();
    ok(d.docker(&[
        "run",
        "--cidfile",
        &cidp,
        "--name",
        "cid",
        "busybox",
        "true",
    ]));
    assert_eq!(
        std::fs::read_to_string(&cid).unwrap(),
        ok(d.docker(&["inspect", "-f", "{{.Id}}", "cid"]))
    );
    let out = d.docker(&["run", "--cidfile", &cidp, "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("container ID file found"),
        "{}",
        stderr(&out)
    );
    // --pull never with a missing image
    for cli in ["pier", "docker"] {
        let args = ["run", "--rm", "--pull", "never", "nosuch:img", "true"];
        let out = if cli == "pier" {
            d.pier(&args)
        } else {
            d.docker(&args)
        };
        assert_eq!(out.status.code(), Some(125), "{cli}");
        assert!(
            stderr(&out).contains("No such image: nosuch:img"),
            "{cli}: {}",
            stderr(&out)
        );
    }
    // --platform
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--rm",
            "--platform",
            "linux/amd64",
            "busybox",
            "echo",
            "ok"
        ])),
        "ok"
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--pull",
        "never",
        "--platform",
        "linux/arm64",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("image with reference busybox was found but its platform (linux/amd64) does not match the specified platform (linux/arm64)"),
        "{}",
        stderr(&out)
    );
    // --sig-proxy (default on): a signal to the CLI reaches the container;
    // with --sig-proxy=false it does not.
    for (cli, proxy) in [("docker", true), ("pier", true), ("pier", false)] {
        let mut cmd = if cli == "docker" {
            d.docker_cmd()
        } else {
            d.pier_cmd()
        };
        let flag = format!("--sig-proxy={proxy}");
        let child = cmd
            .args([
                "run", "--rm", &flag, "busybox", "sh", "-c",
                "trap 'echo got-usr1; exit 7' USR1; i=0; while [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) };
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if proxy {
            assert_eq!(out.status.code(), Some(7), "{cli}");
            assert_eq!(text, "got-usr1", "{cli}");
        } else {
            // the CLI itself dies of the signal; the container is not told
            assert_ne!(text, "got-usr1", "{cli}");
        }
    }
}

/// A start that fails before the process exists (here: mounting a local
/// volume whose mount options the kernel refuses) must still honour
/// AutoRemove, as dockerd does: `docker run --rm` waits for the removal and
/// would hang otherwise.
#[test]
fn failed_start_with_rm_removes_the_container_and_returns() {
    let d = Daemon::start();
    let out = d.pier(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=pier-no-such-option",
        "badopts",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let started = Instant::now();
    let out = Command::new("timeout")
        .arg("60")
        .arg(docker_cli())
        .args(["run", "--rm", "-v", "badopts:/data", "busybox", "true"])
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .output()
        .expect("run docker");
    assert_ne!(
        out.status.code(),
        Some(124),
        "docker run --rm hung after a failed start"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("badopts"),
        "the error names the volume: {}",
        stderr(&out)
    );
    let ps = d.pier(&["ps", "-aq"]);
    assert!(
        eventually(Duration::from_secs(10), || stdout(&d.pier(&["ps", "-aq"]))
            .trim()
            .is_empty()),
        "container left behind: {}",
        stdout(&ps)
    );
}

/// The command may live on a bind mount or a volume: it is looked up after
/// the mounts, as runc does, through both CLIs and for `exec`.
#[test]
fn command_from_a_bind_mount_or_volume() {
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hello.sh");
    std::fs::write(&script, "#!/bin/sh\necho hello from $0\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let bind = format!("{}:/tools:ro", dir.path().display());
    for cli in ["pier", "docker"] {
        let args = ["run", "--rm", "-v", &bind, "busybox", "/tools/hello.sh"];
        let out = if cli == "pier" {
            d.pier(&args)
        } else {
            d.docker(&args)
        };
        assert_eq!(ok(out).trim(), "hello from /tools/hello.sh", "{cli}");
    }
    // Found through PATH too.
    let out = ok(d.pier(&[
        "run",
        "--rm",
        "-v",
        &bind,
        "-e",
        "PATH=/tools:/bin",
        "busybox",
        "hello.sh",
    ]));
    assert_eq!(out.trim(), "hello from /tools/hello.sh");
    // A named volume filled by one container runs its script in the next.
    ok(d.pier(&[
        "run",
        "--rm",
        "-v",
        "toolvol:/v",
        "busybox",
        "sh",
        "-c",
        "printf '#!/bin/sh\\necho from volume\\n' > /v/t.sh && chmod +x /v/t.sh",
    ]));
    let out = ok(d.pier(&["run", "--rm", "-v", "toolvol:/v", "busybox", "/v/t.sh"]));
    assert_eq!(out.trim(), "from volume");
    // Missing on the mount: the runtime's error, still docker's exit code.
    let out = d.pier(&["run", "--rm", "-v", &bind, "busybox", "/tools/nope"]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(
        stderr(&out).contains("stat /tools/nope: no such file or directory"),
        "{out:?}"
    );
}

/// `--rm` containers get a `volatile` overlay (their files are thrown away,
/// so unmounting skips the sync of the host filesystem); they still restart
/// and copy files like any other container.
#[test]
fn rm_containers_use_a_volatile_overlay_and_still_restart() {
    let d = Daemon::start();
    let root_opts = |args: &[&str]| {
        let mut a = vec!["run"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["busybox", "sh", "-c", "grep ' / / ' /proc/self/mountinfo"]);
        ok(d.pier(&a))
    };
    assert!(root_opts(&["--rm"]).contains("volatile"));
    let kept = root_opts(&["--name", "kept"]);
    assert!(!kept.contains("volatile"), "{kept}");
    ok(d.pier(&["rm", "kept"]));

    ok(d.pier(&[
        "run", "-d", "--rm", "--name", "r", "busybox", "sleep", "1000",
    ]));
    ok(d.pier(&["exec", "r", "sh", "-c", "echo one > /data"]));
    // Restarting mounts the same upper dir again: the mark the volatile
    // mount left must not block it.
    ok(d.docker(&["restart", "-t", "0", "r"]));
    assert_eq!(ok(d.pier(&["exec", "r", "cat", "/data"])).trim(), "one");
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("data");
    ok(d.pier(&["cp", "r:/data", dest.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(&dest).unwrap().trim(), "one");
    ok(d.pier(&["rm", "-f", "r"]));
}
