//! `run`/`create` with `--pull never|missing|bogus` and `--platform`:
//! pier prints what the docker CLI prints against the same daemon, with the
//! same exit codes.
mod common;
use common::*;

#[test]
fn pull_and_platform_errors_match_docker() {
    let d = Daemon::start();
    let cases: &[&[&str]] = &[
        &["run", "--rm", "--pull", "never", "nosuch:v1", "true"],
        &["create", "--pull", "never", "nosuch:v1"],
        &["run", "--rm", "--pull", "bogus", "busybox", "true"],
        &["create", "--pull", "bogus", "busybox"],
        &[
            "run",
            "--rm",
            "--platform",
            "linux/amd64",
            "busybox",
            "echo",
            "ok",
        ],
        &["run", "--rm", "--pull", "never", "busybox", "echo", "ok"],
        &["run", "--rm", "--pull", "missing", "busybox", "echo", "ok"],
        &[
            "run",
            "--rm",
            "--platform",
            "not/a/valid/platform",
            "busybox",
            "true",
        ],
    ];
    for args in cases {
        let p = d.pier(args);
        let k = d.docker(args);
        // The program names its own name where docker names itself.
        let pe = stderr(&p)
            .replace("pier: ", "docker: ")
            .replace("'pier ", "'docker ");
        assert_eq!(
            (p.status.code(), stdout(&p), pe),
            (k.status.code(), stdout(&k), stderr(&k)),
            "{args:?}"
        );
    }
}
