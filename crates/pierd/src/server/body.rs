//! Streaming response bodies fed from a task through a bounded channel
//! (backpressure: the producer waits while the client is slow).

use axum::body::Body;
use bytes::Bytes;
use tokio::sync::mpsc;

pub type BodyTx = mpsc::Sender<Result<Bytes, std::io::Error>>;

pub fn channel_body(capacity: usize) -> (BodyTx, Body) {
    let (tx, rx) = mpsc::channel(capacity);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (tx, Body::from_stream(stream))
}
