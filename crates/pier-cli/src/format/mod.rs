//! docker's output formatting: `--format` templates, `table` layouts with
//! column headers, and the helpers docker's formatter uses (ellipsis, short
//! IDs, Go time strings, indented JSON).

pub mod container;
pub mod container_json;
#[cfg(test)]
mod fixtures;
pub mod gotime;
pub mod history;
pub mod image;
pub mod json;
pub mod tabwriter;
pub mod template;

use std::rc::Rc;

use template::{funcs, method, ObjKind, Object, Template, TemplateError, Value};
use unicode_width::UnicodeWidthChar;

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("template parsing error: {0}")]
    Template(#[from] TemplateError),
}

/// docker's `formatter.Format` preprocessing: the `table` prefix, the `json`
/// shorthand, trimmed spaces and literal `\t`/`\n` escapes.
#[derive(Debug, Clone)]
pub struct Format {
    pub table: bool,
    pub text: String,
}

impl Format {
    pub fn new(source: &str) -> Self {
        let table = source.starts_with("table");
        let mut text = if table {
            source["table".len()..].to_string()
        } else if source == "json" {
            "{{json .}}".to_string()
        } else {
            source.to_string()
        };
        text = text
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        Self { table, text }
    }
}

/// A header context: docker's `SubHeaderContext`, a map of field name to
/// column title with a `Label` method for `{{.Label "com.x.y"}}` columns.
pub fn header(pairs: &[(&str, &str)]) -> Value {
    let mut o = Object::new(ObjKind::Map, "formatter.SubHeaderContext");
    for (k, v) in pairs {
        o.fields.push(((*k).to_string(), Value::from(*v)));
    }
    o.methods.push((
        "Label".into(),
        method(|a| {
            if a.len() != 1 {
                return Err(funcs::arity_error("Label", 1, a.len()));
            }
            let name = a.first().and_then(Value::as_str).unwrap_or_default();
            let last = name.rsplit('.').next().unwrap_or_default();
            Ok(Value::from(last.replace(['-', '_'], " ")))
        }),
    ));
    Value::from(o)
}

/// Renders rows the way docker's `formatter.Context.Write` does: each row is
/// the template's output plus a newline; for `table` formats the header row
/// (the template executed on the header map with the header functions) goes
/// first and everything is aligned by the tabwriter.
pub fn render(format: &Format, header_ctx: &Value, rows: &[Value]) -> Result<String, FormatError> {
    let tmpl = Template::parse(&format.text)?;
    render_with(format, &tmpl, header_ctx, rows)
}

pub fn render_with(
    format: &Format,
    tmpl: &Template,
    header_ctx: &Value,
    rows: &[Value],
) -> Result<String, FormatError> {
    let mut body = String::new();
    for row in rows {
        body.push_str(&tmpl.execute(row)?);
        body.push('\n');
    }
    if !format.table {
        return Ok(body);
    }
    let (head, _) = tmpl.execute_partial(header_ctx, &header_funcs());
    let mut all = head;
    all.push('\n');
    all.push_str(&body);
    Ok(tabwriter::TABLE.format(&all))
}

/// docker's `HeaderFunctions`: pass the (string) header through.
pub fn header_funcs() -> template::Funcs {
    let mut m = funcs::basic();
    for name in [
        "json", "title", "lower", "upper", "split", "join", "truncate",
    ] {
        let f: template::Func = Rc::new(|a: &[Value]| match a.first() {
            Some(v @ Value::Str(_)) => Ok(v.clone()),
            Some(other) => Err(format!(
                "wrong type for value; expected string; got {}",
                other.type_name()
            )),
            None => Err("missing argument".into()),
        });
        m.insert(name.to_string(), f);
    }
    m
}

/// `stringid.TruncateID`: strips an algorithm prefix and keeps 12 characters.
pub fn truncate_id(id: &str) -> String {
    let id = match id.split_once(':') {
        Some((_, rest)) => rest,
        None => id,
    };
    id.chars().take(12).collect()
}

