//! Volumes and mounts end to end: named and anonymous volumes, copy-up,
//! binds, tmpfs, --volumes-from, the /volumes API and the volume CLIs,
//! driven by the real docker CLI and `pier`.

mod common;

use common::volumes::{import_volume_image, volume_names};
use common::{ok, stderr, stdout, Daemon};

/// The recipe from Docker's docs: back a volume up into a tar on the host,
/// delete and recreate the volume, restore it, and get the same bytes.
#[test]
fn backup_and_restore_recipe() {
    let d = Daemon::start();
    let work = d.dir.path().join("backup-cwd");
    std::fs::create_dir_all(&work).unwrap();
    let pwd = work.to_str().unwrap();
    ok(d.docker(&["volume", "create", "my_volume"]));
    let sum = ok(d.docker(&[
        "run", "--rm", "-v", "my_volume:/data", "busybox", "sh", "-c",
        "dd if=/dev/urandom of=/data/blob bs=1k count=96 2>/dev/null && mkdir -p /data/dir && echo hi > /data/dir/note && md5sum /data/blob /data/dir/note",
    ]));
    let backup = format!("{pwd}:/backup");
    let listing = ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "my_volume:/data",
        "-v",
        &backup,
        "busybox",
        "tar",
        "cvf",
        "/backup/backup.tar",
        "/data",
    ]));
    assert!(listing.contains("data/blob"), "{listing}");
    assert!(work.join("backup.tar").metadata().unwrap().len() > 96 * 1024);

    ok(d.docker(&["volume", "rm", "my_volume"]));
    assert!(!volume_names(&d).contains(&"my_volume".to_string()));
    ok(d.docker(&["volume", "create", "my_volume"]));
    let empty = ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "my_volume:/data",
        "busybox",
        "ls",
        "-A",
        "/data",
    ]));
    assert_eq!(empty, "", "a recreated volume starts empty");
    ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "my_volume:/data",
        "-v",
        &backup,
        "busybox",
        "tar",
        "xvf",
        "/backup/backup.tar",
        "-C",
        "/",
    ]));
    let restored = ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "my_volume:/data",
        "busybox",
        "md5sum",
        "/data/blob",
        "/data/dir/note",
    ]));
    assert_eq!(restored, sum);
}

#[test]
fn removing_a_volume_in_use_is_refused_and_keeps_its_data() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "--name",
        "writer",
        "-v",
        "keep:/data",
        "busybox",
        "sh",
        "-c",
        "echo precious > /data/f",
    ]));
    // The container has exited: a stopped container still holds the volume.
    let id = ok(d.docker(&["inspect", "-f", "{{.Id}}", "writer"]));
    let r = d
        .raw_request("DELETE", "/v1.51/volumes/keep", None)
        .unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(
        r.json()["message"],
        format!("remove keep: volume is in use - [{id}]")
    );
    let out = d.docker(&["volume", "rm", "keep"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("volume is in use"),
        "{}",
        stderr(&out)
    );
    // force does not override "in use" either (as in Docker).
    assert_eq!(
        d.docker(&["volume", "rm", "-f", "keep"]).status.code(),
        Some(1)
    );
    let out = d.pier(&["volume", "rm", "keep"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--rm",
            "-v",
            "keep:/data",
            "busybox",
            "cat",
            "/data/f"
        ])),
        "precious"
    );
    // `rm -v` never removes a named volume.
    ok(d.docker(&["rm", "-v", "writer"]));
    assert!(volume_names(&d).contains(&"keep".to_string()));
    assert_eq!(ok(d.docker(&["volume", "rm", "keep"])), "keep");
    let r = d.raw_request("GET", "/v1.51/volumes/keep", None).unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "get keep: no such volume");
    assert_eq!(ok(d.docker(&["volume", "rm", "-f", "keep"])), "keep");
}

