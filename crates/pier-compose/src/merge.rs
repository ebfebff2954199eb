//! Merging compose trees (several `-f` files, and `extends`) by the compose
//! specification's rules: mappings merge, `command`/`entrypoint`/
//! `healthcheck.test` replace, `environment`/`labels`-like keys merge by
//! name whichever syntax each side uses, `ports`/`dns`-like lists append,
//! `volumes` merge by target and `secrets`/`configs` by source. `!reset`
//! drops an inherited value and `!override` replaces it whole.

use indexmap::IndexMap;

use crate::yaml::{MergeTag, Node, Value};

/// Service keys whose values replace the earlier ones.
const REPLACE: [&str; 2] = ["command", "entrypoint"];
/// Service keys that are a list-or-mapping of `KEY=VALUE`; merged by key.
const KEYED: [&str; 4] = ["environment", "labels", "sysctls", "annotations"];
/// Service keys merged by the name of each entry (lists become mappings).
const NAMED: [&str; 2] = ["networks", "depends_on"];

pub fn merge_top(base: Node, over: Node) -> Node {
    merge_map_with(base, over, &|key, base, over| match key {
        "services" => merge_map_with(base, over, &|_, b, o| merge_service(b, o)),
        _ => merge_default(base, over),
    })
}

/// `over` (a later file, or the extending service) on top of `base`.
pub fn merge_service(base: Node, over: Node) -> Node {
    merge_map_with(base, over, &|key, base, over| {
        if REPLACE.contains(&key) {
            return over;
        }
        if KEYED.contains(&key) {
            return merge_default(key_value_map(base), key_value_map(over));
        }
        if NAMED.contains(&key) {
            return merge_default(name_map(base), name_map(over));
        }
        match key {
            "build" => merge_map_with(build_map(base), build_map(over), &|key, b, o| {
                if key == "args" || key == "labels" {
                    merge_default(key_value_map(b), key_value_map(o))
                } else {
                    merge_default(b, o)
                }
            }),
            "healthcheck" => merge_map_with(base, over, &|key, b, o| {
                if key == "test" {
                    o
                } else {
                    merge_default(b, o)
                }
            }),
            // Options merge only when both sides use the same driver.
            "logging" => {
                let driver = |n: &Node| {
                    n.as_map()
                        .and_then(|m| m.get("driver"))
                        .and_then(Node::scalar_text)
                };
                match (driver(&base), driver(&over)) {
                    (Some(a), Some(b)) if a != b => over,
                    _ => merge_default(base, over),
                }
            }
            "volumes" => merge_seq_by(base, over, volume_target),
            "secrets" | "configs" => merge_seq_by(base, over, file_source),
            "env_file" | "tmpfs" | "dns" | "dns_search" => {
                merge_default(as_seq(base), as_seq(over))
            }
            "deploy" => merge_map_with(base, over, &|key, b, o| {
                if key == "labels" {
                    merge_default(key_value_map(b), key_value_map(o))
                } else {
                    merge_default(b, o)
                }
            }),
            _ => merge_default(base, over),
        }
    })
}

/// Mappings merge key by key; sequences append what is new; anything else
/// is replaced.
pub fn merge_default(base: Node, over: Node) -> Node {
    match (&base.value, &over.value) {
        (Value::Map(_), Value::Null) if over.tag.is_none() => base,
        (Value::Map(_), Value::Map(_)) => {
            merge_map_with(base, over, &|_, b, o| merge_default(b, o))
        }
        (Value::Seq(_), Value::Seq(_)) if over.tag != Some(MergeTag::Override) => {
            let Value::Seq(mut items) = base.value else {
                return over;
            };
            let Value::Seq(more) = over.value else {
                return over;
            };
            for item in more {
                if !items.iter().any(|i| i.same_value(&item)) {
                    items.push(item);
                }
            }
            Node {
                value: Value::Seq(items),
                ..over
            }
        }
        _ => over,
    }
}

type EntryMerge<'a> = dyn Fn(&str, Node, Node) -> Node + 'a;

fn merge_map_with(base: Node, over: Node, entry: &EntryMerge) -> Node {
    if over.tag == Some(MergeTag::Override) {
        return over;
    }
    // `web:` with nothing under it in a later file changes nothing.
    if matches!(over.value, Value::Null) && matches!(base.value, Value::Map(_)) {
        return base;
    }
    let (Value::Map(mut merged), Value::Map(over_map)) = (base.value, over.value.clone()) else {
        return over;
    };
    for (key, value) in over_map {
        match value.tag {
            Some(MergeTag::Reset) => {
                merged.shift_remove(&key);
            }
            Some(MergeTag::Override) => {
                merged.insert(key, value);
            }
            None => {
                let combined = match merged.shift_remove_full(&key) {
                    Some((index, _, old)) => {
                        let combined = entry(&key, old, value);
                        merged.shift_insert(index, key, combined);
                        continue;
                    }
                    None => value,
                };
                merged.insert(key, combined);
            }
        }
    }
    Node {
        value: Value::Map(merged),
        ..over
    }
}

/// Sequences whose entries replace earlier entries with the same key.
fn merge_seq_by(base: Node, over: Node, key: fn(&Node) -> Option<String>) -> Node {
    if over.tag == Some(MergeTag::Override) {
        return over;
    }
    let (Value::Seq(mut items), Value::Seq(more)) = (base.value, over.value.clone()) else {
        return over;
    };
    for item in more {
        let k = key(&item);
        match items
            .iter()
            .position(|i| k.is_some() && key(i) == k || i.same_value(&item))
        {
            Some(index) => items[index] = item,
            None => items.push(item),
        }
    }
    Node {
        value: Value::Seq(items),
        ..over
    }
}

