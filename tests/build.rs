//! `pier build` and the real docker CLI's classic build (`DOCKER_BUILDKIT=0`)
//! against pierd, on the local busybox image.
mod common;
use common::build::{build as pier_build, built, write};
use common::*;

fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), files);
    t
}

fn image_id(d: &Daemon, name: &str) -> String {
    ok(d.pier(&["image", "inspect", "--format", "{{.Id}}", name]))
}

/// Lines of the plain progress that carry `#N CACHED` for a step text.
fn cached_steps(progress: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in progress.lines() {
        if let Some(rest) = line.strip_prefix('#') {
            let (n, text) = rest.split_once(' ').unwrap_or((rest, ""));
            if text.starts_with('[') {
                current = Some((n.to_string(), text.to_string()));
            } else if text == "CACHED" {
                if let Some((cn, t)) = &current {
                    if cn == n {
                        out.push(t.clone());
                    }
                }
            }
        }
    }
    out
}

#[test]
fn multi_stage_copy_from_and_small_final_images() {
    let d = Daemon::start();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox AS builder\nWORKDIR /src\nRUN echo 'built artifact' > app.txt && mkdir -p /junk && dd if=/dev/zero of=/junk/big bs=1024 count=512\n\
         FROM busybox AS final\nCOPY --from=builder /src/app.txt /app/app.txt\nCMD [\"cat\", \"/app/app.txt\"]\n\
         FROM scratch AS tiny\nCOPY --from=builder /src/app.txt /app.txt\nCOPY --from=1 /app/app.txt /again.txt\n",
    )]);
    let progress = built(pier_build(
        &d,
        ctx.path(),
        &["-t", "ms:final", "--target", "final"],
    ));
    assert!(progress.contains("[builder 3/3] RUN echo"), "{progress}");
    assert!(!progress.contains("[tiny"), "{progress}");
    assert_eq!(ok(d.pier(&["run", "--rm", "ms:final"])), "built artifact");
    // The final image does not carry the builder's 512 KiB file.
    let out = d.pier(&["run", "--rm", "ms:final", "ls", "/junk"]);
    assert!(!out.status.success());

    built(pier_build(
        &d,
        ctx.path(),
        &["-t", "ms:tiny", "--target", "tiny"],
    ));
    let layers = ok(d.pier(&[
        "image",
        "inspect",
        "--format",
        "{{len .RootFS.Layers}} {{.Size}}",
        "ms:tiny",
    ]));
    let (n, size) = layers.split_once(' ').unwrap();
    assert_eq!(n, "2");
    assert!(
        size.parse::<u64>().unwrap() < 100,
        "tiny image is {size} bytes"
    );
    // The same Dockerfile through the real docker CLI's classic builder.
    let out = d.docker(&["build", "-t", "ms:docker", ctx.path().to_str().unwrap()]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text} {}", stderr(&out));
    assert!(
        text.contains("Step 1/9 : FROM busybox AS builder"),
        "{text}"
    );
    assert!(text.contains(" ---> Using cache"), "{text}");
    assert!(text.contains("Successfully tagged ms:docker"), "{text}");
    // docker built the last stage (tiny); its ID is the same as pier's.
    assert_eq!(image_id(&d, "ms:docker"), image_id(&d, "ms:tiny"));
}

