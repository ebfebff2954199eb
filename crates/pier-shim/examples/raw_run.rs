//! Benchmark helper: `raw_run <bundle> [N]` runs the bundle's container with
//! libcontainer in this (single-threaded) process N times —
//! create + start + wait + delete — and prints the median wall time as
//! `raw_libcontainer_median_ms=<x>`. The bundle's `config.json` must not ask
//! for a terminal and its rootfs must already be in place. `scripts/bench`
//! compares `pier run --rm` against this figure.

use std::path::PathBuf;
use std::time::Instant;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{waitpid, WaitPidFlag};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(bundle) = args.next().map(PathBuf::from) else {
        eprintln!("usage: raw_run <bundle> [N]");
        std::process::exit(2);
    };
    let n: usize = match args.next().map(|s| s.parse()) {
        None => 30,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("N must be a positive integer");
            std::process::exit(2);
        }
    };
    let root = std::env::temp_dir().join(format!("pier-raw-run-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&root) {
        eprintln!("creating {}: {e}", root.display());
        std::process::exit(1);
    }
    let mut times = Vec::with_capacity(n);
    let mut failure = None;
    for i in 0..n {
        let id = format!("raw{}x{i}", std::process::id());
        let t0 = Instant::now();
        if let Err(e) = run_once(&id, &bundle, &root) {
            failure = Some(e);
            break;
        }
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let _ = std::fs::remove_dir_all(&root);
    if let Some(e) = failure {
        eprintln!("raw_run: {e}");
        std::process::exit(1);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2.0
    };
    println!("raw_libcontainer_median_ms={median:.3}");
    eprintln!(
        "runs={n} min={:.3} max={:.3} (ms)",
        times[0],
        times[times.len() - 1]
    );
}

fn run_once(id: &str, bundle: &std::path::Path, root: &std::path::Path) -> Result<(), String> {
    let null = |w: bool| {
        std::fs::OpenOptions::new()
            .read(!w)
            .write(w)
            .open("/dev/null")
            .map_err(|e| format!("/dev/null: {e}"))
    };
    let mut c = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(root)
        .map_err(|e| e.to_string())?
        .with_stdin(null(false)?)
        .with_stdout(null(true)?)
        .with_stderr(null(true)?)
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(|e| format!("create: {e}"))?;
    c.start().map_err(|e| format!("start: {e}"))?;
    let pid = c.pid().ok_or("no init pid")?;
    // The init is our child by CLONE_PARENT without an exit signal: __WALL.
    // libcontainer links its own nix; convert through the raw pid.
    waitpid(
        nix::unistd::Pid::from_raw(pid.as_raw()),
        Some(WaitPidFlag::__WALL),
    )
    .map_err(|e| format!("wait: {e}"))?;
    c.delete(true).map_err(|e| format!("delete: {e}"))?;
    Ok(())
}
