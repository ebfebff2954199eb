//! `docker history` formatting.

use serde_json::Value as Json;

use super::template::{ObjKind, Object, Value};
use super::{ellipsis, gotime, since, truncate_id};

pub const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
pub const NON_HUMAN_TABLE: &str =
    "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

/// docker's `NewHistoryFormat`.
pub fn format_string(source: &str, quiet: bool, human: bool) -> String {
    if source == "table" {
        if quiet {
            return "{{.ID}}".into();
        }
        return if human {
            DEFAULT_TABLE
        } else {
            NON_HUMAN_TABLE
        }
        .into();
    }
    source.to_string()
}

pub fn header() -> Value {
    super::header(&[
        ("ID", "IMAGE"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
    ])
}

/// 2000-01-01T00:00:00Z: older creation times print as N/A.
const EPOCH_2000: i64 = 946_684_800;

pub fn row(h: &Json, trunc: bool, human: bool) -> Value {
    let id = h.get("Id").and_then(Json::as_str).unwrap_or_default();
    let created = h.get("Created").and_then(Json::as_i64).unwrap_or_default();
    let size = h.get("Size").and_then(Json::as_i64).unwrap_or_default();
    let created_by = h
        .get("CreatedBy")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .replace('\t', " ");
    let created_at = gotime::unix_rfc3339(created);
    let created_since = if !human {
        created_at.clone()
    } else if created <= EPOCH_2000 {
        "N/A".to_string()
    } else {
        since(created)
    };
    let mut o = Object::new(ObjKind::Struct, "*image.historyContext")
        .with(
            "Comment",
            h.get("Comment").and_then(Json::as_str).unwrap_or_default(),
        )
        .with("CreatedAt", created_at)
        .with(
            "CreatedBy",
            if trunc {
                ellipsis(&created_by, 45)
            } else {
                created_by
            },
        )
        .with("CreatedSince", created_since)
        .with(
            "ID",
            if trunc {
                truncate_id(id)
            } else {
                id.to_string()
            },
        )
        .with(
            "Size",
            if human {
                pier_api::human::human_size_precision(size as f64, 3)
            } else {
                size.to_string()
            },
        );
    o.escape_html = true;
    Value::from(o)
}

#[cfg(test)]
mod tests {
    use super::super::{render, Format};
    use super::*;
    use serde_json::json;

    #[test]
    fn table_matches_docker() {
        let h = [
            json!({"Id": "sha256:b6a645e87829498c59675dc73662ffe878da464e810e7a32fbbdfffb6dde85e8", "Created": 0,
                   "CreatedBy": "/bin/sh -c #(nop)  CMD [\"sh\"]", "Size": 0, "Comment": "", "Tags": ["busybox:latest"]}),
            json!({"Id": "<missing>", "Created": 0, "CreatedBy": "/bin/sh -c #(nop) ADD file:0123456789abcdef in / ", "Size": 1_982_046, "Comment": "", "Tags": null}),
        ];
        let rows: Vec<Value> = h.iter().map(|x| row(x, true, true)).collect();
        let out = render(&Format::new(DEFAULT_TABLE), &header(), &rows).unwrap();
        assert_eq!(
            out,
            "IMAGE          CREATED   CREATED BY                                      SIZE      COMMENT\n\
             b6a645e87829   N/A       /bin/sh -c #(nop)  CMD [\"sh\"]                   0B        \n\
             <missing>      N/A       /bin/sh -c #(nop) ADD file:0123456789abcdef …   1.98MB    \n"
        );
    }
}