#[test]
fn copy_up_keeps_owner_and_mode_unless_nocopy() {
    let d = Daemon::start();
    import_volume_image(&d, "volimg");
    let stat = "stat -c '%u:%g %a %n' /data /data/seed /data/sub && cat /data/seed";
    let expect = "0:0 751 /data\n1000:2000 640 /data/seed\n1000:1000 700 /data/sub\nfrom the image";
    // The image's VOLUME: an anonymous volume filled from the image.
    assert_eq!(
        ok(d.docker(&["run", "--rm", "volimg", "sh", "-c", stat])),
        expect
    );
    // A new named volume over the same path is filled too...
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--rm",
            "-v",
            "named:/data",
            "volimg",
            "sh",
            "-c",
            stat
        ])),
        expect
    );
    let host = d.data_root.join("volumes/named/_data/seed");
    let md = std::fs::metadata(&host).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o7777),
        (1000, 2000, 0o640)
    );
    // ...but not again once it has content of its own.
    ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "named:/data",
        "volimg",
        "sh",
        "-c",
        "echo mine > /data/seed",
    ]));
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--rm",
            "-v",
            "named:/data",
            "volimg",
            "cat",
            "/data/seed"
        ])),
        "mine"
    );
    // nocopy: the volume stays empty.
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--rm",
            "-v",
            "bare:/data:nocopy",
            "volimg",
            "ls",
            "-A",
            "/data"
        ])),
        ""
    );
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=bare2,dst=/data,volume-nocopy",
            "volimg",
            "ls",
            "-A",
            "/data",
        ])),
        ""
    );
}

#[test]
fn read_only_mounts_refuse_writes() {
    let d = Daemon::start();
    let host = d.dir.path().join("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "host").unwrap();
    let h = host.to_str().unwrap();
    let bind_ro = format!("{h}:/m:ro");
    let mount_ro = format!("type=bind,source={h},target=/m,readonly");
    for args in [
        ["-v", "rovol:/m:ro"],
        ["-v", bind_ro.as_str()],
        ["--mount", mount_ro.as_str()],
        ["--mount", "type=volume,source=rovol,target=/m,readonly"],
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend(args);
        a.extend(["busybox", "sh", "-c", "echo x > /m/new"]);
        let out = d.docker(&a);
        assert_ne!(out.status.code(), Some(0), "{args:?} allowed a write");
        assert!(
            stderr(&out).contains("Read-only file system"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!host.join("new").exists());
    // Read-write binds write through to the host, and `-v` creates a
    // missing host directory like Docker.
    let fresh = d.dir.path().join("made/by/run");
    ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/m", fresh.display()),
        "busybox",
        "sh",
        "-c",
        "echo w > /m/out",
    ]));
    assert_eq!(std::fs::read_to_string(fresh.join("out")).unwrap(), "w\n");
}

#[test]
fn bind_errors_use_dockers_messages() {
    let d = Daemon::start();
    let out = d.docker(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,source=/no/such/dir,target=/x",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains(
            "invalid mount config for type \"bind\": bind source path does not exist: /no/such/dir"
        ),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["run", "--rm", "-v", "rel/path:/x", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains(
        "create rel/path: \"rel/path\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    ), "{}", stderr(&out));
    let out = d.pier(&["run", "--rm", "-v", "rel/path:/x", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("If you intended to pass a host directory, use absolute path"));
    let out = d.docker(&[
        "run", "--rm", "-v", "/a:/x", "-v", "/b:/x", "busybox", "true",
    ]);
    assert!(
        stderr(&out).contains("Duplicate mount point: /x"),
        "{}",
        stderr(&out)
    );
    // Nothing was left behind by the failed creates.
    assert!(volume_names(&d).is_empty());
    assert_eq!(ok(d.docker(&["ps", "-aq"])), "");
}

#[test]
fn tmpfs_mounts_have_their_size_and_mode() {
    let d = Daemon::start();
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--tmpfs",
        "/t:size=10m,mode=1770",
        "busybox",
        "sh",
        "-c",
        "df -k /t | tail -1; stat -c %a /t; grep ' /t ' /proc/mounts",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].split_whitespace().nth(1), Some("10240"), "{out}");
    assert_eq!(lines[1], "1770");
    assert!(lines[2].contains("nosuid,nodev,noexec"), "{out}");
    let out = ok(d.pier(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,destination=/t,tmpfs-size=5m,tmpfs-mode=0700",
        "busybox",
        "sh",
        "-c",
        "df -k /t | tail -1; stat -c %a /t",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].split_whitespace().nth(1), Some("5120"), "{out}");
    assert_eq!(lines[1], "700");

    // A tmpfs-backed volume: mounted while used, shared between users,
    // unmounted after the last one stops.
    ok(d.docker(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=2m",
        "tv",
    ]));
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(d.docker(&["volume", "inspect", "tv"]))).unwrap();
    assert_eq!(inspect[0]["Options"]["o"], "size=2m");
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "holder",
        "-v",
        "tv:/t",
        "busybox",
        "sh",
        "-c",
        "echo kept > /t/f; sleep 600",
    ]));
    assert!(common::eventually(
        std::time::Duration::from_secs(10),
        || {
            d.docker(&["run", "--rm", "-v", "tv:/t", "busybox", "cat", "/t/f"])
                .status
                .success()
        }
    ));
    let df = ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "tv:/t",
        "busybox",
        "sh",
        "-c",
        "df -k /t | tail -1",
    ]));
    assert_eq!(df.split_whitespace().nth(1), Some("2048"), "{df}");
    let data = d.data_root.join("volumes/tv/_data");
    assert!(mounts().contains(data.to_str().unwrap()));
    ok(d.docker(&["rm", "-f", "holder"]));
    assert!(
        !mounts().contains(data.to_str().unwrap()),
        "unmounted after the last user"
    );
    ok(d.docker(&["volume", "rm", "tv"]));
}

