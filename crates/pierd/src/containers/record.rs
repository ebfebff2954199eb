//! `container.json`: everything pierd knows about one container, written
//! crash-safely on every state change.

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use pier_api::models;
use serde::{Deserialize, Serialize};

/// The value Docker shows for times that never happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
    Removing,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Removing => "removing",
            Status::Dead => "dead",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateRecord {
    pub status: Status,
    #[serde(default)]
    pub pid: i64,
    #[serde(default)]
    pub exit_code: i64,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub oom_killed: bool,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Exited, and waiting out the restart policy's back-off.
    #[serde(default)]
    pub restarting: bool,
    /// Docker's `HasBeenManuallyStopped` (stop/kill through the API).
    #[serde(default)]
    pub manually_stopped: bool,
    /// Frozen by `pause` (only while running).
    #[serde(default)]
    pub paused: bool,
    /// `State.Health`, for containers with a healthcheck that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::HealthState>,
}

impl Default for StateRecord {
    fn default() -> Self {
        Self {
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            oom_killed: false,
            started_at: None,
            finished_at: None,
            restarting: false,
            manually_stopped: false,
            paused: false,
            health: None,
        }
    }
}

impl StateRecord {
    pub fn running(&self) -> bool {
        self.status == Status::Running
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    /// With the leading `/`.
    pub name: String,
    pub created: DateTime<Utc>,
    /// The process: entrypoint+cmd split as Docker's Path/Args.
    pub path: String,
    pub args: Vec<String>,
    /// Merged config (request over image).
    pub config: models::ContainerConfig,
    pub host_config: models::HostConfig,
    /// The image reference exactly as the user gave it.
    pub image: String,
    /// `sha256:<hex>` image ID.
    pub image_id: String,
    /// Overlay lower dirs, bottom → top, resolved at create so the container
    /// keeps working whatever happens to the image's tags.
    pub layers: Vec<PathBuf>,
    pub state: StateRecord,
    #[serde(default)]
    pub restart_count: i64,
    /// Volumes, binds and tmpfs mounts, resolved at create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<pier_volume::mountpoint::MountPoint>,
    /// `NetworkingConfig.EndpointsConfig`: the networks besides
    /// `NetworkMode` and per-network options (`--ip`, aliases, MAC).
    #[serde(default, skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub endpoints_config: std::collections::HashMap<String, models::EndpointSettings>,
}

impl ContainerRecord {
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    pub fn tty(&self) -> bool {
        self.config.tty.unwrap_or(false)
    }

    pub fn auto_remove(&self) -> bool {
        self.host_config.auto_remove.unwrap_or(false)
    }

    /// The json-file log, or `None` for log driver "none".
    pub fn log_path(&self, dir: &Path) -> Option<PathBuf> {
        let driver = self
            .host_config
            .log_config
            .as_ref()
            .and_then(|l| l.typ.as_deref())
            .unwrap_or("json-file");
        (driver != "none").then(|| dir.join(format!("{}-json.log", self.id)))
    }

    pub fn network_mode(&self) -> &str {
        self.host_config
            .network_mode
            .as_deref()
            .filter(|m| !m.is_empty())
            .unwrap_or("bridge")
    }

    /// Docker's `Command` column: path then args, args with a space quoted.
    pub fn command_line(&self) -> String {
        if self.args.is_empty() {
            return self.path.clone();
        }
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| {
                if a.contains(' ') {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            })
            .collect();
        format!("{} {}", self.path, args.join(" "))
    }
}

/// RFC 3339 with nanoseconds, as Docker prints times.
pub fn rfc3339_nano(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub fn time_or_zero(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref()
        .map(rfc3339_nano)
        .unwrap_or_else(|| ZERO_TIME.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(path: &str, args: &[&str]) -> ContainerRecord {
        ContainerRecord {
            id: "a".repeat(64),
            name: "/x".into(),
            created: Utc::now(),
            path: path.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            config: Default::default(),
            host_config: Default::default(),
            image: "busybox".into(),
            image_id: "sha256:00".into(),
            layers: vec![],
            state: Default::default(),
            restart_count: 0,
            mount_points: vec![],
            endpoints_config: Default::default(),
        }
    }

    #[test]
    fn command_column_quotes_args_with_spaces() {
        assert_eq!(
            rec("sh", &["-c", "exit 3"]).command_line(),
            "sh -c 'exit 3'"
        );
        assert_eq!(rec("true", &[]).command_line(), "true");
    }

    #[test]
    fn record_round_trips() {
        let r = rec("sh", &["-c", "x"]);
        let json = serde_json::to_string(&r).unwrap();
        let back: ContainerRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.args, r.args);
        assert_eq!(back.state.status, Status::Created);
    }
}
