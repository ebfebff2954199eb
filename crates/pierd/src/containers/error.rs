//! What can go wrong with containers, in Docker's words. The HTTP status of
//! each variant is decided in one place: `server::error`.

use pier_image::ImageError;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("multiple IDs found with provided prefix: {0}")]
    Ambiguous(String),
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("Conflict. The container name \"{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, id: String },
    #[error("network {0} not found")]
    NetworkNotFound(String),
    #[error("no command specified")]
    NoCommand,
    /// `--platform` names a platform the local image is not (404, so the
    /// docker CLI tries a pull, as with Docker).
    #[error("{0}")]
    PlatformMismatch(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("Container {0} is not running")]
    NotRunning(String),
    #[error("cannot remove container \"{0}\": container is running: stop the container before removing or force remove")]
    RemoveRunning(String),
    #[error("cannot remove container \"{0}\": container is paused and must be unpaused first")]
    RemovePaused(String),
    #[error("cannot remove container \"{0}\": container is restarting: stop the container before removing or force remove")]
    RemoveRestarting(String),
    #[error("Container {0} is restarting, wait until the container is running")]
    Restarting(String),
    #[error("removal of container {0} is already in progress")]
    RemovalInProgress(String),
    /// Docker answers 304 with no body (start of a running container, stop
    /// of a stopped one).
    #[error("not modified")]
    NotModified,
    /// The runtime refused to create the process (e.g. executable not found);
    /// the text is the shim's, which the docker CLI maps to exit 126/127.
    #[error("{0}")]
    StartFailed(String),
    #[error("configured logging driver does not support reading")]
    LogsNotSupported,
    #[error("{0}")]
    Runtime(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Volume(#[from] pier_volume::VolumeError),
}

impl ContainerError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// `io::Result` → `ContainerError` with a human context.
pub trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, ContainerError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, ContainerError> {
        self.map_err(|e| ContainerError::io(context(), e))
    }
}