#[test]
fn rebuild_hits_cache_and_source_change_rebuilds_from_that_step() {
    let d = Daemon::start();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nWORKDIR /app\nCOPY deps.txt .\nRUN cp deps.txt installed.txt && echo installing\nCOPY src/ ./src/\nRUN cat src/main.txt > out.txt\nCMD [\"cat\", \"/app/out.txt\"]\n",
        ),
        ("deps.txt", "dep-a\n"),
        ("src/main.txt", "version 1\n"),
    ]);
    let iid1 = ctx.path().join("iid1");
    built(pier_build(
        &d,
        ctx.path(),
        &["-t", "app", "--iidfile", iid1.to_str().unwrap()],
    ));
    assert_eq!(ok(d.pier(&["run", "--rm", "app"])), "version 1");
    let first = std::fs::read_to_string(&iid1).unwrap();
    assert!(first.starts_with("sha256:"));

    // Same context, new mtimes: everything is cached, same image ID.
    let f = std::fs::File::options()
        .write(true)
        .open(ctx.path().join("deps.txt"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    let iid2 = ctx.path().join("iid2");
    let progress = built(pier_build(
        &d,
        ctx.path(),
        &["-t", "app", "--iidfile", iid2.to_str().unwrap()],
    ));
    assert_eq!(cached_steps(&progress).len(), 6, "{progress}");
    assert_eq!(std::fs::read_to_string(&iid2).unwrap(), first);

    // A source-only change: the dependency steps stay cached.
    write(ctx.path(), &[("src/main.txt", "version 2\n")]);
    let progress = built(pier_build(&d, ctx.path(), &["-t", "app"]));
    let cached = cached_steps(&progress);
    assert_eq!(
        cached,
        [
            "[2/7] WORKDIR /app",
            "[3/7] COPY deps.txt .",
            "[4/7] RUN cp deps.txt installed.txt && echo installing"
        ],
        "{progress}"
    );
    assert_eq!(ok(d.pier(&["run", "--rm", "app"])), "version 2");
    assert_ne!(image_id(&d, "app"), first.trim());

    // --no-cache rebuilds everything.
    let progress = built(pier_build(&d, ctx.path(), &["--no-cache", "-t", "app"]));
    assert!(cached_steps(&progress).is_empty(), "{progress}");
    // builder prune forgets the cache.
    let out = d.pier(&["builder", "prune", "-f"]);
    assert!(ok(out).contains("Total reclaimed space:"));
    let progress = built(pier_build(&d, ctx.path(), &["-t", "app2"]));
    assert!(cached_steps(&progress).is_empty(), "{progress}");
}

#[test]
fn cache_survives_a_daemon_restart() {
    let mut d = Daemon::start();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY f /f\nRUN echo restarted >> /f\n",
        ),
        ("f", "x\n"),
    ]);
    built(pier_build(&d, ctx.path(), &["-t", "keep"]));
    let before = image_id(&d, "keep");
    d.stop();
    d.restart();
    let progress = built(pier_build(&d, ctx.path(), &["-t", "keep"]));
    assert_eq!(cached_steps(&progress).len(), 2, "{progress}");
    assert_eq!(image_id(&d, "keep"), before);
    // The classic API reports the hits too.
    let out = d.docker(&["build", "-t", "keep", ctx.path().to_str().unwrap()]);
    assert_eq!(
        stdout(&out).matches(" ---> Using cache").count(),
        2,
        "{}",
        stdout(&out)
    );
}

#[test]
fn dockerignore_excludes_files() {
    let d = Daemon::start();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nCOPY . /ctx\n"),
        (
            ".dockerignore",
            "# comment\n*.log\n!keep.log\nsecret/\n**/tmp\n/Dockerfile\n",
        ),
        ("a.txt", "a"),
        ("debug.log", "x"),
        ("keep.log", "k"),
        ("secret/key", "s"),
        ("deep/dir/tmp/t", "t"),
        ("deep/dir/ok.txt", "o"),
    ]);
    built(pier_build(&d, ctx.path(), &["-t", "ign"]));
    let listing = ok(d.pier(&["run", "--rm", "ign", "find", "/ctx", "-type", "f"]));
    let mut files: Vec<&str> = listing.lines().collect();
    files.sort();
    assert_eq!(
        files,
        [
            "/ctx/.dockerignore",
            "/ctx/a.txt",
            "/ctx/deep/dir/ok.txt",
            "/ctx/keep.log"
        ]
    );
    // The docker CLI applies the same rules.
    ok(d.docker(&["build", "-t", "ign-docker", ctx.path().to_str().unwrap()]));
    let listing = ok(d.pier(&["run", "--rm", "ign-docker", "find", "/ctx", "-type", "f"]));
    let mut docker_files: Vec<&str> = listing.lines().collect();
    docker_files.sort();
    assert_eq!(docker_files, files);
}

