//! Docker's `filters` for `GET /volumes` (dangling, name, driver, label)
//! and `POST /volumes/prune` (label, label!, all).

use pier_api::filters::Filters;

use crate::error::{Result, VolumeError};
use crate::store::{VolumeInfo, ANONYMOUS_LABEL, DRIVER};

fn bad(msg: String) -> VolumeError {
    VolumeError::InvalidParameter(msg)
}

fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(bad(format!("invalid filter '{key}={v}'"))),
    }
}

/// The predicate for `GET /volumes?filters=`.
pub fn list_filter(f: &Filters) -> Result<impl Fn(&VolumeInfo) -> bool> {
    f.validate(&["dangling", "name", "driver", "label"])
        .map_err(|e| bad(e.to_string()))?;
    let dangling = match f.get("dangling") {
        [] => None,
        [v] => Some(parse_bool("dangling", v)?),
        _ => {
            return Err(bad(
                "invalid filter 'dangling': only one value is expected".into()
            ))
        }
    };
    let names = f
        .get("name")
        .iter()
        .map(|n| {
            regex_lite::Regex::new(n).map_err(|e| bad(format!("invalid filter 'name={n}': {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let drivers = f.get("driver").to_vec();
    let f = f.clone();
    Ok(move |v: &VolumeInfo| {
        if let Some(d) = dangling {
            if d != v.refs.is_empty() {
                return false;
            }
        }
        if !names.is_empty() && !names.iter().any(|r| r.is_match(&v.record.name)) {
            return false;
        }
        if !drivers.is_empty() && !drivers.iter().any(|d| d == &v.record.driver) {
            return false;
        }
        f.labels_match("label", v.record.labels())
    })
}

/// The predicate for `POST /volumes/prune?filters=`: anonymous volumes
/// only unless `all=true` (Docker 23+).
pub fn prune_filter(f: &Filters) -> Result<impl Fn(&VolumeInfo) -> bool> {
    f.validate(&["label", "label!", "all"])
        .map_err(|e| bad(e.to_string()))?;
    let all = match f.get("all") {
        [] => false,
        [v] => parse_bool("all", v).map_err(|_| {
            bad(format!(
                "invalid filter 'all': strconv.ParseBool: parsing {v:?}: invalid syntax"
            ))
        })?,
        many => {
            return Err(bad(format!(
                "invalid filter 'all={}': only one value is expected",
                many.join(",")
            )))
        }
    };
    let f = f.clone();
    Ok(move |v: &VolumeInfo| {
        if v.record.driver != DRIVER {
            return false;
        }
        if !all && !v.record.labels().contains_key(ANONYMOUS_LABEL) {
            return false;
        }
        if !f.labels_match("label", v.record.labels()) {
            return false;
        }
        // `label!`: none of the given labels may match.
        !f.get("label!")
            .iter()
            .any(|want| match want.split_once('=') {
                Some((k, val)) => v.record.labels().get(k).is_some_and(|have| have == val),
                None => v.record.labels().contains_key(want.as_str()),
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::VolumeRecord;

    fn vol(name: &str, labels: &[(&str, &str)], refs: &[&str]) -> VolumeInfo {
        VolumeInfo {
            record: VolumeRecord {
                name: name.into(),
                driver: "local".into(),
                created_at: chrono::Utc::now(),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                options: None,
            },
            mountpoint: "/x".into(),
            refs: refs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn list_filters() {
        let a = vol("alpha", &[("env", "prod")], &[]);
        let b = vol("beta", &[("env", "dev")], &["c1"]);
        let f = |s: &str| list_filter(&Filters::parse(s).unwrap()).unwrap();
        let keep = |p: &dyn Fn(&VolumeInfo) -> bool| {
            [&a, &b]
                .iter()
                .filter(|v| p(v))
                .map(|v| v.record.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(keep(&f(r#"{"dangling":["true"]}"#)), ["alpha"]);
        assert_eq!(keep(&f(r#"{"dangling":["false"]}"#)), ["beta"]);
        assert_eq!(keep(&f(r#"{"name":["^al"]}"#)), ["alpha"]);
        assert_eq!(keep(&f(r#"{"name":["et"]}"#)), ["beta"]);
        assert_eq!(keep(&f(r#"{"label":["env=dev"]}"#)), ["beta"]);
        assert_eq!(keep(&f(r#"{"label":["env"]}"#)).len(), 2);
        assert_eq!(keep(&f(r#"{"driver":["local"]}"#)).len(), 2);
        assert!(list_filter(&Filters::parse(r#"{"bogus":["1"]}"#).unwrap()).is_err());
        assert!(list_filter(&Filters::parse(r#"{"dangling":["maybe"]}"#).unwrap()).is_err());
    }

    #[test]
    fn prune_filters() {
        let anon = vol("a1", &[(ANONYMOUS_LABEL, ""), ("k", "v")], &[]);
        let named = vol("n1", &[("k", "w")], &[]);
        let p = prune_filter(&Filters::default()).unwrap();
        assert!(p(&anon) && !p(&named));
        let p = prune_filter(&Filters::parse(r#"{"all":["true"]}"#).unwrap()).unwrap();
        assert!(p(&anon) && p(&named));
        let p =
            prune_filter(&Filters::parse(r#"{"all":["1"],"label!":["k=v"]}"#).unwrap()).unwrap();
        assert!(!p(&anon) && p(&named));
        assert!(prune_filter(&Filters::parse(r#"{"dangling":["true"]}"#).unwrap()).is_err());
    }
}
