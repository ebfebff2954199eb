//! Healthchecks as dockerd runs them (moby `daemon/health.go`): the
//! container's `Healthcheck` merged over the image's at create, probes run
//! as execs in the container by [`monitor`], and the resulting
//! `State.Health` (status, failing streak, last five results) kept in the
//! container record so it survives a pierd restart.

pub mod monitor;
mod probe;
mod timefmt;

use std::time::Duration;

use chrono::{DateTime, Utc};
use pier_api::models::{ContainerConfig, HealthConfig};
use serde::{Deserialize, Serialize};

use super::error::ContainerError;
use super::record::ContainerRecord;

pub use monitor::Monitors;

/// dockerd's defaults for a zero field.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: i64 = 3;
/// Results kept in `State.Health.Log`.
pub const MAX_LOG_ENTRIES: usize = 5;
/// Probe output kept per result; more is cut and marked with `...`.
pub const MAX_OUTPUT_LEN: usize = 4096;
/// Docker's `container.MinimumDuration` for non-zero durations.
const MINIMUM_NS: i64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One probe run, as `State.Health.Log` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    #[serde(rename = "Start", with = "timefmt")]
    pub start: DateTime<Utc>,
    #[serde(rename = "End", with = "timefmt")]
    pub end: DateTime<Utc>,
    #[serde(rename = "ExitCode")]
    pub exit_code: i64,
    #[serde(rename = "Output")]
    pub output: String,
}

/// `State.Health`; stored in container.json in the API's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthState {
    #[serde(rename = "Status")]
    pub status: HealthStatus,
    #[serde(rename = "FailingStreak", default)]
    pub failing_streak: i64,
    #[serde(rename = "Log", default)]
    pub log: Vec<ProbeResult>,
}

impl HealthState {
    pub fn starting() -> Self {
        Self {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: Vec::new(),
        }
    }

