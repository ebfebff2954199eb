//! System verbs: `version`, `info`, and the generic `inspect`.

pub mod df;
pub mod events;
pub mod info;
pub mod inspect;
pub mod prune;
pub mod version;