#[test]
fn run_failure_reports_command_output_and_exit_code() {
    let d = Daemon::start();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo ok\nRUN echo oops; exit 3\nRUN echo never\n",
    )]);
    let out = pier_build(&d, ctx.path(), &["-t", "fails"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("#5 ERROR: process \"/bin/sh -c echo oops; exit 3\" did not complete successfully: exit code: 3"), "{err}");
    assert!(err.contains(" > [3/4] RUN echo oops; exit 3:"), "{err}");
    assert!(err.contains("oops"), "{err}");
    assert!(err.contains("Dockerfile:3"), "{err}");
    assert!(!err.contains("never"), "{err}");
    assert!(!ok(d.pier(&["images", "-q", "fails"])).contains(char::is_alphanumeric));

    let out = d.docker(&["build", ctx.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stdout(&out).contains("oops"));
    assert!(
        stderr(&out)
            .contains("The command '/bin/sh -c echo oops; exit 3' returned a non-zero code: 3"),
        "{}",
        stderr(&out)
    );
    // Intermediate containers are not left behind.
    assert_eq!(ok(d.pier(&["ps", "-aq"])), "");
    // A syntax error names its line.
    write(ctx.path(), &[("Dockerfile", "FROM busybox\n\nBOGUS x\n")]);
    let out = d.docker(&["build", ctx.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("dockerfile parse error on line 3: unknown instruction: BOGUS"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn entrypoint_and_cmd_interplay() {
    let d = Daemon::start();
    let ctx = context(&[
        (
            "exec.Dockerfile",
            "FROM busybox\nENTRYPOINT [\"echo\", \"ep\"]\nCMD [\"default\"]\n",
        ),
        (
            "shell.Dockerfile",
            "FROM busybox\nENTRYPOINT echo shell-form\nCMD [\"ignored\"]\n",
        ),
        (
            "reset.Dockerfile",
            "FROM busybox\nENTRYPOINT [\"echo\", \"only-ep\"]\n",
        ),
        (
            "cmdshell.Dockerfile",
            "FROM busybox\nENV WHO=world\nCMD echo hello $WHO\n",
        ),
    ]);
    let f = |n: &str| ctx.path().join(n).to_str().unwrap().to_string();
    built(pier_build(
        &d,
        ctx.path(),
        &["-f", &f("exec.Dockerfile"), "-t", "ep-exec"],
    ));
    assert_eq!(ok(d.pier(&["run", "--rm", "ep-exec"])), "ep default");
    assert_eq!(ok(d.pier(&["run", "--rm", "ep-exec", "given"])), "ep given");
    built(pier_build(
        &d,
        ctx.path(),
        &["-f", &f("shell.Dockerfile"), "-t", "ep-shell"],
    ));
    assert_eq!(
        ok(d.pier(&["run", "--rm", "ep-shell", "arg"])),
        "shell-form"
    );
    // ENTRYPOINT resets the CMD inherited from busybox (["sh"]).
    built(pier_build(
        &d,
        ctx.path(),
        &["-f", &f("reset.Dockerfile"), "-t", "ep-reset"],
    ));
    assert_eq!(ok(d.pier(&["run", "--rm", "ep-reset"])), "only-ep");
    let cmd = ok(d.pier(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Cmd}}",
        "ep-reset",
    ]));
    assert_eq!(cmd, "null");
    let out = d.docker(&[
        "build",
        "-f",
        &f("cmdshell.Dockerfile"),
        "-t",
        "cmd-shell",
        ctx.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ok(d.pier(&["run", "--rm", "cmd-shell"])), "hello world");
    let cmd = ok(d.pier(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Cmd}}",
        "cmd-shell",
    ]));
    assert_eq!(cmd, r#"["/bin/sh","-c","echo hello $WHO"]"#);
}

#[test]
fn arg_and_env_substitution() {
    let d = Daemon::start();
    let ctx = context(&[
        (
            "Dockerfile",
            "ARG BASE=busybox\nFROM ${BASE}\nARG WHO=nobody\nARG EMPTY\nENV GREETING=\"hello ${WHO}\" DIR=/opt/${WHO:-x} FLAG=${EMPTY:+set} DEF=${EMPTY:-fallback}\n\
             LABEL who=$WHO\nWORKDIR $DIR\nCOPY f.txt ${DIR}/copied.txt\n\
             RUN echo \"$GREETING|$FLAG|$DEF|$WHO\" > /out.txt\n",
        ),
        ("f.txt", "f"),
    ]);
    let out = pier_build(
        &d,
        ctx.path(),
        &[
            "-t",
            "args",
            "--build-arg",
            "WHO=pier",
            "--build-arg",
            "UNUSED=1",
        ],
    );
    let progress = built(out);
    assert!(
        progress.contains("[Warning] One or more build-args [UNUSED] were not consumed"),
        "{progress}"
    );
    assert_eq!(
        ok(d.pier(&["run", "--rm", "args", "cat", "/out.txt"])),
        "hello pier||fallback|pier"
    );
    assert_eq!(ok(d.pier(&["run", "--rm", "args", "pwd"])), "/opt/pier");
    assert_eq!(
        ok(d.pier(&["run", "--rm", "args", "cat", "/opt/pier/copied.txt"])),
        "f"
    );
    let labels = ok(d.pier(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        "args",
    ]));
    assert_eq!(labels, r#"{"who":"pier"}"#);
    // ARG values are not persisted in the image's environment.
    let env = ok(d.pier(&["run", "--rm", "args", "env"]));
    assert!(env.contains("GREETING=hello pier"));
    assert!(!env.lines().any(|l| l.starts_with("WHO=")), "{env}");
    // docker's --build-arg and --label reach the same builder.
    let out = d.docker(&[
        "build",
        "--build-arg",
        "WHO=docker",
        "--label",
        "extra=yes",
        "-t",
        "args-docker",
        ctx.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        ok(d.pier(&["run", "--rm", "args-docker", "cat", "/out.txt"])),
        "hello docker||fallback|docker"
    );
    let labels = ok(d.pier(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        "args-docker",
    ]));
    assert_eq!(labels, r#"{"extra":"yes","who":"docker"}"#);
}

#[test]
fn heredocs_in_run_and_copy() {
    let d = Daemon::start();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nENV NAME=heredoc\nRUN <<EOF\nset -e\necho first > /h.txt\necho \"second $NAME\" >> /h.txt\nEOF\n\
         COPY <<EOT /etc/conf.txt\nname=$NAME\nEOT\nCOPY <<'RAW' /raw.txt\nkeep $NAME\nRAW\nRUN cat <<X > /fed.txt\nfed by heredoc\nX\n",
    )]);
    built(pier_build(&d, ctx.path(), &["-t", "hd"]));
    assert_eq!(
        ok(d.pier(&["run", "--rm", "hd", "cat", "/h.txt"])),
        "first\nsecond heredoc"
    );
    assert_eq!(
        ok(d.pier(&["run", "--rm", "hd", "cat", "/etc/conf.txt"])),
        "name=heredoc"
    );
    assert_eq!(
        ok(d.pier(&["run", "--rm", "hd", "cat", "/raw.txt"])),
        "keep $NAME"
    );
    assert_eq!(
        ok(d.pier(&["run", "--rm", "hd", "cat", "/fed.txt"])),
        "fed by heredoc"
    );
}

