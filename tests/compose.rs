//! `pier compose` end to end: projects from tests/fixtures/compose run
//! against each test's own pierd, checked the way a user would (exec into
//! services, talk HTTP to replicas, inspect labels and leftovers).

mod common;

use common::compose::{container_id, http_get, ComposeProject};
use common::{ok, stderr, stdout, Daemon};

fn ids(d: &Daemon, project: &str) -> Vec<(String, String)> {
    let out = ok(d.pier(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--format",
        "{{.Names}} {{.ID}}",
    ]));
    let mut v: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

fn exec(p: &ComposeProject, d: &Daemon, args: &[&str]) -> std::process::Output {
    let mut a = vec!["exec", "-T"];
    a.extend_from_slice(args);
    p.run(d, &a)
}

#[test]
fn web_and_db_on_separate_networks_with_volumes_secret_and_no_op_reruns() {
    let d = Daemon::start();
    let p = ComposeProject::fixture("webdb", "shop");
    let up = p.run(&d, &["up", "-d"]);
    assert!(up.status.success(), "up: {} {}", stdout(&up), stderr(&up));
    let progress = stderr(&up);
    assert!(
        progress.contains("Network shop_frontend  Created"),
        "{progress}"
    );
    assert!(
        progress.contains("Container shop-db-1  Started"),
        "{progress}"
    );

    // ps: docker compose's columns, one row per service container.
    let ps = ok(p.run(&d, &["ps"]));
    let header: Vec<&str> = ps.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
    );
    for name in ["shop-db-1", "shop-edge-1", "shop-web-1"] {
        assert!(
            ps.lines().any(|l| l.starts_with(name) && l.contains("Up")),
            "{ps}"
        );
    }
    assert_eq!(ok(p.run(&d, &["ps", "-q"])).lines().count(), 3);
    let json = ok(p.run(&d, &["ps", "--format", "json"]));
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["Project"], "shop");
    assert_eq!(
        ok(p.run(&d, &["ps", "--format", "{{.Service}}"])),
        "db\nedge\nweb"
    );

    // Labels docker compose puts on containers, networks and volumes.
    let labels: serde_json::Value = serde_json::from_str(&ok(d.pier(&[
        "inspect",
        "-f",
        "{{json .Config.Labels}}",
        "shop-web-1",
    ])))
    .unwrap();
    assert_eq!(labels["com.docker.compose.project"], "shop");
    assert_eq!(labels["com.docker.compose.service"], "web");
    assert_eq!(labels["com.docker.compose.container-number"], "1");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    assert_eq!(
        labels["com.docker.compose.depends_on"],
        "db:service_started:false"
    );
    assert_eq!(
        labels["com.docker.compose.config-hash"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    let nets = ok(d.pier(&[
        "network",
        "ls",
        "--filter",
        "label=com.docker.compose.project=shop",
        "--format",
        "{{.Name}}",
    ]));
    let mut nets: Vec<&str> = nets.lines().collect();
    nets.sort();
    assert_eq!(nets, ["shop_backend", "shop_frontend"]);
    let vols = ok(d.pier(&[
        "volume",
        "ls",
        "--filter",
        "label=com.docker.compose.project=shop",
        "--format",
        "{{.Name}}",
    ]));
    let mut vols: Vec<&str> = vols.lines().collect();
    vols.sort();
    assert_eq!(vols, ["shop_dbdata", "shop_webdata"]);

    // web reaches db by service name and by its alias; edge (frontend
    // only) cannot reach db.
    let set = ok(exec(
        &p,
        &d,
        &["web", "sh", "-c", "echo SET greeting hi | nc db 7000"],
    ));
    assert_eq!(set, "OK");
    let get = ok(exec(
        &p,
        &d,
        &["web", "sh", "-c", "echo GET greeting | nc kv 7000"],
    ));
    assert_eq!(get, "hi");
    let blocked = exec(
        &p,
        &d,
        &["edge", "sh", "-c", "echo GET greeting | nc -w 2 db 7000"],
    );
    assert!(
        !stdout(&blocked).contains("hi"),
        "edge reached db: {}",
        stdout(&blocked)
    );
    // edge and web share the frontend.
    let page = ok(exec(
        &p,
        &d,
        &[
            "edge",
            "sh",
            "-c",
            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc web 80",
        ],
    ));
    // .env interpolation reached the build arg.
    assert!(page.contains("hello-from-dotenv"), "{page}");
    assert_eq!(
        ok(exec(
            &p,
            &d,
            &["web", "sh", "-c", "echo $APP_VERSION $DB_HOST"]
        )),
        "1 db"
    );

    // The file secret is readable at /run/secrets and not in the env.
    assert_eq!(
        ok(exec(&p, &d, &["web", "cat", "/run/secrets/api_token"])),
        "s3cr3t-token-value"
    );
    let env = ok(d.pier(&["inspect", "-f", "{{json .Config.Env}}", "shop-web-1"]));
    assert!(!env.contains("s3cr3t"), "{env}");

    // up again with no change: nothing recreated.
    let before = ids(&d, "shop");
    let again = p.run(&d, &["up", "-d"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("Container shop-web-1  Running"),
        "{}",
        stderr(&again)
    );
    assert_eq!(ids(&d, "shop"), before);

    // A changed service is recreated alone.
    let changed = p.run_env(&d, &[("APP_VERSION", "2")], &["up", "-d"]);
    assert!(changed.status.success(), "{}", stderr(&changed));
    let after = ids(&d, "shop");
    for ((name, old), (name2, new)) in before.iter().zip(after.iter()) {
        assert_eq!(name, name2);
        if name == "shop-web-1" {
            assert_ne!(old, new, "web was not recreated");
        } else {
            assert_eq!(old, new, "{name} was recreated");
        }
    }
    assert_eq!(
        ok(exec(&p, &d, &["web", "sh", "-c", "echo $APP_VERSION"])),
        "2"
    );

    // down keeps named volumes: the data survives a new up.
    ok(p.run(&d, &["down"]));
    assert!(ids(&d, "shop").is_empty());
    ok(p.run(&d, &["up", "-d", "db", "web"]));
    let get = ok(exec(
        &p,
        &d,
        &["web", "sh", "-c", "echo GET greeting | nc db 7000"],
    ));
    assert_eq!(get, "hi");

    // down -v leaves no container, network or volume behind.
    ok(p.run(&d, &["down", "-v"]));
    assert!(ids(&d, "shop").is_empty());
    for kind in ["network", "volume"] {
        let left = ok(d.pier(&[
            kind,
            "ls",
            "-q",
            "--filter",
            "label=com.docker.compose.project=shop",
        ]));
        assert!(left.is_empty(), "{kind}s left: {left}");
    }
}

#[test]
fn config_run_and_logs() {
    let d = Daemon::start();
    let p = ComposeProject::fixture("webdb", "cfg");
    assert_eq!(ok(p.run(&d, &["config", "--services"])), "db\nedge\nweb");
    assert_eq!(ok(p.run(&d, &["config", "--volumes"])), "dbdata\nwebdata");
    let q = p.run(&d, &["config", "-q"]);
    assert!(q.status.success() && q.stdout.is_empty());
    let full = ok(p.run(&d, &["config"]));
    assert!(full.contains("hello-from-dotenv"), "{full}");

    // run --rm: output, exit status, and no one-off container left.
    let out = p.run(
        &d,
        &[
            "run",
            "--rm",
            "--no-deps",
            "-e",
            "X=42",
            "edge",
            "sh",
            "-c",
            "echo one-off $X; exit 4",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stdout(&out).contains("one-off 42"), "{}", stdout(&out));
    assert!(
        common::eventually(std::time::Duration::from_secs(5), || ids(&d, "cfg")
            .is_empty()),
        "{:?}",
        ids(&d, "cfg")
    );

    let a = ComposeProject::fixture("abort", "logs");
    ok(a.run(&d, &["up", "-d", "server"]));
    assert!(common::eventually(
        std::time::Duration::from_secs(5),
        || {
            stdout(&a.run(&d, &["logs", "--no-color", "server"])).contains("server-1  | server up")
        }
    ));
    ok(a.run(&d, &["down"]));
}

#[test]
fn scale_web_to_three_serves_distinct_hostnames() {
    let d = Daemon::start();
    let p = ComposeProject::fixture("scale", "sc");
    ok(p.run(&d, &["up", "-d", "--scale", "web=3"]));
    let names: Vec<String> = (1..=3).map(|i| format!("sc-web-{i}")).collect();
    let mut hosts = Vec::new();
    for n in &names {
        let ip = ok(d.pier(&[
            "inspect",
            "-f",
            "{{(index .NetworkSettings.Networks \"sc_default\").IPAddress}}",
            n,
        ]));
        let mut body = String::new();
        assert!(common::eventually(
            std::time::Duration::from_secs(5),
            || {
                body = http_get(&ip, 80).unwrap_or_default();
                !body.trim().is_empty()
            }
        ));
        hosts.push(body.trim().to_string());
    }
    hosts.sort();
    hosts.dedup();
    assert_eq!(hosts.len(), 3, "{hosts:?}");

    // Scaling down removes the highest numbers and keeps web-1.
    let web1 = container_id(&d, "sc-web-1");
    ok(p.run(&d, &["up", "-d", "--scale", "web=1"]));
    let left: Vec<String> = ids(&d, "sc").into_iter().map(|(n, _)| n).collect();
    assert_eq!(left, ["sc-web-1"]);
    assert_eq!(container_id(&d, "sc-web-1"), web1);
    ok(p.run(&d, &["down"]));
}

#[test]
fn abort_on_container_exit_returns_the_exit_code_from_the_service() {
    let d = Daemon::start();
    let p = ComposeProject::fixture("abort", "ab");
    let out = p.run(
        &d,
        &[
            "up",
            "--abort-on-container-exit",
            "--exit-code-from",
            "worker",
        ],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text} {}", stderr(&out));
    assert!(text.contains("worker-1  | work done"), "{text}");
    assert!(text.contains("worker-1 exited with code 3"), "{text}");
    assert!(text.contains("Aborting on container exit..."), "{text}");
    let state = ok(d.pier(&["inspect", "-f", "{{.State.Status}}", "ab-server-1"]));
    assert_eq!(state, "exited");
    ok(p.run(&d, &["down"]));
}

#[test]
fn depends_on_service_healthy_waits_and_reports_unhealthy() {
    let d = Daemon::start();
    let p = ComposeProject::fixture("health", "hc");
    let up = p.run(&d, &["up", "-d"]);
    assert!(up.status.success(), "{}", stderr(&up));
    assert!(
        stderr(&up).contains("Container hc-db-1  Healthy"),
        "{}",
        stderr(&up)
    );
    assert_eq!(
        ok(d.pier(&["inspect", "-f", "{{.State.Health.Status}}", "hc-db-1"])),
        "healthy"
    );
    assert_eq!(
        ok(d.pier(&["inspect", "-f", "{{.State.Status}}", "hc-app-1"])),
        "running"
    );
    let bad = p.run(&d, &["--profile", "broken", "up", "-d", "needs-broken"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("dependency failed to start: container hc-broken-1 is unhealthy"),
        "{}",
        stderr(&bad)
    );
    ok(p.run(&d, &["--profile", "broken", "down"]));
}

/// `logs --tail`, `-t` and `-f` on a service that keeps writing.
#[test]
fn logs_tail_timestamps_and_follow() {
    use std::io::{BufRead, BufReader};
    let d = Daemon::start();
    let p = ComposeProject::fixture("logs", "lg");
    ok(p.run(&d, &["up", "-d"]));
    assert!(common::eventually(
        std::time::Duration::from_secs(10),
        || stdout(&p.run(&d, &["logs", "--no-color"])).contains("tick 2")
    ));

    let tail = stdout(&p.run(&d, &["logs", "--no-color", "--tail", "1", "talker"]));
    let lines: Vec<&str> = tail.lines().collect();
    assert_eq!(lines.len(), 1, "{tail}");
    assert!(lines[0].starts_with("talker-1  | tick "), "{tail}");

    let all = stdout(&p.run(&d, &["logs", "--no-color", "talker"]));
    assert!(all.starts_with("talker-1  | line 1\n"), "{all}");

    let stamped = stdout(&p.run(&d, &["logs", "--no-color", "-t", "--tail", "2"]));
    for line in stamped.lines() {
        let rest = line.strip_prefix("talker-1  | ").unwrap_or_default();
        assert!(
            rest.starts_with("20") && rest.contains('T') && rest.contains(" tick "),
            "no timestamp: {line}"
        );
    }

    // -f keeps streaming: a tick written after the follow began arrives.
    let before: u64 = all
        .lines()
        .filter_map(|l| l.rsplit("tick ").next()?.trim().parse().ok())
        .max()
        .unwrap_or(0);
    let mut child = p
        .cmd(&d, &["logs", "-f", "--no-color", "--tail", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn compose logs -f");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let newer = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("logs -f printed nothing");
    let _ = child.kill();
    let _ = child.wait();
    let n: u64 = newer
        .rsplit("tick ")
        .next()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected line {newer}"));
    assert!(
        n > before,
        "followed line {newer} is not newer than tick {before}"
    );
    ok(p.run(&d, &["down"]));
}

/// Attached `up` streams the services' logs and, on Ctrl-C (SIGINT),
/// stops the project's containers before exiting, as docker compose does.
#[test]
fn attached_up_stops_the_project_on_ctrl_c() {
    use std::io::{BufRead, BufReader};
    let d = Daemon::start();
    let p = ComposeProject::fixture("logs", "cc");
    let mut child = p
        .cmd(&d, &["up", "--no-color"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn compose up");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("attached up printed no tick");
        if line.contains("talker-1  | tick") {
            break;
        }
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let stopped = common::eventually(std::time::Duration::from_secs(20), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    assert!(stopped, "compose up did not exit after Ctrl-C");
    let state = stdout(&d.pier(&["inspect", "-f", "{{.State.Status}}", "cc-talker-1"]));
    assert_eq!(state.trim(), "exited", "container left {state}");
    ok(p.run(&d, &["down"]));
}

/// `up --force-recreate`, `--no-recreate`, `--env-file` and `--build`.
#[test]
fn recreate_flags_env_file_and_build() {
    let d = Daemon::start();
    let p = ComposeProject::fixture("recreate", "rc");
    let id = |d: &Daemon| stdout(&d.pier(&["inspect", "-f", "{{.Id}}", "rc-app-1"]));
    let env_x = |d: &Daemon| {
        stdout(&d.pier(&["exec", "rc-app-1", "sh", "-c", "echo $X"]))
            .trim()
            .to_string()
    };
    let msg = |d: &Daemon| {
        stdout(&d.pier(&["exec", "rc-app-1", "cat", "/msg.txt"]))
            .trim()
            .to_string()
    };
    ok(p.run(&d, &["up", "-d"]));
    let first = id(&d);
    assert_eq!(env_x(&d), "1");
    assert_eq!(msg(&d), "first");

    ok(p.run(&d, &["up", "-d"]));
    assert_eq!(id(&d), first, "unchanged project recreated");
    ok(p.run(&d, &["up", "-d", "--force-recreate"]));
    let forced = id(&d);
    assert_ne!(forced, first, "--force-recreate kept the container");

    // A changed variable, but --no-recreate keeps the container.
    ok(p.run(&d, &["--env-file", "alt.env", "up", "-d", "--no-recreate"]));
    assert_eq!(id(&d), forced);
    assert_eq!(env_x(&d), "1");
    ok(p.run(&d, &["--env-file", "alt.env", "up", "-d"]));
    assert_ne!(id(&d), forced);
    assert_eq!(env_x(&d), "2", "--env-file value not applied");

    // A changed build input: plain up keeps the built image, --build rebuilds.
    p.write("msg.txt", "second\n");
    ok(p.run(&d, &["--env-file", "alt.env", "up", "-d"]));
    assert_eq!(msg(&d), "first");
    ok(p.run(&d, &["--env-file", "alt.env", "up", "-d", "--build"]));
    assert_eq!(msg(&d), "second", "--build did not rebuild");
    ok(p.run(&d, &["down", "--rmi", "all"]));
}

#[test]
fn compose_file_from_stdin() {
    let d = Daemon::start();
    let p = ComposeProject::empty("piped");
    let yaml = "services:\n  box:\n    image: busybox\n    command: [sleep, '60']\n    labels: [from=stdin]\n";
    let compose = |args: &[&str]| {
        let mut c = p.cmd(&d, &["-f", "-"]);
        c.args(args);
        common::output_with_stdin(&mut c, yaml.as_bytes())
    };
    assert_eq!(ok(compose(&["config", "--services"])), "box");
    let up = compose(&["up", "-d"]);
    assert!(up.status.success(), "{}", stderr(&up));
    let label = ok(d.pier(&[
        "inspect",
        "-f",
        "{{.Config.Labels.from}} {{.State.Running}}",
        "piped-box-1",
    ]));
    assert_eq!(label, "stdin true");
    let down = compose(&["down", "-t", "0"]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert!(ids(&d, "piped").is_empty(), "{:?}", ids(&d, "piped"));
}

#[test]
fn legacy_links_give_the_alias_in_etc_hosts() {
    let d = Daemon::start();
    let p = ComposeProject::empty("linked");
    p.write(
        "compose.yaml",
        "services:\n  db:\n    image: busybox\n    command: [sleep, '60']\n  web:\n    image: busybox\n    command: [sleep, '60']\n    links: ['db:database']\n",
    );
    let up = p.run(&d, &["up", "-d"]);
    assert!(up.status.success(), "{}", stderr(&up));
    let hosts = ok(d.pier(&["exec", "linked-web-1", "cat", "/etc/hosts"]));
    let db_ip = ok(d.pier(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        "linked-db-1",
    ]));
    // The alias, `service-N` and `project-service-N`, as compose links them.
    for alias in ["database", "db-1", "linked-db-1"] {
        assert!(
            hosts.lines().any(|l| {
                let mut w = l.split_whitespace();
                w.next() == Some(db_ip.as_str()) && w.any(|n| n == alias)
            }),
            "{alias} -> {db_ip}: {hosts}"
        );
    }
    let ping = d.pier(&["exec", "linked-web-1", "ping", "-c1", "-W2", "database"]);
    assert!(ping.status.success(), "{}", stdout(&ping));
    assert!(p.run(&d, &["down", "-t", "0"]).status.success());
}
