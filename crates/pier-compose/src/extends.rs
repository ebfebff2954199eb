//! `extends:` — a service built on another, from the same file or from
//! `file:`. Relative paths in a service from another file are made absolute
//! against that file's directory before the merge, so they keep pointing
//! where its author meant.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::discover::absolute;
use crate::error::ComposeError;
use crate::merge::merge_service;
use crate::normalize::values::{child, map, string};
use crate::yaml::{Node, Value};

/// Reads, parses and interpolates a compose file.
pub type FileLoader<'a> = dyn FnMut(&Path) -> Result<Node, ComposeError> + 'a;

/// Resolves every service's `extends` in one file's tree.
pub fn resolve_file(
    tree: &mut Node,
    file: &Path,
    load: &mut FileLoader,
) -> Result<(), ComposeError> {
    let Value::Map(top) = &mut tree.value else {
        return Ok(());
    };
    let Some(services_node) = top.get("services") else {
        return Ok(());
    };
    let Value::Map(services) = &services_node.value else {
        return Ok(());
    };
    let services = services.clone();
    let mut resolved = IndexMap::new();
    for name in services.keys() {
        let mut stack = Vec::new();
        let service = resolve_service(name, &services, file, load, &mut stack)?;
        resolved.insert(name.clone(), service);
    }
    if let Some(node) = top.get_mut("services") {
        node.value = Value::Map(resolved);
    }
    Ok(())
}

fn resolve_service(
    name: &str,
    services: &IndexMap<String, Node>,
    file: &Path,
    load: &mut FileLoader,
    stack: &mut Vec<(PathBuf, String)>,
) -> Result<Node, ComposeError> {
    let Some(node) = services.get(name) else {
        return Err(ComposeError::Invalid(format!(
            "cannot extend service {name:?} in {}: service not found",
            file.display()
        )));
    };
    let Some(extends) = node.as_map().and_then(|m| m.get("extends")) else {
        return Ok(node.clone());
    };
    let path = format!("services.{name}.extends");
    let key = (file.to_path_buf(), name.to_string());
    if stack.contains(&key) {
        let chain: Vec<String> = stack
            .iter()
            .map(|(_, s)| s.clone())
            .chain([name.to_string()])
            .collect();
        return Err(ComposeError::node(
            extends,
            &path,
            format!("circular reference with extends: {}", chain.join(" -> ")),
        ));
    }
    stack.push(key);
    let (base_name, base_file) = match &extends.value {
        Value::Map(_) => {
            let fields = map(extends, &path, &["service", "file"])?;
            let service = fields
                .get("service")
                .ok_or_else(|| ComposeError::node(extends, &path, "service is required"))?;
            let base_file = fields
                .get("file")
                .map(|f| string(f, &child(&path, "file")))
                .transpose()?;
            (string(service, &child(&path, "service"))?, base_file)
        }
        _ => (string(extends, &path)?, None),
    };
    let base = match base_file {
        None => {
            if !services.contains_key(&base_name) {
                return Err(ComposeError::node(
                    extends,
                    &path,
                    format!(
                        "cannot extend service {base_name:?}: service not found in {}",
                        file.display()
                    ),
                ));
            }
            resolve_service(&base_name, services, file, load, stack)?
        }
        Some(other) => {
            let dir = file.parent().unwrap_or(Path::new("/"));
            let other_path = absolute(dir, Path::new(&other));
            let tree = load(&other_path).map_err(|e| match e {
                ComposeError::Io { path: p, source } => ComposeError::node(
                    extends,
                    &path,
                    format!("cannot read {}: {source}", p.display()),
                ),
                other => other,
            })?;
            let other_services = tree
                .as_map()
                .and_then(|m| m.get("services"))
                .and_then(Node::as_map)
                .cloned()
                .unwrap_or_default();
            if !other_services.contains_key(&base_name) {
                return Err(ComposeError::node(
                    extends,
                    &path,
                    format!(
                        "cannot extend service {base_name:?}: service not found in {}",
                        other_path.display()
                    ),
                ));
            }
            let base = resolve_service(&base_name, &other_services, &other_path, load, stack)?;
            let other_dir = other_path.parent().unwrap_or(Path::new("/")).to_path_buf();
            rebase_paths(base, &other_dir)
        }
    };
    stack.pop();
    let mut local = node.clone();
    if let Value::Map(entries) = &mut local.value {
        entries.shift_remove("extends");
    }
    Ok(merge_service(base, local))
}

fn is_relative(path: &str) -> bool {
    path.starts_with('.')
        || !(path.starts_with('/') || path.starts_with('~') || path.contains("://"))
}

fn rebase_text(node: &mut Node, dir: &Path) {
    if let Value::Str(text) = &mut node.value {
        if is_relative(text) {
            *text = absolute(dir, Path::new(text.as_str()))
                .to_string_lossy()
                .into_owned();
        }
    }
}

/// Makes relative paths in a service written in another file absolute.
pub fn rebase_paths(mut service: Node, dir: &Path) -> Node {
    let Value::Map(entries) = &mut service.value else {
        return service;
    };
    if let Some(build) = entries.get_mut("build") {
        match &mut build.value {
            Value::Str(_) => rebase_text(build, dir),
            Value::Map(fields) => {
                if let Some(context) = fields.get_mut("context") {
                    rebase_text(context, dir);
                } else {
                    let mut context =
                        Node::new(Value::Str(".".into()), build.file.clone(), build.line);
                    rebase_text(&mut context, dir);
                    fields.insert("context".into(), context);
                }
            }
            _ => {}
        }
    }
    if let Some(env_file) = entries.get_mut("env_file") {
        match &mut env_file.value {
            Value::Str(_) => rebase_text(env_file, dir),
            Value::Seq(items) => {
                for item in items {
                    match &mut item.value {
                        Value::Map(fields) => {
                            if let Some(path) = fields.get_mut("path") {
                                rebase_text(path, dir);
                            }
                        }
                        _ => rebase_text(item, dir),
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(Value::Seq(items)) = entries.get_mut("volumes").map(|v| &mut v.value) {
        for item in items {
            match &mut item.value {
                Value::Str(short) => {
                    if let Some((source, rest)) = short.split_once(':') {
                        if source.starts_with('.') {
                            let source = absolute(dir, Path::new(source));
                            *short = format!("{}:{rest}", source.display());
                        }
                    }
                }
                Value::Map(fields) => {
                    let bind = fields
                        .get("type")
                        .and_then(Node::scalar_text)
                        .is_some_and(|t| t == "bind");
                    if bind {
                        if let Some(source) = fields.get_mut("source") {
                            rebase_text(source, dir);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    service
}
