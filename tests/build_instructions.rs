//! The less common instructions and flags of `pier build`: RUN --network,
//! --mount (bind, cache, tmpfs), --add-host, ADD archives, COPY globs,
//! --exclude, --parents, --link, ONBUILD, SHELL, `# escape=`, MAINTAINER.
mod common;
use common::build::{build, built, write};
use common::*;

fn cat(d: &Daemon, image: &str, path: &str) -> String {
    ok(d.pier(&["run", "--rm", image, "cat", path]))
}

#[test]
fn run_network_mounts_and_add_host() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[
            (
                "Dockerfile",
                "FROM busybox\n\
                 RUN --network=none ls /sys/class/net > /net-none.txt\n\
                 RUN --network=host ls /sys/class/net > /net-default.txt\n\
                 RUN --mount=type=bind,source=data,target=/mnt/data cat /mnt/data/x.txt > /from-bind.txt\n\
                 RUN --mount=type=cache,target=/var/cache/thing sh -c 'echo run >> /var/cache/thing/count; wc -l < /var/cache/thing/count > /cache-count.txt'\n\
                 RUN --mount=type=tmpfs,target=/scratch sh -c 'grep -q \" /scratch tmpfs\" /proc/mounts && echo t > /scratch/t && echo tmpfs-ok > /tmpfs.txt'\n\
                 RUN grep myhost /etc/hosts > /hosts.txt\n",
            ),
            ("data/x.txt", "bound content\n"),
        ],
    );
    built(build(
        &d,
        ctx.path(),
        &["-t", "mnt", "--add-host", "myhost:10.1.2.3"],
    ));
    assert_eq!(cat(&d, "mnt", "/net-none.txt"), "lo");
    // RUN --network=host sees the host's links (other tests may add links
    // meanwhile, so look for the default route's link).
    let route = std::fs::read_to_string("/proc/net/route").unwrap();
    let uplink = route
        .lines()
        .skip(1)
        .find(|l| l.split_whitespace().nth(1) == Some("00000000"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("lo")
        .to_string();
    let seen = cat(&d, "mnt", "/net-default.txt");
    assert!(seen.lines().any(|l| l == uplink), "{uplink} not in {seen}");
    assert!(seen.lines().count() > 1, "{seen}");
    assert_eq!(cat(&d, "mnt", "/from-bind.txt"), "bound content");
    assert_eq!(cat(&d, "mnt", "/cache-count.txt"), "1");
    assert_eq!(cat(&d, "mnt", "/tmpfs.txt"), "tmpfs-ok");
    assert_eq!(cat(&d, "mnt", "/hosts.txt"), "10.1.2.3\tmyhost");
    // Mount points and mounted content are not part of the image.
    for p in ["/mnt/data", "/var/cache/thing", "/scratch"] {
        let out = d.pier(&["run", "--rm", "mnt", "ls", p]);
        assert!(
            !out.status.success(),
            "{p} is in the image: {}",
            stdout(&out)
        );
    }
    // The cache mount keeps its content across builds.
    built(build(
        &d,
        ctx.path(),
        &["-t", "mnt", "--no-cache", "--add-host", "myhost:10.1.2.3"],
    ));
    assert_eq!(cat(&d, "mnt", "/cache-count.txt"), "2");
    // A changed bind source invalidates the step that mounts it.
    write(ctx.path(), &[("data/x.txt", "changed\n")]);
    let progress = built(build(
        &d,
        ctx.path(),
        &["-t", "mnt", "--add-host", "myhost:10.1.2.3"],
    ));
    assert!(
        progress.contains(
            "#5 [3/7] RUN --network=host ls /sys/class/net > /net-default.txt\n#5 CACHED"
        ),
        "{progress}"
    );
    assert!(!progress.contains("#6 CACHED"), "{progress}");
    assert_eq!(cat(&d, "mnt", "/from-bind.txt"), "changed");
    // SSH agent forwarding is not offered (secrets are: tests/build_more.rs).
    write(
        ctx.path(),
        &[("Dockerfile", "FROM busybox\nRUN --mount=type=ssh true\n")],
    );
    let out = build(&d, ctx.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("type=ssh is not supported"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn add_archives_and_copy_sources() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    write(
        src.path(),
        &[
            ("pkg/bin/tool", "#!/bin/sh\necho tool\n"),
            ("pkg/README", "r\n"),
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        src.path().join("pkg/bin/tool"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let st = std::process::Command::new("tar")
        .args(["-C", src.path().to_str().unwrap(), "-czf"])
        .arg(ctx.path().join("archive.tar.gz"))
        .arg("pkg")
        .status()
        .unwrap();
    assert!(st.success());
    write(
        ctx.path(),
        &[
            (
                "Dockerfile",
                "FROM busybox\nADD archive.tar.gz /opt/\nADD plain.txt /plain.txt\nCOPY *.md /docs/\n\
                 COPY --exclude=*.tmp stuff/ /stuff/\nCOPY --parents a/b/c.txt a/d.txt /p/\nCOPY --link link.txt /link.txt\n\
                 COPY dir /copied-dir\nCOPY dir /into-dir/\nADD --chmod=755 plain.txt /exec.txt\n",
            ),
            ("plain.txt", "plain\n"),
            ("one.md", "1"),
            ("two.md", "2"),
            ("other.txt", "o"),
            ("stuff/keep.txt", "k"),
            ("stuff/drop.tmp", "d"),
            ("stuff/sub/deep.txt", "s"),
            ("a/b/c.txt", "c"),
            ("a/d.txt", "d"),
            ("link.txt", "l"),
            ("dir/inner/f.txt", "f"),
        ],
    );
    built(build(&d, ctx.path(), &["-t", "srcs"]));
    let find = |p: &str| {
        let out = ok(d.pier(&["run", "--rm", "srcs", "find", p]));
        let mut v: Vec<String> = out.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(
        ok(d.pier(&["run", "--rm", "srcs", "/opt/pkg/bin/tool"])),
        "tool"
    );
    assert_eq!(
        find("/opt"),
        [
            "/opt",
            "/opt/pkg",
            "/opt/pkg/README",
            "/opt/pkg/bin",
            "/opt/pkg/bin/tool"
        ]
    );
    assert_eq!(cat(&d, "srcs", "/plain.txt"), "plain");
    assert_eq!(find("/docs"), ["/docs", "/docs/one.md", "/docs/two.md"]);
    assert_eq!(
        find("/stuff"),
        [
            "/stuff",
            "/stuff/keep.txt",
            "/stuff/sub",
            "/stuff/sub/deep.txt"
        ]
    );
    assert_eq!(
        find("/p"),
        ["/p", "/p/a", "/p/a/b", "/p/a/b/c.txt", "/p/a/d.txt"]
    );
    assert_eq!(cat(&d, "srcs", "/link.txt"), "l");
    // A directory source copies its contents, with or without a trailing slash.
    assert_eq!(
        find("/copied-dir"),
        [
            "/copied-dir",
            "/copied-dir/inner",
            "/copied-dir/inner/f.txt"
        ]
    );
    assert_eq!(
        find("/into-dir"),
        ["/into-dir", "/into-dir/inner", "/into-dir/inner/f.txt"]
    );
    assert_eq!(
        ok(d.pier(&[
            "run",
            "--rm",
            "srcs",
            "stat",
            "-c",
            "%a %u",
            "/exec.txt",
            "/plain.txt"
        ])),
        "755 0\n644 0"
    );
    // A missing source names itself.
    write(
        ctx.path(),
        &[("Dockerfile", "FROM busybox\nCOPY nothere.txt /\n")],
    );
    let out = build(&d, ctx.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nothere.txt"), "{}", stderr(&out));
}

#[test]
fn onbuild_shell_escape_and_metadata() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[
            ("base.Dockerfile", "FROM busybox\nMAINTAINER someone@example.com\nONBUILD RUN echo triggered > /onbuild.txt\n"),
            ("child.Dockerfile", "FROM ob-base\nRUN cat /onbuild.txt > /seen.txt\n"),
            (
                "shell.Dockerfile",
                "# escape=`\nFROM busybox\nRUN echo a `\n  b > /esc.txt\nSHELL [\"/bin/echo\", \"via-echo\"]\nCMD hello\n",
            ),
        ],
    );
    let f = |n: &str| ctx.path().join(n).to_str().unwrap().to_string();
    built(build(
        &d,
        ctx.path(),
        &["-f", &f("base.Dockerfile"), "-t", "ob-base"],
    ));
    let base = ok(d.pier(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.OnBuild}} {{.Author}}",
        "ob-base",
    ]));
    assert_eq!(
        base,
        r#"["RUN echo triggered > /onbuild.txt"] someone@example.com"#
    );
    // The base image itself did not run its trigger.
    assert!(!d
        .pier(&["run", "--rm", "ob-base", "cat", "/onbuild.txt"])
        .status
        .success());
    let out = d.docker(&[
        "build",
        "-f",
        &f("child.Dockerfile"),
        "-t",
        "ob-child",
        ctx.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("# Executing 1 build trigger"),
        "{}",
        stdout(&out)
    );
    assert_eq!(cat(&d, "ob-child", "/seen.txt"), "triggered");
    let child = ok(d.pier(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.OnBuild}}",
        "ob-child",
    ]));
    assert!(child == "null" || child == "[]", "{child}");

    built(build(
        &d,
        ctx.path(),
        &["-f", &f("shell.Dockerfile"), "-t", "shelled"],
    ));
    assert_eq!(cat(&d, "shelled", "/esc.txt"), "a b");
    assert_eq!(ok(d.pier(&["run", "--rm", "shelled"])), "via-echo hello");
}

#[test]
fn source_date_epoch_gives_reproducible_images() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[
            ("Dockerfile", "FROM busybox\nCOPY f /f\nRUN mkdir /made && date > /made/now && rm /made/now && echo same > /made/x\nWORKDIR /w\n"),
            ("f", "f\n"),
        ],
    );
    let id = |extra: &[&str]| {
        let mut args = vec!["build", "-q", "--no-cache"];
        args.extend_from_slice(extra);
        let p = ctx.path().to_str().unwrap().to_string();
        args.push(&p);
        ok(d.pier(&args))
    };
    let a = id(&["--build-arg", "SOURCE_DATE_EPOCH=1700000000"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let f = std::fs::File::options()
        .write(true)
        .open(ctx.path().join("f"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now()).unwrap();
    let b = id(&["--build-arg", "SOURCE_DATE_EPOCH=1700000000"]);
    assert_eq!(a, b);
    let created = ok(d.pier(&["image", "inspect", "--format", "{{.Created}}", &a]));
    assert_eq!(created, "2023-11-14T22:13:20Z");
    // Without it, every uncached build is a new image.
    let c = id(&[]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_ne!(c, id(&[]));
}

#[test]
fn docker_system_df_and_builder_prune_see_the_cache() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[("Dockerfile", "FROM busybox\nRUN head -c 200000 /dev/zero > /blob\nRUN grep -q h1 /etc/hosts && echo ok > /net\n")],
    );
    let p = ctx.path().to_str().unwrap();
    let out = d.docker(&["build", "--network", "none", "--add-host", "h1:10.9.8.7", p]);
    assert!(out.status.success(), "{}", stderr(&out));
    let df = ok(d.docker(&["system", "df"]));
    let line = df
        .lines()
        .find(|l| l.starts_with("Build Cache"))
        .unwrap_or_default()
        .to_string();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.get(2), Some(&"2"), "{df}");
    assert!(line.contains("200kB"), "{df}");
    let out = ok(d.docker(&["builder", "prune", "-f"]));
    assert!(out.contains("Total reclaimed space: 200kB"), "{out}");
    let df = ok(d.docker(&["system", "df"]));
    let line = df
        .lines()
        .find(|l| l.starts_with("Build Cache"))
        .unwrap_or_default()
        .to_string();
    assert_eq!(line.split_whitespace().nth(2), Some("0"), "{df}");
    // Nothing is cached any more.
    let out = ok(d.docker(&["build", "--network", "none", "--add-host", "h1:10.9.8.7", p]));
    assert!(!out.contains("Using cache"), "{out}");
}

