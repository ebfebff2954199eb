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
    let mut phases: [Vec<f64>; 4] = Default::default();
    let mut failure = None;
    for i in 0..n {
        let id = format!("raw{}x{i}", std::process::id());
        let t0 = Instant::now();
        match run_once(&id, &bundle, &root) {
            Ok(p) => {
                for (all, one) in phases.iter_mut().zip(p) {
                    all.push(one);
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let _ = std::fs::remove_dir_all(&root);
    if let Some(e) = failure {
        eprintln!("raw_run: {e}");
        std::process::exit(1);
    }
    let median = median_of(&mut times);
    println!("raw_libcontainer_median_ms={median:.3}");
    let [c, s, w, d] = phases.each_mut().map(|p| median_of(p));
    // Where the time goes, to tell which phases a monitor can overlap.
    eprintln!("phases create={c:.3} start={s:.3} wait={w:.3} delete={d:.3} (median ms)");
    eprintln!(
        "runs={n} min={:.3} max={:.3} (ms)",
        times[0],
        times[times.len() - 1]
    );
}

fn median_of(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One create+start+wait+delete; returns the four phase times in ms.
fn run_once(
    id: &str,
    bundle: &std::path::Path,
    root: &std::path::Path,
) -> Result<[f64; 4], String> {
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    let null = |w: bool| {
        std::fs::OpenOptions::new()
            .read(!w)
            .write(w)
            .open("/dev/null")
            .map_err(|e| format!("/dev/null: {e}"))
    };
    let t = Instant::now();
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
    let create = ms(t);
    let t = Instant::now();
    c.start().map_err(|e| format!("start: {e}"))?;
    let start = ms(t);
    let t = Instant::now();
    let pid = c.pid().ok_or("no init pid")?;
    // The init is our child by CLONE_PARENT without an exit signal: __WALL.
    // libcontainer links its own nix; convert through the raw pid.
    waitpid(
        nix::unistd::Pid::from_raw(pid.as_raw()),
        Some(WaitPidFlag::__WALL),
    )
    .map_err(|e| format!("wait: {e}"))?;
    let wait = ms(t);
    let t = Instant::now();
    c.delete(true).map_err(|e| format!("delete: {e}"))?;
    Ok([create, start, wait, ms(t)])
}
