//! The loader's one error type. Errors about file contents name the file,
//! the line and the key path, as `compose.yaml:7: services.web.ports: ...`.

use std::path::PathBuf;

use crate::yaml::Node;

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// Something wrong at a place in a compose file.
    #[error("{}", at_message(file, *line, path, message))]
    At {
        file: String,
        line: usize,
        /// Dotted key path (`services.web.ports`); empty for syntax errors.
        path: String,
        message: String,
    },
    #[error("no configuration file provided: not found")]
    NoConfigFile,
    #[error("open {}: {}", path.display(), io_text(source))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Errors with no place in a file (project name, env files, profiles).
    #[error("{0}")]
    Invalid(String),
}

/// Go's wording for the common cases, as compose prints them.
fn io_text(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_string(),
        _ => error.to_string(),
    }
}

fn at_message(file: &str, line: usize, path: &str, message: &str) -> String {
    if path.is_empty() {
        format!("{file}:{line}: {message}")
    } else {
        format!("{file}:{line}: {path}: {message}")
    }
}

impl ComposeError {
    pub fn at(file: &str, line: usize, path: &str, message: impl Into<String>) -> ComposeError {
        ComposeError::At {
            file: file.to_string(),
            line,
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// An error about `node`, found under the key path `path`.
    pub fn node(node: &Node, path: &str, message: impl Into<String>) -> ComposeError {
        ComposeError::at(&node.file, node.line, path, message)
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ComposeError {
        ComposeError::Io {
            path: path.into(),
            source,
        }
    }
}
