//! The `filters` query parameter: a JSON object mapping a filter name to
//! values. Docker accepts both `{"name":["a","b"]}` and the older
//! `{"name":{"a":true,"b":true}}`; both parse to the same map.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    map: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("invalid filter: {0}")]
    Malformed(String),
    #[error("invalid filter '{0}'")]
    UnknownKey(String),
}

impl Filters {
    /// Parses the raw (already URL-decoded) `filters` value. Empty means none.
    pub fn parse(raw: &str) -> Result<Self, FilterError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Self::default());
        }
        let value: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| FilterError::Malformed(e.to_string()))?;
        let obj = value
            .as_object()
            .ok_or_else(|| FilterError::Malformed("filters must be a JSON object".into()))?;
        let mut map = BTreeMap::new();
        for (key, v) in obj {
            let values: Vec<String> = match v {
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        FilterError::Malformed(format!("values of '{key}' must be strings"))
                    })?,
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(false))
                    .map(|(k, _)| k.clone())
                    .collect(),
                _ => {
                    return Err(FilterError::Malformed(format!(
                        "values of '{key}' must be a list"
                    )))
                }
            };
            map.insert(key.clone(), values);
        }
        Ok(Self { map })
    }

    /// Builds filters from CLI `--filter key=value` arguments.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = &'a str>) -> Result<Self, FilterError> {
        let mut f = Self::default();
        for p in pairs {
            let (k, v) = p.split_once('=').ok_or_else(|| {
                FilterError::Malformed(format!("bad format of filter (expected name=value): {p}"))
            })?;
            f.add(k.trim().to_lowercase(), v.to_string());
        }
        Ok(f)
    }

    pub fn add(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.map.entry(key.into()).or_default().push(value.into());
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.map.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// Rejects keys outside `allowed`, with Docker's message.
    pub fn validate(&self, allowed: &[&str]) -> Result<(), FilterError> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(FilterError::UnknownKey(k.clone())),
            None => Ok(()),
        }
    }

    /// `label` filters: every `key` or `key=value` given must match.
    pub fn labels_match(
        &self,
        key: &str,
        labels: &std::collections::HashMap<String, String>,
    ) -> bool {
        self.get(key).iter().all(|want| match want.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(want.as_str()),
        })
    }

    /// The JSON form sent on the wire.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.map).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_wire_forms_parse() {
        let a = Filters::parse(r#"{"status":["exited","running"]}"#).unwrap();
        let b = Filters::parse(r#"{"status":{"running":true,"exited":true}}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.get("status"),
            ["exited".to_string(), "running".to_string()]
        );
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(Filters::parse("{").is_err());
        assert!(Filters::parse("[1]").is_err());
        assert!(Filters::parse(r#"{"a":[1]}"#).is_err());
    }

    #[test]
    fn label_matching() {
        let f = Filters::from_pairs(["label=a=1", "label=b"]).unwrap();
        let mut l = std::collections::HashMap::new();
        l.insert("a".to_string(), "1".to_string());
        assert!(!f.labels_match("label", &l));
        l.insert("b".to_string(), "x".to_string());
        assert!(f.labels_match("label", &l));
    }
}
