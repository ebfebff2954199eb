//! `top`, `stats`, `pause`/`unpause`, `events`, and the prune commands.
mod common;
use common::*;
use std::time::Duration;

fn init_pid(d: &Daemon, name: &str) -> i32 {
    ok(d.docker(&["inspect", "--format", "{{.State.Pid}}", name]))
        .parse()
        .unwrap()
}

#[test]
fn top_stats_pause() {
    let d = Daemon::start();
    ok(d.docker(&["run", "-d", "--name", "t1", "busybox", "sleep", "600"]));
    // top: docker's table with the sleep process
    let top = ok(d.docker(&["top", "t1"]));
    let mut lines = top.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("UID") && header.contains("PID") && header.ends_with("CMD"),
        "{top}"
    );
    let pid = init_pid(&d, "t1");
    let row = lines.next().unwrap();
    assert!(
        row.contains(&pid.to_string()) && row.ends_with("sleep 600"),
        "{top}"
    );
    let top = ok(d.docker(&["top", "t1", "-o", "pid,comm"]));
    assert!(
        top.lines().any(
            |l| l.split_whitespace().collect::<Vec<_>>() == [pid.to_string().as_str(), "sleep"]
        ),
        "{top}"
    );
    // stats: a memory usage and the pid count
    ok(d.docker(&["exec", "-d", "t1", "sleep", "300"]));
    let s = ok(d.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.MemUsage}} {{.PIDs}} {{.CPUPerc}}",
        "t1",
    ]));
    let f: Vec<&str> = s.split_whitespace().collect();
    assert_eq!(f[0], "t1", "{s}");
    assert!(
        f[1].ends_with("B") && !f[1].starts_with("0B"),
        "memory usage: {s}"
    );
    assert_eq!(f[f.len() - 2], "2", "pids: {s}");
    assert!(f[f.len() - 1].ends_with('%'), "{s}");
    let raw = d
        .raw_request("GET", "/v1.51/containers/t1/stats?stream=false", None)
        .unwrap();
    let v = raw.json();
    assert!(v["memory_stats"]["usage"].as_u64().unwrap() > 0, "{v}");
    assert!(v["memory_stats"]["limit"].as_u64().unwrap() > 0);
    assert!(v["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() > 0);
    assert!(v["precpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0);
    assert_eq!(v["pids_stats"]["current"], 2);
    assert_eq!(v["name"], "/t1");
    // pause: ps says Paused, the processes are frozen
    ok(d.pier(&["pause", "t1"]));
    let ps = ok(d.docker(&["ps", "--format", "{{.Status}}", "--filter", "name=t1"]));
    assert!(ps.ends_with("(Paused)"), "{ps}");
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.Paused}}",
            "t1"
        ])),
        "paused true"
    );
    let frozen = |pid: i32| {
        let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        st.lines().any(|l| {
            l.starts_with("State:") && (l.contains("D (disk sleep)") || l.contains("T (stopped)"))
        }) || std::fs::read_to_string(format!("/proc/{pid}/wchan")).is_ok_and(|w| {
            w.contains("freezer") || w.contains("refrigerator") || w == "do_freezer_trap"
        })
    };
    assert!(
        eventually(Duration::from_secs(5), || frozen(pid)),
        "not frozen"
    );
    let o = d.docker(&["pause", "t1"]);
    assert!(stderr(&o).contains("is already paused"), "{o:?}");
    let o = d.docker(&["exec", "t1", "true"]);
    assert!(
        stderr(&o).contains("is paused, unpause the container before exec"),
        "{o:?}"
    );
    ok(d.docker(&["unpause", "t1"]));
    assert!(
        eventually(Duration::from_secs(5), || !frozen(pid)),
        "still frozen"
    );
    let o = d.docker(&["unpause", "t1"]);
    assert!(stderr(&o).contains("is not paused"), "{o:?}");
    assert_eq!(ok(d.docker(&["exec", "t1", "echo", "alive"])), "alive");
    // a paused container can still be stopped
    ok(d.docker(&["pause", "t1"]));
    ok(d.docker(&["stop", "-t", "1", "t1"]));
    assert_eq!(
        ok(d.docker(&["inspect", "--format", "{{.State.Status}}", "t1"])),
        "exited"
    );
    let o = d.docker(&["top", "t1"]);
    assert!(stderr(&o).contains("is not running"), "{o:?}");
    ok(d.docker(&["rm", "t1"]));
}

