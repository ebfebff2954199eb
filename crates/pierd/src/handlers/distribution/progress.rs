//! Docker's JSON progress messages (`jsonmessage.JSONMessage`) written to a
//! streaming response body.

use std::time::{Duration, Instant};

use bytes::Bytes;
use pier_api::human::human_size;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::server::body::BodyTx;

/// Sends messages in order to the response; cheap to clone, usable from
/// blocking threads.
#[derive(Clone)]
pub struct Progress {
    tx: mpsc::UnboundedSender<Value>,
}

impl Progress {
    /// A sender and the task that writes its messages to `body`.
    pub fn new(body: BodyTx) -> (Progress, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
        let task = tokio::spawn(async move {
            while let Some(v) = rx.recv().await {
                let mut line = serde_json::to_vec(&v).unwrap_or_default();
                line.extend_from_slice(b"\r\n");
                if body.send(Ok(Bytes::from(line))).await.is_err() {
                    // The client went away; keep draining so senders never block.
                    while rx.recv().await.is_some() {}
                    return;
                }
            }
        });
        (Progress { tx }, task)
    }

    pub fn send(&self, v: Value) {
        let _ = self.tx.send(v);
    }

    pub fn status(&self, status: &str) {
        self.send(json!({ "status": status }));
    }

    pub fn status_id(&self, id: &str, status: &str) {
        self.send(json!({ "status": status, "progressDetail": {}, "id": id }));
    }

    pub fn bar(&self, id: &str, status: &str, current: u64, total: u64) {
        self.send(json!({
            "status": status,
            "progressDetail": { "current": current, "total": total },
            "progress": progress_bar(current, total),
            "id": id,
        }));
    }

    pub fn error(&self, message: &str) {
        self.send(json!({ "errorDetail": { "message": message }, "error": message }));
    }
}

/// jsonmessage's `JSONProgress.String()` at the daemon's width (the bar is
/// shown: width > 110).
pub fn progress_bar(current: u64, total: u64) -> String {
    if total == 0 {
        return format!("{:>8}", human_size(current));
    }
    let pct = ((current as f64 / total as f64 * 100.0) as usize / 2).min(50);
    let bar = format!("[{}>{}] ", "=".repeat(pct), " ".repeat(50 - pct));
    let (c, t) = (human_size(current), human_size(total));
    if c == t {
        format!("{bar}{c:>8}")
    } else {
        format!("{bar}{c:>8}/{t}")
    }
}

/// Limits progress messages to about ten a second per layer.
pub struct Throttle {
    last: Option<Instant>,
}

impl Throttle {
    pub fn new() -> Self {
        Self { last: None }
    }

    pub fn ready(&mut self) -> bool {
        let now = Instant::now();
        match self.last {
            Some(t) if now.duration_since(t) < Duration::from_millis(100) => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}

/// Docker's short ID of a digest: 12 hex characters.
pub fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_like_docker() {
        assert_eq!(
            progress_bar(1_000_000, 2_000_000),
            format!("[{}>{}] {:>8}/2MB", "=".repeat(25), " ".repeat(25), "1MB")
        );
        assert_eq!(
            progress_bar(2_000_000, 2_000_000),
            format!("[{}>] {:>8}", "=".repeat(50), "2MB")
        );
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
    }
}
