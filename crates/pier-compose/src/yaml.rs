//! A YAML tree that remembers where every node came from.
//!
//! Built from saphyr-parser's event stream rather than a ready-made tree so
//! that each node keeps its file and line (error messages name both), the
//! compose-specific `!reset` / `!override` tags survive to the merge, and
//! `<<: *anchor` merge keys resolve the way compose's Go YAML library does.

use std::sync::Arc;

use indexmap::IndexMap;
use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::error::ComposeError;

#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(IndexMap<String, Node>),
}

/// Compose's merge tags: `!reset` drops the value inherited from earlier
/// files, `!override` replaces it instead of merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeTag {
    Reset,
    Override,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub value: Value,
    pub file: Arc<str>,
    pub line: usize,
    pub tag: Option<MergeTag>,
}

impl Node {
    pub fn new(value: Value, file: Arc<str>, line: usize) -> Node {
        Node {
            value,
            file,
            line,
            tag: None,
        }
    }

    /// Structural equality, ignoring positions (for de-duplicating merged
    /// lists).
    pub fn same_value(&self, other: &Node) -> bool {
        match (&self.value, &other.value) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Seq(a), Value::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_value(y))
            }
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.get(k).is_some_and(|w| v.same_value(w)))
            }
            _ => false,
        }
    }

    pub fn as_map(&self) -> Option<&IndexMap<String, Node>> {
        match &self.value {
            Value::Map(map) => Some(map),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "array",
            Value::Map(_) => "mapping",
        }
    }

    /// A scalar's text (numbers and booleans as YAML writes them).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

pub fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.0}")
    } else {
        f.to_string()
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        line: usize,
        anchor: usize,
        tag: Option<MergeTag>,
    },
    Map {
        entries: IndexMap<String, Node>,
        merges: Vec<Node>,
        key: Option<(String, usize)>,
        line: usize,
        anchor: usize,
        tag: Option<MergeTag>,
    },
}

