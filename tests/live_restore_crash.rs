//! Live restore under load: pierd is killed with -9 while 20 containers run
//! and 10 more are being started (their `POST /start` requests in flight,
//! plus `run -d` calls). After a restart on the same roots every container
//! is running and controllable, or has its true exit code, or (a start the
//! crash cut short) is "created" and starts normally; logs are intact; restart
//! policies resume; and nothing is left behind once everything is removed.
mod common;
use common::*;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

/// Waits (inside the container) until the test creates `/sig/<name>`.
fn wait_for(name: &str) -> String {
    format!("while [ ! -e /sig/{name} ]; do sleep 0.05; done")
}

fn state(d: &Daemon, name: &str) -> String {
    ok(d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}",
        name,
    ]))
}

/// Processes whose command line mentions `needle` (shims name their bundle).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let argv0 = cmd.split(|b| *b == 0).next().unwrap_or_default().to_vec();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) && argv0.ends_with(b"pier-shim") {
                out.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
            }
        }
    }
    out
}

fn mounts_under(root: &Path) -> Vec<String> {
    let root = root.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&root))
        .map(str::to_owned)
        .collect()
}

/// Every cgroup directory named after one of `ids`, v1 and v2.
fn cgroups_of(ids: &HashSet<String>) -> Vec<String> {
    let mut found = Vec::new();
    let mut roots = vec!["/sys/fs/cgroup/pier".to_string()];
    for e in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        roots.push(format!("{}/pier", e.path().display()));
    }
    for r in roots {
        for e in std::fs::read_dir(&r).into_iter().flatten().flatten() {
            if ids.contains(&e.file_name().to_string_lossy().to_string()) {
                found.push(e.path().display().to_string());
            }
        }
    }
    found
}

fn full_id(d: &Daemon, name: &str) -> String {
    ok(d.docker(&["inspect", "-f", "{{.Id}}", name]))
}

