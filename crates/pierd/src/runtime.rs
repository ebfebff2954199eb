//! The seam to `pier-runtime`: every use of its API goes through here, so
//! a change in its signatures touches one file.

use std::path::{Path, PathBuf};

pub use pier_runtime::{
    ExecFailure, ExecSpec, MountSpec, NetworkMode, RootfsLayers, RuntimeError, ShimConfig,
    ShimConnection, ShimEvent, ShimReader, ShimRequest, ShimWriter, SpecInput,
};

/// The shim's exit record, if it wrote one (a missing or unreadable file
/// reads as none).
pub fn read_exit(path: &Path) -> Option<pier_runtime::ExitRecord> {
    match pier_runtime::read_exit_record(path) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("reading {}: {e}", path.display());
            None
        }
    }
}

/// Writes `config.json`. Blocking. Both it and `shim.json` are rewritten on
/// every start and read by the shim at once, so they skip the fsync that
/// crash-safe state files pay for: this is the `run` hot path.
pub fn write_spec(input: &SpecInput, path: &Path) -> Result<(), RuntimeError> {
    let spec = pier_runtime::build_spec(input);
    let bytes = serde_json::to_vec(&spec).map_err(|source| RuntimeError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    std::fs::write(path, bytes).map_err(|source| RuntimeError::Io {
        context: format!("writing {}", path.display()),
        source,
    })
}

/// Writes `shim.json` and launches the shim; resolves when the container
/// is created (its init waiting for START) or creation failed.
pub async fn launch(
    shim_bin: &Path,
    cfg: &ShimConfig,
    shim_json: &Path,
) -> Result<u32, RuntimeError> {
    let bytes = serde_json::to_vec(cfg).map_err(|source| RuntimeError::Json {
        path: shim_json.to_path_buf(),
        source,
    })?;
    // A few hundred bytes into the page cache: cheaper in place than a
    // round trip through the blocking pool, on the start's critical path.
    std::fs::write(shim_json, bytes).map_err(|source| RuntimeError::Io {
        context: format!("writing {}", shim_json.display()),
        source,
    })?;
    Ok(pier_runtime::launch_shim(shim_bin, cfg, shim_json)
        .await?
        .pid)
}

/// The next event, or `None` when the connection is gone (closed or
/// broken: either way nothing more will come).
pub async fn next_event(reader: &mut ShimReader) -> Option<ShimEvent> {
    match reader.recv().await {
        Ok(ev) => ev,
        Err(e) => {
            tracing::debug!("shim connection: {e}");
            None
        }
    }
}

/// Same, on an unsplit connection.
pub async fn next_event_conn(conn: &mut ShimConnection) -> Option<ShimEvent> {
    match conn.recv().await {
        Ok(ev) => ev,
        Err(e) => {
            tracing::debug!("shim connection: {e}");
            None
        }
    }
}

/// The live control channel to a running container's shim (signals,
/// resize), shared by request handlers.
pub struct ShimControl {
    pub socket: PathBuf,
    writer: tokio::sync::Mutex<ShimWriter>,
}

impl ShimControl {
    pub fn new(socket: PathBuf, writer: ShimWriter) -> Self {
        Self {
            socket,
            writer: tokio::sync::Mutex::new(writer),
        }
    }

    pub async fn send(&self, req: ShimRequest) -> Result<(), RuntimeError> {
        self.writer.lock().await.send(&req).await
    }
}
