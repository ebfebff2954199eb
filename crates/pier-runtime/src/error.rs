use std::path::PathBuf;

/// Every error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The shim could not create the container (bad user, missing executable,
    /// libcontainer failure). `message` follows runc's texts; `exit_code` is
    /// what Docker would record (127 not found, 126 not executable, 128 other).
    #[error("{message}")]
    Create { message: String, exit_code: i32 },

    /// The shim itself misbehaved: died without answering, answered garbage,
    /// or took too long.
    #[error("pier-shim: {0}")]
    Shim(String),

    /// A malformed frame on the shim socket.
    #[error("shim protocol error: {0}")]
    Protocol(String),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// A value that cannot be put on the wire or into a file (e.g. a socket
    /// path longer than `sun_path`).
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
}

impl RuntimeError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            context: context.into(),
            source,
        }
    }
}
