//! `pier-shim <shim.json>`: the per-container monitor (see
//! `docs/CONTRACTS.md`, "pier-runtime and pier-shim").
//!
//! Process layout:
//!
//! ```text
//! pierd ─spawn─▶ shim (A) ─fork─▶ (B) setsid ─fork─▶ monitor (C, child subreaper)
//!                 A exits 0 once C runs;   B exits at once
//! monitor ─fork─▶ create helper (D): mount overlay, resolve user/cwd/exe,
//!                 libcontainer create (init is D's child), lo up; exits
//!                 → init is reparented to the monitor, which waitpid()s it
//! monitor ─fork─▶ start / delete helpers (libcontainer start / delete)
//! ```
//!
//! The monitor (C) is single-threaded and never calls libcontainer itself,
//! so its memory stays small. It answers pierd with one JSON line on the
//! stdout it inherited, then serves the control socket until the init exits.

mod create;
mod error;
mod exec;
mod helper;
mod jsonlog;
mod lc;
mod logrotate;
mod memory;
mod monitor;
mod overlay;
mod rootfs;
mod seccomp_bpf;
mod seccomp_executor;

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::{signal, SigHandler, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, setsid, ForkResult, Pid};
use pier_runtime::{ReadyAnswer, ShimConfig};

use crate::error::ShimError;
use crate::helper::{dev_null, dup_onto, HelperError};
use crate::jsonlog::JsonLog;
use crate::lc::ChildStdio;
use crate::monitor::{Monitor, MonitorParts};

/// Name of the console socket libcontainer sends the pty master to (in the bundle).
const CONSOLE_SOCKET: &str = "console.sock";
/// How long to wait for the pty master after create.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes the one answer line to fd 1. False when nobody reads it any more
/// (pierd died or gave up on this launch).
fn answer(a: &ReadyAnswer) -> bool {
    let line = a.to_line();
    let mut off = 0;
    while off < line.len() {
        // SAFETY: writing from a buffer we own.
        let n = unsafe { libc::write(1, line[off..].as_ptr().cast(), line.len() - off) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        off += n as usize;
    }
    true
}

fn fail_early(msg: String) -> ! {
    slog!("{msg}");
    answer(&ReadyAnswer::err(msg, 128));
    std::process::exit(1)
}

/// fork + setsid + fork. Returns in the grandchild only; the process pierd
/// spawned exits 0 once the grandchild exists.
fn daemonize() {
    // SAFETY: single-threaded here.
    match unsafe { fork() } {
        Err(e) => fail_early(format!("fork: {e}")),
        Ok(ForkResult::Parent { child }) => {
            let status = helper::wait_for(child);
            std::process::exit(if status == "exit status 0" { 0 } else { 1 });
        }
        Ok(ForkResult::Child) => {}
    }
    let _ = setsid();
    // SAFETY: single-threaded here.
    match unsafe { fork() } {
        Err(e) => {
            answer(&ReadyAnswer::err(format!("fork: {e}"), 128));
            // SAFETY: immediate exit of a forked child.
            unsafe { libc::_exit(1) }
        }
        // SAFETY: immediate exit of a forked child.
        Ok(ForkResult::Parent { .. }) => unsafe { libc::_exit(0) },
        Ok(ForkResult::Child) => {}
    }
}

/// Process-wide setup of the monitor: cwd, subreaper, signals, stdio.
fn setup_process(cfg: &ShimConfig) {
    let _ = nix::unistd::chdir("/");
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } < 0 {
        slog!(
            "PR_SET_CHILD_SUBREAPER: {}",
            std::io::Error::last_os_error()
        );
    }
    for s in [Signal::SIGPIPE, Signal::SIGHUP] {
        // SAFETY: SIG_IGN installs no handler code.
        let _ = unsafe { signal(s, SigHandler::SigIgn) };
    }
    if let Ok(null) = dev_null() {
        dup_onto(&null, 0);
        // Diagnostics go to a small file in the bundle, not to pierd's
        // stderr (the monitor outlives pierd).
        dup_onto(&null, 2);
    }
    error::log_to(cfg.bundle.join("shim.log"));
}

pub(crate) fn set_nonblocking(fd: &OwnedFd) -> Result<(), ShimError> {
    let fl = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| ShimError::sys("F_GETFL", e))?;
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(fl) | OFlag::O_NONBLOCK),
    )
    .map_err(|e| ShimError::sys("F_SETFL", e))?;
    Ok(())
}

pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), ShimError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| ShimError::sys("pipe", e))
}

/// Files to remove if setup fails.
struct Cleanup {
    paths: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn bind_control_socket(path: &Path) -> Result<UnixListener, ShimError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| ShimError::io(format!("creating {}", dir.display()), e))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ShimError::io(format!("removing {}", path.display()), e)),
    }
    let l = UnixListener::bind(path)
        .map_err(|e| ShimError::io(format!("binding {}", path.display()), e))?;
    l.set_nonblocking(true)
        .map_err(|e| ShimError::io("socket O_NONBLOCK", e))?;
    Ok(l)
}

/// Binds the console socket with a short relative path inside the bundle.
fn bind_console_socket(bundle: &Path) -> Result<(UnixListener, PathBuf), ShimError> {
    bind_console_socket_named(bundle, CONSOLE_SOCKET)
}

/// Same, under another name (one per exec with a tty).
pub(crate) fn bind_console_socket_named(
    bundle: &Path,
    name: &str,
) -> Result<(UnixListener, PathBuf), ShimError> {
    let path = bundle.join(name);
    let _ = std::fs::remove_file(&path);
    nix::unistd::chdir(bundle)
        .map_err(|e| ShimError::sys(format!("chdir {}", bundle.display()), e))?;
    let res = UnixListener::bind(name);
    let _ = nix::unistd::chdir("/");
    let l = res.map_err(|e| ShimError::io(format!("binding {}", path.display()), e))?;
    Ok((l, path))
}

/// Accepts libcontainer's connection on the console socket and takes the
/// pty master it sends.
pub(crate) fn receive_pty_master(l: &UnixListener) -> Result<OwnedFd, ShimError> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut pfd = libc::pollfd {
        fd: l.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, CONSOLE_TIMEOUT.as_millis() as i32) };
    if n <= 0 {
        return Err(ShimError::Other("the container never sent its pty".into()));
    }
    let (conn, _) = l
        .accept()
        .map_err(|e| ShimError::io("accepting on the console socket", e))?;
    conn.set_nonblocking(false)
        .map_err(|e| ShimError::io("console socket", e))?;
    let mut name = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut name)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| ShimError::sys("receiving the pty master", e))?;
    let mut master = None;
    for c in msg
        .cmsgs()
        .map_err(|e| ShimError::sys("receiving the pty master", e))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: the kernel just installed this fd for us.
                let owned = unsafe { helper::owned(fd) };
                if master.is_none() {
                    master = Some(owned);
                }
            }
        }
    }
    master.ok_or_else(|| ShimError::Other("no pty master on the console socket".into()))
}

/// Tears down a created container after a later setup step failed.
fn abort_created(cfg: &ShimConfig, pid: Pid) {
    let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
    let _ = waitpid(pid, Some(WaitPidFlag::__WALL));
    let (root, id) = (&cfg.runtime_root, &cfg.id);
    if let Err(e) = helper::run("delete", || {
        lc::delete(root, id).map_err(|m| HelperError::new(m, 128))
    }) {
        slog!("deleting the container: {}", e.message);
    }
    if let Err(e) = overlay::unmount_rootfs(&create::rootfs_dir(&cfg.bundle)) {
        slog!("{e}");
    }
}

