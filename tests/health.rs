//! Healthchecks: `--health-*` flags and the image's HEALTHCHECK, probes
//! run as execs by pierd, `State.Health` in inspect, ps' status and
//! `health=` filter, `health_status` events, and survival of a pierd
//! kill -9. Through `pier` and the real docker CLI.
mod common;
use common::*;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn health(d: &Daemon, name: &str) -> Value {
    let o = ok(d.docker(&["inspect", "--format", "{{json .State.Health}}", name]));
    serde_json::from_str(&o).unwrap_or(Value::Null)
}

fn status(d: &Daemon, name: &str) -> String {
    health(d, name)["Status"].as_str().unwrap_or("").to_string()
}

#[track_caller]
fn wait_status(d: &Daemon, name: &str, want: &str) -> Value {
    assert!(
        eventually(WAIT, || status(d, name) == want),
        "{name} never became {want}: {}",
        health(d, name)
    );
    health(d, name)
}

fn ps_status(d: &Daemon, name: &str) -> String {
    ok(d.docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("name=^{name}$"),
        "--format",
        "{{.Status}}",
    ]))
}

fn ps_names(d: &Daemon, filter: &str) -> Vec<String> {
    let mut v: Vec<String> = ok(d.docker(&["ps", "--filter", filter, "--format", "{{.Names}}"]))
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn passing_probe_becomes_healthy_in_inspect_ps_and_filters() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "good",
        "--health-cmd",
        "echo ok",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "300",
    ]));
    // A long interval keeps this one starting for the whole test.
    ok(d.pier(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "true",
        "--health-interval",
        "1h",
        "busybox",
        "sleep",
        "300",
    ]));
    ok(d.docker(&["run", "-d", "--name", "plain", "busybox", "sleep", "300"]));

    let h = wait_status(&d, "good", "healthy");
    assert_eq!(h["FailingStreak"], 0);
    let log = h["Log"].as_array().unwrap();
    assert!(!log.is_empty());
    assert_eq!(log[0]["ExitCode"], 0);
    assert_eq!(log[0]["Output"], "ok\n");
    assert!(log[0]["Start"].as_str().unwrap() <= log[0]["End"].as_str().unwrap());
    // Only the last five results are kept.
    assert!(eventually(WAIT, || health(&d, "good")["Log"]
        .as_array()
        .is_some_and(|l| l.len() == 5)));
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(health(&d, "good")["Log"].as_array().unwrap().len(), 5);

    let cfg = ok(d.docker(&[
        "inspect",
        "--format",
        "{{json .Config.Healthcheck}}",
        "good",
    ]));
    let cfg: Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(cfg["Test"], serde_json::json!(["CMD-SHELL", "echo ok"]));
    assert_eq!(cfg["Interval"], 200_000_000);
    assert!(cfg.get("Timeout").is_none(), "{cfg}");

    assert!(
        ps_status(&d, "good").ends_with("(healthy)"),
        "{}",
        ps_status(&d, "good")
    );
    let slow = ok(d.pier(&["ps", "--filter", "name=slow", "--format", "{{.Status}}"]));
    assert!(
        slow.starts_with("Up ") && slow.ends_with("(health: starting)"),
        "{slow}"
    );
    assert_eq!(
        ok(d.pier(&["inspect", "--format", "{{.State.Health.Status}}", "slow"])),
        "starting"
    );
    let plain = ps_status(&d, "plain");
    assert!(!plain.contains('('), "{plain}");
    assert_eq!(
        ok(d.docker(&["inspect", "--format", "{{json .State.Health}}", "plain"])),
        "null"
    );

    assert_eq!(ps_names(&d, "health=healthy"), ["good"]);
    assert_eq!(ps_names(&d, "health=starting"), ["slow"]);
    assert_eq!(ps_names(&d, "health=none"), ["plain"]);
    assert!(ps_names(&d, "health=unhealthy").is_empty());
    let names = ok(d.pier(&["ps", "--filter", "health=healthy", "--format", "{{.Names}}"]));
    assert_eq!(names, "good");
    let o = d.docker(&["ps", "--filter", "health=sick"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("invalid filter 'health=sick'"),
        "{}",
        stderr(&o)
    );

    // Paused: no probes run.
    ok(d.docker(&["pause", "good"]));
    assert!(ps_status(&d, "good").ends_with("(Paused)"));
    let before = health(&d, "good")["Log"][4]["Start"].clone();
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(health(&d, "good")["Log"][4]["Start"], before);
    ok(d.docker(&["unpause", "good"]));
    assert!(eventually(WAIT, || health(&d, "good")["Log"][4]["Start"] != before));

    // Stopped: probes stop, the last health stays visible.
    ok(d.docker(&["stop", "-t", "1", "good"]));
    let after_stop = health(&d, "good");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(health(&d, "good")["Log"], after_stop["Log"]);
    assert!(ps_status(&d, "good").starts_with("Exited"));
    // Started again: starting, then healthy again.
    ok(d.docker(&["start", "good"]));
    wait_status(&d, "good", "healthy");
}

