//! Read-only views in Docker's API shapes: inspect, history and the
//! `GET /images/json` list with its filters.

use std::collections::HashMap;

use pier_api::filters::Filters;
use pier_api::models::{
    self, DriverData, ImageHistoryResponseItem, ImageInspect, ImageInspectMetadata,
    ImageInspectRootFs, ImageSummary,
};
use serde_json::Value;
use tracing::warn;

use crate::error::{ImageError, Result};
use crate::records::ImageRecord;
use crate::reference::Reference;
use crate::store::{not_found, resolve, ImageStore};

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
const FILTERS: [&str; 6] = ["dangling", "label", "before", "since", "reference", "until"];

/// Builds a `BollardDate` from RFC 3339 text whether bollard-stubs was built
/// with chrono, time or plain strings (the type depends on its features).
pub(crate) fn bollard_date(s: &str) -> Option<models::BollardDate> {
    let meta: ImageInspectMetadata =
        serde_json::from_value(serde_json::json!({ "LastTagTime": s })).ok()?;
    meta.last_tag_time
}

pub(crate) fn unix_time(rfc3339: Option<&str>) -> Option<i64> {
    rfc3339
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp())
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The config's `config` section as Docker's API type.
pub(crate) fn container_config_of(config: &Value) -> models::ImageConfig {
    match config.get("config") {
        Some(c) if c.is_object() => serde_json::from_value(strip_nulls(c)).unwrap_or_else(|e| {
            warn!("image config section not understood: {e}");
            models::ImageConfig::default()
        }),
        _ => models::ImageConfig::default(),
    }
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

impl ImageStore {
    /// `GET /images/{name}/json`.
    pub fn inspect(&self, name: &str) -> Result<ImageInspect> {
        let rec = self.get(name)?;
        let cfg = self.config_json(&rec)?;
        let dirs = self.layer_dirs(&rec).unwrap_or_default();
        let mut data = HashMap::new();
        if let Some((top, lower)) = dirs.split_last() {
            data.insert("UpperDir".to_string(), top.display().to_string());
            if !lower.is_empty() {
                let lower: Vec<String> = lower
                    .iter()
                    .rev()
                    .map(|p| p.display().to_string())
                    .collect();
                data.insert("LowerDir".to_string(), lower.join(":"));
            }
        }
        Ok(ImageInspect {
            id: Some(rec.id.clone()),
            repo_tags: Some(rec.repo_tags.clone()),
            repo_digests: Some(rec.repo_digests.clone()),
            comment: Some(str_field(&cfg, "comment").unwrap_or_default()),
            created: str_field(&cfg, "created").as_deref().and_then(bollard_date),
            author: Some(str_field(&cfg, "author").unwrap_or_default()),
            config: Some(container_config_of(&cfg)),
            architecture: str_field(&cfg, "architecture"),
            variant: str_field(&cfg, "variant").filter(|s| !s.is_empty()),
            os: str_field(&cfg, "os"),
            os_version: str_field(&cfg, "os.version").filter(|s| !s.is_empty()),
            size: Some(rec.size as i64),
            graph_driver: Some(DriverData {
                name: "overlay2".into(),
                data,
            }),
            root_fs: Some(ImageInspectRootFs {
                typ: "layers".into(),
                layers: Some(rec.layers.clone()),
            }),
            metadata: Some(ImageInspectMetadata {
                last_tag_time: bollard_date(rec.last_tag_time.as_deref().unwrap_or(ZERO_TIME)),
            }),
            ..Default::default()
        })
    }

    /// `GET /images/{name}/history`: newest first; entries not matching a
    /// local image (the image itself or its parents) have ID `<missing>`.
    pub fn history(&self, name: &str) -> Result<Vec<ImageHistoryResponseItem>> {
        let rec = self.get(name)?;
        let cfg = self.config_json(&rec)?;
        let entries = cfg
            .get("history")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let sizes: HashMap<String, u64> = {
            let st = self.lock();
            rec.layers
                .iter()
                .filter_map(|d| st.layers.get(d).map(|l| (d.clone(), l.size)))
                .collect()
        };
        let mut out = Vec::with_capacity(entries.len());
        let mut layer = 0usize;
        for h in &entries {
            let mut size = 0i64;
            if !h
                .get("empty_layer")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                let Some(d) = rec.layers.get(layer) else {
                    return Err(ImageError::bad(
                        "too many non-empty layers in History section",
                    ));
                };
                size = sizes.get(d).copied().unwrap_or(0) as i64;
                layer += 1;
            }
            out.push(ImageHistoryResponseItem {
                id: "<missing>".into(),
                created: unix_time(h.get("created").and_then(Value::as_str)).unwrap_or(0),
                created_by: str_field(h, "created_by").unwrap_or_default(),
                tags: Vec::new(),
                size,
                comment: str_field(h, "comment").unwrap_or_default(),
            });
        }
        out.reverse();
        let mut current = Some(rec);
        for item in out.iter_mut() {
            let Some(img) = current.take() else { break };
            item.id = img.id.clone();
            item.tags = img.repo_tags.clone();
            current = img.parent.as_deref().and_then(|p| self.get(p).ok());
        }
        Ok(out)
    }

    /// `GET /images/json`.
    pub fn summaries(&self, all: bool, filters: &Filters) -> Result<Vec<ImageSummary>> {
        filters
            .validate(&FILTERS)
            .map_err(|e| ImageError::InvalidArgument(e.to_string()))?;
        let dangling_only = bool_filter(filters, "dangling")?.unwrap_or(false);
        let mut before: Option<i64> = None;
        for v in filters.get("before") {
            let t = self.created_of(v)?;
            before = Some(before.map_or(t, |b| b.min(t)));
        }
        for v in filters.get("until") {
            let t = parse_until(v)?;
            before = Some(before.map_or(t, |b| b.min(t)));
        }
        let mut since: Option<i64> = None;
        for v in filters.get("since") {
            let t = self.created_of(v)?;
            since = Some(since.map_or(t, |s| s.max(t)));
        }
        let patterns = filters.get("reference");
        for p in patterns {
            glob_match(p, "")?;
        }
        let st = self.lock();
        let mut out = Vec::new();
        for rec in st.images.values().filter(|r| !r.ghost) {
            let has_children = !st.children(&rec.id).is_empty();
            if dangling_only && has_children {
                continue;
            }
            let created = unix_time(rec.created.as_deref());
            if let Some(b) = before {
                if created.is_none_or(|c| c >= b) {
                    continue;
                }
            }
            if let Some(s) = since {
                if created.is_none_or(|c| c <= s) {
                    continue;
                }
            }
            let labels = self.labels_of(rec);
            if filters.contains("label") && !filters.labels_match("label", &labels) {
                continue;
            }
            let mut tags = Vec::new();
            let mut digests = Vec::new();
            for r in st.refs_of(&rec.id) {
                if filters.contains("reference") && !reference_matches(patterns, &r)? {
                    continue;
                }
                if r.contains('@') {
                    digests.push(r);
                } else {
                    tags.push(r);
                }
            }
            if tags.is_empty() && digests.is_empty() {
                if !all && has_children {
                    continue;
                }
                if (filters.contains("dangling") && !dangling_only) || filters.contains("reference")
                {
                    continue;
                }
            } else if dangling_only && !tags.is_empty() {
                continue;
            }
            out.push(ImageSummary {
                id: rec.id.clone(),
                parent_id: rec.parent.clone().unwrap_or_default(),
                repo_tags: tags,
                repo_digests: digests,
                created: created.unwrap_or(0),
                size: rec.size as i64,
                shared_size: -1,
                labels,
                containers: -1,
                manifests: None,
                descriptor: None,
            });
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    fn created_of(&self, name: &str) -> Result<i64> {
        let rec = self.get(name)?;
        Ok(unix_time(rec.created.as_deref()).unwrap_or(0))
    }

    fn labels_of(&self, rec: &ImageRecord) -> HashMap<String, String> {
        self.config_json(rec)
            .ok()
            .and_then(|v| container_config_of(&v).labels)
            .unwrap_or_default()
    }

    /// Resolves a name to its image ID without copying the record.
    pub fn resolve_id(&self, name: &str) -> Result<String> {
        let st = self.lock();
        let id = resolve(&st, name)?;
        st.visible(&id)
            .map(|r| r.id.clone())
            .ok_or_else(|| not_found(name))
    }
}

fn bool_filter(filters: &Filters, key: &str) -> Result<Option<bool>> {
    let mut out = None;
    for v in filters.get(key) {
        let b = match v.to_ascii_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => {
                return Err(ImageError::InvalidArgument(format!(
                    "invalid filter '{key}={v}'"
                )))
            }
        };
        if out.is_some_and(|o| o != b) {
            return Err(ImageError::InvalidArgument(format!(
                "invalid filter '{key}={v}'"
            )));
        }
        out = Some(b);
    }
    Ok(out)
}

/// Docker's `FamiliarMatch`: the pattern against `busybox:latest`, then
/// against the bare name `busybox`.
fn reference_matches(patterns: &[String], familiar: &str) -> Result<bool> {
    let name = Reference::parse_named(familiar)
        .map(|r| r.familiar_name())
        .unwrap_or_default();
    for p in patterns {
        if glob_match(p, familiar)? || (!name.is_empty() && glob_match(p, &name)?) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `path.Match`: `*` and `?` never match `/`, `[a-z]`/`[^x]` classes,
/// `\` escapes.
pub(crate) fn glob_match(pattern: &str, name: &str) -> Result<bool> {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    check_pattern(&p)?;
    Ok(glob(&p, &s))
}

fn bad_pattern() -> ImageError {
    ImageError::InvalidArgument("syntax error in pattern".into())
}

fn check_pattern(p: &[char]) -> Result<()> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(bad_pattern());
                }
                i += 2;
            }
            '[' => {
                let (_, used) = class(&p[i..], ' ').ok_or_else(bad_pattern)?;
                i += used;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Matches `c` against the class at the start of `p`; returns (matched, chars used).
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = p.get(i) == Some(&'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let ch = *p.get(i)?;
        if ch == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        let lo = if ch == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            ch
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|c| *c != ']') {
            i += 1;
            hi = *p.get(i)?;
            if hi == '\\' {
                i += 1;
                hi = *p.get(i)?;
            }
            i += 1;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
}

fn glob(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') => {
            for i in 0..=s.len() {
                if glob(&p[1..], &s[i..]) {
                    return true;
                }
                if i < s.len() && s[i] == '/' {
                    break;
                }
            }
            false
        }
        Some('?') => s.first().is_some_and(|c| *c != '/') && glob(&p[1..], &s[1..]),
        Some('[') => match (s.first(), class(p, s.first().copied().unwrap_or('/'))) {
            (Some(c), Some((true, used))) if *c != '/' => glob(&p[used..], &s[1..]),
            _ => false,
        },
        Some('\\') => p.get(1).is_some_and(|c| s.first() == Some(c)) && glob(&p[2..], &s[1..]),
        Some(c) => s.first() == Some(c) && glob(&p[1..], &s[1..]),
    }
}

