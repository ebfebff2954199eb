//! `pier compose` verbs beyond up/down: the lifecycle verbs on one
//! project, the read-only listings in docker compose's layout, and the
//! one-off verbs with their flags.

mod common;

use std::time::Duration;

use common::compose::ComposeProject;
use common::registry::free_port;
use common::{eventually, ok, stderr, stdout, Daemon};

fn state(d: &Daemon, name: &str) -> String {
    ok(d.pier(&["inspect", "-f", "{{.State.Status}}", name]))
}

fn exists(d: &Daemon, name: &str) -> bool {
    d.pier(&["inspect", "-f", "{{.Id}}", name]).status.success()
}

fn project_volumes(d: &Daemon) -> usize {
    ok(d.pier(&["volume", "ls", "-q"])).lines().count()
}

#[test]
fn lifecycle_and_listing_verbs_on_one_project() {
    let d = Daemon::start();
    let p = ComposeProject::fixture("verbs", "vb");
    let port = free_port().to_string();
    let env = [("WEB_PORT", port.as_str())];
    let run = |args: &[&str]| p.run_env(&d, &env, args);

    // create makes the containers without starting them; start starts them.
    let created = run(&["create"]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(stderr(&created).contains("Container vb-web-1  Created"));
    assert_eq!(state(&d, "vb-web-1"), "created");
    assert_eq!(state(&d, "vb-sig-1"), "created");
    let started = run(&["start"]);
    assert!(started.status.success(), "{}", stderr(&started));
    assert!(stderr(&started).contains("Container vb-sig-1  Started"));
    assert_eq!(state(&d, "vb-web-1"), "running");
    assert_eq!(state(&d, "vb-sig-1"), "running");

    // ps --format json: docker compose v2's fields, one object a line.
    let json = ok(run(&["ps", "--format", "json"]));
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("ps json line"))
        .collect();
    assert_eq!(rows.len(), 2, "{json}");
    let web = rows
        .iter()
        .find(|r| r["Service"] == "web")
        .expect("web row");
    for key in [
        "ID",
        "Name",
        "Image",
        "Command",
        "Project",
        "Service",
        "Created",
        "State",
        "Status",
        "Health",
        "ExitCode",
        "Publishers",
    ] {
        assert!(web.get(key).is_some(), "{key} missing: {web}");
    }
    assert_eq!(web["Name"], "vb-web-1");
    // As compose's ps: short ID, quoted command, mount names.
    assert_eq!(web["ID"].as_str().unwrap().len(), 12, "{web}");
    assert_eq!(web["Command"], "\"httpd -f -p 80\"");
    assert_eq!(web["LocalVolumes"], "1", "{web}");
    assert!(!web["Mounts"].as_str().unwrap().is_empty(), "{web}");
    assert_eq!(web["State"], "running");
    assert_eq!(web["ExitCode"], 0);
    let publishers = web["Publishers"].as_array().expect("Publishers");
    assert!(
        publishers.iter().any(|x| x["TargetPort"] == 80
            && x["PublishedPort"].as_u64() == port.parse().ok()
            && x["Protocol"] == "tcp"),
        "{web}"
    );

    // port, top, images.
    assert_eq!(ok(run(&["port", "web", "80"])), format!("127.0.0.1:{port}"));
    let top = ok(run(&["top"]));
    assert!(top.contains("vb-web-1") && top.contains("httpd"), "{top}");
    assert!(top.contains("vb-sig-1") && top.contains("sleep"), "{top}");
    let images = ok(run(&["images"]));
    let header: Vec<&str> = images.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["CONTAINER", "REPOSITORY", "TAG", "IMAGE", "ID", "SIZE"]
    );
    assert!(
        images
            .lines()
            .any(|l| l.starts_with("vb-web-1") && l.contains("busybox")),
        "{images}"
    );
    let images_json: serde_json::Value =
        serde_json::from_str(&ok(run(&["images", "--format", "json"]))).expect("images json");
    let web = images_json
        .as_array()
        .and_then(|a| a.iter().find(|i| i["ContainerName"] == "vb-web-1"))
        .unwrap_or_else(|| panic!("no vb-web-1 in {images_json}"));
    assert_eq!(web["Repository"], "busybox", "{web}");
    assert!(
        web["ID"]
            .as_str()
            .is_some_and(|id| id.starts_with("sha256:")),
        "{web}"
    );
    assert!(web["Size"].as_i64().is_some_and(|s| s > 0), "{web}");

    // ls: compose's columns and status counts; -q; --format json.
    let other = ComposeProject::fixture("verbs", "vbother");
    ok(other.run_env(
        &d,
        &[("WEB_PORT", &free_port().to_string())],
        &["create", "sig"],
    ));
    let ls = ok(p.run(&d, &["ls"]));
    let mut lines = ls.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "STATUS", "CONFIG", "FILES"]);
    let compose_file = p.path().join("compose.yaml");
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        row,
        ["vb", "running(2)", compose_file.to_str().unwrap()],
        "{ls}"
    );
    assert!(
        lines.next().is_none(),
        "created-only projects need -a: {ls}"
    );
    assert_eq!(ok(p.run(&d, &["ls", "-q"])), "vb");
    assert_eq!(ok(p.run(&d, &["ls", "-a", "-q"])), "vb\nvbother");
    let all = ok(p.run(&d, &["ls", "-a"]));
    assert!(all.contains("created(1)"), "{all}");
    let ls_json = ok(p.run(&d, &["ls", "--format", "json"]));
    assert_eq!(
        ls_json,
        format!(
            "[{{\"Name\":\"vb\",\"Status\":\"running(2)\",\"ConfigFiles\":{}}}]",
            serde_json::Value::from(compose_file.to_str().unwrap())
        )
    );
    ok(other.run(&d, &["down"]));

    // pause / unpause.
    ok(run(&["pause", "web"]));
    assert_eq!(state(&d, "vb-web-1"), "paused");
    assert_eq!(state(&d, "vb-sig-1"), "running");
    ok(run(&["unpause", "web"]));
    assert_eq!(state(&d, "vb-web-1"), "running");

    // ls without -a counts running containers only.
    ok(run(&["stop", "sig"]));
    assert!(ok(p.run(&d, &["ls"])).contains("running(1)"));
    assert!(ok(p.run(&d, &["ls", "-a"])).contains("exited(1), running(1)"));

    // stop, then ls -a shows the exited project; restart runs it again.
    let stopped = run(&["stop"]);
    assert!(stopped.status.success(), "{}", stderr(&stopped));
    assert!(
        stderr(&stopped).contains("Container vb-web-1  Stopped"),
        "{}",
        stderr(&stopped)
    );
    assert_eq!(state(&d, "vb-web-1"), "exited");
    assert_eq!(state(&d, "vb-sig-1"), "exited");
    assert_eq!(ok(p.run(&d, &["ls", "-q"])), "");
    assert!(ok(p.run(&d, &["ls", "-a"])).contains("exited(2)"));
    let web_id = ok(d.pier(&["inspect", "-f", "{{.Id}}", "vb-web-1"]));
    let restarted = run(&["restart"]);
    assert!(restarted.status.success(), "{}", stderr(&restarted));
    assert!(
        stderr(&restarted).contains("Container vb-web-1  Started"),
        "{}",
        stderr(&restarted)
    );
    assert_eq!(state(&d, "vb-web-1"), "running");
    assert_eq!(
        ok(d.pier(&["inspect", "-f", "{{.Id}}", "vb-web-1"])),
        web_id
    );

    // kill -s delivers the named signal (the trap exits 7).
    ok(run(&["kill", "-s", "SIGUSR1", "sig"]));
    assert!(eventually(Duration::from_secs(5), || state(&d, "vb-sig-1") == "exited"));
    assert_eq!(
        ok(d.pier(&["inspect", "-f", "{{.State.ExitCode}}", "vb-sig-1"])),
        "7"
    );
    assert!(stdout(&run(&["logs", "sig"])).contains("got-usr1"));
    // kill defaults to SIGKILL.
    ok(run(&["kill", "web"]));
    assert!(eventually(Duration::from_secs(5), || state(&d, "vb-web-1") == "exited"));
    assert_eq!(
        ok(d.pier(&["inspect", "-f", "{{.State.ExitCode}}", "vb-web-1"])),
        "137"
    );

    // rm -s -f stops and removes a running service; rm -f -v removes the
    // anonymous volume with its container.
    ok(run(&["start", "sig"]));
    assert_eq!(state(&d, "vb-sig-1"), "running");
    let rm = run(&["rm", "-s", "-f", "sig"]);
    assert!(rm.status.success(), "{}", stderr(&rm));
    assert!(!exists(&d, "vb-sig-1"));
    assert!(exists(&d, "vb-web-1"));
    assert_eq!(project_volumes(&d), 1);
    let rm = run(&["rm", "-f", "-v"]);
    assert!(rm.status.success(), "{}", stderr(&rm));
    assert!(!exists(&d, "vb-web-1"));
    assert_eq!(project_volumes(&d), 0);
    ok(run(&["down"]));
}

