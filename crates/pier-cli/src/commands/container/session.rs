//! Pieces of an attached session shared by `run` and `start -a`: the wait
//! request registered before start, TTY resizing on SIGWINCH, and signal
//! forwarding (`--sig-proxy`).

use tokio::sync::oneshot;

use crate::client::{encode, read_all, Client, Query};
use crate::commands::CmdError;
use crate::output;
use crate::tty;

/// `POST /containers/{id}/wait?condition=...` in flight. `registered`
/// resolves once the daemon answered with its headers (it does so before
/// waiting), so a following start cannot race the wait.
pub struct Wait {
    pub registered: oneshot::Receiver<()>,
    pub status: oneshot::Receiver<i32>,
}

/// docker's `waitExitOrRemoved`: the exit status, or 125 when waiting failed.
pub fn wait_exit_or_removed(client: &Client, id: &str, remove: bool) -> Wait {
    let (reg_tx, reg_rx) = oneshot::channel();
    let (st_tx, st_rx) = oneshot::channel();
    let client = client.clone();
    let cond = if remove { "removed" } else { "next-exit" };
    let path = Query::new()
        .add("condition", cond)
        .path(&format!("/containers/{}/wait", encode(id)));
    tokio::spawn(async move {
        let code = match client
            .send(hyper::Method::POST, &path, crate::client::empty(), None)
            .await
        {
            Err(e) => {
                let _ = reg_tx.send(());
                output::errln(&format!("error waiting for container: {e}"));
                125
            }
            Ok(resp) => {
                let _ = reg_tx.send(());
                match read_all(resp)
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                {
                    Some(v) => {
                        if let Some(msg) = v
                            .pointer("/Error/Message")
                            .and_then(|m| m.as_str())
                            .filter(|m| !m.is_empty())
                        {
                            output::errln(&format!("Error waiting for container: {msg}"));
                            125
                        } else {
                            v.get("StatusCode").and_then(|c| c.as_i64()).unwrap_or(125) as i32
                        }
                    }
                    None => {
                        output::errln("error waiting for container: unexpected EOF");
                        125
                    }
                }
            }
        };
        let _ = st_tx.send(code);
    });
    Wait {
        registered: reg_rx,
        status: st_rx,
    }
}

/// The resize endpoint of a container or an exec instance.
pub fn container_resize(id: &str) -> String {
    format!("/containers/{}/resize", encode(id))
}

pub fn exec_resize(id: &str) -> String {
    format!("/exec/{}/resize", encode(id))
}

/// Resizes to the local terminal's size plus `extra` rows and columns.
pub async fn resize_to_terminal(client: &Client, base: &str, extra: u16) -> bool {
    let Some((h, w)) = tty::size(1) else {
        return true;
    };
    if h == 0 && w == 0 {
        return true;
    }
    let path = Query::new()
        .add("h", h.saturating_add(extra).to_string())
        .add("w", w.saturating_add(extra).to_string())
        .path(base);
    client.post(&path).await.is_ok()
}

async fn resize(client: &Client, base: &str) -> bool {
    resize_to_terminal(client, base, 0).await
}

/// docker's `MonitorTtySize`: an initial resize (retried a few times while
/// the container starts) and one on every SIGWINCH.
pub fn monitor_tty_size(client: &Client, resize_path: String) {
    let client = client.clone();
    let id = resize_path;
    tokio::spawn(async move {
        if !resize(&client, &id).await {
            let mut ok = false;
            for retry in 0..10u64 {
                tokio::time::sleep(std::time::Duration::from_millis((retry + 1) * 10)).await;
                if resize(&client, &id).await {
                    ok = true;
                    break;
                }
            }
            if !ok {
                output::errln("failed to resize tty, using default size");
            }
        }
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while winch.recv().await.is_some() {
            resize(&client, &id).await;
        }
    });
}

/// docker's `ForwardAllSignals` for the signals a terminal user sends.
pub fn forward_signals(client: &Client, id: &str) {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        (SignalKind::interrupt(), 2),
        (SignalKind::terminate(), 15),
        (SignalKind::hangup(), 1),
        (SignalKind::quit(), 3),
        (SignalKind::user_defined1(), 10),
        (SignalKind::user_defined2(), 12),
    ];
    for (kind, num) in kinds {
        let Ok(mut s) = signal(kind) else { continue };
        let client = client.clone();
        let path = Query::new()
            .add("signal", num.to_string())
            .path(&format!("/containers/{}/kill", encode(id)));
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                if let Err(e) = client.post(&path).await {
                    output::errln(&format!("error sending signal: {e}"));
                }
            }
        });
    }
}

/// Puts the local terminal in raw mode for an interactive TTY session, with
/// docker's error text (exit 1) when that fails.
pub fn enter_raw_terminal() -> Result<(), CmdError> {
    tty::set_raw_stdin()
        .map_err(|e| CmdError::new(1, format!("unable to set IO streams as raw terminal: {e}")))
}
