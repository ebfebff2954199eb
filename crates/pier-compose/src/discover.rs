//! Which files make the project, which environment interpolates them, and
//! what the project is called — the steps docker compose takes before it
//! reads any compose file.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::error::ComposeError;
use crate::LoadOptions;

const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];
const OVERRIDE_FILES: [&str; 4] = [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// The environment for interpolation: `.env` (or `--env-file`s) under the
/// process environment, which wins.
pub fn environment(opts: &LoadOptions) -> Result<IndexMap<String, String>, ComposeError> {
    let mut env: IndexMap<String, String> = IndexMap::new();
    // --env-file, else COMPOSE_ENV_FILES (comma-separated), else `.env`.
    let given: Vec<PathBuf> = if opts.env_files.is_empty() {
        opts.environment
            .get("COMPOSE_ENV_FILES")
            .map(|list| {
                list.split(',')
                    .filter(|f| !f.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        opts.env_files.clone()
    };
    let (files, required) = if given.is_empty() {
        (vec![env_dir(opts).join(".env")], false)
    } else {
        let files = given
            .iter()
            .map(|f| absolute(&opts.working_dir, f))
            .collect();
        (files, true)
    };
    for file in files {
        if !required && !file.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&file).map_err(|e| {
            ComposeError::Invalid(format!("couldn't find env file: {}: {e}", file.display()))
        })?;
        let display = file.display().to_string();
        let mut lookup = opts.environment.clone();
        for (k, v) in &env {
            lookup.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let vars = crate::dotenv::parse(&text, &display, &lookup).map_err(ComposeError::Invalid)?;
        for (key, value) in vars {
            match value {
                Some(value) => {
                    env.insert(key, value);
                }
                None => {
                    if let Some(value) = opts.environment.get(&key) {
                        env.insert(key, value.clone());
                    }
                }
            }
        }
    }
    for (key, value) in &opts.environment {
        env.insert(key.clone(), value.clone());
    }
    Ok(env)
}

/// Where the default `.env` is read: `--project-directory`, else the first
/// `-f` file's directory, else the working directory (compose-go's
/// `GetWorkingDir`).
fn env_dir(opts: &LoadOptions) -> PathBuf {
    if let Some(dir) = &opts.project_directory {
        return absolute(&opts.working_dir, dir);
    }
    match opts.files.first() {
        Some(file) if file.as_os_str() != "-" => absolute(&opts.working_dir, file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| opts.working_dir.clone()),
        _ => opts.working_dir.clone(),
    }
}

pub fn absolute(base: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    clean(&joined)
}

/// Lexically removes `.` and `..` (like Go's `filepath.Clean`).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The compose files, in order, and warnings about the choice.
pub fn config_files(
    opts: &LoadOptions,
    env: &IndexMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<PathBuf>, ComposeError> {
    if !opts.files.is_empty() {
        return Ok(opts
            .files
            .iter()
            .map(|f| absolute(&opts.working_dir, f))
            .collect());
    }
    if let Some(list) = env.get("COMPOSE_FILE").filter(|l| !l.is_empty()) {
        let separator = env
            .get("COMPOSE_PATH_SEPARATOR")
            .and_then(|s| s.chars().next())
            .unwrap_or(':');
        let base = opts
            .project_directory
            .as_ref()
            .map(|d| absolute(&opts.working_dir, d))
            .unwrap_or_else(|| opts.working_dir.clone());
        return Ok(list
            .split(separator)
            .filter(|f| !f.is_empty())
            .map(|f| absolute(&base, Path::new(f)))
            .collect());
    }
    // Like compose-go, discovery starts in --project-directory when given.
    let start = opts
        .project_directory
        .as_ref()
        .map(|d| absolute(&opts.working_dir, d))
        .unwrap_or_else(|| opts.working_dir.clone());
    let mut dir = Some(start.as_path());
    while let Some(current) = dir {
        let found: Vec<PathBuf> = DEFAULT_FILES
            .iter()
            .map(|name| current.join(name))
            .filter(|path| path.is_file())
            .collect();
        if let Some(first) = found.first() {
            if found.len() > 1 {
                let names: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
                warnings.push(format!(
                    "Found multiple config files with supported names: {}\nUsing {}",
                    names.join(", "),
                    first.display()
                ));
            }
            let mut files = vec![first.clone()];
            if let Some(over) = OVERRIDE_FILES
                .iter()
                .map(|name| current.join(name))
                .find(|path| path.is_file())
            {
                files.push(over);
            }
            return Ok(files);
        }
        dir = current.parent();
    }
    Err(ComposeError::NoConfigFile)
}

/// The project directory: `--project-directory`, else the first file's.
pub fn project_dir(opts: &LoadOptions, files: &[PathBuf]) -> PathBuf {
    if let Some(dir) = &opts.project_directory {
        return absolute(&opts.working_dir, dir);
    }
    files
        .first()
        .and_then(|f| f.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| opts.working_dir.clone())
}

/// Compose's rule for a project name given by the user.
pub fn valid_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A directory name made into a project name: lowercase, other characters
/// dropped, leading `_`/`-` trimmed.
pub fn normalize_project_name(name: &str) -> String {
    let lowered: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lowered.trim_start_matches(['_', '-']).to_string()
}

pub fn invalid_name_error(name: &str) -> ComposeError {
    ComposeError::Invalid(format!(
        "invalid project name {name:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
    ))
}

/// `-p`, `COMPOSE_PROJECT_NAME`, the top-level `name:`, the directory.
pub fn project_name(
    opts: &LoadOptions,
    env: &IndexMap<String, String>,
    top_level: Option<&str>,
    project_dir: &Path,
) -> Result<String, ComposeError> {
    let given = opts
        .project_name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            env.get("COMPOSE_PROJECT_NAME")
                .filter(|n| !n.is_empty())
                .cloned()
        })
        .or_else(|| top_level.filter(|n| !n.is_empty()).map(str::to_string));
    if let Some(name) = given {
        return if valid_project_name(&name) {
            Ok(name)
        } else {
            Err(invalid_name_error(&name))
        };
    }
    let base = project_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = normalize_project_name(&base);
    if name.is_empty() {
        return Err(ComposeError::Invalid(format!(
            "project name must not be empty (directory {:?} gives none); use -p",
            project_dir.display().to_string()
        )));
    }
    Ok(name)
}

/// `--profile`, else `COMPOSE_PROFILES` (comma-separated).
pub fn profiles(opts: &LoadOptions, env: &IndexMap<String, String>) -> Vec<String> {
    if !opts.profiles.is_empty() {
        return opts.profiles.clone();
    }
    env.get("COMPOSE_PROFILES")
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