#[test]
fn events_stream_with_filters() {
    let d = Daemon::start();
    let since = chrono_now();
    // a live stream, filtered to one container's lifecycle
    let mut cmd = d.docker_cmd();
    cmd.args([
        "events",
        "--filter",
        "container=ev1",
        "--filter",
        "type=container",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        d.docker(&["run", "--name", "ev1", "busybox", "sh", "-c", "exit 3"])
            .status
            .code(),
        Some(3)
    );
    ok(d.docker(&["run", "--rm", "--name", "ev2", "busybox", "true"]));
    ok(d.docker(&["rm", "ev1"]));
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let actions: Vec<&str> = text.lines().collect();
    let pos = |a: &str| {
        actions
            .iter()
            .position(|l| *l == a)
            .unwrap_or_else(|| panic!("{a} missing in {text}"))
    };
    assert!(pos("create ev1") < pos("start ev1"));
    assert!(pos("start ev1") < pos("die ev1"));
    assert!(pos("die ev1") < pos("destroy ev1"));
    assert!(!text.contains("ev2"), "filtered out: {text}");
    // since/until replay, JSON with docker's fields, exitCode attribute
    let until = chrono_now();
    let o = ok(d.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=die",
        "--format",
        "{{json .}}",
    ]));
    let first: serde_json::Value = serde_json::from_str(o.lines().next().unwrap()).unwrap();
    assert_eq!(first["Type"], "container");
    assert_eq!(first["Action"], "die");
    assert_eq!(first["Actor"]["Attributes"]["exitCode"], "3");
    assert_eq!(first["status"], "die");
    assert!(first["timeNano"].as_i64().unwrap() > 0);
    assert_eq!(o.lines().count(), 2, "{o}");
    // pier events reads the same stream
    let o = ok(d.pier(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=ev2",
        "--format",
        "{{.Action}}",
    ]));
    assert_eq!(
        o.lines().collect::<Vec<_>>(),
        ["create", "start", "die", "destroy"]
    );
}

fn chrono_now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

#[test]
fn prune_removes_only_what_it_should() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "keep-running",
        "busybox",
        "sleep",
        "600",
    ]));
    ok(d.docker(&["run", "--name", "stopped1", "busybox", "true"]));
    ok(d.docker(&[
        "create", "--name", "created1", "--label", "keep=yes", "busybox", "true",
    ]));
    // label filter: only the unlabelled stopped one goes
    let out = ok(d.docker(&["container", "prune", "-f", "--filter", "label!=keep=yes"]));
    assert!(out.contains("Deleted Containers:"), "{out}");
    let names = ok(d.docker(&["ps", "-a", "--format", "{{.Names}}"]));
    assert!(
        !names.contains("stopped1") && names.contains("created1") && names.contains("keep-running"),
        "{names}"
    );
    // until in the past removes nothing
    ok(d.docker(&[
        "container",
        "prune",
        "-f",
        "--filter",
        "until=2000-01-01T00:00:00Z",
    ]));
    assert!(ok(d.docker(&["ps", "-a", "--format", "{{.Names}}"])).contains("created1"));
    ok(d.docker(&["container", "prune", "-f"]));
    assert_eq!(
        ok(d.docker(&["ps", "-a", "--format", "{{.Names}}"])),
        "keep-running"
    );
    // image prune: a dangling image goes, a tagged one stays without -a,
    // an image in use stays even with -a
    ok(d.docker(&["tag", "busybox", "extra:tag"]));
    ok(d.docker(&["run", "--name", "c2", "busybox", "sh", "-c", "echo x > /x"]));
    let dangling = ok(d.docker(&["commit", "c2"]));
    ok(d.docker(&["rm", "c2"]));
    let out = ok(d.docker(&["image", "prune", "-f"]));
    assert!(out.contains(&format!("deleted: {dangling}")), "{out}");
    let imgs = ok(d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert!(
        imgs.contains("extra:tag") && imgs.contains("busybox:latest"),
        "{imgs}"
    );
    ok(d.docker(&["image", "prune", "-a", "-f"]));
    // busybox is used by keep-running (same image as extra:tag)
    let imgs = ok(d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert!(imgs.contains("busybox:latest"), "{imgs}");
    // system prune -a: stopped containers and unused images, not running ones
    ok(d.docker(&["run", "--name", "stopped2", "busybox", "true"]));
    let out = ok(d.docker(&["system", "prune", "-a", "-f", "--volumes"]));
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(
        ok(d.docker(&["ps", "-a", "--format", "{{.Names}}"])),
        "keep-running"
    );
    let df = ok(d.docker(&["system", "df"]));
    assert!(df.starts_with("TYPE"), "{df}");
    let df = ok(d.docker(&["system", "df", "-v"]));
    assert!(df.contains("keep-running"), "{df}");
    ok(d.docker(&["rm", "-f", "keep-running"]));
}
