//! pierd end to end with the real docker CLI, using `tests/fake_shim.py`
//! (the shim protocol of docs/CONTRACTS.md, processes run on the host) so
//! these tests depend on neither pier-shim nor a container runtime. They
//! check pierd's side: create/attach/wait/start ordering, exit codes,
//! stdin, logs, stop/kill/rm, and recovery after `kill -9`.
//!
//! Skipped (with a note) when the docker CLI or python3 is missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn docker_cli() -> Option<PathBuf> {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn have_python() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Daemon {
    dir: tempfile::TempDir,
    socket: PathBuf,
    docker: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    fn start() -> Option<Daemon> {
        let Some(docker) = docker_cli() else {
            eprintln!("skipping: no docker CLI");
            return None;
        };
        if !have_python() {
            eprintln!("skipping: no python3 for the fake shim");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("pf")
            .tempdir_in("/tmp")
            .unwrap();
        let socket = dir.path().join("d.sock");
        let mut d = Daemon {
            dir,
            socket,
            docker,
            child: None,
        };
        d.spawn();
        d.import_image();
        Some(d)
    }

    fn spawn(&mut self) {
        let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake_shim.py");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("pierd.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pierd"))
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--data-root")
            .arg(self.dir.path().join("root"))
            .arg("--exec-root")
            .arg(self.dir.path().join("run"))
            .arg("--shim-path")
            .arg(shim)
            .env("RUST_LOG", "debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("pierd did not start: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pierd.log")).unwrap_or_default()
    }

    /// An image whose content does not matter: the fake shim runs host binaries.
    fn import_image(&self) {
        let rootfs = self.dir.path().join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        std::fs::write(rootfs.join("marker"), "x").unwrap();
        let tar = self.dir.path().join("rootfs.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        ok(self.docker(&[
            "import",
            "-c",
            "CMD [\"sh\"]",
            tar.to_str().unwrap(),
            "busybox:latest",
        ]));
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.docker);
        c.env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_CONTEXT");
        c
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.cmd().args(args).stdin(Stdio::null()).output().unwrap()
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = stdout(&self.docker(&["ps", "-aq"]));
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = self.docker(&args);
            }
        }
        self.kill9();
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "failed: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn run_echo_exit_codes_and_missing_command() {
    let Some(d) = Daemon::start() else { return };
    assert_eq!(
        ok(d.docker(&["run", "--rm", "busybox", "echo", "hello"])),
        "hello"
    );
    assert_eq!(ok(d.docker(&["ps", "-aq"])), "");
    let o = d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3));
    let o = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("out", "err"));
    let o = d.docker(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(stderr(&o).contains("executable file not found"));
    // --rm removed it even though the start failed.
    assert_eq!(ok(d.docker(&["ps", "-aq"])), "");
    let o = d.docker(&["run", "--name", "kept", "busybox", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127));
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "kept"
        ])),
        "created 127"
    );
}

#[test]
fn detached_lifecycle_logs_stop_rm() {
    let Some(d) = Daemon::start() else { return };
    let id = ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "s",
        "busybox",
        "sh",
        "-c",
        "echo started; sleep 60",
    ]));
    assert_eq!(id.len(), 64);
    let ps = ok(d.docker(&["ps", "--format", "{{.Names}} {{.Status}}"]));
    assert!(ps.starts_with("s Up "), "{ps}");
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.State.Running}}", "s"])),
        "true"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !stdout(&d.docker(&["logs", "s"])).contains("started") {
        assert!(Instant::now() < deadline, "no log line");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ok(d.docker(&["stop", "-t", "1", "s"])), "s");
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.State.Running}}", "s"])),
        "false"
    );
    let o = d.docker(&["kill", "s"]);
    assert!(stderr(&o).contains("is not running"), "{}", stderr(&o));
    assert_eq!(ok(d.docker(&["rm", "s"])), "s");
    assert!(!d.docker(&["inspect", "s"]).status.success());
}

#[test]
fn logs_follow_tail_timestamps_and_wait() {
    let Some(d) = Daemon::start() else { return };
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "l",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; done; sleep 0.5; echo late; exit 4",
    ]));
    assert_eq!(
        ok(d.docker(&["logs", "-f", "l"])),
        "line1\nline2\nline3\nlate"
    );
    assert_eq!(ok(d.docker(&["logs", "--tail", "2", "l"])), "line3\nlate");
    let ts = ok(d.docker(&["logs", "-t", "--tail", "1", "l"]));
    let (stamp, text) = ts.split_once(' ').unwrap();
    assert_eq!(text, "late");
    assert!(stamp.ends_with('Z') && stamp.contains('T'), "{ts}");
    assert_eq!(ok(d.docker(&["wait", "l"])), "4");
}

#[test]
fn stdin_is_forwarded_and_closed() {
    let Some(d) = Daemon::start() else { return };
    let mut c = d.cmd();
    c.args(["run", "-i", "--rm", "busybox", "sh", "-c", "tr a-z A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "SHOUT", "{}", stderr(&out));
}

#[test]
fn kill9_and_restart_recovers_everything() {
    let Some(mut d) = Daemon::start() else { return };
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "s",
        "busybox",
        "sh",
        "-c",
        "echo a; sleep 60",
    ]));
    ok(d.docker(&["create", "--name", "c", "busybox", "true"]));
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "x",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; exit 9",
    ]));
    ok(d.docker(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "gone",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5",
    ]));
    d.kill9();
    std::thread::sleep(Duration::from_millis(1500));
    d.spawn();
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.State.Running}}", "s"])),
        "true"
    );
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.State.Status}}", "c"])),
        "created"
    );
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.State.ExitCode}}",
            "x"
        ])),
        "false 9"
    );
    assert!(!d.docker(&["inspect", "gone"]).status.success());
    // Still controllable after the reconnect.
    ok(d.docker(&["stop", "-t", "1", "s"]));
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.State.Running}}", "s"])),
        "false"
    );
}
