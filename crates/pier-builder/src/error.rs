//! The builder's errors. Texts follow Docker's classic builder and BuildKit,
//! because users and scripts grep for them.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BuildError {
    /// A Dockerfile syntax error, with the 1-based line it was found on.
    #[error("dockerfile parse error on line {line}: {message}")]
    Parse { line: usize, message: String },
    /// A Dockerfile that parsed but cannot be built as written (bad stage
    /// reference, bad instruction arguments, ...).
    #[error("{0}")]
    Invalid(String),
    /// A RUN step's command exited non-zero.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed { command: String, code: i32 },
    /// A COPY/ADD source that is not in the context.
    #[error("{0}")]
    Copy(String),
    #[error("{0}")]
    Image(#[from] pier_image::ImageError),
    #[error("{0}")]
    Runtime(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the build was cancelled")]
    Cancelled,
}

impl BuildError {
    pub fn parse(line: usize, message: impl Into<String>) -> Self {
        BuildError::Parse {
            line,
            message: message.into(),
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BuildError::Io {
            context: context.into(),
            source,
        }
    }

    /// The exit code Docker's CLI exits with for this error (a failing RUN
    /// passes its own code through, anything else is 1).
    pub fn exit_code(&self) -> i32 {
        match self {
            BuildError::RunFailed { code, .. } if *code > 0 => *code,
            _ => 1,
        }
    }

    /// HTTP status for errors detected before the stream starts.
    pub fn status_code(&self) -> u16 {
        match self {
            BuildError::Parse { .. } | BuildError::Invalid(_) => 400,
            BuildError::Image(e) => e.status_code(),
            _ => 500,
        }
    }
}

pub type Result<T, E = BuildError> = std::result::Result<T, E>;

pub(crate) trait IoContext<T> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| BuildError::io(f(), e))
    }
}
