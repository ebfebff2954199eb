//! The one error type of the image store, with the HTTP status pierd answers.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Displayed exactly as Docker does, the CLI matches on it.
    #[error("No such image: {0}")]
    NotFound(String),
    /// Already carries Docker's full text ("conflict: unable to delete ...").
    #[error("{0}")]
    Conflict(String),
    /// "invalid reference format" and its variants.
    #[error("{0}")]
    InvalidReference(String),
    /// A malformed or hostile archive, a digest mismatch, a bad manifest.
    #[error("{0}")]
    BadArchive(String),
    /// Other bad input: filters, `--change` lines, platforms.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl ImageError {
    pub fn status_code(&self) -> u16 {
        match self {
            ImageError::NotFound(_) => 404,
            ImageError::Conflict(_) => 409,
            ImageError::InvalidReference(_)
            | ImageError::BadArchive(_)
            | ImageError::InvalidArgument(_) => 400,
            ImageError::Io { .. } => 500,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        ImageError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn bad(msg: impl Into<String>) -> Self {
        ImageError::BadArchive(msg.into())
    }
}

/// Attaches a human context to `io::Result`s, the way `anyhow::Context` would.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, ImageError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, ImageError> {
        self.map_err(|e| ImageError::io(context(), e))
    }
}

impl<T> IoContext<T> for Result<T, rustix::io::Errno> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, ImageError> {
        self.map_err(|e| ImageError::io(context(), e.into()))
    }
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;