#[test]
fn independent_stages_build_in_parallel() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    // Each stage waits until the other has started: this only finishes if
    // both run at the same time.
    let wait_for = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,id=rendezvous,target=/r sh -c 'touch /r/{me}; i=0; while [ ! -e /r/{other} ]; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done; echo {me} > /{me}.txt'\n"
        )
    };
    let df = format!(
        "FROM busybox AS a\n{}FROM busybox AS b\n{}FROM busybox\nCOPY --from=a /a.txt /\nCOPY --from=b /b.txt /\n",
        wait_for("a", "b"),
        wait_for("b", "a")
    );
    write(ctx.path(), &[("Dockerfile", &df)]);
    let progress = built(build(&d, ctx.path(), &["-t", "par"]));
    assert!(progress.contains("[a 2/2] RUN"), "{progress}");
    assert!(progress.contains("[b 2/2] RUN"), "{progress}");
    assert_eq!(
        ok(d.pier(&["run", "--rm", "par", "cat", "/a.txt", "/b.txt"])),
        "a\nb"
    );
}

#[test]
fn from_platform_and_errors_naming_lines() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM --platform=$BUILDPLATFORM busybox AS b\nARG TARGETOS\nRUN echo $TARGETOS > /os\n",
        )],
    );
    built(build(
        &d,
        ctx.path(),
        &["-t", "plat", "--platform", "linux/amd64"],
    ));
    assert_eq!(cat(&d, "plat", "/os"), "linux");
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM --platform=linux/s390x busybox\nRUN true\n",
        )],
    );
    let out = build(&d, ctx.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("FROM --platform=linux/s390x: only linux/"),
        "{}",
        stderr(&out)
    );
    write(
        ctx.path(),
        &[("Dockerfile", "FROM busybox\nCOPY --from=nostage /x /y\n")],
    );
    let out = d.docker(&["build", ctx.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid from flag value nostage: pull access denied for nostage, repository does not exist or may require 'docker login' (Dockerfile line 2)"),
        "{}",
        stderr(&out)
    );
    write(ctx.path(), &[("Dockerfile", "FROM nosuchbase\n")]);
    let out = d.docker(&["build", ctx.path().to_str().unwrap()]);
    assert!(
        stderr(&out).contains("pull access denied for nosuchbase"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn tty_progress_redraws_in_place() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[
            (
                "Dockerfile",
                "FROM busybox\nRUN echo live-output-line && sleep 0.5\nCOPY f /f\n",
            ),
            ("f", "f"),
        ],
    );
    let mut cmd = d.pier_cmd();
    cmd.args(["build", "-t", "ttyimg", ctx.path().to_str().unwrap()]);
    let (screen, status) = run_in_pty(cmd, &[], std::time::Duration::from_secs(60));
    assert_eq!(status, Some(0), "{screen}");
    assert!(screen.contains("[+] Building"), "{screen}");
    assert!(screen.contains("FINISHED"), "{screen}");
    assert!(
        screen.contains(" => [2/3] RUN echo live-output-line && sleep 0.5"),
        "{screen}"
    );
    // The running step's output is shown under it while it runs.
    assert!(screen.contains(" => => # live-output-line"), "{screen}");
    // Redrawn in place: cursor-up sequences, not a growing log.
    assert!(
        screen.contains("\x1b[") && screen.contains("A\r\x1b[2K"),
        "{screen}"
    );
    let (screen, status) = {
        let mut cmd = d.pier_cmd();
        cmd.args(["build", "-t", "ttyimg", ctx.path().to_str().unwrap()]);
        run_in_pty(cmd, &[], std::time::Duration::from_secs(60))
    };
    assert_eq!(status, Some(0), "{screen}");
    assert!(
        screen.contains(" => CACHED [2/3] RUN echo live-output-line"),
        "{screen}"
    );
}
