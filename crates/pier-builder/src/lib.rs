//! Pier's image builder: the Dockerfile parser, `.dockerignore` matching,
//! the stage graph, and the executor that runs each step (RUN in a
//! container through pier-shim, COPY/ADD as layers written directly) with a
//! persistent layer cache. pierd's `POST /build` drives it.

mod addurl;
mod archive;
mod cache;
mod copy;
mod copystep;
mod dispatch;
pub mod dockerignore;
mod error;
mod executor;
mod layer;
pub mod parser;
mod prune;
pub mod pull;
mod rootview;
mod run;
mod runmount;
pub mod runnet;
mod runstep;
pub mod secrets;
pub mod shell;
mod stagerun;
pub mod stages;

pub use dockerignore::IgnoreMatcher;
pub use error::{BuildError, Result};
pub use executor::{
    BuildOptions, BuildOutput, Builder, BuilderPaths, Event, RegistryAuth, StepInfo,
};
pub use parser::{parse, Dockerfile, Heredoc, Instruction};
pub use prune::{CacheRecord, PruneReport};
pub use pull::ImagePuller;
pub use runnet::{RunNet, RunNetFiles, RunNetRequest, RunNetwork};
pub use secrets::Secrets;
