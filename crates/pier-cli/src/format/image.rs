//! `docker images` formatting: one row per repository:tag (and digest) of
//! each image, `<none>` for dangling images, docker's columns and titles.

use serde_json::Value as Json;

use super::template::{ObjKind, Object, Value};
use super::{gotime, since, truncate_id};
use crate::reference::Reference;

pub const DEFAULT_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";
pub const DEFAULT_TABLE_DIGEST: &str = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";

/// docker's `NewImageFormat`.
pub fn format_string(source: &str, quiet: bool, digest: bool) -> String {
    match source {
        "table" => {
            if quiet {
                "{{.ID}}".into()
            } else if digest {
                DEFAULT_TABLE_DIGEST.into()
            } else {
                DEFAULT_TABLE.into()
            }
        }
        "raw" => {
            if quiet {
                "image_id: {{.ID}}".into()
            } else if digest {
                "repository: {{ .Repository }}\ntag: {{.Tag}}\ndigest: {{.Digest}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n".into()
            } else {
                "repository: {{ .Repository }}\ntag: {{.Tag}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n".into()
            }
        }
        _ => {
            let mut f = source.to_string();
            if f.starts_with("table") && digest && !f.contains("{{.Digest}}") {
                f.push_str("\t{{.Digest}}");
            }
            f
        }
    }
}