/// `until=`: a Go duration before now (`10m`, `1h30m`), unix seconds, or an
/// RFC 3339 / `YYYY-MM-DD` time.
fn parse_until(v: &str) -> Result<i64> {
    let now = chrono::Utc::now().timestamp();
    if let Some(d) = go_duration_secs(v) {
        return Ok(now - d);
    }
    if let Ok(f) = v.parse::<f64>() {
        return Ok(f.floor() as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp());
        }
    }
    Err(ImageError::InvalidArgument(format!(
        "failed to parse value as time or duration: {v:?}"
    )))
}

fn go_duration_secs(v: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut rest = v;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_len..];
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("busy*", "busybox:latest").unwrap());
        assert!(glob_match("busybox", "busybox").unwrap());
        assert!(!glob_match("busy*", "a/busybox").unwrap());
        assert!(glob_match("*/app*", "user/app:1").unwrap());
        assert!(glob_match("b?sybox", "busybox").unwrap());
        assert!(glob_match("[a-c]usybox", "busybox").unwrap());
        assert!(!glob_match("[^b]usybox", "busybox").unwrap());
        assert!(glob_match("busybox:[0-9]*", "busybox:1.36").unwrap());
        assert!(glob_match("[", "x").is_err());
        assert!(glob_match("a\\", "a").is_err());
    }

    #[test]
    fn references() {
        let p = vec!["busy*".to_string()];
        assert!(reference_matches(&p, "busybox:latest").unwrap());
        let p = vec!["busybox".to_string()];
        assert!(reference_matches(&p, "busybox:1").unwrap());
        assert!(!reference_matches(&p, "alpine:1").unwrap());
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration_secs("1h30m"), Some(5400));
        assert_eq!(go_duration_secs("10s"), Some(10));
        assert_eq!(go_duration_secs("10"), None);
        assert!(parse_until("2020-01-01T00:00:00Z").is_ok());
        assert!(parse_until("nonsense").is_err());
    }

    #[test]
    fn dates_survive_bollard() {
        assert!(bollard_date("2024-01-02T03:04:05.123456789Z").is_some());
    }
}
