//! Reading typed values out of the tree, with compose's leniency (numbers
//! where strings are expected, strings where numbers are, after
//! interpolation has turned `${N}` into text) and errors that name the file,
//! line and key path.

use indexmap::IndexMap;

use crate::error::ComposeError;
use crate::model::GoDuration;
use crate::yaml::{parse_go_int, MergeTag, Node, Value};

pub type Result<T> = std::result::Result<T, ComposeError>;

pub fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn article(word: &str) -> String {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {word}")
    } else {
        format!("a {word}")
    }
}

fn wrong_type(node: &Node, path: &str, want: &str) -> ComposeError {
    ComposeError::node(
        node,
        path,
        format!("must be {}, not {}", article(want), article(node.kind())),
    )
}

/// A mapping, with every key checked against `allowed` (`x-*` extension
/// keys are always allowed, as in compose).
pub fn map<'n>(node: &'n Node, path: &str, allowed: &[&str]) -> Result<&'n IndexMap<String, Node>> {
    let Value::Map(entries) = &node.value else {
        return Err(wrong_type(node, path, "mapping"));
    };
    if !allowed.is_empty() {
        for (key, value) in entries {
            if !key.starts_with("x-") && !allowed.contains(&key.as_str()) {
                return Err(ComposeError::node(
                    value,
                    &child(path, key),
                    "additional property not allowed",
                ));
            }
        }
    }
    Ok(entries)
}

/// A key's value, treating `!reset` (nothing to reset in a single file) as
/// absent.
pub fn get<'n>(map: &'n IndexMap<String, Node>, key: &str) -> Option<&'n Node> {
    map.get(key).filter(|n| n.tag != Some(MergeTag::Reset))
}

pub fn string(node: &Node, path: &str) -> Result<String> {
    node.scalar_text()
        .ok_or_else(|| wrong_type(node, path, "string"))
}

/// `None` for an explicit `null`.
pub fn opt_string(node: &Node, path: &str) -> Result<Option<String>> {
    match node.value {
        Value::Null => Ok(None),
        _ => string(node, path).map(Some),
    }
}

pub fn boolean(node: &Node, path: &str) -> Result<bool> {
    match &node.value {
        Value::Bool(b) => Ok(*b),
        Value::Str(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" => Ok(true),
            "false" | "no" | "n" | "off" | "" => Ok(false),
            _ => Err(ComposeError::node(
                node,
                path,
                format!("invalid boolean {s:?}"),
            )),
        },
        _ => Err(wrong_type(node, path, "boolean")),
    }
}

pub fn int(node: &Node, path: &str) -> Result<i64> {
    match &node.value {
        Value::Int(i) => Ok(*i),
        Value::Float(f) if f.fract() == 0.0 => Ok(*f as i64),
        Value::Str(s) => parse_go_int(s.trim())
            .ok_or_else(|| ComposeError::node(node, path, format!("invalid integer {s:?}"))),
        _ => Err(wrong_type(node, path, "integer")),
    }
}

pub fn uint<T: TryFrom<i64>>(node: &Node, path: &str) -> Result<T> {
    let value = int(node, path)?;
    T::try_from(value)
        .map_err(|_| ComposeError::node(node, path, format!("{value} is out of range")))
}

pub fn float(node: &Node, path: &str) -> Result<f64> {
    let value = any_float(node, path)?;
    if value.is_finite() {
        Ok(value)
    } else {
        let text = node.scalar_text().unwrap_or_default();
        Err(ComposeError::node(
            node,
            path,
            format!("invalid number {text:?}"),
        ))
    }
}

fn any_float(node: &Node, path: &str) -> Result<f64> {
    match &node.value {
        Value::Int(i) => Ok(*i as f64),
        Value::Float(f) => Ok(*f),
        Value::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| ComposeError::node(node, path, format!("invalid number {s:?}"))),
        _ => Err(wrong_type(node, path, "number")),
    }
}

/// A list of scalars, or one scalar as a one-item list.
pub fn strings(node: &Node, path: &str) -> Result<Vec<String>> {
    match &node.value {
        Value::Null => Ok(Vec::new()),
        Value::Seq(items) => items.iter().map(|item| string(item, path)).collect(),
        _ => Ok(vec![string(node, path)?]),
    }
}