pub fn header() -> Value {
    super::header(&[
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("Containers", "CONTAINERS"),
        ("VirtualSize", "SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
    ])
}

fn strs(img: &Json, key: &str) -> Vec<String> {
    img.get(key)
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Json::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn is_dangling(tags: &[String], digests: &[String]) -> bool {
    (tags.is_empty() && digests.is_empty())
        || (tags.len() == 1
            && tags[0] == "<none>:<none>"
            && digests.len() == 1
            && digests[0] == "<none>@<none>")
}

fn row(img: &Json, trunc: bool, repo: &str, tag: &str, digest: &str) -> Value {
    let n = |k: &str| img.get(k).and_then(Json::as_i64).unwrap_or_default();
    let id = img.get("Id").and_then(Json::as_str).unwrap_or_default();
    let created = n("Created");
    let size = n("Size");
    let shared = img.get("SharedSize").and_then(Json::as_i64).unwrap_or(-1);
    let containers = img.get("Containers").and_then(Json::as_i64).unwrap_or(-1);
    let human = |v: i64| pier_api::human::human_size(v.max(0) as u64);
    let mut o = Object::new(ObjKind::Struct, "*formatter.imageContext")
        .with(
            "Containers",
            if containers == -1 {
                "N/A".to_string()
            } else {
                containers.to_string()
            },
        )
        .with("CreatedAt", gotime::unix_string(created))
        .with("CreatedSince", since(created))
        .with("Digest", digest)
        .with(
            "ID",
            if trunc {
                truncate_id(id)
            } else {
                id.to_string()
            },
        )
        .with("Repository", repo)
        .with(
            "SharedSize",
            if shared == -1 {
                "N/A".to_string()
            } else {
                human(shared)
            },
        )
        .with(
            "Size",
            pier_api::human::human_size_precision(size as f64, 3),
        )
        .with("Tag", tag)
        .with(
            "UniqueSize",
            if size == -1 || shared == -1 {
                "N/A".to_string()
            } else {
                human(size - shared)
            },
        )
        .with("VirtualSize", human(size));
    o.escape_html = true;
    Value::from(o)
}

/// The rows docker prints for a list of image summaries (`imageFormat`).
/// `show_digests` is `--digests`; `need_digest` is that or a format using
/// `{{.Digest}}`.
pub fn rows(images: &[Json], trunc: bool, show_digests: bool, need_digest: bool) -> Vec<Value> {
    let mut out = Vec::new();
    for img in images {
        let tags = strs(img, "RepoTags");
        let digests = strs(img, "RepoDigests");
        if is_dangling(&tags, &digests) {
            out.push(row(img, trunc, "<none>", "<none>", "<none>"));
            continue;
        }
        // repo -> tags / digests, in first-seen order.
        let mut repo_tags: Vec<(String, Vec<String>)> = Vec::new();
        let mut repo_digests: Vec<(String, Vec<String>)> = Vec::new();
        for t in &tags {
            if let Some(r) = Reference::parse(t) {
                if let Some(tag) = &r.tag {
                    let name = r.familiar_name();
                    match repo_tags.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, v)) => v.push(tag.clone()),
                        None => repo_tags.push((name, vec![tag.clone()])),
                    }
                }
            }
        }
        for d in &digests {
            if let Some(r) = Reference::parse(d) {
                if let Some(dg) = &r.digest {
                    let name = r.familiar_name();
                    match repo_digests.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, v)) => v.push(dg.clone()),
                        None => repo_digests.push((name, vec![dg.clone()])),
                    }
                }
            }
        }
        for (repo, tags) in &repo_tags {
            let pos = repo_digests.iter().position(|(n, _)| n == repo);
            let digests = pos.map(|p| repo_digests.remove(p).1).unwrap_or_default();
            let digests = if need_digest { digests } else { Vec::new() };
            for tag in tags {
                if digests.is_empty() {
                    out.push(row(img, trunc, repo, tag, "<none>"));
                    continue;
                }
                for d in &digests {
                    out.push(row(img, trunc, repo, tag, d));
                }
            }
        }
        for (repo, digests) in &repo_digests {
            if show_digests {
                for d in digests {
                    out.push(row(img, trunc, repo, "<none>", d));
                }
            } else {
                out.push(row(img, trunc, repo, "<none>", ""));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{render, Format};
    use super::*;
    use serde_json::json;

    fn busybox() -> Json {
        json!({
            "Id": "sha256:b6a645e87829498c59675dc73662ffe878da464e810e7a32fbbdfffb6dde85e8",
            "ParentId": "",
            "RepoTags": ["busybox:latest", "copy:1"],
            "RepoDigests": [],
            "Created": 1_700_000_000,
            "Size": 1_982_046,
            "SharedSize": -1,
            "Labels": null,
            "Containers": -1
        })
    }

    #[test]
    fn table_layout_matches_docker() {
        let created = chrono::Utc::now().timestamp() - 5 * 3600;
        let mut bb = busybox();
        bb["Created"] = json!(created);
        let rows = rows(
            &[
                bb,
                json!({"Id": "sha256:0123456789abcdef", "RepoTags": [], "RepoDigests": [], "Created": created, "Size": 1000}),
            ],
            true,
            false,
            false,
        );
        let out = render(&Format::new(DEFAULT_TABLE), &header(), &rows).unwrap();
        assert_eq!(
            out,
            "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n\
             busybox      latest    b6a645e87829   5 hours ago   1.98MB\n\
             copy         1         b6a645e87829   5 hours ago   1.98MB\n\
             <none>       <none>    0123456789ab   5 hours ago   1kB\n"
        );
    }

    #[test]
    fn quiet_and_fields() {
        let rows = rows(&[busybox()], false, false, false);
        let out = render(
            &Format::new(&format_string("table", true, false)),
            &header(),
            &rows,
        )
        .unwrap();
        assert_eq!(
            out,
            "sha256:b6a645e87829498c59675dc73662ffe878da464e810e7a32fbbdfffb6dde85e8\n".repeat(2)
        );
        let out = render(
            &Format::new("{{.Containers}} {{.SharedSize}} {{.UniqueSize}} {{.VirtualSize}}"),
            &header(),
            &rows[..1],
        )
        .unwrap();
        assert_eq!(out, "N/A N/A N/A 1.982MB\n");
    }

    #[test]
    fn digests_rows() {
        let img = json!({"Id": "sha256:aa", "RepoTags": ["x:1"], "RepoDigests": ["x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"], "Created": 0, "Size": 0});
        let r = rows(std::slice::from_ref(&img), true, true, true);
        let out = render(
            &Format::new("{{.Repository}} {{.Tag}} {{.Digest}}"),
            &header(),
            &r,
        )
        .unwrap();
        assert_eq!(
            out,
            "x 1 sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
        );
        let r = rows(&[img], true, false, false);
        let out = render(
            &Format::new("{{.Repository}} {{.Tag}} {{.Digest}}"),
            &header(),
            &r,
        )
        .unwrap();
        assert_eq!(out, "x 1 <none>\n");
    }
}
