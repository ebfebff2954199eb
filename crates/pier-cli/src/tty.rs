//! The local terminal: raw mode for `-it` (restored on every exit path, also
//! from [`exit`]), window size, and whether stdio is a terminal.

use std::os::fd::BorrowedFd;
use std::sync::Mutex;

use rustix::termios::{self, OptionalActions, Termios};

/// The terminal state to restore: (fd, saved settings).
static SAVED: Mutex<Option<(i32, Termios)>> = Mutex::new(None);

fn fd(n: i32) -> BorrowedFd<'static> {
    // SAFETY: 0, 1 and 2 stay open for the life of the process.
    unsafe { BorrowedFd::borrow_raw(n) }
}

pub fn is_terminal(n: i32) -> bool {
    termios::isatty(fd(n))
}

pub fn stdin_is_terminal() -> bool {
    is_terminal(0)
}

pub fn stdout_is_terminal() -> bool {
    is_terminal(1)
}

/// Rows and columns of the terminal on `n`, if it is one.
pub fn size(n: i32) -> Option<(u16, u16)> {
    let ws = termios::tcgetwinsize(fd(n)).ok()?;
    Some((ws.ws_row, ws.ws_col))
}

/// Puts stdin in raw mode (moby/term `MakeRaw`, i.e. `cfmakeraw`) and
/// remembers how to undo it.
pub fn set_raw_stdin() -> std::io::Result<()> {
    if !stdin_is_terminal() || std::env::var_os("NORAW").is_some() {
        return Ok(());
    }
    let orig = termios::tcgetattr(fd(0))?;
    let mut raw = orig.clone();
    raw.make_raw();
    termios::tcsetattr(fd(0), OptionalActions::Now, &raw)?;
    if let Ok(mut s) = SAVED.lock() {
        if s.is_none() {
            *s = Some((0, orig));
        }
    }
    Ok(())
}

/// With raw mode on and signals not proxied, a terminating signal must
/// still give the terminal back before the process goes.
pub fn restore_on_signals() {
    use tokio::signal::unix::{signal, SignalKind};
    for (kind, num) in [
        (SignalKind::terminate(), 15),
        (SignalKind::hangup(), 1),
        (SignalKind::interrupt(), 2),
        (SignalKind::quit(), 3),
    ] {
        if let Ok(mut s) = signal(kind) {
            tokio::spawn(async move {
                if s.recv().await.is_some() {
                    exit(128 + num);
                }
            });
        }
    }
}

/// Restores the terminal if raw mode was set; safe to call repeatedly.
pub fn restore() {
    let saved = SAVED.lock().ok().and_then(|mut s| s.take());
    if let Some((n, t)) = saved {
        let _ = termios::tcsetattr(fd(n), OptionalActions::Now, &t);
    }
}

/// Restores the terminal, flushes stdio and exits.
pub fn exit(code: i32) -> ! {
    restore();
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}