/// A list of scalars only (a lone string is a type error).
pub fn string_list(node: &Node, path: &str) -> Result<Vec<String>> {
    match &node.value {
        Value::Seq(items) => items.iter().map(|item| string(item, path)).collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(wrong_type(node, path, "list")),
    }
}

/// `["K=V", "K"]` or `{K: V, K: null}`; `K` without a value is `None`.
pub fn key_values(node: &Node, path: &str) -> Result<IndexMap<String, Option<String>>> {
    let mut out = IndexMap::new();
    match &node.value {
        Value::Null => {}
        Value::Seq(items) => {
            for item in items {
                let text = string(item, path)?;
                match text.split_once('=') {
                    Some((k, v)) => out.insert(k.to_string(), Some(v.to_string())),
                    None => out.insert(text, None),
                };
            }
        }
        Value::Map(map) => {
            for (key, value) in map {
                out.insert(key.clone(), opt_string(value, &child(path, key))?);
            }
        }
        _ => return Err(wrong_type(node, path, "list or mapping")),
    }
    Ok(out)
}

/// Like [`key_values`], a missing value being the empty string (labels).
pub fn labels(node: &Node, path: &str) -> Result<IndexMap<String, String>> {
    Ok(key_values(node, path)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// Go's `time.ParseDuration` syntax (`1m30s`, `500ms`, `1.5h`); a bare
/// number is seconds.
pub fn duration(node: &Node, path: &str) -> Result<GoDuration> {
    let text = node
        .scalar_text()
        .ok_or_else(|| wrong_type(node, path, "duration"))?;
    let parsed = match &node.value {
        Value::Int(i) => Some(GoDuration(i.saturating_mul(1_000_000_000))),
        Value::Float(f) if f.is_finite() && f.abs() < 9e9 => Some(GoDuration((f * 1e9) as i64)),
        Value::Float(_) => None,
        _ => parse_duration(&text),
    };
    // Negative durations mean nothing to compose; refusing them also keeps
    // values far from i64::MIN, which Go-style printing could not negate.
    parsed
        .filter(|d| d.as_nanos() >= 0)
        .ok_or_else(|| ComposeError::node(node, path, format!("invalid duration {text:?}")))
}

pub fn parse_duration(text: &str) -> Option<GoDuration> {
    let text = text.trim();
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(GoDuration(0));
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * scale;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let ns = total.round() as i64;
    Some(GoDuration(if negative { -ns } else { ns }))
}

/// Docker's `RAMInBytes`: `512m`, `1g`, `1.5GB`, `100kib`; a number is bytes.
pub fn bytes(node: &Node, path: &str) -> Result<u64> {
    match &node.value {
        Value::Int(i) if *i >= 0 => return Ok(*i as u64),
        Value::Float(f) if *f >= 0.0 => return Ok(*f as u64),
        _ => {}
    }
    let text = string(node, path)?;
    parse_bytes(&text)
        .ok_or_else(|| ComposeError::node(node, path, format!("invalid size {text:?}")))
}

pub fn parse_bytes(text: &str) -> Option<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let number_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let number: f64 = lower[..number_end].parse().ok()?;
    let unit = lower[number_end..].trim_start();
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let scale: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return None,
    };
    Some((number * scale) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("10s", Some(10_000_000_000)),
            ("1m30s", Some(90_000_000_000)),
            ("500ms", Some(500_000_000)),
            ("1.5h", Some(5_400_000_000_000)),
            ("2us", Some(2_000)),
            ("0", Some(0)),
            ("10", None),
            ("1x", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_duration(text).map(GoDuration::as_nanos),
                want,
                "{text}"
            );
        }
    }

    #[test]
    fn sizes() {
        let cases = [
            ("512m", Some(512 << 20)),
            ("1g", Some(1 << 30)),
            ("1GB", Some(1 << 30)),
            ("100kib", Some(100 << 10)),
            ("1.5k", Some(1536)),
            ("2048", Some(2048)),
            ("10 MB", Some(10 << 20)),
            ("lots", None),
            ("5x", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_bytes(text), want, "{text}");
        }
    }
}
