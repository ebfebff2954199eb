//! Writing to stdout/stderr the way docker's CLI behaves when the reader goes
//! away (`pier ps | head -1`): no panic, no message, death by SIGPIPE as a Go
//! program writing to a closed stdout.

use std::io::Write;

fn die_of_sigpipe() -> ! {
    crate::tty::restore();
    // SAFETY: resetting a signal disposition and raising it has no memory effects.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(141)
}

/// Writes bytes to stdout and flushes; a closed pipe ends the process quietly.
pub fn out_bytes(b: &[u8]) {
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(b).and_then(|_| o.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            die_of_sigpipe();
        }
    }
}

pub fn out(s: &str) {
    out_bytes(s.as_bytes());
}

/// `fmt.Fprintln(stdout, s)`.
pub fn outln(s: &str) {
    let mut v = String::with_capacity(s.len() + 1);
    v.push_str(s);
    v.push('\n');
    out(&v);
}

pub fn err_bytes(b: &[u8]) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(b).and_then(|_| e.flush());
}

pub fn errln(s: &str) {
    let mut v = String::with_capacity(s.len() + 1);
    v.push_str(s);
    v.push('\n');
    err_bytes(v.as_bytes());
}