/// Parses the first document of `text`. An empty document is `Null`.
pub fn parse(text: &str, file: &Arc<str>) -> Result<Node, ComposeError> {
    let mut stack: Vec<Frame> = Vec::new();
    // Anchored nodes with their size: aliases copy them, and the copies are
    // counted so a "billion laughs" file is an error, not an OOM.
    let mut anchors: std::collections::HashMap<usize, (Node, usize)> = Default::default();
    let mut copied = 0usize;
    let mut root: Option<Node> = None;
    let at = |line: usize, message: String| ComposeError::at(file, line, "", message);
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            at(
                e.marker().line(),
                format!("yaml: {} at column {}", e.info(), e.marker().col() + 1),
            )
        })?;
        let line = span.start.line();
        let finished = match event {
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => continue,
            Event::DocumentEnd | Event::StreamEnd => break,
            Event::Alias(id) => match anchors.get(&id) {
                Some((node, size)) => {
                    copied += size;
                    if copied > MAX_ALIAS_NODES {
                        return Err(at(
                            line,
                            "yaml: document contains excessive aliasing".into(),
                        ));
                    }
                    let mut node = node.clone();
                    node.line = line;
                    (node, 0)
                }
                None => return Err(at(line, "yaml: unknown anchor".into())),
            },
            Event::Scalar(text, style, anchor, tag) => {
                let tag_text = tag.as_ref().map(|t| format!("{}{}", t.handle, t.suffix));
                let value = resolve_scalar(&text, style, tag_text.as_deref());
                let mut node = Node::new(value, file.clone(), line);
                node.tag = merge_tag(tag_text.as_deref());
                (node, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                let tag = merge_tag(tag.map(|t| format!("{}{}", t.handle, t.suffix)).as_deref());
                stack.push(Frame::Seq {
                    items: Vec::new(),
                    line,
                    anchor,
                    tag,
                });
                if stack.len() > MAX_DEPTH {
                    return Err(at(line, "yaml: nesting too deep".into()));
                }
                continue;
            }
            Event::MappingStart(anchor, tag) => {
                let tag = merge_tag(tag.map(|t| format!("{}{}", t.handle, t.suffix)).as_deref());
                stack.push(Frame::Map {
                    entries: IndexMap::new(),
                    merges: Vec::new(),
                    key: None,
                    line,
                    anchor,
                    tag,
                });
                if stack.len() > MAX_DEPTH {
                    return Err(at(line, "yaml: nesting too deep".into()));
                }
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    items,
                    line,
                    anchor,
                    tag,
                }) => {
                    let mut node = Node::new(Value::Seq(items), file.clone(), line);
                    node.tag = tag;
                    (node, anchor)
                }
                _ => return Err(at(line, "yaml: unbalanced sequence".into())),
            },
            Event::MappingEnd => {
                match stack.pop() {
                    Some(Frame::Map {
                        mut entries,
                        merges,
                        line,
                        anchor,
                        tag,
                        ..
                    }) => {
                        // Keys written in the mapping win over merged ones; among
                        // merged mappings the first listed wins.
                        for merged in merges {
                            let sources = match merged.value {
                                Value::Map(map) => vec![map],
                                Value::Seq(items) => {
                                    let mut maps = Vec::new();
                                    for item in items {
                                        match item.value {
                                        Value::Map(map) => maps.push(map),
                                        _ => {
                                            return Err(at(
                                                item.line,
                                                "yaml: map merge requires map or sequence of maps as the value".into(),
                                            ))
                                        }
                                    }
                                    }
                                    maps
                                }
                                _ => return Err(at(
                                    merged.line,
                                    "yaml: map merge requires map or sequence of maps as the value"
                                        .into(),
                                )),
                            };
                            for source in sources {
                                for (key, value) in source {
                                    entries.entry(key).or_insert(value);
                                }
                            }
                        }
                        let mut node = Node::new(Value::Map(entries), file.clone(), line);
                        node.tag = tag;
                        (node, anchor)
                    }
                    _ => return Err(at(line, "yaml: unbalanced mapping".into())),
                }
            }
        };
        let (node, anchor) = finished;
        if anchor != 0 {
            anchors.insert(anchor, (node.clone(), size(&node)));
        }
        match stack.last_mut() {
            None => {
                root = Some(node);
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                merges,
                key,
                ..
            }) => match key.take() {
                None => {
                    let Some(text) = node
                        .scalar_text()
                        .or_else(|| matches!(node.value, Value::Null).then(|| "null".to_string()))
                    else {
                        return Err(at(node.line, "yaml: mapping keys must be scalars".into()));
                    };
                    *key = Some((text, node.line));
                }
                Some((name, key_line)) => {
                    if name == "<<" {
                        merges.push(node);
                    } else if entries.contains_key(&name) {
                        return Err(at(
                            key_line,
                            format!("yaml: mapping key \"{name}\" already defined"),
                        ));
                    } else {
                        let mut node = node;
                        // An empty value has no line of its own, and a
                        // nested block starts on the line after its key;
                        // the key's line is the one users look for.
                        if matches!(node.value, Value::Null | Value::Map(_) | Value::Seq(_)) {
                            node.line = key_line;
                        }
                        entries.insert(name, node);
                    }
                }
            },
        }
    }
    Ok(root.unwrap_or_else(|| Node::new(Value::Null, file.clone(), 1)))
}

/// Deeper nesting than any compose file needs; keeps recursive walks of
/// the tree well inside the stack.
const MAX_DEPTH: usize = 200;
const MAX_ALIAS_NODES: usize = 1_000_000;

fn size(node: &Node) -> usize {
    match &node.value {
        Value::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Map(map) => 1 + map.values().map(size).sum::<usize>(),
        _ => 1,
    }
}

fn merge_tag(tag: Option<&str>) -> Option<MergeTag> {
    match tag {
        Some("!reset") => Some(MergeTag::Reset),
        Some("!override") => Some(MergeTag::Override),
        _ => None,
    }
}