fn mounts() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

#[test]
fn volumes_from_shares_mounts_and_honours_ro() {
    let d = Daemon::start();
    ok(d.docker(&[
        "create",
        "--name",
        "store",
        "-v",
        "/anon",
        "-v",
        "shared:/shared",
        "busybox",
        "true",
    ]));
    ok(d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "store",
        "busybox",
        "sh",
        "-c",
        "echo a > /anon/a; echo s > /shared/s",
    ]));
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--rm",
            "--volumes-from",
            "store:ro",
            "busybox",
            "cat",
            "/anon/a",
            "/shared/s"
        ])),
        "a\ns"
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "store:ro",
        "busybox",
        "touch",
        "/shared/x",
    ]);
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["run", "--rm", "--volumes-from", "nosuch", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("No such container: nosuch"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn anonymous_volumes_go_with_rm_and_named_ones_stay() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "/scratch",
        "-v",
        "stays:/keep",
        "busybox",
        "sh",
        "-c",
        "echo x > /scratch/x",
    ]));
    assert_eq!(
        volume_names(&d),
        ["stays"],
        "--rm removes only the anonymous volume"
    );
    ok(d.docker(&[
        "create", "--name", "c1", "-v", "/scratch", "busybox", "true",
    ]));
    ok(d.docker(&[
        "create", "--name", "c2", "-v", "/scratch", "busybox", "true",
    ]));
    assert_eq!(volume_names(&d).len(), 3);
    ok(d.docker(&["rm", "c1"]));
    assert_eq!(
        volume_names(&d).len(),
        3,
        "rm without -v keeps anonymous volumes"
    );
    ok(d.pier(&["rm", "-v", "c2"]));
    assert_eq!(volume_names(&d).len(), 2);
    // prune: anonymous unused volumes by default, everything unused with -a.
    // Without -f it asks; no answer (stdin at EOF) declines, status 0.
    for cli in ["docker", "pier"] {
        let out = if cli == "docker" {
            d.docker(&["volume", "prune"])
        } else {
            d.pier(&["volume", "prune"])
        };
        assert_eq!(out.status.code(), Some(0), "{cli}");
        assert_eq!(
            common::stdout(&out),
            "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ",
            "{cli}"
        );
        assert_eq!(
            volume_names(&d).len(),
            2,
            "{cli}: declined prune removed nothing"
        );
    }
    let out = ok(d.docker(&["volume", "prune", "-f"]));
    assert!(out.starts_with("Deleted Volumes:\n"), "{out}");
    assert!(out.ends_with("Total reclaimed space: 0B"), "{out}");
    assert_eq!(volume_names(&d), ["stays"]);
    let out = ok(d.pier(&["volume", "prune", "-f", "-a"]));
    assert_eq!(out, "Deleted Volumes:\nstays\n\nTotal reclaimed space: 0B");
    assert!(volume_names(&d).is_empty());
}

