//! Reading flag values the way docker's `opts` package does: env and label
//! files, `KEY=value` lists, restart policies, security options, sizes,
//! durations and capabilities.

use serde_json::{json, Map, Value};

use super::units;

/// Reads `KEY=value` lines (comments and blank lines skipped); a bare `KEY`
/// takes the value from the environment when `from_env`.
pub fn read_kv_file(path: &str, from_env: bool) -> Result<Vec<String>, String> {
    let data =
        std::fs::read_to_string(path).map_err(|e| format!("open {path}: {}", io_text(&e)))?;
    let mut out = Vec::new();
    for (n, line) in data.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.contains(|c: char| c.is_whitespace()) && !line.contains('=') {
            return Err(format!("variable '{line}' contains whitespaces"));
        }
        let _ = n;
        out.push(kv_env(line, from_env));
    }
    Ok(out)
}

pub fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// `-e KEY` takes the local value when set (docker's `ValidateEnv`).
pub fn kv_env(s: &str, from_env: bool) -> String {
    if from_env && !s.contains('=') {
        if let Ok(v) = std::env::var(s) {
            return format!("{s}={v}");
        }
    }
    s.to_string()
}

pub fn kv_map(items: &[String]) -> Map<String, Value> {
    let mut m = Map::new();
    for i in items {
        let (k, v) = i.split_once('=').unwrap_or((i, ""));
        m.insert(k.to_string(), json!(v));
    }
    m
}

pub fn str_list_or_null(v: &[String]) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        json!(v)
    }
}

pub fn restart_policy(s: Option<&str>) -> Result<Value, String> {
    let s = s.unwrap_or("no");
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => {
            let c: i64 = c.parse().map_err(|_| {
                format!(
                    "invalid restart policy format: maximum retry count must be an integer: {s}"
                )
            })?;
            (n, c)
        }
        None => (s, 0),
    };
    match name {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
        _ => return Err(format!("invalid restart policy '{name}'")),
    }
    if count != 0 && name != "on-failure" {
        return Err(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                .to_string(),
        );
    }
    Ok(json!({"Name": name, "MaximumRetryCount": count}))
}

pub fn security_opts(opts: &[String]) -> Result<(Vec<String>, Option<Vec<String>>), String> {
    let mut out = Vec::new();
    let mut unconfined_paths = false;
    for o in opts {
        if o == "systempaths=unconfined" {
            unconfined_paths = true;
            continue;
        }
        let (k, v) = match o.split_once(['=', ':']) {
            Some(kv) => kv,
            None if o == "no-new-privileges" => {
                out.push(o.clone());
                continue;
            }
            None => return Err(format!("Invalid --security-opt: {o:?}")),
        };
        if k == "seccomp" && v != "unconfined" && v != "builtin" {
            let data = std::fs::read(v)
                .map_err(|e| format!("opening seccomp profile ({v}) failed: {e}"))?;
            let compact = crate::format::json::compact(&data)
                .map_err(|e| format!("compacting json for seccomp profile ({v}) failed: {e}"))?;
            out.push(format!("seccomp={}", String::from_utf8_lossy(&compact)));
        } else {
            out.push(format!("{k}={v}"));
        }
    }
    Ok((out, unconfined_paths.then(Vec::new)))
}

pub fn duration_opt(v: &Option<String>, flag: &str) -> Result<i64, String> {
    match v {
        None => Ok(0),
        Some(s) => {
            let d = units::go_duration(s)
                .map_err(|e| format!("invalid argument \"{s}\" for \"--{flag}\" flag: {e}"))?;
            if d < 0 {
                return Err(format!("--{flag} cannot be negative"));
            }
            Ok(d)
        }
    }
}

pub fn mem(v: &Option<String>, flag: &str) -> Result<i64, String> {
    match v {
        None => Ok(0),
        Some(s) => units::ram_in_bytes(s)
            .map_err(|e| format!("invalid argument \"{s}\" for \"--{flag}\" flag: {e}")),
    }
}

/// The API client's capability normalization: upper case, `CAP_` prefix
/// (except `ALL`), no duplicates, sorted.
pub fn normalize_caps(caps: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in caps {
        let mut c = c.to_uppercase();
        if c != "ALL" && !c.starts_with("CAP_") {
            c = format!("CAP_{c}");
        }
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out.sort();
    out
}
