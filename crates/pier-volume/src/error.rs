//! What can go wrong with volumes, in Docker's words, and the HTTP status
//! each maps to.

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// `get NAME: no such volume` (404).
    #[error("{op} {name}: no such volume")]
    NotFound { op: &'static str, name: String },
    /// `remove NAME: volume is in use - [ids]` (409).
    #[error("remove {name}: volume is in use - [{}]", refs.join(", "))]
    InUse { name: String, refs: Vec<String> },
    /// Bad names and options (400), already prefixed like Docker's
    /// `create NAME: ...`.
    #[error("{0}")]
    InvalidParameter(String),
    /// Only the `local` driver exists (404, as Docker's plugin look-up).
    #[error(
        "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
    )]
    PluginNotFound { name: String, driver: String },
    /// A prune is already running (409).
    #[error("a prune operation is already running")]
    PruneRunning,
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl VolumeError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// Docker's status code for this error.
    pub fn status_code(&self) -> u16 {
        match self {
            VolumeError::NotFound { .. } | VolumeError::PluginNotFound { .. } => 404,
            VolumeError::InUse { .. } | VolumeError::PruneRunning => 409,
            VolumeError::InvalidParameter(_) => 400,
            VolumeError::Io { .. } => 500,
        }
    }
}

pub type Result<T> = std::result::Result<T, VolumeError>;

/// `io::Result` → `VolumeError` with a human context.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| VolumeError::io(context(), e))
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| VolumeError::io(context(), e.into()))
    }
}
