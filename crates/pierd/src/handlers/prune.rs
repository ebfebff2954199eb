//! `POST /containers/prune`, `POST /images/prune`, and the prune endpoints
//! `docker system prune` also calls (`/build/prune`; `/networks/prune`
//! until networking is wired in).

use std::collections::HashSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use pier_api::filters::Filters;
use serde_json::json;

use super::system::AppState;
use crate::containers::control;
use crate::containers::inspect::dir_size;
use crate::server::error::{join_error, ApiError, ApiResult};
use crate::server::extract::Query;
use crate::server::middleware::json_response;

/// Docker's `until`: a timestamp, a date, or a Go duration before now.
pub fn parse_until(v: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(Some(t)) = crate::containers::logfile::parse_time(v) {
        return Ok(t);
    }
    parse_go_duration(v).map(|d| Utc::now() - d).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "failed to parse value as time or duration: \"{v}\""
        ))
    })
}

fn parse_go_duration(s: &str) -> Option<chrono::Duration> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let v: f64 = num.parse().ok()?;
        num.clear();
        let secs = match unit.as_str() {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += v * secs;
        any = true;
    }
    (any && num.is_empty()).then(|| chrono::Duration::milliseconds((total * 1000.0) as i64))
}

fn labels_ok(f: &Filters, labels: &std::collections::HashMap<String, String>) -> bool {
    let has = |l: &str| match l.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(l),
    };
    f.get("label").iter().all(|l| has(l)) && f.get("label!").iter().all(|l| !has(l))
}

fn until_of(f: &Filters) -> ApiResult<Option<DateTime<Utc>>> {
    match f.get("until").first() {
        Some(v) => parse_until(v).map(Some),
        None => Ok(None),
    }
}

pub async fn containers(State(d): AppState, q: Query) -> ApiResult<Response> {
    let f = q.filters()?;
    f.validate(&["until", "label", "label!"])?;
    let until = until_of(&f)?;
    let mut deleted = Vec::new();
    let mut reclaimed: i64 = 0;
    for c in d.containers.list() {
        let rec = c.snapshot();
        if rec.state.running() {
            continue;
        }
        if until.is_some_and(|u| rec.created >= u) {
            continue;
        }
        if !labels_ok(&f, &rec.config.labels.clone().unwrap_or_default()) {
            continue;
        }
        let dir = c.dir.join("diff");
        let size = tokio::task::spawn_blocking(move || dir_size(&dir))
            .await
            .map_err(join_error)?;
        match control::remove(&d, &c, false).await {
            Ok(()) => {
                reclaimed += size;
                deleted.push(c.id.clone());
            }
            Err(e) => tracing::warn!(id = %c.id, "prune: {e}"),
        }
    }
    d.events.publish(crate::events::Event::new(
        "container",
        "prune",
        "",
        [("reclaimed".to_string(), reclaimed.to_string())].into(),
    ));
    Ok(json_response(
        StatusCode::OK,
        &json!({ "ContainersDeleted": if deleted.is_empty() { json!(null) } else { json!(deleted) }, "SpaceReclaimed": reclaimed }),
    ))
}

pub async fn images(State(d): AppState, q: Query) -> ApiResult<Response> {
    let f = q.filters()?;
    f.validate(&["until", "label", "label!", "dangling"])?;
    let dangling_only = match f.get("dangling").first().map(String::as_str) {
        None => true,
        Some(v) => crate::server::extract::docker_bool(v),
    };
    let until = until_of(&f)?;
    let used: HashSet<String> = d
        .containers
        .list()
        .iter()
        .map(|c| c.lock().rec.image_id.clone())
        .collect();
    let dd = d.clone();
    let (items, reclaimed) = tokio::task::spawn_blocking(move || {
        let mut items = Vec::new();
        let mut reclaimed: i64 = 0;
        let mut records = dd.images.list();
        // Children before parents, so a parent is no longer in use by then.
        records.sort_by(|a, b| b.created.cmp(&a.created));
        for img in records {
            if used.contains(&img.id) || (dangling_only && !img.repo_tags.is_empty()) {
                continue;
            }
            if let (Some(u), Some(created)) = (until, img.created.as_deref()) {
                if DateTime::parse_from_rfc3339(created).is_ok_and(|c| c >= u) {
                    continue;
                }
            }
            if !f.get("label").is_empty() || !f.get("label!").is_empty() {
                let labels = dd
                    .images
                    .config(&img)
                    .ok()
                    .and_then(|c| c.config().as_ref().and_then(|c| c.labels().clone()))
                    .unwrap_or_default();
                if !labels_ok(&f, &labels) {
                    continue;
                }
            }
            let none = |_: &str| None;
            match dd.images.remove_with_usage(&img.id, true, true, &none) {
                Ok(list) => {
                    if list.iter().any(|i| i.deleted.is_some()) {
                        reclaimed += img.size as i64;
                    }
                    items.extend(list);
                }
                Err(e) => tracing::debug!("image prune {}: {e}", img.id),
            }
        }
        (items, reclaimed)
    })
    .await
    .map_err(join_error)?;
    for it in &items {
        if let Some(del) = &it.deleted {
            crate::events::image(&d, "delete", del, None);
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({ "ImagesDeleted": if items.is_empty() { json!(null) } else { json!(items) }, "SpaceReclaimed": reclaimed }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h30m").unwrap().num_minutes(), 90);
        assert_eq!(parse_go_duration("10s").unwrap().num_seconds(), 10);
        assert!(parse_go_duration("10").is_none());
        assert!(parse_go_duration("x").is_none());
        assert!(parse_until("2020-01-01T00:00:00Z").is_ok());
        assert!(parse_until("bogus").is_err());
    }
}
