//! `GET /containers/json`: Docker's listing rules and filters.

use chrono::Utc;
use pier_api::filters::Filters;
use pier_api::models::ContainerSummary;

use super::error::ContainerError;
use super::inspect::{dir_size, summary};
use super::record::Status;
use crate::daemon::Daemon;

const ACCEPTED: &[&str] = &[
    "ancestor",
    "before",
    "exited",
    "id",
    "isolation",
    "label",
    "name",
    "status",
    "health",
    "since",
    "volume",
    "network",
    "is-task",
    "publish",
    "expose",
];

const STATES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

pub struct ListOptions {
    pub all: bool,
    pub limit: Option<i64>,
    pub size: bool,
    pub filters: Filters,
}

/// Docker's `filters.Match`: no values means match; else an exact value
/// or a regular expression that matches.
pub fn filter_match(f: &Filters, key: &str, source: &str) -> bool {
    let values = f.get(key);
    if values.is_empty() {
        return true;
    }
    values.iter().any(|v| {
        v == source
            || regex_lite::Regex::new(v)
                .map(|re| re.is_match(source))
                .unwrap_or(false)
    })
}

/// Blocking (image look-ups, sizes): call from `spawn_blocking`.
pub fn list(d: &Daemon, mut opts: ListOptions) -> Result<Vec<ContainerSummary>, ContainerError> {
    let f = &opts.filters;
    f.validate(ACCEPTED)
        .map_err(|e| ContainerError::InvalidParameter(e.to_string()))?;
    let mut exited = Vec::new();
    for v in f.get("exited") {
        exited.push(v.parse::<i64>().map_err(|_| {
            ContainerError::InvalidParameter(format!("invalid filter 'exited={v}'"))
        })?);
    }
    for v in f.get("status") {
        if !STATES.contains(&v.as_str()) {
            return Err(ContainerError::InvalidParameter(format!(
                "invalid filter 'status={v}': Unrecognised filter value for status"
            )));
        }
    }
    for v in f.get("health") {
        super::health::validate_filter(v)?;
    }
    if f.contains("status") {
        opts.all = true;
    }
    let mut before = None;
    for v in f.get("before") {
        before = Some(d.containers.get(v)?.id.clone());
    }
    let mut since = None;
    for v in f.get("since") {
        since = Some(d.containers.get(v)?.id.clone());
    }
    let ancestors: Option<Vec<String>> = if f.contains("ancestor") {
        Some(
            f.get("ancestor")
                .iter()
                .filter_map(|a| d.images.get(a).ok().map(|r| r.id))
                .collect(),
        )
    } else {
        None
    };

    // Newest first, as Docker lists. Sorted as (created, handle) pairs and
    // each record read under its lock below: cloning every record (and
    // sorting the clones) was most of a 1000-container listing's time.
    let mut all: Vec<_> = d
        .containers
        .list()
        .into_iter()
        .map(|c| {
            let created = c.lock().rec.created;
            (created, c)
        })
        .collect();
    all.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));

    let nets = crate::network::settings::ListNetworks::new(d);
    let now = Utc::now();
    let limit = opts.limit.filter(|l| *l > 0).map(|l| l as usize);
    let mut out = Vec::new();
    // Rows asking for sizes: (row, rw layer, image ID), measured without the lock.
    let mut sized = Vec::new();
    for (_, c) in &all {
        let guard = c.lock();
        let rec = &guard.rec;
        if let Some(b) = &before {
            if &rec.id == b {
                before = None;
            }
            continue;
        }
        if since.as_ref().is_some_and(|s| s == &rec.id) {
            break;
        }
        let running = rec.state.status == Status::Running || rec.state.restarting;
        if !running && !opts.all && limit.is_none() {
            continue;
        }
        let bare = rec.name.trim_start_matches('/');
        if !filter_match(f, "name", &rec.name) && !filter_match(f, "name", bare) {
            continue;
        }
        if !filter_match(f, "id", &rec.id) {
            continue;
        }
        let no_labels = Default::default();
        if !f.labels_match("label", rec.config.labels.as_ref().unwrap_or(&no_labels)) {
            continue;
        }
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        let exited_match =
            exited.contains(&rec.state.exit_code) && !running && rec.state.started_at.is_some();
        if !exited.is_empty() && !exited_match {
            continue;
        }
        let status = if rec.state.restarting {
            "restarting"
        } else if rec.state.paused && rec.state.status == Status::Running {
            "paused"
        } else {
            rec.state.status.as_str()
        };
        if !filter_match(f, "status", status) {
            continue;
        }
        let health = super::health::filter_value(rec);
        if f.contains("health") && !f.get("health").iter().any(|h| h == health) {
            continue;
        }
        if let Some(ids) = &ancestors {
            if !ids.contains(&rec.image_id) {
                continue;
            }
        }
        if f.contains("volume") && !super::mounts::uses_volume(rec, f.get("volume")) {
            continue;
        }
        if !f.get("network").is_empty()
            && !f
                .get("network")
                .iter()
                .any(|n| n == rec.network_mode() || rec.endpoints_config.contains_key(n))
        {
            continue;
        }
        let mut row = summary(rec, now, opts.size.then_some((0, 0)));
        crate::network::settings::fill_summary(d, &nets, rec, &mut row);
        if opts.size {
            sized.push((out.len(), c.dir.join("diff"), rec.image_id.clone()));
        }
        out.push(row);
    }
    for (i, rw_dir, image_id) in sized {
        let rw = dir_size(&rw_dir);
        let image_size = d.images.get(&image_id).map(|i| i.size as i64).unwrap_or(0);
        out[i].size_rw = Some(rw);
        out[i].size_root_fs = Some(rw + image_size);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_filter_is_a_regex_or_exact() {
        let f = Filters::from_pairs(["name=^we"]).unwrap();
        assert!(filter_match(&f, "name", "web"));
        assert!(!filter_match(&f, "name", "aweb"));
        let f = Filters::from_pairs(["name=eb"]).unwrap();
        assert!(filter_match(&f, "name", "web"));
        let f = Filters::from_pairs(["name=[invalid"]).unwrap();
        assert!(filter_match(&f, "name", "[invalid"));
        assert!(!filter_match(&f, "name", "x"));
        assert!(filter_match(&Filters::default(), "name", "anything"));
    }
}