#[test]
fn volume_data_and_references_survive_kill9() {
    let mut d = Daemon::start();
    ok(d.docker(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        "mem",
    ]));
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "bg",
        "-v",
        "durable:/data",
        "-v",
        "mem:/mem",
        "busybox",
        "sh",
        "-c",
        "echo before > /data/f; echo inmem > /mem/f; sleep 600",
    ]));
    let mem_data = d.data_root.join("volumes/mem/_data");
    assert!(common::eventually(
        std::time::Duration::from_secs(10),
        || { d.data_root.join("volumes/durable/_data/f").exists() && mem_data.join("f").exists() }
    ));
    d.kill9();
    d.restart();
    assert!(volume_names(&d).contains(&"durable".to_string()));
    let out = d.docker(&["volume", "rm", "durable"]);
    assert!(
        stderr(&out).contains("volume is in use"),
        "{}",
        stderr(&out)
    );
    // The tmpfs volume stayed mounted for the running container: a new
    // user shares it.
    assert_eq!(
        ok(d.docker(&["run", "--rm", "-v", "mem:/mem", "busybox", "cat", "/mem/f"])),
        "inmem"
    );
    ok(d.docker(&["rm", "-f", "bg"]));
    assert!(!mounts().contains(mem_data.to_str().unwrap()));
    d.kill9();
    d.restart();
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--rm",
            "-v",
            "durable:/data",
            "busybox",
            "cat",
            "/data/f"
        ])),
        "before"
    );
}

/// `-o type=none -o device=DIR -o o=bind`: the volume is the host
/// directory while used; removing the volume never touches that data.
#[test]
fn bind_backed_volume_keeps_host_data() {
    let d = Daemon::start();
    let src = d.dir.path().join("backing");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("hf"), "from host\n").unwrap();
    let dev = format!("device={}", src.display());
    ok(d.pier(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        &dev,
        "-o",
        "o=bind",
        "hostvol",
    ]));
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--rm",
            "-v",
            "hostvol:/b",
            "busybox",
            "sh",
            "-c",
            "cat /b/hf; echo c > /b/new"
        ])),
        "from host"
    );
    assert_eq!(std::fs::read_to_string(src.join("new")).unwrap(), "c\n");
    ok(d.docker(&["volume", "rm", "hostvol"]));
    assert!(src.join("hf").exists() && src.join("new").exists());
    let out = d.docker(&["volume", "create", "-o", "type=tmpfs", "broken"]);
    assert!(
        stderr(&out).contains("create broken: missing required option: \"device\""),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["volume", "create", "-d", "nosuch", "x"]);
    assert!(
        stderr(&out).contains("plugin \"nosuch\" not found"),
        "{}",
        stderr(&out)
    );
}

/// `bind-propagation` decides whether a mount made on the host under the
/// source later shows up in the container: `rshared` yes, `rprivate`
/// (Docker's default for binds) no. The source is a shared mount the test
/// makes itself.
#[test]
fn bind_propagation_is_applied() {
    let d = Daemon::start();
    let src = d.dir.path().join("shared-src");
    std::fs::create_dir_all(&src).unwrap();
    let sh = |args: &[&str]| {
        let st = std::process::Command::new(args[0])
            .args(&args[1..])
            .status()
            .expect("run mount");
        assert!(st.success(), "{args:?}");
    };
    let s = src.to_str().unwrap().to_string();
    sh(&["mount", "--bind", &s, &s]);
    sh(&["mount", "--make-shared", &s]);
    for prop in ["rshared", "rprivate"] {
        let spec = format!("type=bind,source={s},target=/m,bind-propagation={prop}");
        ok(d.docker(&[
            "run",
            "-d",
            "--name",
            &format!("p-{prop}"),
            "--network",
            "none",
            "--mount",
            &spec,
            "busybox",
            "sleep",
            "60",
        ]));
    }
    let sub = src.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let sub_s = sub.to_str().unwrap().to_string();
    sh(&["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", &sub_s]);
    std::fs::write(sub.join("f"), "from the host\n").unwrap();
    let seen = |name: &str| d.docker(&["exec", name, "cat", "/m/sub/f"]);
    let shared = seen("p-rshared");
    let private = seen("p-rprivate");
    ok(d.docker(&["rm", "-f", "p-rshared", "p-rprivate"]));
    let _ = std::process::Command::new("umount").arg(&sub_s).status();
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(&s)
        .status();
    assert_eq!(
        stdout(&shared),
        "from the host\n",
        "rshared: {}",
        stderr(&shared)
    );
    assert!(
        !private.status.success(),
        "rprivate saw the host's new mount"
    );
}
