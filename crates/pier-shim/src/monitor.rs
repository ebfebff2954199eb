//! The long-lived part of the shim: one `poll(2)` loop over the control
//! socket, client connections, the container's output (pipes or pty master),
//! its stdin, and a signalfd for SIGCHLD. No threads, no async runtime, no
//! libcontainer (each libcontainer call runs in a forked helper).

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use pier_runtime::proto::{self, FrameBuf};
use pier_runtime::{ExitRecord, ShimEvent, ShimRequest, ShimState, StatusReply};

use crate::exec::ExecProc;
use crate::helper::{self, HelperError};
use crate::jsonlog::{JsonLog, Stream};
use crate::memory::Releaser;

#[path = "monitor_exec.rs"]
mod monitor_exec;
use crate::{lc, overlay, slog};

/// Size of the one read buffer.
const READ_BUF: usize = 16 * 1024;
/// Stop reading container output while a subscriber has this much unsent.
const SUBSCRIBER_HIGH_WATER: usize = 1 << 20;
/// Stop reading requests while this much stdin is unwritten.
const STDIN_HIGH_WATER: usize = 1 << 20;
/// After the init exits, how long to wait for its output to drain.
const DRAIN: Duration = Duration::from_secs(2);
/// How long to try delivering EXITED to slow clients.
const FAREWELL: Duration = Duration::from_secs(2);
/// Give back mapped code after this long without events...
const IDLE_RELEASE: Duration = Duration::from_millis(100);
/// ...but not more often than this.
const MIN_RELEASE_INTERVAL: Duration = Duration::from_millis(250);

struct Conn {
    key: u64,
    /// This connection is an exec's stream (requests go to that exec).
    exec: bool,
    stream: UnixStream,
    inbuf: FrameBuf,
    out: Vec<u8>,
    subscribed: bool,
    read_eof: bool,
    dead: bool,
}

impl Conn {
    fn new(stream: UnixStream, key: u64) -> Self {
        Conn {
            key,
            exec: false,
            stream,
            inbuf: FrameBuf::new(),
            out: Vec::new(),
            subscribed: false,
            read_eof: false,
            dead: false,
        }
    }

    #[link_section = ".text.hot.pier_monitor"]
    fn push(&mut self, ev: &ShimEvent) {
        ev.encode(&mut self.out);
    }

    /// Writes as much pending output as the socket takes.
    #[link_section = ".text.hot.pier_monitor"]
    fn flush(&mut self) {
        while !self.out.is_empty() && !self.dead {
            match self.stream.write(&self.out) {
                Ok(0) => self.dead = true,
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => self.dead = true,
            }
        }
        if self.out.is_empty() && self.out.capacity() > 64 * 1024 {
            self.out = Vec::new();
        }
        if self.read_eof && !self.subscribed && !self.exec && self.out.is_empty() {
            self.dead = true;
        }
    }
}

#[derive(Clone, Copy)]
enum Slot {
    Sig,
    Listener,
    Out,
    Err,
    Stdin,
    Conn(usize),
    ExecOut(usize),
    ExecErr(usize),
    ExecIn(usize),
}

/// Everything the loop owns.
pub struct Monitor {
    pub id: String,
    pub runtime_root: PathBuf,
    pub rootfs: PathBuf,
    pub socket: PathBuf,
    pub exit_file: PathBuf,
    /// fsync exit.json (false for AutoRemove containers).
    pub durable_exit: bool,
    /// (dev, inode) of the socket path as bound: a restarted container's
    /// next shim binds the same path, which this one must not unlink.
    socket_id: Option<(u64, u64)>,
    pub cgroup: Option<String>,
    pub listener: UnixListener,
    pub sigfd: SignalFd,
    /// stdout pipe, or the pty master.
    pub out: Option<OwnedFd>,
    pub err: Option<OwnedFd>,
    /// stdin pipe, or a dup of the pty master; `None` without `open_stdin`.
    pub stdin: Option<OwnedFd>,
    pub tty: bool,
    pub log: Option<JsonLog>,
    pub init: Pid,
    conns: Vec<Conn>,
    out_eof: bool,
    err_eof: bool,
    stdin_buf: Vec<u8>,
    stdin_close: bool,
    started: bool,
    exit_code: Option<i32>,
    finished_at: String,
    drain_deadline: Option<Duration>,
    buf: Vec<u8>,
    pollfds: Vec<libc::pollfd>,
    slots: Vec<Slot>,
    releaser: Releaser,
    released: bool,
    last_activity: Duration,
    last_release: Option<Duration>,
    execs: Vec<ExecProc>,
    next_key: u64,
}