#[test]
fn failing_probe_becomes_unhealthy_with_events() {
    let d = Daemon::start();
    let since = now();
    let mut events = d.docker_cmd();
    events
        .args([
            "events",
            "--filter",
            "event=health_status",
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped());
    let mut child = events.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));

    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "bad",
        "--health-cmd",
        "echo broken >&2; exit 1",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "300",
    ]));
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "fine",
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "300",
    ]));
    let h = wait_status(&d, "bad", "unhealthy");
    assert!(h["FailingStreak"].as_i64().unwrap() >= 2, "{h}");
    assert_eq!(h["Log"][0]["ExitCode"], 1);
    assert_eq!(h["Log"][0]["Output"], "broken\n");
    assert!(ps_status(&d, "bad").ends_with("(unhealthy)"));
    wait_status(&d, "fine", "healthy");
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    // Only changes are announced: once each.
    assert_eq!(
        lines
            .iter()
            .filter(|l| **l == "container health_status: unhealthy bad")
            .count(),
        1,
        "{text}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| **l == "container health_status: healthy fine")
            .count(),
        1,
        "{text}"
    );
    assert!(lines.iter().all(|l| l.contains("health_status")), "{text}");

    // The probes show up as dockerd's exec events.
    let until = now();
    let o = ok(d.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=fine",
        "--format",
        "{{.Action}}|{{.Actor.Attributes.execID}}|{{.Actor.Attributes.exitCode}}",
    ]));
    let create = o
        .lines()
        .find(|l| l.starts_with("exec_create: "))
        .unwrap_or_else(|| panic!("{o}"));
    assert!(
        create.starts_with("exec_create: /bin/sh -c true|"),
        "{create}"
    );
    let exec_id = create.split('|').nth(1).unwrap();
    assert_eq!(exec_id.len(), 64);
    assert!(
        o.lines()
            .any(|l| l == format!("exec_start: /bin/sh -c true|{exec_id}|<no value>")),
        "{o}"
    );
    assert!(
        o.lines().any(|l| l == format!("exec_die|{exec_id}|0")),
        "{o}"
    );
}

