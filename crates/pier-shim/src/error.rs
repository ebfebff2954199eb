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

/// Writes one diagnostic line to stderr (the shim's `shim.log` once
/// daemonized): `<time> pier-shim[<pid>]: <message>`.
#[macro_export]
macro_rules! slog {
    ($($arg:tt)*) => {{
        eprintln!(
            "{} pier-shim[{}]: {}",
            pier_runtime::now_rfc3339_nanos(),
            std::process::id(),
            format_args!($($arg)*)
        );
    }};
}