/// YAML 1.2 core schema for plain scalars, with integers read as Go's
/// `ParseInt(s, 0, 64)` does (compose's YAML library), so `0440` is octal.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    if tag.is_some_and(|t| t.ends_with("str")) || style != ScalarStyle::Plain {
        return Value::Str(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_go_int(text) {
        return Value::Int(i);
    }
    let numeric = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && text.chars().any(|c| c.is_ascii_digit());
    if numeric {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(text.to_string())
}

pub fn parse_go_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(hex) = lower.strip_prefix("0x") {
        (16, hex.to_string())
    } else if let Some(oct) = lower.strip_prefix("0o") {
        (8, oct.to_string())
    } else if let Some(bin) = lower.strip_prefix("0b") {
        (2, bin.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower)
    };
    // from_str_radix accepts a sign; the sign was taken above, so any left
    // in the body ("0-1", a cpuset) means this is not a number.
    if body.is_empty() || !body.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let value = i64::from_str_radix(&body, radix).ok()?;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Node {
        parse(text, &Arc::from("compose.yaml")).expect("parses")
    }

    #[test]
    fn scalars_resolve_like_compose() {
        let node =
            load("a: 0440\nb: '0440'\nc: 80:80\nd: true\ne: 1.5\nf: ~\ng: 0x1f\nh: 0-1\ni: -12\n");
        let map = node.as_map().expect("map");
        assert!(matches!(map["a"].value, Value::Int(288)));
        assert!(matches!(&map["b"].value, Value::Str(s) if s == "0440"));
        assert!(matches!(&map["c"].value, Value::Str(s) if s == "80:80"));
        assert!(matches!(map["d"].value, Value::Bool(true)));
        assert!(matches!(map["e"].value, Value::Float(f) if f == 1.5));
        assert!(matches!(map["f"].value, Value::Null));
        assert!(matches!(map["g"].value, Value::Int(31)));
        assert!(matches!(&map["h"].value, Value::Str(s) if s == "0-1"));
        assert!(matches!(map["i"].value, Value::Int(-12)));
    }

    #[test]
    fn merge_keys_and_lines() {
        let node =
            load("x-base: &base\n  image: busybox\n  tty: true\nweb:\n  <<: *base\n  tty: false\n");
        let web = node.as_map().expect("map")["web"]
            .as_map()
            .expect("web")
            .clone();
        assert!(matches!(&web["image"].value, Value::Str(s) if s == "busybox"));
        assert!(matches!(web["tty"].value, Value::Bool(false)));
        assert_eq!(web["tty"].line, 6);
    }

    #[test]
    fn syntax_errors_and_duplicates_name_the_line() {
        let err = parse("a: 1\nb: [1, 2\n", &Arc::from("c.yaml")).unwrap_err();
        assert!(err.to_string().starts_with("c.yaml:"), "{err}");
        let err = parse("a: 1\na: 2\n", &Arc::from("c.yaml")).unwrap_err();
        assert!(err.to_string().contains("c.yaml:2:"), "{err}");
        assert!(err.to_string().contains("already defined"), "{err}");
    }

    #[test]
    fn hostile_documents_are_errors() {
        // Flow nesting hits the parser's own limit, block nesting ours.
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        let err = parse(&deep, &Arc::from("c.yaml")).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
        let block: String = (0..300)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        let err = parse(&block, &Arc::from("c.yaml")).unwrap_err();
        assert!(err.to_string().contains("nesting too deep"), "{err}");
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            laughs.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let err = parse(&laughs, &Arc::from("c.yaml")).unwrap_err();
        assert!(err.to_string().contains("excessive aliasing"), "{err}");
    }

    #[test]
    fn compose_tags_are_kept() {
        let node = load("ports: !reset []\ncommand: !override [a]\n");
        let map = node.as_map().expect("map");
        assert_eq!(map["ports"].tag, Some(MergeTag::Reset));
        assert_eq!(map["command"].tag, Some(MergeTag::Override));
    }
}