#[test]
fn kill9_with_twenty_running_and_ten_starting() {
    let mut d = Daemon::start();
    let sig = d.dir.path().join("sig");
    std::fs::create_dir_all(&sig).unwrap();
    let vol = format!("{}:/sig", sig.display());

    // What the 20 running containers do.
    let mut cmds: Vec<(String, Vec<String>, String)> = Vec::new();
    for i in 0..10 {
        // Output before the kill, while pierd is down, and after the restart.
        let sh = format!(
            "echo before-{i}; {}; echo down-{i}; {}; echo after-{i}; exec sleep 1000",
            wait_for("down"),
            wait_for("up")
        );
        cmds.push((format!("r{i}"), vec![], sh));
    }
    for i in 10..15 {
        // Exit while pierd is down, each with its own code.
        cmds.push((
            format!("r{i}"),
            vec![],
            format!("{}; exit {i}", wait_for("down")),
        ));
    }
    // Exits after the restart: the policy must restart it.
    cmds.push((
        "r15".into(),
        vec!["--restart".into(), "always".into()],
        format!("echo run15; {}; exit 3", wait_for("up")),
    ));
    // Exits while pierd is down: restarted when pierd comes back.
    cmds.push((
        "r16".into(),
        vec!["--restart".into(), "always".into()],
        format!(
            "echo run16; [ -e /sig/down ] && exec sleep 1000; {}; exit 4",
            wait_for("down")
        ),
    ));
    cmds.push(("r17".into(), vec![], "exec sleep 1000".into()));
    cmds.push((
        "r18".into(),
        vec!["-t".into()],
        "echo tty18; exec sleep 1000".into(),
    ));
    cmds.push((
        "r19".into(),
        vec!["-i".into()],
        "echo stdin19; exec sleep 1000".into(),
    ));

    std::thread::scope(|s| {
        let hs: Vec<_> = cmds
            .iter()
            .map(|(name, extra, sh)| {
                let (d, vol) = (&d, &vol);
                s.spawn(move || {
                    let mut args = vec!["run", "-d", "--name", name, "-v", vol];
                    args.extend(extra.iter().map(String::as_str));
                    args.extend(["busybox", "sh", "-c", sh]);
                    ok(d.docker(&args));
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    for i in 0..10 {
        let want = format!("before-{i}");
        assert!(
            eventually(Duration::from_secs(10), || stdout(
                &d.docker(&["logs", &format!("r{i}")])
            )
            .contains(&want)),
            "r{i} never logged"
        );
    }
    let mut s_ids = Vec::new();
    for i in 0..10 {
        s_ids.push(ok(d.docker(&[
            "create",
            "--name",
            &format!("s{i}"),
            "-v",
            &vol,
            "busybox",
            "sh",
            "-c",
            &format!("echo started-{i}; exec sleep 1000"),
        ])));
    }

    // Three `run -d` and ten starts in flight (spread out, so the crash
    // finds them at different steps), then the crash.
    let socket = d.socket.clone();
    let host = d.host();
    let runners: Vec<_> = (0..3)
        .map(|i| {
            std::process::Command::new(bin("pier"))
                .args(["-H", &host, "run", "-d", "--name", &format!("q{i}")])
                .args([
                    "busybox",
                    "sh",
                    "-c",
                    &format!("echo q{i}; exec sleep 1000"),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let starters: Vec<_> = (0..10)
        .map(|i| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(60 * i));
                let _ = raw_request(
                    &socket,
                    "POST",
                    &format!("/containers/s{i}/start"),
                    None,
                    &[],
                );
            })
        })
        .collect();
    // Crash as soon as the first of them runs: the others are then at
    // every step between the request and the record.
    let first_started = || {
        let log = d.log();
        s_ids
            .iter()
            .any(|id| log.contains(&format!("container started id={id}")))
    };
    eventually(Duration::from_secs(20), first_started);
    d.kill9();
    for h in starters {
        let _ = h.join();
    }
    for mut r in runners {
        let _ = r.wait();
    }
    std::fs::write(sig.join("down"), "").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    d.restart();
    eprintln!(
        "starts cut short and undone: {}",
        d.log()
            .matches("whose start pierd's death cut short")
            .count()
    );

    // Exits that happened while pierd was down carry their true codes.
    for i in 10..15 {
        assert_eq!(state(&d, &format!("r{i}")), format!("exited {i} 0"));
    }
    // The started-in-flight ones either run (owned by their shim) or are
    // plainly "created"; a created one starts now.
    for i in 0..10 {
        let name = format!("s{i}");
        let st = state(&d, &name);
        eprintln!("after the crash {name}: {st}");
        assert!(st == "running 0 0" || st == "created 0 0", "{name}: {st}");
        if st.starts_with("created") {
            let id = full_id(&d, &name);
            assert!(
                processes_mentioning(&id).is_empty(),
                "{name} is created but a shim is left: {:?}",
                processes_mentioning(&id)
            );
            assert!(
                mounts_under(&d.data_root.join("containers").join(&id)).is_empty(),
                "{name} is created but its rootfs is mounted"
            );
            ok(d.docker(&["start", &name]));
        }
        assert_eq!(
            ok(d.docker(&["exec", &name, "echo", "alive"])),
            "alive",
            "{name}"
        );
        assert_eq!(ok(d.docker(&["logs", &name])), format!("started-{i}"));
    }
    // The `run -d` calls cut short: absent, created or running, never a ghost.
    let listed = ok(d.docker(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]));
    let listed: BTreeMap<String, String> = listed
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    for (name, st) in &listed {
        assert!(
            name.starts_with('r') || name.starts_with('s') || name.starts_with('q'),
            "unexpected container {name} {st}"
        );
        assert!(
            ["running", "exited", "created", "restarting"].contains(&st.as_str()),
            "{name} is {st}"
        );
    }
    assert_eq!(listed.keys().filter(|n| !n.starts_with('q')).count(), 30);
    for i in 0..3 {
        let name = format!("q{i}");
        eprintln!("after the crash {name}: {:?}", listed.get(&name));
        match listed.get(&name).map(String::as_str) {
            None => {}
            Some("created") => {
                ok(d.docker(&["start", &name]));
            }
            Some("running") => {}
            Some(other) => panic!("{name} is {other}"),
        }
        if listed.contains_key(&name) {
            assert_eq!(ok(d.docker(&["exec", &name, "echo", "ok"])), "ok");
        }
    }

    // Running containers are still controlled by their shims, and their
    // logs hold what was written before the kill and while pierd was down.
    for i in 0..10 {
        let name = format!("r{i}");
        assert_eq!(state(&d, &name), "running 0 0");
        assert_eq!(
            ok(d.docker(&["logs", &name])),
            format!("before-{i}\ndown-{i}")
        );
    }
    for name in ["r17", "r18", "r19"] {
        assert_eq!(state(&d, name), "running 0 0");
        assert_eq!(ok(d.docker(&["exec", name, "echo", "x"])), "x");
    }
    assert!(ok(d.docker(&["logs", "r18"])).contains("tty18"));
    std::fs::write(sig.join("up"), "").unwrap();
    for i in 0..10 {
        let name = format!("r{i}");
        let want = format!("before-{i}\ndown-{i}\nafter-{i}");
        assert!(
            eventually(Duration::from_secs(10), || ok(d.docker(&["logs", &name]))
                == want),
            "{name}: {}",
            ok(d.docker(&["logs", &name]))
        );
    }
    // A following `logs -f` sees new output of a recovered container.
    assert_eq!(
        ok(d.docker(&["exec", "r0", "sh", "-c", "echo later > /proc/1/fd/1"])),
        ""
    );
    assert!(eventually(Duration::from_secs(5), || ok(
        d.docker(&["logs", "r0"])
    )
    .ends_with("later")));

    // Restart policies resumed: r16 exited while pierd was down, r15 after.
    for name in ["r15", "r16"] {
        assert!(
            eventually(Duration::from_secs(15), || {
                let st = state(&d, name);
                let count: u32 = st.rsplit(' ').next().unwrap().parse().unwrap();
                count >= 1 && (name == "r15" || st.starts_with("running"))
            }),
            "{name} was not restarted: {}",
            state(&d, name)
        );
    }
    assert!(ok(d.docker(&["logs", "r16"])).matches("run16").count() >= 2);

    // stop and kill reach recovered containers and record their ends.
    ok(d.docker(&["stop", "-t", "1", "r1"]));
    assert_eq!(state(&d, "r1"), "exited 137 0");
    ok(d.docker(&["kill", "r17"]));
    assert!(eventually(Duration::from_secs(5), || state(&d, "r17")
        == "exited 137 0"));

    // Nothing left behind: remove everything and look for remains.
    let ids: HashSet<String> = ok(d.docker(&["ps", "-aq", "--no-trunc"]))
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(ids.len() >= 30);
    let all: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut args = vec!["rm", "-f"];
    args.extend(all);
    ok(d.docker(&args));
    assert_eq!(ok(d.docker(&["ps", "-aq"])), "");
    assert!(
        eventually(Duration::from_secs(10), || processes_mentioning(
            &d.data_root.to_string_lossy()
        )
        .is_empty()),
        "shims left: {:?}",
        processes_mentioning(&d.data_root.to_string_lossy())
    );
    assert_eq!(mounts_under(d.dir.path()), Vec::<String>::new());
    assert!(
        eventually(Duration::from_secs(10), || cgroups_of(&ids).is_empty()),
        "cgroups left: {:?}",
        cgroups_of(&ids)
    );
    let sockets: Vec<_> = std::fs::read_dir(d.exec_root.join("shim"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(sockets.is_empty(), "shim sockets left: {sockets:?}");
    let dirs: Vec<_> = std::fs::read_dir(d.data_root.join("containers"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(dirs.is_empty(), "container dirs left: {dirs:?}");
    let ports: Vec<_> = std::fs::read_dir(format!("/sys/class/net/{}/brif", d.net.bridge()))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(ports.is_empty(), "veths left on the bridge: {ports:?}");
    let state_dirs: Vec<_> = std::fs::read_dir(d.exec_root.join("runtime"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(state_dirs.is_empty(), "runtime state left: {state_dirs:?}");
}
