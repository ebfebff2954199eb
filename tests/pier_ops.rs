//! The same verbs through `pier`: cp, diff, export, commit, top, stats,
//! prune, system df, and attach's detach keys.
mod common;
use common::*;
use std::time::Duration;

#[test]
fn pier_cp_diff_export_commit() {
    let d = Daemon::start();
    ok(d.pier(&["run", "-d", "--name", "p1", "busybox", "sleep", "600"]));
    let host = tempfile::tempdir().unwrap();
    let h = |p: &str| host.path().join(p).to_string_lossy().into_owned();
    ok(d.pier(&["cp", "p1:/etc", &h("etc")]));
    assert!(host.path().join("etc/passwd").is_file());
    std::fs::create_dir(host.path().join("into")).unwrap();
    ok(d.pier(&["cp", "p1:/etc/.", &h("into")]));
    assert!(host.path().join("into/passwd").is_file());
    ok(d.pier(&["cp", "p1:/etc/passwd", &h("pw")]));
    assert!(std::fs::read_to_string(h("pw"))
        .unwrap()
        .starts_with("root:"));
    // host → container, file and dir and dir contents
    std::fs::create_dir_all(host.path().join("src/sub")).unwrap();
    std::fs::write(host.path().join("src/sub/f"), "F\n").unwrap();
    ok(d.pier(&["cp", &h("src"), "p1:/tmp/"]));
    ok(d.pier(&["cp", &format!("{}/.", h("src")), "p1:/root"]));
    ok(d.pier(&["cp", &h("pw"), "p1:/tmp/renamed"]));
    assert_eq!(
        ok(d.pier(&["exec", "p1", "cat", "/tmp/src/sub/f", "/root/sub/f"])),
        "F\nF"
    );
    assert!(ok(d.pier(&["exec", "p1", "cat", "/tmp/renamed"])).starts_with("root:"));
    // `-`: a tar on stdout
    let o = d.pier(&["cp", "p1:/tmp/src", "-"]);
    assert!(o.status.success());
    let mut a = tar::Archive::new(&o.stdout[..]);
    let names: Vec<String> = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"src/sub/f".to_string()), "{names:?}");
    let o = d.pier(&["cp", "p1:/nope", &h("x")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Could not find the file /nope in container p1"),
        "{o:?}"
    );
    // diff
    let diff = ok(d.pier(&["diff", "p1"]));
    assert!(diff.lines().any(|l| l == "A /tmp/src/sub/f"), "{diff}");
    assert!(diff.lines().any(|l| l == "C /root"), "{diff}");
    // export -o
    ok(d.pier(&["export", "-o", &h("fs.tar"), "p1"]));
    let f = std::fs::File::open(h("fs.tar")).unwrap();
    let mut a = tar::Archive::new(f);
    assert!(a
        .entries()
        .unwrap()
        .any(|e| e.unwrap().path().unwrap().to_string_lossy() == "tmp/renamed"));
    // commit -c -m -a
    let id = ok(d.pier(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/tmp/renamed\"]",
        "-m",
        "msg",
        "-a",
        "me",
        "p1",
        "pcommit:1",
    ]));
    assert!(id.starts_with("sha256:"));
    assert!(ok(d.pier(&["run", "--rm", "pcommit:1"])).starts_with("root:"));
    assert_eq!(
        ok(d.pier(&["inspect", "--format", "{{.Author}}", "pcommit:1"])),
        "me"
    );
    ok(d.pier(&["rm", "-f", "p1"]));
}

