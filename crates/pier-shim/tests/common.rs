//! Shared fixture for the shim's integration tests: a busybox layer, an OCI
//! bundle written with pier-runtime, and helpers to drive the compiled shim.
#![allow(dead_code)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pier_runtime::{
    build_spec, launch_shim, write_spec_atomic, Launched, RootfsLayers, RuntimeError, ShimConfig,
    ShimConnection, ShimEvent, ShimRequest, SpecInput,
};

pub const SHIM: &str = env!("CARGO_BIN_EXE_pier-shim");

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Skips (returns true) when not root; the shim needs mounts and namespaces.
pub fn skip() -> bool {
    if !is_root() {
        eprintln!("skipping: the shim tests need root");
        return true;
    }
    assert!(
        Path::new("/bin/busybox").exists(),
        "install busybox-static (apt-get install -y busybox-static)"
    );
    false
}

/// Writes a busybox root filesystem into `dir` (one overlay lower layer).
pub fn busybox_layer(dir: &Path) {
    for d in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "home/alice",
    ] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .unwrap();
    for name in String::from_utf8_lossy(&list.stdout).lines() {
        let link = dir.join("bin").join(name);
        if name != "busybox" && !link.exists() {
            symlink("busybox", link).unwrap();
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         alice:x:1000:1000:Alice:/home/alice:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\nwheel:x:10:alice\naudio:x:29:alice,bob\nalice:x:1000:\nnogroup:x:65534:\n",
    )
    .unwrap();
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_id() -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    format!(
        "{:08x}{:04x}{:012x}",
        std::process::id(),
        n,
        t & 0xffff_ffff_ffff
    )
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub id: String,
    pub bundle: PathBuf,
    pub cfg: ShimConfig,
    pub spec: SpecInput,
}

impl Fixture {
    /// A bundle running `args` with Docker's defaults; `tweak` may change the
    /// spec input and shim config before they are written.
    pub fn new(args: &[&str], tweak: impl FnOnce(&mut SpecInput, &mut ShimConfig)) -> Fixture {
        Self::with_layer(None, args, tweak)
    }

    /// Like [`Fixture::new`], with an existing busybox layer (or a new one).
    pub fn with_layer(
        layer: Option<&Path>,
        args: &[&str],
        tweak: impl FnOnce(&mut SpecInput, &mut ShimConfig),
    ) -> Fixture {
        // Short paths: the socket must stay under 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("ps")
            .tempdir_in("/tmp")
            .unwrap();
        let id = unique_id();
        let layer = match layer {
            Some(l) => l.to_path_buf(),
            None => {
                let l = dir.path().join("l");
                busybox_layer(&l);
                l
            }
        };
        let bundle = dir.path().join("b");
        for d in ["rootfs", "diff", "work"] {
            std::fs::create_dir_all(bundle.join(d)).unwrap();
        }
        std::fs::write(bundle.join("hostname"), format!("{}\n", &id[..12])).unwrap();
        std::fs::write(bundle.join("hosts"), "127.0.0.1\tlocalhost\n").unwrap();
        std::fs::write(bundle.join("resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
        let mut spec = SpecInput {
            id: id.clone(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                format!("HOSTNAME={}", &id[..12]),
            ],
            cwd: "/".into(),
            hostname: id[..12].to_string(),
            hostname_path: bundle.join("hostname"),
            hosts_path: bundle.join("hosts"),
            resolv_conf_path: bundle.join("resolv.conf"),
            ..Default::default()
        };
        let run = dir.path().join("r");
        let mut cfg = ShimConfig {
            id: id.clone(),
            bundle: bundle.clone(),
            rootfs: RootfsLayers {
                lower: vec![layer],
                upper: bundle.join("diff"),
                work: bundle.join("work"),
            },
            runtime_root: run.join("rt"),
            socket: run.join("shim").join(format!("{}.sock", &id[..12])),
            log: Some(bundle.join(format!("{id}-json.log"))),
            exit_file: bundle.join("exit.json"),
            tty: false,
            open_stdin: false,
            ephemeral: false,
            user: String::new(),
            log_max_size: 0,
            log_max_files: 0,
            log_attrs: Default::default(),
        };
        tweak(&mut spec, &mut cfg);
        spec.tty = cfg.tty;
        write_spec_atomic(&build_spec(&spec), &bundle.join("config.json")).unwrap();
        cfg.write_atomic(&bundle.join("shim.json")).unwrap();
        Fixture {
            dir,
            id,
            bundle,
            cfg,
            spec,
        }
    }

    pub async fn launch(&self) -> Result<Launched, RuntimeError> {
        launch_shim(Path::new(SHIM), &self.cfg, &self.bundle.join("shim.json")).await
    }

    pub async fn connect(&self) -> ShimConnection {
        ShimConnection::connect(&self.cfg.socket).await.unwrap()
    }

    /// Rewrites config.json after `f` changed the spec.
    pub fn patch_spec(&self, f: impl FnOnce(&mut oci_spec::runtime::Spec)) {
        let p = self.bundle.join("config.json");
        let mut spec = oci_spec::runtime::Spec::load(&p).unwrap();
        f(&mut spec);
        write_spec_atomic(&spec, &p).unwrap();
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }

    pub fn exit_record(&self) -> Option<pier_runtime::ExitRecord> {
        pier_runtime::read_exit_record(&self.cfg.exit_file).unwrap()
    }

    pub fn log_entries(&self) -> Vec<serde_json::Value> {
        let p = self.cfg.log.as_ref().unwrap();
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Everything the container leaves behind is gone: mount, cgroups,
    /// runtime state, socket.
    pub fn assert_clean(&self) {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let root = self.rootfs();
        assert!(
            !mountinfo
                .lines()
                .any(|l| l.split(' ').nth(4) == Some(root.to_str().unwrap())),
            "{} is still mounted",
            root.display()
        );
        for d in cgroup_dirs(&self.id) {
            assert!(!d.exists(), "cgroup {} is left behind", d.display());
        }
        assert!(
            !self.cfg.runtime_root.join(&self.id).exists(),
            "libcontainer state is left behind"
        );
        assert!(!self.cfg.socket.exists(), "the socket is left behind");
        assert!(!self.bundle.join("console.sock").exists());
    }
}

/// Where `/pier/<id>` would be in every mounted cgroup hierarchy (v1
/// controllers, the hybrid unified tree, or pure cgroup2).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("/sys/fs/cgroup/pier").join(id)];
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                out.push(p.join("pier").join(id));
            }
        }
    }
    out
}

