//! Docker's security defaults and options, checked from inside containers.
mod common;
use common::*;

fn status_field(d: &Daemon, cli: &str, extra: &[&str], field: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "grep", field, "/proc/self/status"]);
    let out = if cli == "docker" {
        d.docker(&args)
    } else {
        d.pier(&args)
    };
    let s = ok(out);
    s.split_whitespace().nth(1).unwrap_or_default().to_string()
}

#[test]
fn defaults_match_docker() {
    let d = Daemon::start();
    for cli in ["pier", "docker"] {
        assert_eq!(
            status_field(&d, cli, &[], "CapEff"),
            "00000000a80425fb",
            "{cli}"
        );
        assert_eq!(
            status_field(&d, cli, &[], "CapBnd"),
            "00000000a80425fb",
            "{cli}"
        );
        assert_eq!(status_field(&d, cli, &[], "Seccomp:"), "2", "{cli}");
        assert_eq!(status_field(&d, cli, &[], "NoNewPrivs"), "0", "{cli}");
    }
    // /proc/sys is read-only, /proc/kcore masked, no mount or unshare.
    let out = d.pier(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo 1 > /proc/sys/kernel/domainname",
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    let out = ok(d.pier(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "wc -c < /proc/timer_list; cat /sys/firmware/* 2>/dev/null | wc -c",
    ]));
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["0", "0"]);
    let out = d.pier(&[
        "run", "--rm", "busybox", "mount", "-t", "tmpfs", "t", "/tmp",
    ]);
    assert_ne!(out.status.code(), Some(0));
    // Devices outside the default list cannot be created and used.
    let out = d.pier(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "mknod /tmp/sda b 8 0 && head -c1 /tmp/sda",
    ]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn seccomp_options() {
    let d = Daemon::start();
    assert_eq!(
        status_field(
            &d,
            "pier",
            &["--security-opt", "seccomp=unconfined"],
            "Seccomp:"
        ),
        "0"
    );
    assert_eq!(
        status_field(
            &d,
            "docker",
            &["--security-opt", "seccomp=unconfined"],
            "Seccomp:"
        ),
        "0"
    );
    // A profile file in moby's format: the docker CLI sends its contents.
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    for cli in ["pier", "docker"] {
        let args = [
            "run",
            "--rm",
            "--security-opt",
            &opt,
            "busybox",
            "sh",
            "-c",
            "touch /tmp/f && mkdir /tmp/d",
        ];
        let out = if cli == "pier" {
            d.pier(&args)
        } else {
            d.docker(&args)
        };
        assert_eq!(out.status.code(), Some(1), "{cli}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("Operation not permitted"),
            "{cli}: {}",
            stderr(&out)
        );
    }
    let out = d.docker(&["run", "--rm", "--security-opt", "bogus", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("Invalid --security-opt: \"bogus\""),
        "{}",
        stderr(&out)
    );
    // The daemon's own check, through the API.
    let r = d
        .raw_request(
            "POST",
            "/containers/create",
            Some(br#"{"Image":"busybox","HostConfig":{"SecurityOpt":["bogus"]}}"#),
        )
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "invalid --security-opt 1: \"bogus\"");
}

#[test]
fn no_new_privileges_and_capabilities() {
    let d = Daemon::start();
    assert_eq!(
        status_field(
            &d,
            "pier",
            &["--security-opt", "no-new-privileges"],
            "NoNewPrivs"
        ),
        "1"
    );
    assert_eq!(
        status_field(
            &d,
            "docker",
            &["--security-opt", "no-new-privileges=true"],
            "NoNewPrivs"
        ),
        "1"
    );
    // drop ALL, add one back
    assert_eq!(
        status_field(
            &d,
            "pier",
            &["--cap-drop", "ALL", "--cap-add", "NET_RAW"],
            "CapEff"
        ),
        "0000000000002000"
    );
    // drop one default, add a non-default
    let eff = status_field(
        &d,
        "docker",
        &["--cap-drop", "chown", "--cap-add", "CAP_NET_ADMIN"],
        "CapEff",
    );
    assert_eq!(eff, format!("{:016x}", 0xa80425fbu64 & !1 | 1 << 12));
    // chown fails without CAP_CHOWN
    let out = d.pier(&[
        "run",
        "--rm",
        "--cap-drop",
        "CHOWN",
        "busybox",
        "chown",
        "1:1",
        "/tmp",
    ]);
    assert_ne!(out.status.code(), Some(0));
    let out = d.docker(&["run", "--rm", "--cap-add", "NOPE", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("unknown capability: \"CAP_NOPE\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn privileged_and_devices() {
    let d = Daemon::start();
    let out = ok(d.pier(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "grep -E 'Seccomp:|CapEff' /proc/self/status; mount -t tmpfs t /tmp && echo mounted; \
         test -w /proc/sys/kernel && echo procsys-rw; ls /dev | grep -c . ",
    ]));
    assert!(out.contains("Seccomp:\t0"), "{out}");
    // all capabilities this host lets pierd hand on (CAP_SYS_RESOURCE is withheld here)
    let capeff = out
        .lines()
        .find(|l| l.starts_with("CapEff"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(|h| u64::from_str_radix(h, 16).unwrap())
        .unwrap();
    assert!(capeff & (1 << 21) != 0, "CAP_SYS_ADMIN in {capeff:x}");
    assert!(out.contains("mounted"), "{out}");
    let ndev: usize = out.lines().last().unwrap().trim().parse().unwrap();
    assert!(ndev > 12, "host devices visible: {ndev}");

    // --device with a new path and permissions
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--device",
        "/dev/null:/dev/mynull:rw",
        "busybox",
        "sh",
        "-c",
        "ls -l /dev/mynull; echo x > /dev/mynull && echo written",
    ]));
    assert!(out.starts_with('c'), "{out}");
    assert!(out.contains("1,   3"), "{out}");
    assert!(out.contains("written"), "{out}");
    // The docker CLI maps "no such file or directory" to 127, as with dockerd.
    let out = d.docker(&[
        "run",
        "--rm",
        "--device",
        "/dev/nonexistent",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("error gathering device information while adding custom device"),
        "{}",
        stderr(&out)
    );
}

/// One `/proc/self/status` field as an exec'd process sees it.
fn exec_field(d: &Daemon, cli: &str, extra: &[&str], c: &str, field: &str) -> String {
    let mut args = vec!["exec"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[c, "grep", field, "/proc/self/status"]);
    let out = if cli == "docker" {
        d.docker(&args)
    } else {
        d.pier(&args)
    };
    let s = ok(out);
    s.split_whitespace().nth(1).unwrap_or_default().to_string()
}

#[test]
fn exec_gets_the_containers_seccomp_filter_and_capabilities() {
    let d = Daemon::start();
    ok(d.pier(&["run", "-d", "--name", "c", "busybox", "sleep", "1000"]));
    for cli in ["pier", "docker"] {
        assert_eq!(exec_field(&d, cli, &[], "c", "Seccomp:"), "2", "{cli}");
        for f in ["CapEff", "CapPrm", "CapBnd"] {
            assert_eq!(
                exec_field(&d, cli, &[], "c", f),
                "00000000a80425fb",
                "{cli} {f}"
            );
        }
        for f in ["CapInh", "CapAmb"] {
            assert_eq!(
                exec_field(&d, cli, &[], "c", f),
                "0000000000000000",
                "{cli} {f}"
            );
        }
        assert_eq!(exec_field(&d, cli, &[], "c", "NoNewPrivs"), "0", "{cli}");
        // Like runc, a privileged exec gets every capability but still the
        // container's filter.
        assert_eq!(
            exec_field(&d, cli, &["--privileged"], "c", "Seccomp:"),
            "2",
            "{cli}"
        );
        // A non-root exec ends with no capabilities, filtered all the same.
        assert_eq!(
            exec_field(&d, cli, &["-u", "1000"], "c", "CapEff"),
            "0000000000000000"
        );
        assert_eq!(exec_field(&d, cli, &["-u", "1000"], "c", "Seccomp:"), "2");
    }
    let held = std::fs::read_to_string("/proc/self/status").unwrap();
    let held = held
        .lines()
        .find_map(|l| l.strip_prefix("CapPrm:"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(
        exec_field(&d, "docker", &["--privileged"], "c", "CapEff"),
        held
    );
    // The filter is Docker's: creating a user namespace needs no capability,
    // only the profile stops it (as it stops it for the container's init).
    let o = d.pier(&["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert_ne!(o.status.code(), Some(0), "init: {o:?}");
    let o = d.pier(&["exec", "c", "unshare", "-U", "true"]);
    assert_ne!(o.status.code(), Some(0), "exec: {o:?}");
    assert!(stderr(&o).contains("Operation not permitted"), "{o:?}");

    // Other profiles and options carry over too.
    ok(d.pier(&[
        "run",
        "-d",
        "--name",
        "u",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "sleep",
        "1000",
    ]));
    assert_eq!(exec_field(&d, "pier", &[], "u", "Seccomp:"), "0");
    ok(d.pier(&["exec", "u", "unshare", "-U", "true"]));
    ok(d.pier(&[
        "run",
        "-d",
        "--name",
        "n",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "sleep",
        "1000",
    ]));
    assert_eq!(exec_field(&d, "pier", &[], "n", "Seccomp:"), "2");
    assert_eq!(exec_field(&d, "pier", &[], "n", "NoNewPrivs"), "1");
    assert_eq!(
        exec_field(&d, "pier", &[], "n", "CapEff"),
        "00000000a80425fb"
    );
    ok(d.pier(&[
        "run",
        "-d",
        "--name",
        "z",
        "--cap-drop",
        "ALL",
        "busybox",
        "sleep",
        "1000",
    ]));
    for f in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(
            exec_field(&d, "docker", &[], "z", f),
            "0000000000000000",
            "{f}"
        );
    }
    assert_eq!(exec_field(&d, "docker", &[], "z", "Seccomp:"), "2");
}

/// A static program that calls clone(2) with CLONE_NEWUSER and prints
/// whether the kernel let it.
fn clone_newuser_program(dir: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("clone_newuser.c");
    std::fs::write(
        &src,
        r#"#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
int main(void) {
    long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (r == 0) _exit(0);
    if (r < 0) { printf("refused: %s\n", strerror(errno)); return 1; }
    waitpid(r, 0, 0);
    printf("allowed\n");
    return 0;
}
"#,
    )
    .unwrap();
    let bin = dir.join("clone_newuser");
    let out = std::process::Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("cc (build-essential) is installed by scripts/lib.sh");
    assert!(out.status.success(), "{out:?}");
    bin
}

/// Runs the clone program in a new container with `extra` options.
fn clone_newuser(d: &Daemon, prog: &std::path::Path, extra: &[&str]) -> String {
    let mut args = vec!["create"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "/clone_newuser"]);
    let id = ok(d.pier(&args)).trim().to_string();
    ok(d.pier(&[
        "cp",
        prog.to_str().unwrap(),
        &format!("{id}:/clone_newuser"),
    ]));
    let out = d.pier(&["start", "-a", &id]);
    ok(d.pier(&["rm", &id]));
    stdout(&out).trim().to_string()
}

/// Docker's profile allows clone(2) only without namespace flags
/// (`SCMP_CMP_MASKED_EQ`, `value` the mask, `valueTwo` the datum), so an
/// unprivileged container cannot make a user namespace through clone either.
#[test]
fn default_profile_refuses_clone_into_a_new_user_namespace() {
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let prog = clone_newuser_program(dir.path());
    assert_eq!(
        clone_newuser(&d, &prog, &[]),
        "refused: Operation not permitted"
    );
    // CAP_SYS_ADMIN lifts the argument check, as in Docker's profile.
    assert_eq!(
        clone_newuser(&d, &prog, &["--cap-add", "SYS_ADMIN"]),
        "allowed"
    );
    assert_eq!(
        clone_newuser(&d, &prog, &["--security-opt", "seccomp=unconfined"]),
        "allowed"
    );
    // The same comparison in a user profile: refuse only CLONE_NEWUSER
    // (0x10000000). Ordinary forks still work (busybox sh runs `cat` below).
    let profile = dir.path().join("p.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["clone"],"action":"SCMP_ACT_ERRNO","errnoRet":13,"args":[{"index":0,"value":268435456,"valueTwo":268435456,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    // The docker CLI reads the file and sends its contents.
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        "busybox",
        "sh",
        "-c",
        "echo forked | cat",
    ]));
    assert_eq!(out.trim(), "forked");
    assert_eq!(
        clone_newuser(&d, &prog, &["--security-opt", &opt]),
        "refused: Permission denied"
    );
    // exec'd processes get the same (cached) filter.
    ok(d.pier(&["run", "-d", "--name", "e", "busybox", "sleep", "1000"]));
    ok(d.pier(&["cp", prog.to_str().unwrap(), "e:/clone_newuser"]));
    let o = d.pier(&["exec", "e", "/clone_newuser"]);
    assert_eq!(stdout(&o).trim(), "refused: Operation not permitted");
    ok(d.pier(&["rm", "-f", "e"]));
}
