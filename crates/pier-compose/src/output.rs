//! What `docker compose config` prints: the normalised project as YAML
//! (`name:`, then services, networks, volumes, secrets, configs), and the
//! lists behind `config --services` / `--volumes`.

use crate::model::Project;

/// The project as YAML, in the model's field order.
pub fn to_yaml(project: &Project) -> String {
    // Lists indented under their key, as compose's Go YAML prints them.
    let mut options = serde_saphyr::SerializerOptions::default();
    options.compact_list_indent = false;
    match serde_saphyr::to_string_with_options(project, options) {
        Ok(text) => text,
        // Serialising plain data cannot fail short of a bug; say so in the
        // output rather than panicking the CLI.
        Err(e) => format!("# pier: cannot print the project: {e}\n"),
    }
}

impl Project {
    /// `config --services`: enabled services, in file order.
    pub fn service_names(&self) -> Vec<String> {
        self.services.keys().cloned().collect()
    }

    /// `config --volumes`: top-level volume keys, in file order.
    pub fn volume_names(&self) -> Vec<String> {
        self.volumes.keys().cloned().collect()
    }

    /// `config --networks`: top-level network keys, in file order.
    pub fn network_names(&self) -> Vec<String> {
        self.networks.keys().cloned().collect()
    }

    /// `config --profiles`: every profile named by a service, sorted.
    pub fn profile_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .services
            .values()
            .chain(self.disabled_services.values())
            .flat_map(|s| s.profiles.iter().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}
