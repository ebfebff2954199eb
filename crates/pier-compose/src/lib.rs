//! Compose files to one normalised [`Project`].
//!
//! The model in [`model`] is the contract between the loader (this crate) and
//! the engine that creates containers, networks and volumes through the
//! Engine API (`pier-cli`'s `compose` commands). Every field in it is in its
//! long, canonical form: short syntaxes, lists-or-maps, durations and sizes
//! are resolved by the loader so the engine never parses compose syntax.
//!
//! [`load`] follows docker compose's steps: environment (`.env` or
//! `--env-file` under the process environment), file discovery, then per
//! file parse → interpolate → `extends`, then the merge of all files, the
//! project name, normalisation, profiles and reference checks.

pub mod discover;
pub mod dotenv;
pub mod error;
pub mod extends;
pub mod include;
pub mod interpolate;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod output;
mod project;
mod validate;
pub mod yaml;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;

pub use error::ComposeError;
pub use model::*;
pub use output::to_yaml;

use crate::yaml::{Node, Value};

/// What the CLI passes in: its flags and the process environment.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f`, in order; empty means discovery (`COMPOSE_FILE`, then
    /// `compose.yaml` & co. in the working directory or its parents).
    pub files: Vec<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory`; default: the first file's directory.
    pub project_directory: Option<PathBuf>,
    /// The caller's working directory: discovery starts here and relative
    /// `-f` paths are resolved against it.
    pub working_dir: PathBuf,
    /// `--env-file` (replaces the default `.env`).
    pub env_files: Vec<PathBuf>,
    /// `--profile`.
    pub profiles: Vec<String>,
    /// The process environment (passed in so tests never touch the real one).
    pub environment: IndexMap<String, String>,
    /// What `-f -` reads: the CLI's standard input. The file is then
    /// `<working_dir>/-`, so its directory is the working directory, as
    /// compose has it.
    pub stdin: Option<String>,
}

/// A loaded project and what compose would print as warnings.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub project: Project,
    pub warnings: Vec<String>,
}

const VERSION_OBSOLETE: &str =
    "the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion";

pub fn load(opts: &LoadOptions) -> Result<Loaded, ComposeError> {
    let mut warnings = Vec::new();
    let mut env = discover::environment(opts)?;
    let files = discover::config_files(opts, &env, &mut warnings)?;
    let project_dir = discover::project_dir(opts, &files);
    // The name is settled before interpolation, and the files may use it
    // as ${COMPOSE_PROJECT_NAME}, as compose allows.
    let top_name = files
        .iter()
        .filter_map(|f| name_in_file(&read_config(f, opts).ok()?, &env))
        .next_back();
    let name = discover::project_name(opts, &env, top_name.as_deref(), &project_dir)?;
    env.entry("COMPOSE_PROJECT_NAME".to_string())
        .or_insert_with(|| name.clone());

    let reader = Reader {
        opts,
        unset: RefCell::default(),
        warnings: RefCell::default(),
    };
    let mut merged: Option<Node> = None;
    for file in &files {
        let tree = reader.load_tree(file, &env, 0)?;
        merged = Some(match merged {
            None => tree,
            Some(base) => merge::merge_top(base, tree),
        });
    }
    let tree = merged.ok_or(ComposeError::NoConfigFile)?;
    warnings.extend(reader.warnings.into_inner());

    let profiles = discover::profiles(opts, &env);
    let mut ctx = normalize::Context {
        project_dir,
        env: &env,
        warnings: Vec::new(),
    };
    let assembly = project::Assembly {
        name,
        config_files: files,
        profiles: &profiles,
    };
    let project = project::build(&tree, assembly, &mut ctx)?;
    let vars = interpolate::Vars {
        env: &env,
        unset: reader.unset.into_inner(),
    };
    warnings.extend(vars.warnings());
    warnings.extend(ctx.warnings);
    Ok(Loaded { project, warnings })
}

/// A compose file's text; `-f -` is the CLI's standard input.
fn read_config(path: &Path, opts: &LoadOptions) -> Result<String, ComposeError> {
    match &opts.stdin {
        Some(text) if path == opts.working_dir.join("-") => Ok(text.clone()),
        _ => std::fs::read_to_string(path).map_err(|e| ComposeError::io(path, e)),
    }
}

/// A file's top-level `name:`, interpolated; `None` when absent or when the
/// file cannot be parsed (loading it reports that properly).
fn name_in_file(text: &str, env: &IndexMap<String, String>) -> Option<String> {
    let tree = yaml::parse(text, &Arc::from("")).ok()?;
    let raw = tree.as_map()?.get("name")?.scalar_text()?;
    interpolate::interpolate(&raw, &mut interpolate::Vars::new(env)).ok()
}

/// Reads compose files: parse and interpolate, then (for files that are
/// part of the project rather than `extends` sources) `extends` and
/// `include`.
struct Reader<'a> {
    opts: &'a LoadOptions,
    unset: RefCell<Vec<String>>,
    warnings: RefCell<Vec<String>>,
}

impl Reader<'_> {
    fn read(&self, path: &Path, env: &IndexMap<String, String>) -> Result<Node, ComposeError> {
        let text = read_config(path, self.opts)?;
        let name: Arc<str> = Arc::from(path.display().to_string());
        let mut tree = yaml::parse(&text, &name)?;
        let mut vars = interpolate::Vars::new(env);
        interpolate::interpolate_node(&mut tree, "", &mut vars)?;
        let mut unset = self.unset.borrow_mut();
        for name in vars.unset {
            if !unset.contains(&name) {
                unset.push(name);
            }
        }
        Ok(tree)
    }

    fn load_tree(
        &self,
        file: &Path,
        env: &IndexMap<String, String>,
        depth: usize,
    ) -> Result<Node, ComposeError> {
        let mut tree = self.read(file, env)?;
        match &tree.value {
            Value::Map(top) => {
                if top.contains_key("version") {
                    let warning = format!("{}: {VERSION_OBSOLETE}", file.display());
                    self.warnings.borrow_mut().push(warning);
                }
            }
            Value::Null => {}
            _ => {
                return Err(ComposeError::node(
                    &tree,
                    "",
                    "Top-level object must be a mapping",
                ));
            }
        }
        let mut load_other = |path: &Path| self.read(path, env);
        extends::resolve_file(&mut tree, file, &mut load_other)?;
        let mut load_included = |path: &Path, env: &IndexMap<String, String>, depth: usize| {
            self.load_tree(path, env, depth)
        };
        include::resolve(&mut tree, file, env, depth, &mut load_included)?;
        Ok(tree)
    }
}

#[cfg(test)]
mod tests;