fn prepare(cfg: &ShimConfig) -> Result<Monitor, ShimError> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block()
        .map_err(|e| ShimError::sys("blocking SIGCHLD", e))?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| ShimError::sys("signalfd", e))?;

    let listener = bind_control_socket(&cfg.socket)?;
    let mut cleanup = Cleanup {
        paths: vec![cfg.socket.clone()],
    };
    let log = match &cfg.log {
        Some(p) => Some(
            JsonLog::open(p)
                .map(|l| {
                    l.with_rotation(cfg.log_max_size, cfg.log_max_files)
                        .with_attrs(&cfg.log_attrs)
                })
                .map_err(|e| ShimError::io(format!("opening {}", p.display()), e))?,
        ),
        None => None,
    };

    let null = dev_null().map_err(|e| ShimError::io("opening /dev/null", e))?;
    let mut console = None;
    let (mut out, mut err, mut stdin, child_io) = (None, None, None, None);
    let mut child_io = child_io;
    if cfg.tty {
        let (l, path) = bind_console_socket(&cfg.bundle)?;
        cleanup.paths.push(path.clone());
        console = Some((l, path));
    } else {
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        set_nonblocking(&out_r)?;
        set_nonblocking(&err_r)?;
        let child_in = if cfg.open_stdin {
            let (in_r, in_w) = pipe()?;
            set_nonblocking(&in_w)?;
            stdin = Some(in_w);
            in_r
        } else {
            null.try_clone()
                .map_err(|e| ShimError::io("dup /dev/null", e))?
        };
        out = Some(out_r);
        err = Some(err_r);
        child_io = Some(ChildStdio {
            stdin: child_in,
            stdout: out_w,
            stderr: err_w,
        });
    }
    let console_path = console.as_ref().map(|(_, p)| p.clone());
    let created = match helper::run("create", move || {
        create::create(cfg, child_io, console_path)
    }) {
        Ok(c) => c,
        Err(e) => {
            if e.died {
                // It may have died half-way: undo what it may have done.
                let (root, id) = (&cfg.runtime_root, &cfg.id);
                let _ = helper::run("delete", || {
                    lc::delete(root, id).map_err(|m| HelperError::new(m, 128))
                });
                let _ = overlay::unmount_rootfs(&create::rootfs_dir(&cfg.bundle));
            }
            return Err(ShimError::Create {
                message: e.message,
                exit_code: e.exit_code,
            });
        }
    };
    let init = Pid::from_raw(created.pid);
    // The create helper has exited, so the init must now be our child
    // (we are its subreaper).
    match waitpid(init, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
        Ok(WaitStatus::StillAlive) => {}
        other => {
            abort_created(cfg, init);
            return Err(ShimError::Other(format!(
                "the container's init {init} is not a live child of the shim ({other:?})"
            )));
        }
    }
    if let Some((l, _)) = &console {
        let master = match receive_pty_master(l) {
            Ok(m) => m,
            Err(e) => {
                abort_created(cfg, init);
                return Err(e);
            }
        };
        if let Some((rows, cols)) = created.console.filter(|(r, c)| *r > 0 && *c > 0) {
            if let Err(e) = monitor::set_winsize(master.as_raw_fd(), rows, cols) {
                slog!("setting the initial tty size: {e}");
            }
        }
        if let Err(e) = set_nonblocking(&master) {
            abort_created(cfg, init);
            return Err(e);
        }
        if cfg.open_stdin {
            match master.try_clone() {
                Ok(m) => stdin = Some(m),
                Err(e) => {
                    abort_created(cfg, init);
                    return Err(ShimError::io("dup pty master", e));
                }
            }
        }
        out = Some(master);
    }
    // Keep the control socket; drop the console socket.
    cleanup.paths.retain(|p| *p != cfg.socket);
    drop(cleanup);
    drop(console);
    Ok(Monitor::new(MonitorParts {
        id: cfg.id.clone(),
        runtime_root: cfg.runtime_root.clone(),
        rootfs: create::rootfs_dir(&cfg.bundle),
        socket: cfg.socket.clone(),
        exit_file: cfg.exit_file.clone(),
        durable_exit: !cfg.ephemeral,
        cgroup: created.cgroup,
        listener,
        sigfd,
        out,
        err,
        stdin,
        tty: cfg.tty,
        log,
        init,
    }))
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("usage: pier-shim <shim.json>");
        std::process::exit(2);
    };
    let cfg = match ShimConfig::load(Path::new(&path)).and_then(|c| c.validate().map(|()| c)) {
        Ok(c) => c,
        Err(e) => fail_early(e.to_string()),
    };
    daemonize();
    setup_process(&cfg);
    let code = match prepare(&cfg) {
        Ok(m) => {
            if !answer(&ReadyAnswer::ok(m.init.as_raw() as u32)) {
                // pierd died before it learnt of this container (the pipe
                // is closed), so nobody will START it, and a restarted
                // pierd may already have looked for its socket: undo it
                // rather than leave a created container nobody knows.
                slog!("pierd is gone before the container was started: removing it");
                let (init, socket) = (m.init, cfg.socket.clone());
                drop(m);
                abort_created(&cfg, init);
                let _ = std::fs::remove_file(socket);
                std::process::exit(1);
            }
            if let Ok(null) = dev_null() {
                dup_onto(&null, 1);
            }
            m.run()
        }
        Err(e) => {
            slog!("creating container {}: {e}", cfg.id);
            answer(&ReadyAnswer::err(e.to_string(), e.exit_code()));
            1
        }
    };
    std::process::exit(code);
}
