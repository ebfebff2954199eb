//! Running work in a short-lived forked child.
//!
//! The long-lived monitor never calls libcontainer itself: libcontainer
//! starts processes with raw `clone3` (which needs a single-threaded caller),
//! allocates freely and touches megabytes of code. Each libcontainer call
//! runs in a forked child that reports its result as one JSON message on a
//! pipe and exits, so the monitor's memory stays small.

use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};

use nix::sys::signal::{signal, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A failure a helper reports: a message and the exit code Docker would record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HelperError {
    pub message: String,
    pub exit_code: i32,
    /// The helper died without reporting (crash, kill).
    #[serde(default)]
    pub died: bool,
}

impl HelperError {
    pub fn new(message: impl Into<String>, exit_code: i32) -> Self {
        HelperError {
            message: message.into(),
            exit_code,
            died: false,
        }
    }
}

impl From<crate::error::ShimError> for HelperError {
    fn from(e: crate::error::ShimError) -> Self {
        HelperError::new(e.to_string(), e.exit_code())
    }
}

/// Undoes the monitor's signal setup in a child that will start other
/// programs: nothing blocked, SIGPIPE and SIGHUP back to default (ignored
/// dispositions and the mask would be inherited across exec).
pub fn reset_signals() {
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    for s in [Signal::SIGPIPE, Signal::SIGHUP] {
        // SAFETY: setting the default disposition installs no handler code.
        let _ = unsafe { signal(s, SigHandler::SigDfl) };
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), HelperError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| HelperError::new(format!("pipe: {e}"), 128))
}

/// Runs `f` in a forked child and returns what it returned. The caller must
/// be single-threaded. Waits for the child (and only that child).
pub fn run<T, F>(name: &str, f: F) -> Result<T, HelperError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Result<T, HelperError>,
{
    let (r, w) = pipe()?;
    // SAFETY: the shim is single-threaded, so the child may run arbitrary code.
    let child = match unsafe { fork() } {
        Err(e) => return Err(HelperError::new(format!("fork: {e}"), 128)),
        Ok(ForkResult::Child) => {
            drop(r);
            reset_signals();
            let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err(HelperError::new("helper panicked", 128)));
            let mut bytes = serde_json::to_vec(&res).unwrap_or_default();
            bytes.push(b'\n');
            let mut file = std::fs::File::from(w);
            let _ = file.write_all(&bytes);
            drop(file);
            // SAFETY: leave without running atexit handlers or destructors
            // that belong to the parent's state.
            unsafe { libc::_exit(0) }
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    drop(w);
    drop(f);
    let read = read_result(&r, child);
    drop(r);
    let status = wait_for(child);
    let buf = match read {
        Ok(b) => b,
        Err(e) => {
            return Err(HelperError::new(
                format!("{name} helper: reading result: {e}"),
                128,
            ))
        }
    };
    if buf.is_empty() {
        return Err(HelperError {
            message: format!("{name} helper died without a result ({status})"),
            exit_code: 128,
            died: true,
        });
    }
    serde_json::from_slice::<Result<T, HelperError>>(&buf).unwrap_or_else(|e| {
        Err(HelperError::new(
            format!("{name} helper: bad result: {e}"),
            128,
        ))
    })
}

/// Reads the helper's one-line result. Waiting for EOF is not enough: the
/// container's init, cloned inside the helper, inherits the pipe's write end
/// and keeps it until it execs. So this stops at the newline, or once the
/// helper has exited (seen through a pidfd) and the pipe is drained.
fn read_result(r: &OwnedFd, child: Pid) -> std::io::Result<Vec<u8>> {
    use std::os::fd::AsRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.as_raw(), 0) };
    let pidfd = if pidfd >= 0 {
        // SAFETY: a fresh fd from the kernel, owned by nobody else.
        Some(unsafe { owned(pidfd as i32) })
    } else {
        None
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut child_gone = false;
    loop {
        let mut fds = [
            libc::pollfd {
                fd: r.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pidfd.as_ref().map_or(-1, |p| p.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let timeout = if child_gone { 0 } else { -1 };
        // SAFETY: two valid pollfds (a negative fd is ignored by poll).
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[0].revents != 0 {
            // SAFETY: reading into a buffer we own.
            let got = unsafe { libc::read(r.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
            if got < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
                continue;
            }
            if got == 0 {
                return Ok(buf);
            }
            buf.extend_from_slice(&chunk[..got as usize]);
            if buf.ends_with(b"\n") {
                return Ok(buf);
            }
            continue;
        }
        if child_gone {
            // Exited and nothing more to read.
            return Ok(buf);
        }
        if fds[1].revents != 0 {
            child_gone = true;
        }
    }
}

/// Waits for one specific child; a description of how it ended.
pub fn wait_for(pid: Pid) -> String {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, c)) => return format!("exit status {c}"),
            Ok(WaitStatus::Signaled(_, s, _)) => return format!("killed by {s}"),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return format!("wait: {e}"),
        }
    }
}

/// `/dev/null`, opened close-on-exec.
pub fn dev_null() -> std::io::Result<OwnedFd> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    Ok(OwnedFd::from(f))
}

/// Duplicates `fd` onto `target` (0, 1, 2).
pub fn dup_onto(fd: &OwnedFd, target: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: dup2 on valid descriptors; `target` is a standard stream.
    unsafe {
        libc::dup2(fd.as_raw_fd(), target);
    }
}

/// Wraps a raw fd we own (from a syscall) into an `OwnedFd`.
///
/// # Safety
/// `fd` must be open and owned by nobody else.
pub unsafe fn owned(fd: i32) -> OwnedFd {
    OwnedFd::from_raw_fd(fd)
}
