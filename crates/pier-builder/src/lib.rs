//! Pier's image builder: the Dockerfile parser, `.dockerignore` matching,
//! the stage graph, and the executor that runs each step (RUN in a
//! container through pier-shim, COPY/ADD as layers written directly) with a
//! persistent layer cache. pierd's `POST /build` drives it.

pub mod dockerignore;
mod error;
pub mod parser;
pub mod shell;

pub use dockerignore::IgnoreMatcher;
pub use error::{BuildError, Result};
pub use parser::{parse, Dockerfile, Heredoc, Instruction};