#[test]
fn probes_that_cannot_run_fail_like_dockerd() {
    let d = Daemon::start();
    for (name, test) in [
        ("missing", r#"["CMD","/no/such/probe"]"#),
        ("empty", r#"["CMD"]"#),
    ] {
        let body = format!(
            r#"{{"Image":"busybox","Cmd":["sleep","300"],"Healthcheck":{{"Test":{test},"Interval":200000000,"Retries":1}}}}"#
        );
        let r = d
            .raw_request(
                "POST",
                &format!("/containers/create?name={name}"),
                Some(body.as_bytes()),
            )
            .unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        ok(d.docker(&["start", name]));
    }
    let h = wait_status(&d, "missing", "unhealthy");
    assert_eq!(h["Log"][0]["ExitCode"], -1);
    let out = h["Log"][0]["Output"].as_str().unwrap();
    assert!(
        out.starts_with(
            "OCI runtime exec failed: exec failed: unable to start container process: "
        ) && out.contains("/no/such/probe"),
        "{out}"
    );
    let h = wait_status(&d, "empty", "unhealthy");
    let id = ok(d.docker(&["inspect", "--format", "{{.Id}}", "empty"]));
    assert_eq!(
        h["Log"][0]["Output"],
        format!("healthcheck for container {id} has no command")
    );
}

#[test]
fn probe_beyond_timeout_is_killed_and_fails() {
    let d = Daemon::start();
    ok(d.pier(&[
        "run",
        "-d",
        "--name",
        "stuck",
        "--health-cmd",
        "echo waiting; sleep 30",
        "--health-timeout",
        "300ms",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    ]));
    let h = wait_status(&d, "stuck", "unhealthy");
    let first = &h["Log"][0];
    assert_eq!(first["ExitCode"], -1, "{h}");
    assert_eq!(
        first["Output"],
        "Health check exceeded timeout (300ms): waiting\n"
    );
    // Killed probes do not pile up: at most the one in flight is there.
    std::thread::sleep(Duration::from_millis(1000));
    let ps = ok(d.docker(&["top", "stuck"]));
    let probes = ps.lines().filter(|l| l.contains("-c echo waiting")).count();
    assert!(probes <= 1, "probes pile up: {ps}");
}

#[test]
fn start_period_hides_failures_until_it_ends() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "warm",
        "--health-cmd",
        "exit 1",
        "--health-retries",
        "1",
        "--health-interval",
        "5s",
        "--health-start-period",
        "3s",
        "--health-start-interval",
        "200ms",
        "busybox",
        "sleep",
        "300",
    ]));
    // Failures inside the start period are logged but not counted; the
    // start interval (not the 10s interval) paces them.
    assert!(eventually(WAIT, || health(&d, "warm")["Log"]
        .as_array()
        .is_some_and(|l| l.len() >= 3)));
    let h = health(&d, "warm");
    assert_eq!(h["Status"], "starting", "{h}");
    assert_eq!(h["FailingStreak"], 0);
    assert_eq!(h["Log"][0]["ExitCode"], 1);
    // Past the start period the next probe counts.
    let h = wait_status(&d, "warm", "unhealthy");
    assert_eq!(h["FailingStreak"], 1);

    // A success ends the start period: later failures count at once.
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "flip",
        "--health-cmd",
        "if [ -e /tmp/broken ]; then exit 1; fi",
        "--health-retries",
        "1",
        "--health-interval",
        "200ms",
        "--health-start-period",
        "1h",
        "--health-start-interval",
        "200ms",
        "busybox",
        "sleep",
        "300",
    ]));
    wait_status(&d, "flip", "healthy");
    ok(d.docker(&["exec", "flip", "touch", "/tmp/broken"]));
    wait_status(&d, "flip", "unhealthy");
}

#[test]
fn image_healthcheck_applies_and_no_healthcheck_disables_it() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nHEALTHCHECK --interval=200ms --timeout=2s --retries=2 CMD [\"sh\", \"-c\", \"echo from-image\"]\n",
    )
    .unwrap();
    ok(d.docker(&["build", "-q", "-t", "hc", ctx.path().to_str().unwrap()]));
    let img = ok(d.docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Healthcheck}}",
        "hc",
    ]));
    let img: Value = serde_json::from_str(&img).unwrap();
    assert_eq!(
        img["Test"],
        serde_json::json!(["CMD", "sh", "-c", "echo from-image"])
    );
    assert_eq!(img["Interval"], 200_000_000);
    assert_eq!(img["Retries"], 2);

    ok(d.docker(&["run", "-d", "--name", "fromimg", "hc", "sleep", "300"]));
    let h = wait_status(&d, "fromimg", "healthy");
    assert_eq!(h["Log"][0]["Output"], "from-image\n");

    // A field given on the command line overrides only that field.
    ok(d.pier(&[
        "run",
        "-d",
        "--name",
        "merged",
        "--health-retries",
        "7",
        "hc",
        "sleep",
        "300",
    ]));
    let cfg = ok(d.docker(&[
        "inspect",
        "--format",
        "{{json .Config.Healthcheck}}",
        "merged",
    ]));
    let cfg: Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(cfg["Test"], img["Test"]);
    assert_eq!(cfg["Retries"], 7);
    assert_eq!(cfg["Interval"], 200_000_000);
    wait_status(&d, "merged", "healthy");

    for cli in ["docker", "pier"] {
        let name = format!("off-{cli}");
        let args = [
            "run",
            "-d",
            "--name",
            &name,
            "--no-healthcheck",
            "hc",
            "sleep",
            "300",
        ];
        if cli == "docker" {
            ok(d.docker(&args));
        } else {
            ok(d.pier(&args));
        }
        let cfg = ok(d.docker(&["inspect", "--format", "{{json .Config.Healthcheck}}", &name]));
        // dockerd fills the other fields from the image; NONE wins.
        let cfg: Value = serde_json::from_str(&cfg).unwrap();
        assert_eq!(cfg["Test"], serde_json::json!(["NONE"]));
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(health(&d, &name), Value::Null);
        assert!(!ps_status(&d, &name).contains('('));
    }
    assert_eq!(ps_names(&d, "health=none"), ["off-docker", "off-pier"]);
}

