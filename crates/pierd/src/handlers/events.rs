//! `GET /events`: past events since `since`, then live ones, as a stream
//! of JSON objects, one per line, until `until` (or forever).

use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use chrono::Utc;
use tokio::sync::broadcast::error::RecvError;

use super::system::AppState;
use crate::server::error::{ApiError, ApiResult};
use crate::server::extract::Query;

const FILTERS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

pub async fn events(axum::extract::State(d): AppState, q: Query) -> ApiResult<Response> {
    let time = |k: &str| -> ApiResult<_> {
        match q.get_nonempty(k) {
            Some(v) => crate::containers::logfile::parse_time(v).map_err(ApiError::BadRequest),
            None => Ok(None),
        }
    };
    let (since, until) = (time("since")?, time("until")?);
    let filters = q.filters()?;
    filters.validate(FILTERS)?;
    let (past, mut rx) = d.events.subscribe(since, until);
    let (tx, body_rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let line = |e: &crate::events::Event| {
            let mut v = serde_json::to_vec(e).unwrap_or_default();
            v.push(b'\n');
            Ok(bytes::Bytes::from(v))
        };
        for e in past.iter().filter(|e| e.matches(&filters)) {
            if tx.send(line(e)).await.is_err() {
                return;
            }
        }
        if until.is_some_and(|u| u <= Utc::now()) {
            return;
        }
        let deadline = async {
            match until {
                Some(u) => tokio::time::sleep((u - Utc::now()).to_std().unwrap_or_default()).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::pin!(deadline);
        loop {
            let e = tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                r = rx.recv() => match r {
                    Ok(e) => e,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                },
            };
            if e.matches(&filters) && tx.send(line(&e)).await.is_err() {
                return;
            }
        }
    });
    let stream = tokio_stream_from(body_rx);
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
