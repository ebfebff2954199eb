//! The monitor's side of exec processes: their fds in the poll loop, their
//! output to the owning connection, their stdin, and their exits. Kept out
//! of the `.text.hot` section: a monitor without execs never runs it.

use std::io::ErrorKind;
use std::os::fd::AsRawFd;

use pier_runtime::proto;
use pier_runtime::{ExecSpec, ShimEvent, ShimRequest};

use super::{now, read_fd, set_winsize, write_fd, Monitor, Slot, DRAIN, SUBSCRIBER_HIGH_WATER};
use crate::exec::{self, Target};

impl Monitor {
    fn conn_index(&self, key: Option<u64>) -> Option<usize> {
        let key = key?;
        self.conns.iter().position(|c| c.key == key && !c.dead)
    }

    /// Adds every exec's fds to the poll set.
    pub(super) fn poll_execs(&mut self) {
        for k in 0..self.execs.len() {
            let e = &self.execs[k];
            let backpressure = self
                .conn_index(e.conn)
                .is_some_and(|i| self.conns[i].out.len() > SUBSCRIBER_HIGH_WATER);
            let (out, err) = (
                e.out.as_ref().map(|f| f.as_raw_fd()),
                e.err.as_ref().map(|f| f.as_raw_fd()),
            );
            let stdin = e
                .stdin
                .as_ref()
                .filter(|_| !e.stdin_buf.is_empty())
                .map(|f| f.as_raw_fd());
            if !backpressure {
                if let Some(fd) = out {
                    self.add(fd, libc::POLLIN, Slot::ExecOut(k));
                }
                if let Some(fd) = err {
                    self.add(fd, libc::POLLIN, Slot::ExecErr(k));
                }
            }
            if let Some(fd) = stdin {
                self.add(fd, libc::POLLOUT, Slot::ExecIn(k));
            }
        }
    }

    pub(super) fn on_exec_output(&mut self, k: usize, is_err: bool) {
        let Some(e) = self.execs.get_mut(k) else {
            return;
        };
        let fd = if is_err { &mut e.err } else { &mut e.out };
        let Some(raw) = fd.as_ref().map(|f| f.as_raw_fd()) else {
            return;
        };
        let n = match read_fd(raw, &mut self.buf) {
            Ok(n) => n,
            Err(er)
                if er.kind() == ErrorKind::WouldBlock || er.kind() == ErrorKind::Interrupted =>
            {
                return
            }
            // EIO: the pty's slave side is closed everywhere.
            Err(_) => 0,
        };
        if n == 0 {
            *fd = None;
            return;
        }
        let conn = e.conn;
        if let Some(i) = self.conn_index(conn) {
            let kind = if is_err { proto::STDERR } else { proto::STDOUT };
            proto::encode_frame(kind, &self.buf[..n], &mut self.conns[i].out);
            self.conns[i].flush();
        }
    }

    pub(super) fn on_exec_stdin(&mut self, k: usize) {
        let Some(e) = self.execs.get_mut(k) else {
            return;
        };
        let Some(fd) = e.stdin.as_ref().map(|f| f.as_raw_fd()) else {
            return;
        };
        while !e.stdin_buf.is_empty() {
            match write_fd(fd, &e.stdin_buf) {
                Ok(n) => {
                    e.stdin_buf.drain(..n);
                }
                Err(er) if er.kind() == ErrorKind::Interrupted => continue,
                Err(er) if er.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {
                    e.stdin = None;
                    e.stdin_buf = Vec::new();
                    return;
                }
            }
        }
        if e.stdin_close {
            e.stdin = None;
        }
    }

    pub(super) fn exec_exited(&mut self, pid: nix::unistd::Pid, code: i32) {
        if let Some(e) = self.execs.iter_mut().find(|e| e.pid == pid) {
            if e.exit_code.is_none() {
                e.exit_code = Some(code);
                e.drain_deadline = Some(now() + DRAIN);
                e.stdin = None;
                e.stdin_buf = Vec::new();
            }
        }
    }

    /// Reports finished execs to their connections and forgets them; drops
    /// the stdin of execs whose connection is gone.
    pub(super) fn reap_execs(&mut self) {
        let t = now();
        let mut k = 0;
        while k < self.execs.len() {
            let conn = self.conn_index(self.execs[k].conn);
            if conn.is_none() && !self.execs[k].tty {
                self.execs[k].stdin = None;
            }
            if !self.execs[k].done(t) {
                k += 1;
                continue;
            }
            let e = self.execs.swap_remove(k);
            if let Some(i) = conn {
                let c = &mut self.conns[i];
                c.exec = false;
                c.push(&ShimEvent::ExecExited {
                    exit_code: e.exit_code.unwrap_or(137),
                });
                c.flush();
            }
        }
    }

    /// Execs still known when the container is gone: the kernel killed them
    /// with the pid namespace.
    pub(super) fn finish_execs(&mut self) {
        for e in std::mem::take(&mut self.execs) {
            if let Some(i) = self.conn_index(e.conn) {
                self.conns[i].exec = false;
                self.conns[i].push(&ShimEvent::ExecExited {
                    exit_code: e.exit_code.unwrap_or(137),
                });
            }
        }
    }

    pub(super) fn start_exec(&mut self, i: usize, spec: &ExecSpec) {
        if self.exit_code.is_some() || !self.started {
            let id = &self.id;
            self.reply(
                i,
                ShimEvent::ExecFailed(pier_runtime::ExecFailure {
                    error: format!("container {id} is not running"),
                    exit_code: 126,
                }),
            );
            return;
        }
        self.next_key += 1;
        let key = self.next_key;
        let bundle = self
            .rootfs
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        let t = Target {
            id: &self.id,
            runtime_root: &self.runtime_root,
            bundle: &bundle,
            init: self.init,
        };
        match exec::spawn(&t, key, spec) {
            Ok(mut e) => {
                e.conn = Some(self.conns[i].key);
                self.conns[i].exec = true;
                let pid = e.pid.as_raw() as u32;
                self.execs.push(e);
                self.reply(i, ShimEvent::ExecStarted { pid });
            }
            Err(f) => self.reply(i, ShimEvent::ExecFailed(f)),
        }
    }

    /// A request on an exec's connection.
    pub(super) fn handle_exec_request(&mut self, i: usize, req: ShimRequest) {
        let key = self.conns[i].key;
        let Some(e) = self.execs.iter_mut().find(|e| e.conn == Some(key)) else {
            return;
        };
        match req {
            ShimRequest::Stdin(data) if e.stdin.is_some() && !e.stdin_close => {
                e.stdin_buf.extend_from_slice(&data);
            }
            ShimRequest::CloseStdin => {
                e.stdin_close = true;
                if e.stdin_buf.is_empty() {
                    e.stdin = None;
                }
            }
            ShimRequest::Resize { rows, cols } => {
                if let (true, Some(fd)) = (e.tty, e.out.as_ref().map(|f| f.as_raw_fd())) {
                    let _ = set_winsize(fd, rows, cols);
                }
            }
            ShimRequest::Signal(sig) if e.exit_code.is_none() => {
                // SAFETY: kill(2) on our own not-yet-reaped child.
                unsafe { libc::kill(e.pid.as_raw(), sig) };
            }
            ShimRequest::Status => {
                let pid = e.pid.as_raw() as u32;
                self.reply(i, ShimEvent::ExecStarted { pid });
            }
            _ => {}
        }
    }
}
