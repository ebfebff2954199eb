//! The `attrs` of json-file log entries, from `--log-opt labels=`,
//! `labels-regex=`, `env=`, `env-regex=` and `tag=`, with dockerd's rules:
//! listed labels and env vars the container has, keys matching the
//! regexes, and `tag` (a template over the container and image) under
//! "tag". `logs --details` prints them before each line.

use std::collections::BTreeMap;

use super::record::ContainerRecord;

pub fn attrs(rec: &ContainerRecord) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(opts) = rec
        .host_config
        .log_config
        .as_ref()
        .and_then(|l| l.config.as_ref())
    else {
        return out;
    };
    let get = |k: &str| opts.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let labels = rec.config.labels.clone().unwrap_or_default();
    if let Some(list) = get("labels") {
        for k in list.split(',') {
            if let Some(v) = labels.get(k) {
                out.insert(k.to_string(), v.clone());
            }
        }
    }
    if let Some(re) = get("labels-regex").and_then(|r| regex_lite::Regex::new(r).ok()) {
        for (k, v) in &labels {
            if re.is_match(k) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let env: BTreeMap<&str, &str> = rec
        .config
        .env
        .iter()
        .flatten()
        .filter_map(|e| e.split_once('='))
        .collect();
    if let Some(list) = get("env") {
        for k in list.split(',') {
            if let Some(v) = env.get(k) {
                out.insert(k.to_string(), v.to_string());
            }
        }
    }
    if let Some(re) = get("env-regex").and_then(|r| regex_lite::Regex::new(r).ok()) {
        for (k, v) in &env {
            if re.is_match(k) {
                out.insert(k.to_string(), v.to_string());
            }
        }
    }
    if let Some(t) = get("tag") {
        out.insert("tag".into(), render_tag(t, rec));
    }
    out
}

/// dockerd's log tag template fields. `ImageID` is the first 12
/// characters of the image ID as dockerd stores it, `sha256:` included.
fn render_tag(template: &str, rec: &ContainerRecord) -> String {
    let field = |name: &str| -> Option<String> {
        Some(match name {
            "ID" => rec.id.chars().take(12).collect(),
            "FullID" => rec.id.clone(),
            "Name" => rec.name.trim_start_matches('/').to_string(),
            "ImageID" => rec.image_id.chars().take(12).collect(),
            "ImageFullID" => rec.image_id.clone(),
            "ImageName" => rec.image.clone(),
            "DaemonName" => "docker".into(),
            "Hostname" => rec.config.hostname.clone().unwrap_or_default(),
            _ => return None,
        })
    };
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("}}") else {
            rest = &rest[start..];
            break;
        };
        let action = &rest[start + 2..start + len];
        match action.trim().strip_prefix('.').and_then(field) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}