#[test]
fn user_workdir_and_chown() {
    let d = Daemon::start();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nRUN echo 'app:x:1000:1001::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1001:' >> /etc/group && mkdir -p /home/app && chown 1000:1001 /home/app\n\
             WORKDIR /home/app/work\nCOPY --chown=app:app --chmod=600 data.txt ./\nCOPY --chown=1234 data.txt /numeric.txt\nRUN chown app:app .\nUSER app\nRUN id -u > whoami.txt && touch made-by-run\n",
        ),
        ("data.txt", "d"),
    ]);
    built(pier_build(&d, ctx.path(), &["-t", "usr"]));
    assert_eq!(ok(d.pier(&["run", "--rm", "usr", "id", "-u"])), "1000");
    assert_eq!(ok(d.pier(&["run", "--rm", "usr", "pwd"])), "/home/app/work");
    assert_eq!(
        ok(d.pier(&["run", "--rm", "usr", "cat", "whoami.txt"])),
        "1000"
    );
    assert_eq!(
        ok(d.pier(&[
            "run",
            "--rm",
            "usr",
            "stat",
            "-c",
            "%u:%g %a",
            "data.txt",
            "made-by-run",
            "/numeric.txt"
        ])),
        "1000:1001 600\n1000:1001 644\n1234:1234 644"
    );
    // An unknown --chown user is an error naming the user.
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM busybox\nCOPY --chown=ghost data.txt /\n",
        )],
    );
    let out = pier_build(&d, ctx.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no such user: ghost"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn target_builds_only_the_needed_stages() {
    let d = Daemon::start();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox AS base\nRUN echo base > /base.txt\n\
         FROM busybox AS broken\nRUN exit 9\n\
         FROM base AS app\nRUN cat /base.txt > /app.txt\n\
         FROM busybox AS other\nCOPY --from=app /app.txt /\n",
    )]);
    let progress = built(pier_build(
        &d,
        ctx.path(),
        &["--target", "app", "-t", "tgt"],
    ));
    assert!(!progress.contains("broken"), "{progress}");
    assert!(!progress.contains("[other"), "{progress}");
    assert_eq!(
        ok(d.pier(&["run", "--rm", "tgt", "cat", "/app.txt"])),
        "base"
    );
    // The last stage needs base and app, still not broken.
    let progress = built(pier_build(&d, ctx.path(), &["-t", "last"]));
    assert!(!progress.contains("broken"), "{progress}");
    assert_eq!(
        ok(d.pier(&["run", "--rm", "last", "cat", "/app.txt"])),
        "base"
    );
    let out = pier_build(&d, ctx.path(), &["--target", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("failed to reach build target nope in Dockerfile"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn contexts_from_stdin_and_dockerfiles_outside() {
    let d = Daemon::start();
    let outside = tempfile::tempdir().unwrap();
    write(
        outside.path(),
        &[(
            "Build.df",
            "FROM busybox\nCOPY in.txt /in.txt\nCOPY . /c/\n",
        )],
    );
    let ctx = context(&[("in.txt", "inside\n")]);
    let df = outside.path().join("Build.df");
    built(pier_build(
        &d,
        ctx.path(),
        &["-f", df.to_str().unwrap(), "-t", "outside"],
    ));
    assert_eq!(
        ok(d.pier(&["run", "--rm", "outside", "cat", "/in.txt"])),
        "inside"
    );
    // The Dockerfile is sent under a random name that .dockerignore hides
    // from COPY, as the docker CLI does.
    let listing = ok(d.pier(&["run", "--rm", "outside", "ls", "-A", "/c"]));
    assert_eq!(listing, ".dockerignore\nin.txt");

    // -f - with a directory context.
    let mut c = d.pier_cmd();
    c.args([
        "build",
        "-q",
        "-f",
        "-",
        "-t",
        "fromstdin",
        ctx.path().to_str().unwrap(),
    ]);
    let id = ok(common::output_with_stdin(
        &mut c,
        b"FROM busybox\nCOPY in.txt /x\n",
    ));
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(image_id(&d, "fromstdin"), id);

    // `-`: a Dockerfile on stdin (no context) and a tar on stdin.
    let mut c = d.pier_cmd();
    c.args(["build", "-q", "-t", "dfonly", "-"]);
    ok(common::output_with_stdin(
        &mut c,
        b"FROM busybox\nRUN echo from-stdin > /s\n",
    ));
    assert_eq!(
        ok(d.pier(&["run", "--rm", "dfonly", "cat", "/s"])),
        "from-stdin"
    );
    let tar = std::process::Command::new("tar")
        .args(["-C", ctx.path().to_str().unwrap(), "-cf", "-", "."])
        .output()
        .unwrap();
    write(
        ctx.path(),
        &[("Dockerfile", "FROM busybox\nCOPY in.txt /t\n")],
    );
    let tar = std::process::Command::new("tar")
        .args(["-C", ctx.path().to_str().unwrap(), "-czf", "-", "."])
        .output()
        .map(|o| o.stdout)
        .unwrap_or(tar.stdout);
    let mut c = d.pier_cmd();
    c.args(["build", "-q", "-t", "fromtar", "-"]);
    ok(common::output_with_stdin(&mut c, &tar));
    assert_eq!(
        ok(d.pier(&["run", "--rm", "fromtar", "cat", "/t"])),
        "inside"
    );
}

#[test]
fn docker_cli_classic_stream_quiet_and_iidfile() {
    let d = Daemon::start();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nRUN echo step-output\nCOPY f /f\nEXPOSE 8080\nVOLUME /data\nSTOPSIGNAL SIGINT\nHEALTHCHECK --interval=5s CMD true\n"),
        ("f", "f"),
    ]);
    let out = d.docker(&[
        "build",
        "-t",
        "cl:1",
        "-t",
        "cl:2",
        ctx.path().to_str().unwrap(),
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text} {}", stderr(&out));
    assert!(
        text.contains("Step 2/7 : RUN echo step-output\n ---> Running in "),
        "{text}"
    );
    assert!(text.contains("\nstep-output\n"), "{text}");
    assert!(
        text.contains(" ---> Removed intermediate container "),
        "{text}"
    );
    let short = image_id(&d, "cl:1")[7..19].to_string();
    assert!(
        text.contains(&format!("Successfully built {short}\n")),
        "{text}"
    );
    assert!(
        text.contains("Successfully tagged cl:1\nSuccessfully tagged cl:2\n"),
        "{text}"
    );
    assert_eq!(image_id(&d, "cl:2"), image_id(&d, "cl:1"));
    let cfg = ok(d.pier(&["image", "inspect", "--format", "{{json .Config.ExposedPorts}} {{json .Config.Volumes}} {{.Config.StopSignal}} {{json .Config.Healthcheck.Test}}", "cl:1"]));
    assert_eq!(
        cfg,
        r#"{"8080/tcp":{}} {"/data":{}} SIGINT ["CMD-SHELL","true"]"#
    );
    // -q prints only the ID; --iidfile gets it too.
    let iid = ctx.path().join("iid");
    let out = d.docker(&[
        "build",
        "-q",
        "--iidfile",
        iid.to_str().unwrap(),
        ctx.path().to_str().unwrap(),
    ]);
    let q = ok(out);
    assert_eq!(q, image_id(&d, "cl:1"));
    // (docker's -q output, newline included, is what it writes.)
    assert_eq!(std::fs::read_to_string(&iid).unwrap().trim(), q);
    // The builder's containers are gone.
    assert_eq!(ok(d.docker(&["ps", "-aq"])), "");
    // --platform for the host is accepted, another one refused.
    ok(d.docker(&[
        "build",
        "-q",
        "--platform",
        "linux/amd64",
        ctx.path().to_str().unwrap(),
    ]));
}