/// Output and exit of a container, collected from one subscribed connection.
#[derive(Debug, Default)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: Option<i32>,
    pub errors: Vec<String>,
}

impl Outcome {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Reads events until the shim closes the connection (it does so after
/// EXITED, once everything is cleaned up).
pub async fn collect(conn: &mut ShimConnection, timeout: Duration) -> Outcome {
    let mut o = Outcome::default();
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, conn.recv()).await {
            Err(_) => panic!("timed out; so far {o:?}"),
            Ok(Ok(Some(ShimEvent::Stdout(b)))) => o.stdout.extend(b),
            Ok(Ok(Some(ShimEvent::Stderr(b)))) => o.stderr.extend(b),
            Ok(Ok(Some(ShimEvent::Exited { exit_code, .. }))) => {
                assert!(o.exit_code.is_none(), "EXITED twice");
                o.exit_code = Some(exit_code);
            }
            Ok(Ok(Some(ShimEvent::Error(e)))) => o.errors.push(e),
            Ok(Ok(Some(_))) => {}
            // The shim closes connections only when it is done.
            Ok(Ok(None)) => return o,
            Ok(Err(e)) => panic!("recv: {e}"),
        }
    }
}

/// Reads events until one satisfies `pred` (collecting output on the way).
pub async fn wait_for(
    conn: &mut ShimConnection,
    o: &mut Outcome,
    timeout: Duration,
    pred: impl Fn(&Outcome, &ShimEvent) -> bool,
) -> ShimEvent {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = match tokio::time::timeout(left, conn.recv()).await {
            Err(_) => panic!("timed out; so far {o:?} out={:?}", o.out()),
            Ok(Ok(Some(ev))) => ev,
            Ok(Ok(None)) => panic!("connection closed; so far {o:?}"),
            Ok(Err(e)) => panic!("recv: {e}"),
        };
        match &ev {
            ShimEvent::Stdout(b) => o.stdout.extend(b),
            ShimEvent::Stderr(b) => o.stderr.extend(b),
            ShimEvent::Exited { exit_code, .. } => o.exit_code = Some(*exit_code),
            ShimEvent::Error(e) => o.errors.push(e.clone()),
            _ => {}
        }
        if pred(o, &ev) {
            return ev;
        }
    }
}

/// Launch, subscribe, start, run to the end.
pub async fn run(f: &Fixture) -> Outcome {
    f.launch().await.unwrap();
    let mut c = f.connect().await;
    c.send(&ShimRequest::Subscribe).await.unwrap();
    c.send(&ShimRequest::Start).await.unwrap();
    let o = collect(&mut c, Duration::from_secs(30)).await;
    assert!(o.errors.is_empty(), "{o:?}");
    o
}

/// The shim's pid: the parent of the container's init.
pub fn parent_of(pid: u32) -> u32 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `Pss:` of a process in KiB.
pub fn pss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

/// The mappings of a process with the most PSS, for diagnostics.
pub fn pss_breakdown(pid: u32) -> Vec<(u64, String)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut out = Vec::new();
    let mut name = String::new();
    for l in s.lines() {
        let first = l.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            let f: Vec<&str> = l.split_whitespace().collect();
            name = format!("{} {}", f[1], f.get(5).copied().unwrap_or("[anon]"));
        } else if let Some(v) = l.strip_prefix("Pss:") {
            let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
            if kib > 0 {
                out.push((kib, name.clone()));
            }
        }
    }
    out.sort_by_key(|b| std::cmp::Reverse(b.0));
    out
}
