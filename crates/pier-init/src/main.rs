//! `pier-init -- CMD [ARGS...]`: Docker's `--init` (what `docker-init`/tini
//! does). As PID 1 it starts CMD as its child, forwards every catchable
//! signal it receives to it, reaps every zombie re-parented to it, and
//! exits with CMD's status (128+N if a signal N killed it).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

/// Signals never forwarded: SIGCHLD drives the reaping; the rest cannot be
/// caught or are synchronous faults.
const NOT_FORWARDED: &[libc::c_int] = &[
    libc::SIGCHLD,
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGTSTP,
];

fn fatal(msg: &str, code: i32) -> ! {
    eprintln!("[pier-init] {msg}");
    std::process::exit(code)
}

fn exit_status(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

fn main() {
    let mut args: Vec<CString> = std::env::args_os()
        .skip(1)
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    if args.first().is_some_and(|a| a.as_bytes() == b"--") {
        args.remove(0);
    }
    if args.is_empty() {
        fatal("usage: pier-init -- COMMAND [ARGS...]", 1);
    }

    // SAFETY: plain libc calls on sigset_t values we own; fork/exec in the
    // child touches only async-signal-safe functions before execvp.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_SETMASK, &all, &mut old);

        let child = libc::fork();
        if child < 0 {
            fatal("fork failed", 1);
        }
        if child == 0 {
            // The command gets the default mask and dispositions back.
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
            argv.push(std::ptr::null());
            libc::execvp(argv[0], argv.as_ptr());
            let err = std::io::Error::last_os_error();
            let code = if err.raw_os_error() == Some(libc::ENOENT) {
                127
            } else {
                126
            };
            fatal(
                &format!("exec {} failed: {err}", args[0].to_string_lossy()),
                code,
            );
        }

        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::sigwaitinfo(&all, &mut info);
            if sig < 0 {
                continue;
            }
            if sig != libc::SIGCHLD {
                if !NOT_FORWARDED.contains(&sig) {
                    libc::kill(child, sig);
                }
                continue;
            }
            // Reap everything that has exited; stop when the command has.
            loop {
                let mut status = 0;
                let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if pid <= 0 {
                    break;
                }
                if pid == child {
                    // Reap what is left without waiting, then leave.
                    while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
                    std::process::exit(exit_status(status));
                }
            }
        }
    }
}
