//! Loader tests with compose files as users write them, each in its own
//! temporary project directory.

mod errors;
mod files;
mod forms;
mod fuzz;
mod syntax;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::{load, LoadOptions, Loaded};

pub struct Fixture {
    dir: tempfile::TempDir,
    pub opts: LoadOptions,
}

impl Fixture {
    /// A project directory named `myapp` (so the default project name is
    /// predictable) with `compose.yaml` holding `text`.
    pub fn new(text: &str) -> Fixture {
        let fixture = Fixture::empty();
        fixture.write("compose.yaml", text);
        fixture
    }

    pub fn empty() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("myapp");
        std::fs::create_dir_all(&project).expect("mkdir");
        let opts = LoadOptions {
            working_dir: project,
            environment: IndexMap::new(),
            ..LoadOptions::default()
        };
        Fixture { dir, opts }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.opts.working_dir.join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> &Fixture {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Fixture {
        self.opts
            .environment
            .insert(key.to_string(), value.to_string());
        self
    }

    pub fn load(&self) -> Loaded {
        match load(&self.opts) {
            Ok(loaded) => loaded,
            Err(e) => panic!("load failed: {e}"),
        }
    }

    pub fn error(&self) -> String {
        match load(&self.opts) {
            Ok(loaded) => panic!("expected an error, loaded {:?}", loaded.project),
            Err(e) => e.to_string(),
        }
    }
}
