//! Resource limits through cgroups, checked from inside the container, and
//! changed live with `update`.
mod common;
use common::*;

fn inspect(d: &Daemon, c: &str, f: &str) -> String {
    ok(d.pier(&["inspect", "-f", f, c]))
}

/// The container's cgroup file, whichever layout the host has.
fn cgroup_file(v1: &str, v2: &str) -> String {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        format!("/sys/fs/cgroup/{v2}")
    } else {
        format!("/sys/fs/cgroup/{v1}")
    }
}

#[test]
fn memory_limit_and_oom_kill() {
    let d = Daemon::start();
    let file = cgroup_file("memory/memory.limit_in_bytes", "memory.max");
    for cli in ["pier", "docker"] {
        let name = format!("oom-{cli}");
        let args = [
            "run",
            "--name",
            &name,
            "-m",
            "32m",
            "busybox",
            "sh",
            "-c",
            &format!("cat {file}; x=$(head -c 200m /dev/zero | tr '\\0' a); echo survived"),
        ];
        let out = if cli == "pier" {
            d.pier(&args)
        } else {
            d.docker(&args)
        };
        assert_eq!(out.status.code(), Some(137), "{cli}: {}", stderr(&out));
        assert_eq!(stdout(&out).trim(), "33554432", "{cli}");
        assert_eq!(
            inspect(&d, &name, "{{.State.OOMKilled}} {{.State.ExitCode}}"),
            "true 137"
        );
        assert_eq!(
            inspect(
                &d,
                &name,
                "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}"
            ),
            "33554432 67108864"
        );
    }
    // Without a limit the same allocation succeeds and OOMKilled stays false.
    let out = ok(d.pier(&[
        "run",
        "--name",
        "big",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 50m /dev/zero | tr '\\0' a); echo survived",
    ]));
    assert_eq!(out, "survived");
    assert_eq!(inspect(&d, "big", "{{.State.OOMKilled}}"), "false");
    let out = d.docker(&["run", "--rm", "-m", "1m", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("Minimum memory limit allowed is 6MB"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pids_cpu_and_ulimits() {
    let d = Daemon::start();
    // A fork bomb stops at the pids limit.
    let out = d.pier(&[
        "run",
        "--rm",
        "--pids-limit",
        "8",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 3 & done; wait",
    ]);
    assert!(stderr(&out).contains("can't fork"), "{}", stderr(&out));
    let file = cgroup_file("pids/pids.max", "pids.max");
    assert_eq!(
        ok(d.docker(&["run", "--rm", "--pids-limit", "8", "busybox", "cat", &file])),
        "8"
    );
    // cpuset, --cpus and shares land in the cgroup.
    let out = ok(d.docker(&[
        "run", "--rm", "--cpuset-cpus", "0", "--cpus", "0.5", "--cpu-shares", "512", "busybox",
        "sh", "-c",
        "grep Cpus_allowed_list /proc/self/status; cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null || cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpu.weight",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].split_whitespace().nth(1), Some("0"), "{out}");
    assert!(lines[1] == "50000" || lines[1] == "50000 100000", "{out}");
    assert!(lines[2] == "512" || lines[2] == "20", "{out}");
    let out = d.docker(&["run", "--rm", "--cpuset-cpus", "0-99", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("Requested CPUs are not available"),
        "{}",
        stderr(&out)
    );
    // ulimits: visible inside, never above the host's hard limit.
    assert_eq!(
        ok(d.pier(&[
            "run",
            "--rm",
            "--ulimit",
            "nofile=100:200",
            "busybox",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn",
        ])),
        "100\n200"
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=100:999999999",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("exceeds the host's hard limit"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn update_changes_limits_live() {
    let d = Daemon::start();
    ok(d.pier(&[
        "run", "-d", "--name", "u", "-m", "32m", "busybox", "sleep", "60",
    ]));
    let id = inspect(&d, "u", "{{.Id}}");
    let host_file = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        format!("/sys/fs/cgroup/pier/{id}/memory.max")
    } else {
        format!("/sys/fs/cgroup/memory/pier/{id}/memory.limit_in_bytes")
    };
    assert_eq!(
        std::fs::read_to_string(&host_file).unwrap().trim(),
        "33554432"
    );
    assert_eq!(
        ok(d.pier(&["update", "--memory", "48m", "--pids-limit", "9", "u"])),
        "u"
    );
    assert_eq!(
        std::fs::read_to_string(&host_file).unwrap().trim(),
        "50331648"
    );
    assert_eq!(
        inspect(&d, "u", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}"),
        "50331648 9"
    );
    assert_eq!(
        ok(d.docker(&["update", "--memory", "100m", "--memory-swap", "300m", "u"])),
        "u"
    );
    assert_eq!(
        std::fs::read_to_string(&host_file).unwrap().trim(),
        "104857600"
    );
    // docker's rule: a memory limit above the current memory+swap needs --memory-swap too
    let out = d.docker(&["update", "--memory", "400m", "u"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Memory limit should be smaller than already set memoryswap limit")
    );
    // a stopped container: only the config changes, and the next start uses it
    ok(d.pier(&["rm", "-f", "u"]));
    ok(d.pier(&[
        "create",
        "--name",
        "s",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]));
    ok(d.pier(&["update", "--pids-limit", "12", "s"]));
    assert_eq!(ok(d.pier(&["start", "-a", "s"])), "12");
}

#[test]
fn memory_knobs_blkio_and_oom_kill_disable() {
    let d = Daemon::start();
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        // cgroup v2: memory.low and memory.swap.max carry these
        let out = ok(d.docker(&[
            "run",
            "--rm",
            "-m",
            "32m",
            "--memory-swap",
            "96m",
            "--memory-reservation",
            "16m",
            "busybox",
            "cat",
            "/sys/fs/cgroup/memory.low",
            "/sys/fs/cgroup/memory.swap.max",
        ]));
        assert_eq!(out, "16777216\n67108864");
        return;
    }
    let out = ok(d.docker(&[
        "run", "--rm", "-m", "32m", "--memory-swap", "96m", "--memory-reservation", "16m",
        "--oom-kill-disable", "--blkio-weight", "300", "busybox", "sh", "-c",
        "head -1 /sys/fs/cgroup/memory/memory.oom_control; \
         cat /sys/fs/cgroup/memory/memory.soft_limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes; \
         cat /sys/fs/cgroup/blkio/blkio.weight 2>/dev/null || cat /sys/fs/cgroup/blkio/blkio.bfq.weight",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "oom_kill_disable 1", "{out}");
    assert_eq!(lines[1], "16777216");
    assert_eq!(lines[2], "100663296");
    assert!(lines[3].ends_with("300"), "{out}");
    let out = d.docker(&[
        "run",
        "--rm",
        "-m",
        "32m",
        "--memory-reservation",
        "64m",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("Minimum memory limit can not be less than memory reservation limit"),
        "{}",
        stderr(&out)
    );
}
