//! pierd: the Pier daemon. Serves the Docker Engine API and owns all state
//! under its data root; containers are run by per-container shims that
//! outlive it.

mod cgroups;
mod cli;
mod containerfs;
mod containers;
mod daemon;
mod detachkeys;
mod events;
mod exec;
mod handlers;
mod network;
mod runtime;
mod server;
mod stats;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Parser;
use tokio::net::{TcpListener, UnixListener};

use cli::{Args, ListenAddr};

const DEFAULT_SOCKET: &str = "unix:///run/pier.sock";

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    init_tracing(&args.log_level);
    limit_malloc_arenas();
    // Two workers are plenty for an API daemon and keep idle RSS small.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(32)
        .thread_keep_alive(std::time::Duration::from_secs(10))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pierd: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = match rt.block_on(run(args)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("pierd: {e:#}");
            1
        }
    };
    // Exit without waiting for connection tasks (attach, events) to end:
    // containers are owned by their shims and keep running.
    std::process::exit(code);
}

/// glibc gives each thread that allocates its own malloc arena (up to 8 per
/// core), and an arena keeps the pages it once used. pierd's threads are
/// mostly short-lived helpers (the blocking pool, netns and reaper threads),
/// so their arenas were idle RSS: measured 15.8 MiB with the default, 14.9
/// with one arena, same `run` times. Two keep the runtime workers from
/// contending on one lock.
fn limit_malloc_arenas() {
    // glibc's own tunable, if the operator set one, wins.
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    // SAFETY: mallopt only sets an allocator tunable; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

async fn run(args: Args) -> Result<()> {
    let hosts = if args.hosts.is_empty() {
        vec![DEFAULT_SOCKET.to_string()]
    } else {
        args.hosts.clone()
    };
    let addrs: Vec<ListenAddr> = hosts
        .iter()
        .map(|h| ListenAddr::parse(h).map_err(anyhow::Error::msg))
        .collect::<Result<_>>()?;
    let tls = tls_config(&args, &addrs)?;
    handlers::distribution::configure(
        pier_registry::RegistryOptions {
            insecure: args.insecure_registries.clone(),
            certs_dir: args.registry_certs_dir.clone(),
        },
        args.max_concurrent_downloads,
        args.max_concurrent_uploads,
    );

    let shim_path = match &args.shim_path {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .context("locating the pierd executable")?
            .with_file_name("pier-shim"),
    };
    if !shim_path.exists() {
        tracing::warn!(
            "shim binary {} not found: containers cannot start",
            shim_path.display()
        );
    }

    let (data_root, exec_root) = (args.data_root.clone(), args.exec_root.clone());
    let d = tokio::task::spawn_blocking(move || {
        daemon::Daemon::open(&data_root, &exec_root, shim_path)
    })
    .await
    .context("opening state")?
    .context("opening state")?;
    let mut d = d;
    d.network = Some(
        network::open(&args.net, &d)
            .await
            .context("setting up networking")?,
    );
    let d = Arc::new(d);
    containers::recover::recover_all(&d).await;
    network::reconcile(&d).await;
    containers::restart::on_daemon_start(&d).await;

    let gid = ensure_group(&args.group);
    let app = server::app(d.clone());
    let mut sockets = Vec::new();
    for addr in &addrs {
        match addr {
            ListenAddr::Unix(path) => {
                let l = bind_unix(path, gid)?;
                sockets.push(path.clone());
                tracing::info!("API listening on unix://{}", path.display());
                let app = app.clone();
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(l, app).await {
                        tracing::error!("unix listener failed: {e}");
                    }
                });
            }
            ListenAddr::Tcp(a) => {
                let cfg = tls.clone().context("TLS configuration missing")?;
                let tcp = TcpListener::bind(a)
                    .await
                    .with_context(|| format!("listening on tcp://{a}"))?;
                let l = server::tls::TlsListener::new(tcp, cfg)?;
                tracing::info!("API listening on tcp://{a} (TLS, client certificates required)");
                let app = app.clone();
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(l, app).await {
                        tracing::error!("tcp listener failed: {e}");
                    }
                });
            }
        }
    }
    tracing::info!(
        data_root = %d.paths.data_root.display(),
        exec_root = %d.paths.exec_root.display(),
        "pierd ready"
    );

    wait_for_signal().await?;
    tracing::info!("shutting down; containers keep running");
    network::shutdown(&d).await;
    for s in sockets {
        let _ = std::fs::remove_file(s);
    }
    Ok(())
}

/// TCP without mutual TLS would hand root to anyone who can connect.
fn tls_config(args: &Args, addrs: &[ListenAddr]) -> Result<Option<Arc<rustls::ServerConfig>>> {
    if !addrs.iter().any(|a| matches!(a, ListenAddr::Tcp(_))) {
        return Ok(None);
    }
    let (Some(ca), Some(cert), Some(key), true) =
        (&args.tlscacert, &args.tlscert, &args.tlskey, args.tlsverify)
    else {
        bail!(
            "refusing to listen on TCP without TLS: pass --tlsverify with --tlscacert, --tlscert and --tlskey (an unauthenticated TCP socket gives root to anyone who can reach it)"
        );
    };
    Ok(Some(server::tls::server_config(ca, cert, key)?))
}

/// The socket group's gid, creating the group as a system group if needed.
fn ensure_group(name: &str) -> Option<u32> {
    if let Some(gid) = lookup_group(name) {
        return Some(gid);
    }
    match std::process::Command::new("groupadd")
        .args(["--system", name])
        .output()
    {
        Ok(o) if o.status.success() => {}
        Ok(o) => tracing::warn!(
            "groupadd --system {name} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => tracing::warn!("cannot run groupadd: {e}"),
    }
    let gid = lookup_group(name);
    if gid.is_none() {
        tracing::warn!("group {name} does not exist: the socket stays root-only");
    }
    gid
}

fn lookup_group(name: &str) -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

fn bind_unix(path: &Path, gid: Option<u32>) -> Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // A socket left by a previous run (crash, kill -9) is stale: replace it.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing stale {}", path.display())),
    }
    let l = UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("chmod {}", path.display()))?;
    std::os::unix::fs::chown(path, Some(0), Some(gid.unwrap_or(0)))
        .with_context(|| format!("chown {}", path.display()))?;
    Ok(l)
}

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
