//! pierd's use of `pier-network`: the daemon's [`Networking`], container
//! endpoints around start/stop, `NetworkSettings` in container views, the
//! `/networks` endpoints, and repair after a restart.

pub mod api;
pub mod attach;
pub mod options;
pub mod plan;
pub mod settings;

use std::collections::HashMap;
use std::sync::Arc;

use pier_network::{ContainerState, NetError, NetnsRef, Networking};

use crate::containers::ContainerError;
use crate::daemon::Daemon;

pub use options::NetArgs;

/// Opens the daemon's networking (network store, bridges of existing
/// networks, firewall tables).
pub async fn open(args: &NetArgs, d: &Daemon) -> Result<Arc<Networking>, NetError> {
    let cfg = args.config(&d.paths.data_root, &d.paths.exec_root)?;
    Ok(Arc::new(Networking::open(cfg).await?))
}

/// The daemon's networking, or the error a container start gets without it.
pub fn networking(d: &Daemon) -> Result<&Networking, ContainerError> {
    d.network
        .as_deref()
        .ok_or_else(|| ContainerError::Runtime("networking is not available in this daemon".into()))
}

/// A library error as a container operation's error.
pub fn net_err(e: NetError) -> ContainerError {
    match e.status_code() {
        404 => match e {
            NetError::NotFound(n) => ContainerError::NetworkNotFound(n),
            other => ContainerError::InvalidParameter(other.to_string()),
        },
        400 => ContainerError::InvalidParameter(e.to_string()),
        _ => ContainerError::Runtime(e.to_string()),
    }
}

/// After `recover_all`: containers still running keep their endpoints (host
/// ports are held again, their DNS listeners restarted); endpoints of
/// containers that are gone are released.
pub async fn reconcile(d: &Daemon) {
    let Some(net) = d.network.as_deref() else {
        return;
    };
    let running: HashMap<String, NetnsRef> = d
        .containers
        .list()
        .iter()
        .filter_map(|c| {
            let g = c.lock();
            (g.rec.state.running() && g.rec.state.pid > 0)
                .then(|| (c.id.clone(), NetnsRef::Pid(g.rec.state.pid as u32)))
        })
        .collect();
    let state = |id: &str| match running.get(id) {
        Some(ns) => ContainerState::Running(ns),
        None => ContainerState::Gone,
    };
    if let Err(e) = net.reconcile(&state).await {
        tracing::error!("repairing networking after restart: {e}");
    }
}

/// At shutdown: with no container left running, nothing of ours stays on
/// the host (bridges, veths, nftables tables); they are recreated at start.
/// Running containers keep their networking.
pub async fn shutdown(d: &Daemon) {
    let Some(net) = d.network.as_deref() else {
        return;
    };
    net.settle_links().await;
    let any_running = d
        .containers
        .list()
        .iter()
        .any(|c| c.lock().rec.state.running());
    if any_running {
        tracing::info!("containers still running: networking left in place");
        return;
    }
    match net.cleanup_all().await {
        Ok(r) => tracing::info!(links = r.links.len(), "network cleanup at shutdown"),
        Err(e) => tracing::warn!("network cleanup at shutdown: {e}"),
    }
}
