//! Compose files to one normalised [`Project`].
//!
//! The model in [`model`] is the contract between the loader (this crate) and
//! the engine that creates containers, networks and volumes through the
//! Engine API (`pier-cli`'s `compose` commands). Every field in it is in its
//! long, canonical form: short syntaxes, lists-or-maps, durations and sizes
//! are resolved by the loader so the engine never parses compose syntax.

pub mod model;

pub use model::*;