fn volume_target(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(short) => {
            let parts: Vec<&str> = short.split(':').collect();
            Some(match parts.len() {
                1 => parts[0].to_string(),
                _ => parts[1].to_string(),
            })
        }
        Value::Map(map) => map.get("target").and_then(Node::scalar_text),
        _ => None,
    }
}

fn file_source(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(name) => Some(name.clone()),
        Value::Map(map) => map.get("source").and_then(Node::scalar_text),
        _ => None,
    }
}

fn as_seq(node: Node) -> Node {
    match node.value {
        Value::Seq(_) | Value::Null => node,
        _ => Node {
            value: Value::Seq(vec![node.clone()]),
            ..node
        },
    }
}

/// `build: ./dir` as `build: {context: ./dir}` so both forms merge.
pub fn build_map(node: Node) -> Node {
    match &node.value {
        Value::Str(_) => {
            let mut map = IndexMap::new();
            map.insert("context".to_string(), node.clone());
            Node {
                value: Value::Map(map),
                ..node
            }
        }
        _ => node,
    }
}

/// A `["K=V", "K"]` list as a `{K: V, K: null}` mapping.
pub fn key_value_map(node: Node) -> Node {
    let Value::Seq(items) = &node.value else {
        return node;
    };
    let mut map = IndexMap::new();
    for item in items {
        let Some(text) = item.scalar_text() else {
            return node;
        };
        let (key, value) = match text.split_once('=') {
            Some((k, v)) => (k.to_string(), Value::Str(v.to_string())),
            None => (text, Value::Null),
        };
        map.insert(key, Node::new(value, item.file.clone(), item.line));
    }
    Node {
        value: Value::Map(map),
        ..node
    }
}

/// A `[a, b]` list of names as a `{a: null, b: null}` mapping.
pub fn name_map(node: Node) -> Node {
    let Value::Seq(items) = &node.value else {
        return node;
    };
    let mut map = IndexMap::new();
    for item in items {
        let Some(text) = item.scalar_text() else {
            return node;
        };
        map.insert(text, Node::new(Value::Null, item.file.clone(), item.line));
    }
    Node {
        value: Value::Map(map),
        ..node
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::yaml::parse;

    fn yaml(text: &str) -> Node {
        parse(text, &Arc::from("t.yaml")).expect("parses")
    }

    fn dump(node: &Node) -> String {
        match &node.value {
            Value::Map(map) => {
                let inner: Vec<String> = map
                    .iter()
                    .map(|(k, v)| format!("{k}={}", dump(v)))
                    .collect();
                format!("{{{}}}", inner.join(","))
            }
            Value::Seq(items) => {
                let inner: Vec<String> = items.iter().map(dump).collect();
                format!("[{}]", inner.join(","))
            }
            Value::Null => "~".into(),
            _ => node.scalar_text().unwrap_or_default(),
        }
    }

    #[test]
    fn service_rules() {
        let cases = [
            ("command: [a, b]", "command: [c]", "{command=[c]}"),
            ("entrypoint: x", "entrypoint: [y]", "{entrypoint=[y]}"),
            (
                "environment: [A=1, B=2]",
                "environment: {B: 3, C: 4}",
                "{environment={A=1,B=3,C=4}}",
            ),
            ("labels: {a: x}", "labels: [b=y]", "{labels={a=x,b=y}}"),
            (
                "ports: ['80:80']",
                "ports: ['81:81', '80:80']",
                "{ports=[80:80,81:81]}",
            ),
            ("dns: 1.1.1.1", "dns: [8.8.8.8]", "{dns=[1.1.1.1,8.8.8.8]}"),
            (
                "volumes: ['a:/data', '/x:/y:ro']",
                "volumes: ['b:/data', {type: bind, source: /z, target: /w}]",
                "{volumes=[b:/data,/x:/y:ro,{type=bind,source=/z,target=/w}]}",
            ),
            (
                "healthcheck: {test: [CMD, a], interval: 5s}",
                "healthcheck: {test: [CMD, b]}",
                "{healthcheck={test=[CMD,b],interval=5s}}",
            ),
            (
                "networks: [a]",
                "networks: {b: {aliases: [x]}}",
                "{networks={a=~,b={aliases=[x]}}}",
            ),
            (
                "depends_on: [db]",
                "depends_on: {cache: {condition: service_healthy}}",
                "{depends_on={db=~,cache={condition=service_healthy}}}",
            ),
            (
                "build: .",
                "build: {dockerfile: D}",
                "{build={context=.,dockerfile=D}}",
            ),
            ("ports: ['80:80']", "ports: !reset []", "{}"),
            (
                "ports: ['80:80']",
                "ports: !override ['81:81']",
                "{ports=[81:81]}",
            ),
            (
                "secrets: [a, {source: b, target: x}]",
                "secrets: [{source: b, target: y}]",
                "{secrets=[a,{source=b,target=y}]}",
            ),
            ("image: a", "image: b", "{image=b}"),
            ("build: {context: .}", "build:", "{build={context=.}}"),
            (
                "logging: {driver: json-file, options: {max-size: 1m}}",
                "logging: {options: {max-file: '3'}}",
                "{logging={driver=json-file,options={max-size=1m,max-file=3}}}",
            ),
            (
                "logging: {driver: json-file, options: {max-size: 1m}}",
                "logging: {driver: syslog}",
                "{logging={driver=syslog}}",
            ),
        ];
        for (base, over, want) in cases {
            let merged = merge_service(yaml(base), yaml(over));
            assert_eq!(dump(&merged), want, "{base} + {over}");
        }
    }
}
