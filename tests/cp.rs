//! `cp`, `diff`, `export`, `commit` through the real docker CLI.
mod common;
use common::*;

#[test]
fn cp_both_ways_with_docker_dir_rules() {
    let d = Daemon::start();
    ok(d.docker(&["run", "-d", "--name", "cp1", "busybox", "sleep", "600"]));
    let host = tempfile::tempdir().unwrap();
    let h = |p: &str| host.path().join(p);
    // container → host: a directory by name, then its contents with `/.`
    ok(d.docker(&["cp", "cp1:/etc", h("e1").to_str().unwrap()]));
    assert!(h("e1/passwd").is_file());
    std::fs::create_dir(h("existing")).unwrap();
    ok(d.docker(&["cp", "cp1:/etc", h("existing").to_str().unwrap()]));
    assert!(
        h("existing/etc/passwd").is_file(),
        "copied into an existing dir"
    );
    std::fs::create_dir(h("contents")).unwrap();
    ok(d.docker(&["cp", "cp1:/etc/.", h("contents").to_str().unwrap()]));
    assert!(h("contents/passwd").is_file(), "/. copies the contents");
    // a single file, and to stdout as a tar
    ok(d.docker(&["cp", "cp1:/etc/passwd", h("pw").to_str().unwrap()]));
    assert!(std::fs::read_to_string(h("pw"))
        .unwrap()
        .starts_with("root:"));
    let o = d.docker(&["cp", "cp1:/etc/passwd", "-"]);
    assert!(o.status.success());
    let mut a = tar::Archive::new(&o.stdout[..]);
    let names: Vec<String> = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["passwd"]);
    // host → container: a file, a dir, a dir's contents
    std::fs::create_dir_all(h("src/sub")).unwrap();
    std::fs::write(h("src/sub/f"), "data\n").unwrap();
    std::fs::write(h("one"), "one\n").unwrap();
    ok(d.docker(&["cp", h("one").to_str().unwrap(), "cp1:/tmp/"]));
    ok(d.docker(&["cp", h("src").to_str().unwrap(), "cp1:/tmp/"]));
    ok(d.docker(&["cp", &format!("{}/.", h("src").display()), "cp1:/root"]));
    assert_eq!(ok(d.docker(&["exec", "cp1", "cat", "/tmp/one"])), "one");
    assert_eq!(
        ok(d.docker(&["exec", "cp1", "cat", "/tmp/src/sub/f"])),
        "data"
    );
    assert_eq!(ok(d.docker(&["exec", "cp1", "cat", "/root/sub/f"])), "data");
    // errors as docker words them
    let o = d.docker(&["cp", "cp1:/nonexistent", h("x").to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Could not find the file /nonexistent in container cp1"),
        "{}",
        stderr(&o)
    );
    // a stopped container works too
    ok(d.docker(&["stop", "-t", "0", "cp1"]));
    ok(d.docker(&["cp", h("one").to_str().unwrap(), "cp1:/stopped-copy"]));
    ok(d.docker(&["cp", "cp1:/stopped-copy", h("back").to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(h("back")).unwrap(), "one\n");
    ok(d.docker(&["start", "cp1"]));
    assert_eq!(
        ok(d.docker(&["exec", "cp1", "cat", "/stopped-copy"])),
        "one"
    );
    ok(d.docker(&["rm", "-f", "cp1"]));
}

#[test]
fn cp_never_leaves_the_container_root() {
    let d = Daemon::start();
    ok(d.docker(&["run", "-d", "--name", "cp2", "busybox", "sleep", "600"]));
    let host = tempfile::tempdir().unwrap();
    let marker = host.path().join("host-secret");
    std::fs::write(&marker, "host only").unwrap();
    // A link inside the container pointing at the host path, and one at /.
    let link_target = marker.to_str().unwrap();
    ok(d.docker(&["exec", "cp2", "ln", "-s", link_target, "/tmp/to-host"]));
    ok(d.docker(&["exec", "cp2", "ln", "-s", "/../../..", "/tmp/up"]));
    let o = d.docker(&[
        "cp",
        "cp2:/tmp/to-host/",
        host.path().join("o1").to_str().unwrap(),
    ]);
    assert!(!o.status.success(), "followed a link out: {o:?}");
    let o = d.docker(&[
        "cp",
        &format!("cp2:/tmp/up{link_target}"),
        host.path().join("o2").to_str().unwrap(),
    ]);
    assert!(!o.status.success(), "followed a link out: {o:?}");
    assert!(!host.path().join("o2").exists());
    // Writing through the link lands inside the container.
    let src = host.path().join("payload");
    std::fs::write(&src, "x").unwrap();
    let dest_dir = host.path().join("landing");
    std::fs::create_dir(&dest_dir).unwrap();
    ok(d.docker(&[
        "exec",
        "cp2",
        "ln",
        "-s",
        dest_dir.to_str().unwrap(),
        "/tmp/to-dir",
    ]));
    let _ = d.docker(&["cp", src.to_str().unwrap(), "cp2:/tmp/to-dir/"]);
    assert!(
        !dest_dir.join("payload").exists(),
        "wrote outside the container"
    );
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "host only");
    ok(d.docker(&["rm", "-f", "cp2"]));
}

#[test]
fn diff_export_commit() {
    let d = Daemon::start();
    ok(d.docker(&["run", "-d", "--name", "df1", "busybox", "sleep", "600"]));
    ok(d.docker(&[
        "exec",
        "df1",
        "sh",
        "-c",
        "mkdir /newdir && echo n > /newdir/f && rm /bin/vi && echo x >> /etc/group",
    ]));
    let diff = ok(d.docker(&["diff", "df1"]));
    let lines: Vec<&str> = diff.lines().collect();
    for want in [
        "A /newdir",
        "A /newdir/f",
        "D /bin/vi",
        "C /etc/group",
        "C /etc",
        "C /bin",
    ] {
        assert!(lines.contains(&want), "{want} missing in\n{diff}");
    }
    assert!(
        !diff.contains("/etc/hostname"),
        "mount points are not changes:\n{diff}"
    );
    assert!(!diff.contains("/proc"), "{diff}");
    // export: a tar of the whole filesystem with the change
    let o = d.docker(&["export", "df1"]);
    assert!(o.status.success());
    let mut a = tar::Archive::new(&o.stdout[..]);
    let mut names = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        if p == "newdir/f" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            assert_eq!(s, "n\n");
        }
        names.push(p);
    }
    assert!(names.iter().any(|n| n == "newdir/f"), "{names:?}");
    assert!(names.iter().any(|n| n == "bin/sh"));
    assert!(!names.iter().any(|n| n == "bin/vi"));
    // commit with a change and a message; the new image sees it all
    let id = ok(d.docker(&[
        "commit",
        "-c",
        "ENV COMMITTED=yes",
        "-m",
        "my message",
        "df1",
        "committed:v1",
    ]));
    assert!(id.starts_with("sha256:"), "{id}");
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "committed:v1",
        "sh",
        "-c",
        "cat /newdir/f; echo $COMMITTED; test -e /bin/vi || echo novi",
    ]));
    assert_eq!(out, "n\nyes\nnovi");
    let hist = ok(d.docker(&["history", "--format", "{{.Comment}}", "committed:v1"]));
    assert_eq!(hist.lines().next(), Some("my message"));
    // the committed image keeps the container's command
    let cmd = ok(d.docker(&[
        "inspect",
        "--format",
        "{{json .Config.Cmd}}",
        "committed:v1",
    ]));
    assert_eq!(cmd, r#"["sleep","600"]"#);
    ok(d.docker(&["rm", "-f", "df1"]));
}