#[test]
fn pier_top_stats_prune_df() {
    let d = Daemon::start();
    ok(d.pier(&["run", "-d", "--name", "p2", "busybox", "sleep", "600"]));
    // The default columns include C (CPU %), which moves between two
    // calls: compare everything but that column.
    let strip_c = |t: String| -> Vec<Vec<String>> {
        t.lines()
            .map(|l| {
                let mut f: Vec<String> = l.split_whitespace().map(String::from).collect();
                if f.len() > 3 {
                    f.remove(3);
                }
                f
            })
            .collect()
    };
    let top = ok(d.pier(&["top", "p2"]));
    assert!(top.starts_with("UID "), "{top}");
    assert_eq!(strip_c(top), strip_c(ok(d.docker(&["top", "p2"]))));
    let top = ok(d.pier(&["top", "p2", "-o", "pid,ppid,user,args"]));
    assert_eq!(
        top,
        ok(d.docker(&["top", "p2", "-o", "pid,ppid,user,args"]))
    );
    let top = ok(d.pier(&["top", "p2", "-o", "pid,args"]));
    assert!(top.lines().nth(1).unwrap().ends_with("sleep 600"), "{top}");
    let s = ok(d.pier(&["stats", "--no-stream"]));
    let mut lines = s.lines();
    assert!(
        lines.next().unwrap().starts_with(
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O"
        ),
        "{s}"
    );
    let row = lines.next().unwrap();
    assert!(row.contains("p2") && row.trim_end().ends_with(" 1"), "{s}");
    let s = ok(d.pier(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "p2",
    ]));
    assert_eq!(s, "p2 1");
    // prune
    ok(d.pier(&["run", "--name", "gone", "busybox", "true"]));
    let out = ok(d.pier(&["container", "prune", "-f"]));
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    let names = ok(d.pier(&["ps", "-a", "--format", "{{.Names}}"]));
    assert_eq!(names, "p2");
    ok(d.pier(&["tag", "busybox", "other:tag"]));
    ok(d.pier(&["image", "prune", "-a", "-f"]));
    let imgs = ok(d.pier(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert!(imgs.contains("busybox:latest"), "in use: {imgs}");
    // without -f it asks, and "n" keeps everything
    ok(d.pier(&["run", "--name", "kept", "busybox", "true"]));
    let mut cmd = d.pier_cmd();
    cmd.args(["system", "prune"]);
    let out = pipe(cmd, b"n\n");
    assert!(out.contains("WARNING! This will remove:"), "{out}");
    assert!(ok(d.pier(&["ps", "-a", "--format", "{{.Names}}"])).contains("kept"));
    let out = ok(d.pier(&["system", "prune", "-f"]));
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(ok(d.pier(&["ps", "-a", "--format", "{{.Names}}"])), "p2");
    let df = ok(d.pier(&["system", "df"]));
    assert!(df.starts_with("TYPE"), "{df}");
    assert!(
        df.lines()
            .nth(1)
            .unwrap()
            .starts_with("Images          1         1 "),
        "{df}"
    );
    assert!(
        df.lines()
            .nth(2)
            .unwrap()
            .starts_with("Containers      1         1 "),
        "{df}"
    );
    ok(d.pier(&["rm", "-f", "p2"]));
}

fn pipe(mut cmd: std::process::Command, input: &[u8]) -> String {
    stdout(&common::output_with_stdin(&mut cmd, input))
}

#[test]
fn attach_detach_keys() {
    let d = Daemon::start();
    ok(d.pier(&["run", "-dit", "--name", "att", "busybox", "sh"]));
    // docker attach: the daemon spots ctrl-p ctrl-q and ends the stream
    let mut cmd = d.docker_cmd();
    cmd.args(["attach", "att"]);
    let (screen, code) = run_in_pty(
        cmd,
        &[
            (Duration::from_millis(800), b"echo attached-$((1+1))\r"),
            (Duration::from_millis(500), b"\x10\x11"),
        ],
        Duration::from_secs(15),
    );
    assert!(screen.contains("attached-2"), "{screen}");
    assert!(screen.contains("read escape sequence"), "{screen}");
    let _ = code;
    assert_eq!(
        ok(d.pier(&["inspect", "--format", "{{.State.Running}}", "att"])),
        "true"
    );
    // custom keys through pier
    let mut cmd = d.pier_cmd();
    cmd.args(["attach", "--detach-keys", "ctrl-x", "att"]);
    let (screen, code) = run_in_pty(
        cmd,
        &[
            (Duration::from_millis(800), b"echo again\r"),
            (Duration::from_millis(500), b"\x18"),
        ],
        Duration::from_secs(15),
    );
    assert!(screen.contains("again"), "{screen}");
    assert_eq!(code, Some(0), "{screen}");
    assert_eq!(
        ok(d.pier(&["inspect", "--format", "{{.State.Running}}", "att"])),
        "true"
    );
    // The daemon itself ends the stream on the keys (API clients without
    // their own detection, e.g. docker-py).
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /v1.51/containers/att/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s.write_all(b"echo via-api\r").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"\x10\x11").unwrap();
    let mut rest = Vec::new();
    let r = s.read_to_end(&mut rest);
    assert!(r.is_ok(), "the stream did not end: {r:?}");
    assert!(String::from_utf8_lossy(&rest).contains("via-api"));
    assert_eq!(
        ok(d.pier(&["inspect", "--format", "{{.State.Running}}", "att"])),
        "true"
    );
    ok(d.pier(&["rm", "-f", "att"]));
}
