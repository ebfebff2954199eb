/// Every error of the shim.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("{0}")]
    Mount(String),
    #[error("{context}: {source}")]
    Sys {
        context: String,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Runtime(#[from] pier_runtime::RuntimeError),
    /// A refusal to create the container with runc's text and Docker's
    /// exit code (126/127/128).
    #[error("{message}")]
    Create { message: String, exit_code: i32 },
    #[error("{0}")]
    Other(String),
}

impl ShimError {
    pub fn sys(context: impl Into<String>, source: nix::errno::Errno) -> Self {
        ShimError::Sys {
            context: context.into(),
            source,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ShimError::Io {
            context: context.into(),
            source,
        }
    }

    /// The exit code Docker would record for a container that failed this way.
    pub fn exit_code(&self) -> i32 {
        match self {
            ShimError::Create { exit_code, .. } => *exit_code,
            _ => 128,
        }
    }
}

static LOG_PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// From now on diagnostics go to `path` (opened per line, so a monitor that
/// has nothing to say never creates it) instead of stderr.
pub fn log_to(path: std::path::PathBuf) {
    let _ = LOG_PATH.set(path);
}

/// Writes one diagnostic line: `<time> pier-shim[<pid>]: <message>`.
pub fn log_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let line = format!(
        "{} pier-shim[{}]: {}\n",
        pier_runtime::now_rfc3339_nanos(),
        std::process::id(),
        args
    );
    match LOG_PATH.get() {
        Some(p) => {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(p)
            {
                let _ = f.write_all(line.as_bytes());
            }
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Logs a diagnostic line (see [`log_line`]).
#[macro_export]
macro_rules! slog {
    ($($arg:tt)*) => {
        $crate::error::log_line(format_args!($($arg)*))
    };
}