fn char_width(c: char) -> usize {
    // golang.org/x/text/width: wide and fullwidth are 2, everything else 1.
    match c.width() {
        Some(2) => 2,
        _ => 1,
    }
}

/// docker's `formatter.Ellipsis`: fits `s` into `max` display columns,
/// ending with `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    let rs: Vec<char> = s.chars().collect();
    if max == 1 {
        return rs.first().map(|c| c.to_string()).unwrap_or_default();
    }
    if s.len() == rs.len() {
        if s.len() <= max {
            return s.to_string();
        }
        return rs[..max - 1].iter().collect::<String>() + "…";
    }
    let mut display = Vec::with_capacity(rs.len());
    let mut w = 0;
    for c in &rs {
        w += char_width(*c);
        display.push(w);
    }
    if w <= max {
        return s.to_string();
    }
    for i in 0..display.len().saturating_sub(1) {
        if display[i] < max && display[i + 1] >= max {
            return rs[..=i].iter().collect::<String>() + "…";
        }
    }
    s.to_string()
}

/// `units.HumanDuration(now - t) + " ago"` for a Unix timestamp.
pub fn since(created: i64) -> String {
    let now = chrono::Utc::now();
    let t = chrono::DateTime::<chrono::Utc>::from_timestamp(created, 0).unwrap_or(now);
    pier_api::human::ago(t, now)
}

/// go-units `BytesSize` (binary units, 4 significant digits): `1.944GiB`.
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut s = size;
    let mut i = 0;
    while s >= 1024.0 && i < UNITS.len() - 1 {
        s /= 1024.0;
        i += 1;
    }
    format!("{}{}", pier_api::human::go_g(s, 4), UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_prefixes() {
        let f = Format::new("table {{.ID}}\\t{{.Names}}");
        assert!(f.table);
        assert_eq!(f.text, "{{.ID}}\t{{.Names}}");
        let f = Format::new("json");
        assert!(!f.table);
        assert_eq!(f.text, "{{json .}}");
    }

    #[test]
    fn ellipsis_like_docker() {
        assert_eq!(ellipsis("sleep 60", 20), "sleep 60");
        assert_eq!(
            ellipsis("sh -c 'echo out; echo err >&2'", 20),
            "sh -c 'echo out; ec…"
        );
        assert_eq!(ellipsis("abc", 1), "a");
        assert_eq!(ellipsis("你好世界你好世界你好世界", 10), "你好世界…");
        assert_eq!(ellipsis("", 5), "");
    }

    #[test]
    fn short_ids() {
        assert_eq!(
            truncate_id("sha256:b6a645e87829498c59675dc73662ffe878da464e"),
            "b6a645e87829"
        );
        assert_eq!(truncate_id("0123456789abcdef"), "0123456789ab");
    }

    #[test]
    fn table_header_from_template() {
        let h = header(&[("ID", "CONTAINER ID"), ("Names", "NAMES")]);
        let row = Value::from(
            Object::new(ObjKind::Struct, "*formatter.ContainerContext")
                .with("ID", "abc")
                .with("Names", "web"),
        );
        let out = render(
            &Format::new("table {{.ID}}\t{{.Names}}"),
            &h,
            std::slice::from_ref(&row),
        )
        .unwrap();
        assert_eq!(out, "CONTAINER ID   NAMES\nabc            web\n");
        // Functions leave header texts alone; `Label` shortens label keys.
        let out = render(
            &Format::new("table {{lower .Names}}\t{{.Label \"com.docker.compose.project\"}}"),
            &h,
            &[],
        )
        .unwrap();
        assert_eq!(out, "NAMES     project\n");
        // Without `table`: no header, one line per row.
        let out = render(&Format::new("{{.Names}}"), &h, &[row.clone(), row]).unwrap();
        assert_eq!(out, "web\nweb\n");
    }

    #[test]
    fn binary_sizes() {
        assert_eq!(bytes_size(2_087_321_600.0), "1.944GiB");
        assert_eq!(bytes_size(512.0), "512B");
    }
}
