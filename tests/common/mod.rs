//! Harness for the end-to-end tests: every test starts its own `pierd` on a
//! fresh data root, exec root and socket, so tests share no state and can run
//! in parallel. Clients are the project's `pier` and the real docker CLI.
#![allow(dead_code)]

pub mod build;
pub mod compose;
pub mod network;
pub mod registry;
pub mod volumes;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where cargo put the workspace binaries.
pub fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target")
}

pub fn bin(name: &str) -> PathBuf {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let p = target_dir().join(profile).join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        p.display()
    );
    p
}

/// The docker-save tar of `busybox:latest`, built once per test run by the
/// project's own script.
pub fn busybox_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let out = target_dir().join("images").join("busybox.tar");
        if !out.exists() {
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-busybox-image.sh");
            let st = Command::new("bash")
                .arg(script)
                .arg(&out)
                .status()
                .expect("run build-busybox-image.sh");
            assert!(st.success(), "build-busybox-image.sh failed");
        }
        out
    })
    .clone()
}

pub fn docker_cli() -> PathBuf {
    for p in ["/usr/local/bin/docker", "/usr/bin/docker"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("the docker CLI is missing: scripts/test.sh installs it");
}

/// One running pierd with its own roots.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// This daemon's unique bridge, subnets and nftables names.
    pub net: network::NetSlot,
    child: Option<Child>,
    /// Extra pierd flags (see `start_empty_with`).
    extra_args: Vec<String>,
}

impl Daemon {
    /// Starts pierd and loads busybox:latest into it.
    pub fn start() -> Daemon {
        Self::start_with(&[])
    }

    /// Starts pierd with extra flags and loads busybox:latest into it.
    pub fn start_with(extra_args: &[&str]) -> Daemon {
        let d = Self::start_empty_with(extra_args);
        // Through the API directly, so every test does not depend on one client.
        let tar = std::fs::read(busybox_tar()).expect("read busybox tar");
        let r = raw_request(
            &d.socket,
            "POST",
            "/images/load?quiet=1",
            Some(&tar),
            &[("Content-Type", "application/x-tar")],
        )
        .expect("POST /images/load");
        assert_eq!(
            r.status,
            200,
            "load failed: {}",
            String::from_utf8_lossy(&r.body)
        );
        d
    }

    /// Starts pierd with no images.
    pub fn start_empty() -> Daemon {
        Self::start_empty_with(&[])
    }

    /// Starts pierd with extra flags and no images.
    pub fn start_empty_with(extra_args: &[&str]) -> Daemon {
        // Short paths: unix socket paths must stay under 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("pt")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let socket = dir.path().join("d.sock");
        let data_root = dir.path().join("root");
        let exec_root = dir.path().join("run");
        let mut d = Daemon {
            dir,
            socket,
            data_root,
            exec_root,
            net: network::NetSlot::acquire(),
            child: None,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("pierd.log"))
            .expect("pierd log");
        let child = Command::new(bin("pierd"))
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("--shim-path")
            .arg(bin("pier-shim"))
            .args(self.net.daemon_args())
            .args(&self.extra_args)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn pierd");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(st)) = child.try_wait() {
                    panic!("pierd exited early with {st}: {}", self.log());
                }
            }
            if let Ok(resp) = self.raw_request("GET", "/_ping", None) {
                if resp.status == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("pierd did not answer /_ping: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pierd.log")).unwrap_or_default()
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn pierd_pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).expect("pierd running")
    }

    /// kill -9 the daemon, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("pierd running");
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        c.wait().expect("wait pierd")
    }

    /// Starts pierd again on the same roots.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill pierd first");
        self.spawn();
    }

    pub fn pier(&self, args: &[&str]) -> Output {
        Command::new(bin("pier"))
            .arg("-H")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run pier")
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    pub fn docker_cmd(&self) -> Command {
        let mut c = Command::new(docker_cli());
        c.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env("DOCKER_BUILDKIT", "0")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY");
        c
    }

    pub fn pier_cmd(&self) -> Command {
        let mut c = Command::new(bin("pier"));
        c.arg("-H").arg(self.host());
        c
    }

    /// A plain HTTP/1.1 request on the socket; returns status, headers, body.
    pub fn raw_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> std::io::Result<RawResponse> {
        raw_request(&self.socket, method, path, body, &[])
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            // Remove containers through the API so shims, mounts and cgroups go away.
            if let Ok(o) = Command::new(bin("pier"))
                .arg("-H")
                .arg(self.host())
                .args(["ps", "-aq"])
                .output()
            {
                let ids: Vec<String> = String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect();
                if !ids.is_empty() {
                    let _ = Command::new(bin("pier"))
                        .arg("-H")
                        .arg(self.host())
                        .args(["rm", "-f"])
                        .args(&ids)
                        .output();
                }
            }
            self.kill9();
        }
        // Bridges and nftables tables a killed daemon leaves behind.
        self.net.cleanup();
        // Anything still mounted under our temp dir (a test that failed midway).
        let root = self.dir.path().to_string_lossy().to_string();
        if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
            let mut mounts: Vec<&str> = info
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|m| m.starts_with(&root))
                .collect();
            mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in mounts {
                let c = std::ffi::CString::new(m).unwrap_or_default();
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

pub fn raw_request(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    extra_headers: &[(&str, &str)],
) -> std::io::Result<RawResponse> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n");
    for (k, v) in extra_headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        if !extra_headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req.push_str("Content-Type: application/json\r\n");
        }
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    if let Some(b) = body {
        s.write_all(b)?;
    }
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        if data.len() < start + size {
            break;
        }
        out.extend_from_slice(&data[start..start + size]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// Runs `cmd` with `input` on its stdin (then closed) and collects its
/// output.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Asserts success and returns trimmed stdout.
#[track_caller]
pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "command failed ({:?}): stdout={} stderr={}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o).trim().to_string()
}

/// Polls `f` until it is true or the timeout passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Runs a command under a fresh pseudo-terminal (as a user's shell would),
/// writes `input` to it, and returns everything the terminal showed plus the
/// exit status.
pub fn run_in_pty(
    mut cmd: Command,
    input: &[(Duration, &[u8])],
    timeout: Duration,
) -> (String, Option<i32>) {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    let ws = libc::winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        )
    };
    assert_eq!(rc, 0, "openpty");
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    let slave_fd = {
        use std::os::fd::AsRawFd;
        slave.as_raw_fd()
    };
    cmd.stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave.try_clone().expect("dup")));
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            libc::ioctl(slave_fd, libc::TIOCSCTTY as _, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn under pty");
    drop(slave);
    let mut master_file = std::fs::File::from(master);
    let reader = master_file.try_clone().expect("dup master");
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut reader = reader;
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut seen = Vec::new();
    for (delay, bytes) in input {
        let until = Instant::now() + *delay;
        while let Ok(chunk) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            seen.extend_from_slice(&chunk);
        }
        let _ = master_file.write_all(bytes);
    }
    let deadline = Instant::now() + timeout;
    let mut status = None;
    while Instant::now() < deadline {
        while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(20)) {
            seen.extend_from_slice(&chunk);
        }
        if let Ok(Some(st)) = child.try_wait() {
            status = st.code();
            break;
        }
    }
    if status.is_none() {
        let _ = child.kill();
    }
    // Reaps the child in every case (a no-op when try_wait already did).
    let _ = child.wait();
    while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(50)) {
        seen.extend_from_slice(&chunk);
    }
    (String::from_utf8_lossy(&seen).to_string(), status)
}