    /// Records one result (dockerd's `handleProbeResult`) and returns the
    /// new status when it changed. Failures while still `starting` inside
    /// the start period do not count; a success ends the start period.
    pub fn record(
        &mut self,
        result: ProbeResult,
        probe: &Probe,
        started_at: DateTime<Utc>,
    ) -> Option<HealthStatus> {
        let old = self.status;
        if self.log.len() >= MAX_LOG_ENTRIES {
            let drop = self.log.len() + 1 - MAX_LOG_ENTRIES;
            self.log.drain(..drop);
        }
        let exit_code = result.exit_code;
        let since_start = result.start - started_at;
        self.log.push(result);
        if exit_code == 0 {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else {
            let start_period =
                chrono::Duration::from_std(probe.start_period).unwrap_or(chrono::Duration::MAX);
            let in_start_period =
                self.status == HealthStatus::Starting && since_start < start_period;
            if !in_start_period {
                self.failing_streak += 1;
                if self.failing_streak >= probe.retries {
                    self.status = HealthStatus::Unhealthy;
                }
            }
        }
        (self.status != old).then_some(self.status)
    }
}

/// What to run and how often, with dockerd's defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub cmd: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

fn duration_or(ns: Option<i64>, default: Duration) -> Duration {
    match ns {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

impl Probe {
    /// `None` without a healthcheck, with `NONE`, or with a test type
    /// dockerd does not know (it logs and runs nothing).
    pub fn of(config: &ContainerConfig) -> Option<Probe> {
        let hc = config.healthcheck.as_ref()?;
        let test = hc.test.as_deref()?;
        let (kind, rest) = test.split_first()?;
        let cmd: Vec<String> = match kind.as_str() {
            "CMD" => rest.to_vec(),
            "CMD-SHELL" => {
                let mut shell = config
                    .shell
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
                shell.extend(rest.iter().cloned());
                shell
            }
            _ => return None,
        };
        Some(Probe {
            cmd,
            interval: duration_or(hc.interval, DEFAULT_INTERVAL),
            timeout: duration_or(hc.timeout, DEFAULT_TIMEOUT),
            start_period: duration_or(hc.start_period, Duration::ZERO),
            start_interval: duration_or(hc.start_interval, DEFAULT_START_INTERVAL),
            retries: hc.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES),
        })
    }

    /// The wait before the next probe (dockerd's `getInterval`): the
    /// start interval while still starting inside the start period.
    pub fn next_wait(&self, elapsed_since_start: Duration, status: HealthStatus) -> Duration {
        if elapsed_since_start < self.start_period && status == HealthStatus::Starting {
            self.start_interval
        } else {
            self.interval
        }
    }
}

/// dockerd's `validateHealthCheck` on the request's config.
pub fn validate(hc: &HealthConfig) -> Result<(), ContainerError> {
    let check = |v: Option<i64>, field: &str| match v {
        Some(n) if n != 0 && n < MINIMUM_NS => Err(ContainerError::InvalidParameter(format!(
            "{field} in Healthcheck cannot be less than 1ms"
        ))),
        _ => Ok(()),
    };
    check(hc.interval, "Interval")?;
    check(hc.timeout, "Timeout")?;
    if hc.retries.is_some_and(|r| r < 0) {
        return Err(ContainerError::InvalidParameter(
            "Retries in Healthcheck cannot be negative".into(),
        ));
    }
    check(hc.start_period, "StartPeriod")?;
    check(hc.start_interval, "StartInterval")?;
    Ok(())
}

/// dockerd's merge of the request's healthcheck over the image's: a
/// missing one is the image's, else each zero field takes the image's
/// value. Zero fields are left out, as Docker's JSON omits them.
pub fn merge(
    user: Option<HealthConfig>,
    image: Option<&HealthConfig>,
) -> Result<Option<HealthConfig>, ContainerError> {
    if let Some(u) = &user {
        validate(u)?;
    }
    let merged = match (user, image) {
        (None, img) => img.cloned(),
        (Some(u), None) => Some(u),
        (Some(mut u), Some(img)) => {
            if u.test.as_ref().is_none_or(|t| t.is_empty()) {
                u.test = img.test.clone();
            }
            let pick = |mine: Option<i64>, theirs: Option<i64>| match mine {
                Some(v) if v != 0 => Some(v),
                _ => theirs,
            };
            u.interval = pick(u.interval, img.interval);
            u.timeout = pick(u.timeout, img.timeout);
            u.start_period = pick(u.start_period, img.start_period);
            u.start_interval = pick(u.start_interval, img.start_interval);
            u.retries = pick(u.retries, img.retries);
            Some(u)
        }
    };
    Ok(merged.map(|mut h| {
        let nonzero = |v: Option<i64>| v.filter(|n| *n != 0);
        h.interval = nonzero(h.interval);
        h.timeout = nonzero(h.timeout);
        h.start_period = nonzero(h.start_period);
        h.start_interval = nonzero(h.start_interval);
        h.retries = nonzero(h.retries);
        h.test = h.test.filter(|t| !t.is_empty());
        h
    }))
}

/// The value `ps --filter health=` compares: the status, or `none`.
pub fn filter_value(rec: &ContainerRecord) -> &'static str {
    rec.state
        .health
        .as_ref()
        .map(|h| h.status.as_str())
        .unwrap_or("none")
}

/// The health part of ps' `Up 3 seconds (healthy)`; a paused container
/// shows `(Paused)` instead.
pub fn status_label(rec: &ContainerRecord) -> Option<&'static str> {
    if rec.state.paused {
        return None;
    }
    rec.state.health.as_ref().map(|h| h.status.as_str())
}

/// Checks `ps --filter health=` values as dockerd does.
pub fn validate_filter(value: &str) -> Result<(), ContainerError> {
    match value {
        "none" | "starting" | "healthy" | "unhealthy" => Ok(()),
        _ => Err(ContainerError::InvalidParameter(format!(
            "invalid filter 'health={value}': invalid value for health ({value}): must be one of none, starting, healthy, unhealthy"
        ))),
    }
}

/// `State.Health` for inspect.
pub fn inspect_json(rec: &ContainerRecord) -> Option<serde_json::Value> {
    rec.state
        .health
        .as_ref()
        .and_then(|h| serde_json::to_value(h).ok())
}

#[cfg(test)]
mod tests;
