//! The project's containers as the engine reports them (found by label).

use serde_json::Value;

use super::labels;
use super::Compose;
use crate::client::{encode, Query};
use crate::commands::CmdError;

/// One row of `GET /containers/json` for a project container.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub service: String,
    pub number: u32,
    pub oneoff: bool,
    pub state: String,
    pub summary: Value,
}

impl Container {
    pub fn label(&self, k: &str) -> Option<&str> {
        self.summary
            .get("Labels")
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
    }

    pub fn running(&self) -> bool {
        matches!(self.state.as_str(), "running" | "restarting" | "paused")
    }

    fn from(v: Value) -> Option<Container> {
        let l = v.get("Labels")?;
        let s = |k: &str| {
            l.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Some(Container {
            id: v.get("Id")?.as_str()?.to_string(),
            name: v
                .pointer("/Names/0")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            service: s(labels::SERVICE),
            number: s(labels::NUMBER).parse().unwrap_or(0),
            oneoff: s(labels::ONEOFF) == "True",
            state: v
                .get("State")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            summary: v,
        })
    }
}

/// All containers of the project named `project` (stopped ones too).
pub async fn list_project(
    c: &crate::client::Client,
    project: &str,
    all: bool,
) -> Result<Vec<Container>, CmdError> {
    let q = Query::new()
        .add_if(all, "all", "1")
        .add("filters", labels::project_filter(project, &[]));
    let v = c.get_json(&q.path("/containers/json")).await?;
    let mut out: Vec<Container> = v
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter_map(Container::from)
        .collect();
    out.sort_by(|a, b| (&a.service, a.number, &a.name).cmp(&(&b.service, b.number, &b.name)));
    Ok(out)
}

impl Compose {
    /// The project's service containers (one-offs left out unless asked).
    pub async fn containers(&self, all: bool, oneoff: bool) -> Result<Vec<Container>, CmdError> {
        Ok(list_project(&self.client, &self.project.name, all)
            .await?
            .into_iter()
            .filter(|c| oneoff || !c.oneoff)
            .collect())
    }

    /// Containers of the given services (all services when empty).
    pub async fn service_containers(
        &self,
        services: &[String],
        all: bool,
    ) -> Result<Vec<Container>, CmdError> {
        Ok(self
            .containers(all, false)
            .await?
            .into_iter()
            .filter(|c| services.is_empty() || services.contains(&c.service))
            .collect())
    }

    pub async fn inspect(&self, id: &str) -> Result<Value, CmdError> {
        Ok(self
            .client
            .get_json(&format!("/containers/{}/json", encode(id)))
            .await?)
    }
}
