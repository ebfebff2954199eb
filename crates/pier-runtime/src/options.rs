//! Errors in Docker's host options (capabilities, security options, devices,
//! limits): the text is Docker's, for pierd to answer with a 400.

/// A rejected option, with Docker's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OptionError(pub String);

impl OptionError {
    pub fn new(msg: impl Into<String>) -> Self {
        OptionError(msg.into())
    }
}

/// Go's text for an errno (`no such file or directory`), which Docker's
/// messages embed; Rust's `io::Error` adds "(os error N)".
pub fn errno_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let s = std::io::Error::from_raw_os_error(n).to_string();
            let s = s.split(" (os error").next().unwrap_or(&s).to_string();
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => s,
            }
        }
        None => e.to_string(),
    }
}
