//! Top-level `include:` — other compose files loaded as projects of their
//! own (paths relative to their own directory, interpolated with their own
//! `env_file`) whose services, networks, volumes, secrets and configs join
//! the including file's. A resource defined on both sides is an error, as
//! in the compose specification.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::discover::absolute;
use crate::error::ComposeError;
use crate::extends::rebase_paths;
use crate::normalize::values::{child, map, string, strings};
use crate::yaml::{Node, Value};

/// How to load one file with a given environment (the loader's
/// parse → interpolate → extends → include pipeline).
pub type TreeLoader<'a> =
    dyn FnMut(&Path, &IndexMap<String, String>, usize) -> Result<Node, ComposeError> + 'a;

const SECTIONS: [&str; 5] = ["services", "networks", "volumes", "secrets", "configs"];

/// Replaces `include:` in `tree` (a file at `file`) by the included
/// resources. `depth` guards against include loops.
pub fn resolve(
    tree: &mut Node,
    file: &Path,
    env: &IndexMap<String, String>,
    depth: usize,
    load: &mut TreeLoader,
) -> Result<(), ComposeError> {
    let Value::Map(top) = &mut tree.value else {
        return Ok(());
    };
    let Some(include) = top.shift_remove("include") else {
        return Ok(());
    };
    if depth > 16 {
        return Err(ComposeError::node(
            &include,
            "include",
            "include nesting is too deep (a loop?)",
        ));
    }
    let Value::Seq(entries) = &include.value else {
        return Err(ComposeError::node(&include, "include", "must be a list"));
    };
    let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    for entry in entries {
        let (paths, project_dir, env_files) = entry_fields(entry, &dir)?;
        let Some(first) = paths.first() else {
            return Err(ComposeError::node(entry, "include", "path is required"));
        };
        let base =
            project_dir.unwrap_or_else(|| first.parent().unwrap_or(Path::new("/")).to_path_buf());
        let included_env = include_env(env, &env_files, &base, entry)?;
        let mut merged: Option<Node> = None;
        for path in &paths {
            let tree = load(path, &included_env, depth + 1)?;
            merged = Some(match merged {
                None => tree,
                Some(prev) => crate::merge::merge_top(prev, tree),
            });
        }
        let Some(included) = merged else {
            continue;
        };
        let included = rebase_tree(included, &base);
        let Value::Map(mut included) = included.value else {
            continue;
        };
        for section in SECTIONS {
            let Some(resources) = included.shift_remove(section) else {
                continue;
            };
            let Value::Map(resources) = resources.value else {
                continue;
            };
            let target = top.entry(section.to_string()).or_insert_with(|| {
                Node::new(Value::Map(IndexMap::new()), entry.file.clone(), entry.line)
            });
            if matches!(target.value, Value::Null) {
                target.value = Value::Map(IndexMap::new());
            }
            let Value::Map(existing) = &mut target.value else {
                continue;
            };
            for (name, resource) in resources {
                if let Some(local) = existing.get(&name) {
                    return Err(ComposeError::node(
                        local,
                        &child(section, &name),
                        format!("conflicts with imported resource from {}", first.display()),
                    ));
                }
                existing.insert(name, resource);
            }
        }
    }
    Ok(())
}

type EntryFields = (Vec<PathBuf>, Option<PathBuf>, Vec<PathBuf>);

fn entry_fields(entry: &Node, dir: &Path) -> Result<EntryFields, ComposeError> {
    let resolve = |p: String| absolute(dir, Path::new(&p));
    match &entry.value {
        Value::Map(_) => {
            let fields = map(entry, "include", &["path", "project_directory", "env_file"])?;
            let paths = match fields.get("path") {
                Some(p) => strings(p, "include.path")?
                    .into_iter()
                    .map(resolve)
                    .collect(),
                None => Vec::new(),
            };
            let project_dir = fields
                .get("project_directory")
                .map(|p| string(p, "include.project_directory").map(resolve))
                .transpose()?;
            let env_files = match fields.get("env_file") {
                Some(e) => strings(e, "include.env_file")?
                    .into_iter()
                    .map(resolve)
                    .collect(),
                None => Vec::new(),
            };
            Ok((paths, project_dir, env_files))
        }
        _ => Ok((vec![resolve(string(entry, "include")?)], None, Vec::new())),
    }
}

/// The included project's environment: its env files (or its directory's
/// `.env`) under the including project's environment.
fn include_env(
    env: &IndexMap<String, String>,
    env_files: &[PathBuf],
    base: &Path,
    entry: &Node,
) -> Result<IndexMap<String, String>, ComposeError> {
    let (files, required) = if env_files.is_empty() {
        (vec![base.join(".env")], false)
    } else {
        (env_files.to_vec(), true)
    };
    let mut out = IndexMap::new();
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(_) if !required => continue,
            Err(e) => {
                return Err(ComposeError::node(
                    entry,
                    "include.env_file",
                    format!("{}: {e}", file.display()),
                ))
            }
        };
        let values = crate::dotenv::parse(&text, &file.display().to_string(), env)
            .map_err(|e| ComposeError::node(entry, "include.env_file", e))?;
        for (key, value) in values {
            if let Some(value) = value {
                out.insert(key, value);
            }
        }
    }
    for (key, value) in env {
        out.insert(key.clone(), value.clone());
    }
    Ok(out)
}

/// Makes relative paths in an included tree absolute against its project
/// directory.
fn rebase_tree(mut tree: Node, base: &Path) -> Node {
    let Value::Map(top) = &mut tree.value else {
        return tree;
    };
    if let Some(Value::Map(services)) = top.get_mut("services").map(|s| &mut s.value) {
        for service in services.values_mut() {
            let placeholder = Node::new(Value::Null, service.file.clone(), service.line);
            let taken = std::mem::replace(service, placeholder);
            *service = rebase_paths(taken, base);
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(Value::Map(objects)) = top.get_mut(section).map(|s| &mut s.value) {
            for object in objects.values_mut() {
                if let Value::Map(fields) = &mut object.value {
                    if let Some(file) = fields.get_mut("file") {
                        if let Value::Str(text) = &mut file.value {
                            if !text.starts_with('/') && !text.starts_with('~') {
                                *text = absolute(base, Path::new(text.as_str()))
                                    .to_string_lossy()
                                    .into_owned();
                            }
                        }
                    }
                }
            }
        }
    }
    tree
}