#[test]
fn flag_and_api_errors_match_docker() {
    let d = Daemon::start();
    for o in [
        d.docker(&[
            "run",
            "--no-healthcheck",
            "--health-cmd",
            "true",
            "busybox",
            "true",
        ]),
        d.pier(&[
            "run",
            "--no-healthcheck",
            "--health-cmd",
            "true",
            "busybox",
            "true",
        ]),
    ] {
        assert_eq!(o.status.code(), Some(125), "{o:?}");
        assert!(
            stderr(&o).contains("--no-healthcheck conflicts with --health-* options"),
            "{}",
            stderr(&o)
        );
    }
    for o in [
        d.docker(&["create", "--health-retries", "-1", "busybox", "true"]),
        d.pier(&["create", "--health-retries", "-1", "busybox", "true"]),
    ] {
        assert_eq!(o.status.code(), Some(125), "{o:?}");
        assert!(
            stderr(&o).contains("--health-retries cannot be negative"),
            "{}",
            stderr(&o)
        );
    }
    // Zero values do not count as health flags (docker's rule).
    ok(d.docker(&[
        "create",
        "--no-healthcheck",
        "--health-retries",
        "0",
        "busybox",
        "true",
    ]));
    ok(d.pier(&[
        "create",
        "--no-healthcheck",
        "--health-interval",
        "0s",
        "busybox",
        "true",
    ]));
    let body = br#"{"Image":"busybox","Cmd":["true"],"Healthcheck":{"Test":["CMD","true"],"Interval":10}}"#;
    let r = d
        .raw_request("POST", "/containers/create", Some(body))
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "Interval in Healthcheck cannot be less than 1ms"
    );
}

#[test]
fn health_survives_pierd_kill_and_probes_continue() {
    let mut d = Daemon::start();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "durable",
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "300",
    ]));
    wait_status(&d, "durable", "healthy");
    std::thread::sleep(Duration::from_millis(500));
    d.kill9();
    d.restart();
    // The persisted results are there at once.
    let h = health(&d, "durable");
    let log = h["Log"].as_array().cloned().unwrap_or_default();
    assert!(!log.is_empty(), "{h}");
    let last_before = log.last().unwrap()["Start"].as_str().unwrap().to_string();
    // Probing resumes: healthy again, with results newer than the
    // persisted ones (same RFC 3339 nanosecond format: text order is
    // time order).
    assert!(
        eventually(WAIT, || {
            let h = health(&d, "durable");
            h["Status"] == "healthy"
                && h["Log"].as_array().is_some_and(|l| {
                    l.iter().any(|r| {
                        r["Start"]
                            .as_str()
                            .is_some_and(|s| s > last_before.as_str())
                    })
                })
        }),
        "{}",
        health(&d, "durable")
    );
    assert!(ps_status(&d, "durable").ends_with("(healthy)"));
    assert_eq!(ps_names(&d, "health=healthy"), ["durable"]);
}

fn now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}