/// The (device, inode) a path names now, if it exists.
fn path_id(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// CLOCK_MONOTONIC as a duration. Used instead of `Instant` so the idle
/// loop runs only code that lives next to it (see [`Monitor::run`]).
#[inline(always)]
fn now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[link_section = ".text.hot.pier_monitor"]
fn read_fd(fd: RawFd, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: reading into a buffer we own, of the length given.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[link_section = ".text.hot.pier_monitor"]
fn write_fd(fd: RawFd, buf: &[u8]) -> std::io::Result<usize> {
    // SAFETY: writing from a buffer we own, of the length given.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Sets a pty's window size.
pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> std::io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize we own.
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// What the monitor needs from the setup phase.
pub struct MonitorParts {
    pub id: String,
    pub runtime_root: PathBuf,
    pub rootfs: PathBuf,
    pub socket: PathBuf,
    pub exit_file: PathBuf,
    pub durable_exit: bool,
    pub cgroup: Option<String>,
    pub listener: UnixListener,
    pub sigfd: SignalFd,
    pub out: Option<OwnedFd>,
    pub err: Option<OwnedFd>,
    pub stdin: Option<OwnedFd>,
    pub tty: bool,
    pub log: Option<JsonLog>,
    pub init: Pid,
}

impl Monitor {
    pub fn new(p: MonitorParts) -> Monitor {
        Monitor {
            out_eof: p.out.is_none(),
            err_eof: p.err.is_none(),
            id: p.id,
            runtime_root: p.runtime_root,
            rootfs: p.rootfs,
            socket_id: path_id(&p.socket),
            socket: p.socket,
            exit_file: p.exit_file,
            durable_exit: p.durable_exit,
            cgroup: p.cgroup,
            listener: p.listener,
            sigfd: p.sigfd,
            out: p.out,
            err: p.err,
            stdin: p.stdin,
            tty: p.tty,
            log: p.log,
            init: p.init,
            conns: Vec::new(),
            stdin_buf: Vec::new(),
            stdin_close: false,
            started: false,
            exit_code: None,
            finished_at: String::new(),
            drain_deadline: None,
            buf: vec![0; READ_BUF],
            pollfds: Vec::with_capacity(8),
            slots: Vec::with_capacity(8),
            releaser: Releaser::new(),
            released: false,
            last_activity: now(),
            last_release: None,
            execs: Vec::new(),
            next_key: 0,
        }
    }

    #[link_section = ".text.hot.pier_monitor"]
    fn add(&mut self, fd: RawFd, events: libc::c_short, slot: Slot) {
        self.pollfds.push(libc::pollfd {
            fd,
            events,
            revents: 0,
        });
        self.slots.push(slot);
    }

    /// Runs until the container has exited and everything is cleaned up.
    ///
    /// Placed with the releaser in `.text.hot.*`, which the linker groups
    /// together, so an idle monitor keeps one window of code mapped.
    #[link_section = ".text.hot.pier_monitor"]
    pub fn run(mut self) -> i32 {
        loop {
            if self.exit_code.is_some() {
                let drained = self.out_eof && self.err_eof;
                let late = self.drain_deadline.is_some_and(|d| now() >= d);
                if drained || late {
                    break;
                }
            }
            self.pollfds.clear();
            self.slots.clear();
            self.add(self.sigfd.as_raw_fd(), libc::POLLIN, Slot::Sig);
            self.add(self.listener.as_raw_fd(), libc::POLLIN, Slot::Listener);
            let backpressure = self
                .conns
                .iter()
                .any(|c| c.subscribed && c.out.len() > SUBSCRIBER_HIGH_WATER);
            if !backpressure {
                if let (false, Some(fd)) = (self.out_eof, self.out.as_ref().map(|f| f.as_raw_fd()))
                {
                    self.add(fd, libc::POLLIN, Slot::Out);
                }
                if let (false, Some(fd)) = (self.err_eof, self.err.as_ref().map(|f| f.as_raw_fd()))
                {
                    self.add(fd, libc::POLLIN, Slot::Err);
                }
            }
            if let (false, Some(fd)) = (
                self.stdin_buf.is_empty(),
                self.stdin.as_ref().map(|f| f.as_raw_fd()),
            ) {
                self.add(fd, libc::POLLOUT, Slot::Stdin);
            }
            self.poll_execs();
            let take_input = self.stdin_buf.len() < STDIN_HIGH_WATER;
            for i in 0..self.conns.len() {
                let c = &self.conns[i];
                let mut ev = 0;
                if !c.read_eof && take_input {
                    ev |= libc::POLLIN;
                }
                if !c.out.is_empty() {
                    ev |= libc::POLLOUT;
                }
                let fd = c.stream.as_raw_fd();
                self.add(fd, ev, Slot::Conn(i));
            }
            let release_at = (!self.released).then(|| {
                let idle = self.last_activity + IDLE_RELEASE;
                match self.last_release {
                    Some(l) => idle.max(l + MIN_RELEASE_INTERVAL),
                    None => idle,
                }
            });
            let drain = self
                .execs
                .iter()
                .filter_map(|e| e.drain_deadline)
                .chain(self.drain_deadline)
                .min();
            let wake = match (drain, release_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let timeout = match wake {
                Some(d) => d.saturating_sub(now()).as_millis().min(i32::MAX as u128) as i32,
                None => -1,
            };
            // SAFETY: pollfds is a valid array of its length.
            let n = unsafe {
                libc::poll(
                    self.pollfds.as_mut_ptr(),
                    self.pollfds.len() as libc::nfds_t,
                    timeout,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != ErrorKind::Interrupted {
                    slog!("poll: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            let t = now();
            if n == 0 && !self.execs.is_empty() {
                self.reap_execs();
            }
            if n == 0 {
                if release_at.is_some_and(|r| t >= r) {
                    self.releaser.release();
                    self.released = true;
                    self.last_release = Some(now());
                }
                continue;
            }
            self.released = false;
            self.last_activity = t;
            for k in 0..self.pollfds.len() {
                let re = self.pollfds[k].revents;
                if re == 0 {
                    continue;
                }
                match self.slots[k] {
                    Slot::Sig => self.on_sigchld(),
                    Slot::Listener => self.on_accept(),
                    Slot::Out => self.on_output(Stream::Stdout),
                    Slot::Err => self.on_output(Stream::Stderr),
                    Slot::Stdin => self.on_stdin_writable(),
                    Slot::Conn(i) => self.on_conn(i, re),
                    Slot::ExecOut(k) => self.on_exec_output(k, false),
                    Slot::ExecErr(k) => self.on_exec_output(k, true),
                    Slot::ExecIn(k) => self.on_exec_stdin(k),
                }
            }
            self.reap_execs();
            self.conns.retain(|c| !c.dead);
        }
        self.finish()
    }

    #[link_section = ".text.hot.pier_monitor"]
    fn on_sigchld(&mut self) {
        while let Ok(Some(_)) = self.sigfd.read_signal() {}
        loop {
            match waitpid(
                Pid::from_raw(-1),
                Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL),
            ) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(WaitStatus::Exited(pid, code)) if pid == self.init => self.init_exited(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == self.init => {
                    self.init_exited(128 + sig as i32)
                }
                Ok(WaitStatus::Exited(pid, code)) => self.exec_exited(pid, code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => self.exec_exited(pid, 128 + sig as i32),
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
    }

    fn init_exited(&mut self, code: i32) {
        if self.exit_code.is_some() {
            return;
        }
        self.exit_code = Some(code);
        self.finished_at = pier_runtime::now_rfc3339_nanos();
        self.drain_deadline = Some(now() + DRAIN);
        self.stdin = None;
        self.stdin_buf = Vec::new();
    }

    #[link_section = ".text.hot.pier_monitor"]
    fn on_accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    if s.set_nonblocking(true).is_ok() {
                        self.next_key += 1;
                        self.conns.push(Conn::new(s, self.next_key));
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    slog!("accept: {e}");
                    break;
                }
            }
        }
    }

    #[link_section = ".text.hot.pier_monitor"]
    fn on_output(&mut self, stream: Stream) {
        let fd = match stream {
            Stream::Stdout => self.out.as_ref(),
            Stream::Stderr => self.err.as_ref(),
        }
        .map(|f| f.as_raw_fd());
        let Some(fd) = fd else { return };
        let n = match read_fd(fd, &mut self.buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                return
            }
            // EIO: the pty's slave side is closed everywhere.
            Err(e) => {
                if e.raw_os_error() != Some(libc::EIO) {
                    slog!("reading container {stream:?}: {e}");
                }
                0
            }
        };
        if n == 0 {
            match stream {
                Stream::Stdout => self.out_eof = true,
                Stream::Stderr => self.err_eof = true,
            }
            if let Some(log) = self.log.as_mut() {
                log.finish(stream);
            }
            return;
        }
        let data = &self.buf[..n];
        if let Some(log) = self.log.as_mut() {
            log.write(stream, data);
        }
        let kind = match stream {
            Stream::Stdout => proto::STDOUT,
            Stream::Stderr => proto::STDERR,
        };
        for c in self.conns.iter_mut().filter(|c| c.subscribed && !c.dead) {
            proto::encode_frame(kind, data, &mut c.out);
            c.flush();
        }
    }

    #[link_section = ".text.hot.pier_monitor"]
    fn on_stdin_writable(&mut self) {
        let Some(fd) = self.stdin.as_ref().map(|f| f.as_raw_fd()) else {
            return;
        };
        while !self.stdin_buf.is_empty() {
            match write_fd(fd, &self.stdin_buf) {
                Ok(n) => {
                    self.stdin_buf.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {
                    // The container closed its stdin.
                    self.stdin = None;
                    self.stdin_buf = Vec::new();
                    return;
                }
            }
        }
        if self.stdin_buf.capacity() > 64 * 1024 {
            self.stdin_buf = Vec::new();
        }
        if self.stdin_close {
            self.stdin = None;
        }
    }

    #[link_section = ".text.hot.pier_monitor"]
    fn on_conn(&mut self, i: usize, revents: libc::c_short) {
        if revents & libc::POLLOUT != 0 {
            self.conns[i].flush();
        }
        if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) == 0 {
            return;
        }
        if self.conns[i].read_eof {
            // Both directions are gone: nobody will read what we send.
            if revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                self.conns[i].dead = true;
            }
            return;
        }
        let n = match self.conns[i].stream.read(&mut self.buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                return
            }
            Err(_) => {
                self.conns[i].dead = true;
                return;
            }
        };
        if n == 0 {
            let c = &mut self.conns[i];
            c.read_eof = true;
            if !c.subscribed && c.out.is_empty() {
                c.dead = true;
            }
            return;
        }
        self.conns[i].inbuf.extend(&self.buf[..n]);
        loop {
            let frame = self.conns[i].inbuf.next_frame();
            match frame {
                Ok(Some((kind, payload))) => match ShimRequest::decode(kind, payload) {
                    Ok(Some(req)) => self.handle(i, req),
                    Ok(None) => {}
                    Err(e) => self.reply(i, ShimEvent::Error(e.to_string())),
                },
                Ok(None) => break,
                Err(e) => {
                    self.reply(i, ShimEvent::Error(e.to_string()));
                    self.conns[i].flush();
                    self.conns[i].dead = true;
                    break;
                }
            }
        }
        self.conns[i].flush();
    }

    #[link_section = ".text.hot.pier_monitor"]
    fn reply(&mut self, i: usize, ev: ShimEvent) {
        self.conns[i].push(&ev);
    }

    #[link_section = ".text.hot.pier_monitor"]
    fn handle(&mut self, i: usize, req: ShimRequest) {
        if self.conns[i].exec {
            self.handle_exec_request(i, req);
            return;
        }
        match req {
            ShimRequest::Exec(spec) => self.start_exec(i, &spec),
            ShimRequest::Start => {
                let ev = self.start();
                self.reply(i, ev);
            }
            ShimRequest::Stdin(data) => {
                if self.stdin.is_some() && !self.stdin_close {
                    self.stdin_buf.extend_from_slice(&data);
                }
            }
            ShimRequest::CloseStdin => {
                self.stdin_close = true;
                if self.stdin_buf.is_empty() {
                    self.stdin = None;
                }
            }
            ShimRequest::Resize { rows, cols } => {
                if !self.tty {
                    return;
                }
                if let Some(fd) = self.out.as_ref().map(|f| f.as_raw_fd()) {
                    if let Err(e) = set_winsize(fd, rows, cols) {
                        self.reply(i, ShimEvent::Error(format!("resizing the tty: {e}")));
                    }
                }
            }
            ShimRequest::Signal(sig) => {
                if self.exit_code.is_some() {
                    return;
                }
                // SAFETY: kill(2) on our own not-yet-reaped child: the pid
                // cannot have been reused.
                if unsafe { libc::kill(self.init.as_raw(), sig) } < 0 {
                    let e = std::io::Error::last_os_error();
                    self.reply(i, ShimEvent::Error(format!("sending signal {sig}: {e}")));
                }
            }
            ShimRequest::Status => {
                let state = if self.started {
                    ShimState::Running
                } else {
                    ShimState::Created
                };
                self.reply(
                    i,
                    ShimEvent::Status(StatusReply {
                        state,
                        pid: self.init.as_raw() as u32,
                    }),
                );
            }
            ShimRequest::Subscribe => self.conns[i].subscribed = true,
        }
    }

    fn start(&mut self) -> ShimEvent {
        let pid = self.init.as_raw() as u32;
        if self.exit_code.is_some() {
            return ShimEvent::Error("cannot start a container that has stopped".into());
        }
        if self.started {
            return ShimEvent::Started { pid };
        }
        let (root, id) = (&self.runtime_root, &self.id);
        match helper::run("start", || {
            lc::start(root, id).map_err(|m| HelperError::new(m, 128))
        }) {
            Ok(()) => {
                self.started = true;
                ShimEvent::Started { pid }
            }
            Err(e) => {
                slog!("start: {}", e.message);
                ShimEvent::Error(format!("starting the container: {}", e.message))
            }
        }
    }

    fn oom_killed(&self) -> bool {
        let Some(cg) = self.cgroup.as_deref() else {
            return false;
        };
        pier_runtime::cgroupfs::CgroupDir::new(std::path::Path::new("/sys/fs/cgroup"), cg)
            .oom_killed()
    }

    fn finish(mut self) -> i32 {
        self.finish_execs();
        let exit_code = self.exit_code.unwrap_or(137);
        if let Some(log) = self.log.as_mut() {
            log.finish(Stream::Stdout);
            log.finish(Stream::Stderr);
        }
        self.log = None;
        self.out = None;
        self.err = None;
        self.stdin = None;
        let oom_killed = self.oom_killed();
        // pierd removes the container dir as soon as it sees EXITED (run
        // --rm), so the rootfs must be unmounted before; libcontainer's
        // delete (cgroup and state dir) is not needed by anyone waiting
        // and runs after EXITED, off the `run` path. pierd waits for this
        // shim's EOF before it starts the same container again.
        if let Err(e) = overlay::unmount_rootfs(&self.rootfs) {
            slog!("{e}");
        }
        let rec = ExitRecord {
            exit_code,
            finished_at: std::mem::take(&mut self.finished_at),
            oom_killed,
        };
        if let Err(e) = rec.write(&self.exit_file, self.durable_exit) {
            slog!("{e}");
        }
        let ev = ShimEvent::Exited {
            exit_code,
            oom_killed,
        };
        for c in self.conns.iter_mut() {
            c.push(&ev);
            c.flush();
        }
        // Deliver EXITED; connections stay open until the socket is gone,
        // so a client seeing EOF knows the shim is done.
        let deadline = now() + FAREWELL;
        loop {
            self.pollfds.clear();
            for c in self.conns.iter().filter(|c| !c.dead && !c.out.is_empty()) {
                self.pollfds.push(libc::pollfd {
                    fd: c.stream.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                });
            }
            if self.pollfds.is_empty() || now() >= deadline {
                break;
            }
            // SAFETY: pollfds is a valid array of its length.
            unsafe { libc::poll(self.pollfds.as_mut_ptr(), self.pollfds.len() as _, 100) };
            for c in self.conns.iter_mut() {
                c.flush();
            }
        }
        let (root, id) = (&self.runtime_root, &self.id);
        if let Err(e) = helper::run("delete", || {
            lc::delete(root, id).map_err(|m| HelperError::new(m, 128))
        }) {
            slog!("deleting the container: {}", e.message);
        }
        if self.socket_id.is_some() && path_id(&self.socket) == self.socket_id {
            if let Err(e) = std::fs::remove_file(&self.socket) {
                if e.kind() != ErrorKind::NotFound {
                    slog!("removing {}: {e}", self.socket.display());
                }
            }
        }
        0
    }
}
