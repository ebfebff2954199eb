//! What `docker compose config` prints: the normalised project as YAML
//! (`name:`, then services, networks, volumes, secrets, configs), and the
//! lists behind `config --services` / `--volumes`.

use indexmap::IndexMap;
use serde_json::Value;

use crate::model::Project;

/// The project as YAML: top-level `name`, `services`, `networks`,
/// `volumes`, `secrets`, `configs`, and below that keys sorted, as compose's
/// Go YAML prints maps. Values resolved from `environment:` secrets/configs
/// are left out, as compose leaves them.
pub fn to_yaml(project: &Project) -> String {
    let mut printable = project.clone();
    for object in printable
        .secrets
        .values_mut()
        .chain(printable.configs.values_mut())
    {
        if object.environment.is_some() {
            object.content = None;
        }
    }
    let mut document: IndexMap<&str, Value> = IndexMap::new();
    document.insert("name", Value::String(printable.name.clone()));
    let sections = [
        ("services", serde_json::to_value(&printable.services)),
        ("networks", serde_json::to_value(&printable.networks)),
        ("volumes", serde_json::to_value(&printable.volumes)),
        ("secrets", serde_json::to_value(&printable.secrets)),
        ("configs", serde_json::to_value(&printable.configs)),
    ];
    for (key, value) in sections {
        match value {
            Ok(Value::Object(map)) if map.is_empty() && key != "services" => {}
            Ok(value) => {
                document.insert(key, sorted_keys(value));
            }
            Err(e) => return format!("# pier: cannot print the project: {e}\n"),
        }
    }
    // A service's network without options prints as `null`, as in compose.
    if let Some(Value::Object(services)) = document.get_mut("services") {
        for service in services.values_mut() {
            if let Some(Value::Object(networks)) = service.get_mut("networks") {
                for network in networks.values_mut() {
                    if network.as_object().is_some_and(|o| o.is_empty()) {
                        *network = Value::Null;
                    }
                }
            }
        }
    }
    // Lists indented under their key, as compose's Go YAML prints them.
    let mut options = serde_saphyr::SerializerOptions::default();
    options.compact_list_indent = false;
    match serde_saphyr::to_string_with_options(&document, options) {
        Ok(text) => text,
        // Serialising plain data cannot fail short of a bug; say so in the
        // output rather than panicking the CLI.
        Err(e) => format!("# pier: cannot print the project: {e}\n"),
    }
}

/// Rebuilds every object with its keys in sorted order (whatever map type
/// serde_json was built with).
fn sorted_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted_keys).collect()),
        other => other,
    }
}

impl Project {
    /// `config --services`: enabled services as compose walks them,
    /// dependencies first, otherwise alphabetical.
    pub fn service_names(&self) -> Vec<String> {
        fn visit(name: &str, project: &Project, out: &mut Vec<String>, active: &mut Vec<String>) {
            if out.iter().any(|n| n == name) || active.iter().any(|n| n == name) {
                return;
            }
            let Some(service) = project.services.get(name) else {
                return;
            };
            active.push(name.to_string());
            let mut deps: Vec<&String> = service.depends_on.keys().collect();
            deps.sort();
            for dep in deps {
                visit(dep, project, out, active);
            }
            active.pop();
            out.push(name.to_string());
        }
        let mut names: Vec<&String> = self.services.keys().collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            visit(name, self, &mut out, &mut Vec::new());
        }
        out
    }

    /// `config --volumes`: top-level volume keys, sorted as compose prints
    /// them.
    pub fn volume_names(&self) -> Vec<String> {
        sorted(self.volumes.keys())
    }

    /// `config --networks`: top-level network keys, sorted.
    pub fn network_names(&self) -> Vec<String> {
        sorted(self.networks.keys())
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

fn sorted<'a>(keys: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut names: Vec<String> = keys.cloned().collect();
    names.sort();
    names
}