#[test]
fn version_and_help() {
    let d = Daemon::start();
    let v = ok(d.pier(&["compose", "version"]));
    assert!(v.starts_with("Docker Compose version v2."), "{v}");
    let short = ok(d.pier(&["compose", "version", "--short"]));
    assert!(short.starts_with("2.") && !short.contains(' '), "{short}");
    let j: serde_json::Value =
        serde_json::from_str(&ok(d.pier(&["compose", "version", "--format", "json"]))).unwrap();
    assert_eq!(j["version"], format!("v{short}"));
    let help = ok(d.pier(&["compose", "--help"]));
    assert!(
        help.contains("Usage:  pier compose [OPTIONS] COMMAND"),
        "{help}"
    );
}

fn image_exists(d: &Daemon, name: &str) -> bool {
    d.pier(&["image", "inspect", name]).status.success()
}

#[test]
fn build_push_pull_and_down_rmi() {
    let d = Daemon::start();
    let reg = common::registry::Registry::start();
    let host = format!("127.0.0.1:{}", reg.port);
    let p = ComposeProject::fixture("imgs", "im");
    let env = [("REG", host.as_str())];
    let run = |args: &[&str]| p.run_env(&d, &env, args);
    let app_image = format!("{host}/pc/app:1");

    let built = run(&["build"]);
    assert!(built.status.success(), "{}", stderr(&built));
    assert!(image_exists(&d, &app_image));
    assert!(image_exists(&d, "im-local"));

    // up --no-build uses the built images.
    let up = run(&["up", "-d", "--no-build"]);
    assert!(up.status.success(), "{}", stderr(&up));
    assert_eq!(
        ok(run(&["exec", "-T", "app", "cat", "/built"])),
        "built-by-compose"
    );
    let push = run(&["push", "app"]);
    assert!(push.status.success(), "{}", stderr(&push));

    // --rmi local removes only images without a custom name.
    let down = run(&["down", "--rmi", "local"]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert!(!image_exists(&d, "im-local"));
    assert!(image_exists(&d, &app_image));
    // --rmi all removes the named one too; pull brings it back from the registry.
    let down = run(&["down", "--rmi", "all"]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert!(!image_exists(&d, &app_image));
    let pull = run(&["pull", "app"]);
    assert!(pull.status.success(), "{}", stderr(&pull));
    assert!(image_exists(&d, &app_image));
    // up --no-build refuses a service whose image is missing.
    let nb = run(&["up", "-d", "--no-build", "local"]);
    assert!(!nb.status.success(), "{}", stderr(&nb));
    ok(run(&["down"]));
}

#[test]
fn completed_successfully_wait_secrets_configs_profiles_files_and_orphans() {
    let d = Daemon::start();
    let p = ComposeProject::fixture("deps", "dp");
    let env = [("API_KEY", "k3y-from-env"), ("LOG_LEVEL", "debug")];
    let run = |args: &[&str]| p.run_env(&d, &env, args);

    // --wait returns once app is healthy, after migrate exited 0.
    let up = run(&["up", "-d", "--wait"]);
    assert!(up.status.success(), "{}", stderr(&up));
    assert_eq!(
        ok(d.pier(&["inspect", "-f", "{{.State.Health.Status}}", "dp-app-1"])),
        "healthy"
    );
    assert_eq!(
        ok(d.pier(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "dp-migrate-1"
        ])),
        "exited 0"
    );
    // Secret from the environment and config from content: files in the
    // container, absent from its env.
    assert_eq!(
        ok(run(&["exec", "-T", "app", "cat", "/run/secrets/api_key"])),
        "k3y-from-env"
    );
    assert_eq!(
        ok(run(&["exec", "-T", "app", "cat", "/app_conf"])),
        "level=debug"
    );
    let inspect_env = ok(d.pier(&["inspect", "-f", "{{json .Config.Env}}", "dp-app-1"]));
    assert!(!inspect_env.contains("k3y"), "{inspect_env}");
    // Profiles: debug only with --profile.
    assert!(!exists(&d, "dp-debug-1"));
    ok(run(&["--profile", "debug", "up", "-d"]));
    assert_eq!(state(&d, "dp-debug-1"), "running");

    // Several -f files merge: app gains an env var, extra appears.
    let two = ["-f", "compose.yaml", "-f", "compose.extra.yaml"];
    let mut args = two.to_vec();
    args.extend(["--profile", "debug", "up", "-d"]);
    let merged = run(&args);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert_eq!(state(&d, "dp-extra-1"), "running");
    assert_eq!(
        ok(run(&[
            &two[..],
            &["exec", "-T", "app", "sh", "-c", "echo $FROM_EXTRA"]
        ]
        .concat())),
        "yes"
    );

    // Back to one file: extra is an orphan, warned about, then removed.
    let warn = run(&["--profile", "debug", "up", "-d"]);
    assert!(
        stderr(&warn).contains("Found orphan containers ([dp-extra-1])"),
        "{}",
        stderr(&warn)
    );
    assert!(exists(&d, "dp-extra-1"));
    let rm = run(&["--profile", "debug", "up", "-d", "--remove-orphans"]);
    assert!(rm.status.success(), "{}", stderr(&rm));
    assert!(!exists(&d, "dp-extra-1"));
    assert!(exists(&d, "dp-debug-1"));
    ok(run(&["--profile", "debug", "down", "-v"]));

    // A migration that exits 1 fails up with compose's message.
    let bad = ComposeProject::fixture("deps", "dpbad");
    let out = bad.run_env(
        &d,
        &[("API_KEY", "x"), ("MIGRATE_EXIT", "1")],
        &["up", "-d"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("service \"migrate\" didn't complete successfully: exit 1"),
        "{}",
        stderr(&out)
    );
    assert!(!exists(&d, "dpbad-app-1") || state(&d, "dpbad-app-1") == "created");
    ok(bad.run(&d, &["down", "-v"]));
}

#[test]
fn exec_flags_and_run_service_ports() {
    let d = Daemon::start();
    let p = ComposeProject::fixture("verbs", "ex");
    let port = free_port().to_string();
    let env = [("WEB_PORT", port.as_str())];
    let run = |args: &[&str]| p.run_env(&d, &env, args);
    ok(run(&["up", "-d", "--scale", "sig=2", "sig"]));

    // exec -T with -e, -u, -w, and --index picking the replica.
    let out = ok(run(&[
        "exec",
        "-T",
        "-e",
        "GREETING=hi",
        "-u",
        "1000",
        "-w",
        "/tmp",
        "sig",
        "sh",
        "-c",
        "echo $GREETING $(id -u) $(pwd)",
    ]));
    assert_eq!(out, "hi 1000 /tmp");
    for i in ["1", "2"] {
        let want = ok(d.pier(&[
            "inspect",
            "-f",
            "{{.Config.Hostname}}",
            &format!("ex-sig-{i}"),
        ]));
        assert_eq!(
            ok(run(&["exec", "-T", "--index", i, "sig", "hostname"])),
            want
        );
    }
    let missing = run(&["exec", "-T", "--index", "3", "sig", "true"]);
    assert!(!missing.status.success());

    // run -d --service-ports: prints the container ID and publishes the
    // service's ports; plain run -d publishes none.
    let id = ok(run(&["run", "-d", "--service-ports", "web"]));
    assert_eq!(id.len(), 64, "{id}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    assert_eq!(
        ok(d.pier(&["port", &id, "80"])),
        format!("127.0.0.1:{port}")
    );
    assert!(eventually(Duration::from_secs(5), || {
        std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_ok()
    }));
    let labels = ok(d.pier(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"com.docker.compose.oneoff\"}}",
        &id,
    ]));
    assert_eq!(labels, "True");
    let plain = ok(run(&["run", "-d", "web"]));
    assert_eq!(ok(d.pier(&["port", &plain])), "");
    ok(run(&["down"]));
    assert!(!exists(&d, &id));
}

#[test]
fn stop_takes_dependents_down_first() {
    let d = Daemon::start();
    let p = ComposeProject::fixture("health", "so");
    ok(p.run(&d, &["up", "-d", "app"]));
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .saturating_sub(1);
    ok(p.run(&d, &["stop"]));
    // Up to a second past now: the stream ends shortly.
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let died = ok(d.pier(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until,
        "--filter",
        "event=die",
        "--format",
        "{{.Actor.Attributes.name}}",
    ]));
    assert_eq!(died, "so-app-1\nso-db-1");
    ok(p.run(&d, &["down"]));
}
