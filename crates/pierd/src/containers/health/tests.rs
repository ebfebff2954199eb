use std::time::Duration;

use chrono::{DateTime, Utc};
use pier_api::models::{ContainerConfig, HealthConfig};

use super::timefmt::go_duration;
use super::*;

fn probe(retries: i64, start_period: Duration) -> Probe {
    Probe {
        cmd: vec!["true".into()],
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        start_period,
        start_interval: DEFAULT_START_INTERVAL,
        retries,
    }
}

fn result(at: DateTime<Utc>, code: i64) -> ProbeResult {
    ProbeResult {
        start: at,
        end: at,
        exit_code: code,
        output: String::new(),
    }
}

#[test]
fn failures_reach_unhealthy_after_retries_and_success_resets() {
    let p = probe(2, Duration::ZERO);
    let t0 = Utc::now();
    let mut h = HealthState::starting();
    assert_eq!(h.record(result(t0, 1), &p, t0), None);
    assert_eq!(h.failing_streak, 1);
    assert_eq!(
        h.record(result(t0, 1), &p, t0),
        Some(HealthStatus::Unhealthy)
    );
    assert_eq!(h.record(result(t0, 0), &p, t0), Some(HealthStatus::Healthy));
    assert_eq!(h.failing_streak, 0);
}

#[test]
fn start_period_failures_do_not_count_until_a_success() {
    let p = probe(1, Duration::from_secs(10));
    let t0 = Utc::now();
    let mut h = HealthState::starting();
    let early = t0 + chrono::Duration::seconds(2);
    assert_eq!(h.record(result(early, 1), &p, t0), None);
    assert_eq!(h.failing_streak, 0);
    assert_eq!(h.status, HealthStatus::Starting);
    // After a success the start period no longer shields failures.
    h.record(result(early, 0), &p, t0);
    assert_eq!(
        h.record(result(early, 1), &p, t0),
        Some(HealthStatus::Unhealthy)
    );
    // Past the start period failures count while starting.
    let mut h = HealthState::starting();
    let late = t0 + chrono::Duration::seconds(11);
    assert_eq!(
        h.record(result(late, 1), &p, t0),
        Some(HealthStatus::Unhealthy)
    );
}

#[test]
fn log_keeps_the_last_five() {
    let p = probe(3, Duration::ZERO);
    let t0 = Utc::now();
    let mut h = HealthState::starting();
    for i in 0..7 {
        h.record(result(t0, i % 2), &p, t0);
    }
    assert_eq!(h.log.len(), MAX_LOG_ENTRIES);
    assert_eq!(h.log[4].exit_code, 0);
}

#[test]
fn next_wait_follows_dockerd() {
    let mut p = probe(3, Duration::from_secs(60));
    p.interval = Duration::from_secs(30);
    p.start_interval = Duration::from_secs(5);
    let s = Duration::from_secs;
    assert_eq!(p.next_wait(s(0), HealthStatus::Starting), s(5));
    assert_eq!(p.next_wait(s(0), HealthStatus::Healthy), s(30));
    assert_eq!(p.next_wait(s(50), HealthStatus::Starting), s(5));
    assert_eq!(p.next_wait(s(70), HealthStatus::Starting), s(30));
}

#[test]
fn probe_from_config_applies_defaults_and_shell() {
    let mut cfg = ContainerConfig {
        healthcheck: Some(HealthConfig {
            test: Some(vec!["CMD-SHELL".into(), "exit 0".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let p = Probe::of(&cfg).unwrap();
    assert_eq!(p.cmd, ["/bin/sh", "-c", "exit 0"]);
    assert_eq!(p.interval, DEFAULT_INTERVAL);
    assert_eq!(p.timeout, DEFAULT_TIMEOUT);
    assert_eq!(p.retries, DEFAULT_RETRIES);
    cfg.shell = Some(vec!["/bin/ash".into(), "-c".into()]);
    assert_eq!(Probe::of(&cfg).unwrap().cmd[0], "/bin/ash");
    cfg.healthcheck = Some(HealthConfig {
        test: Some(vec!["CMD".into(), "true".into()]),
        interval: Some(200_000_000),
        retries: Some(1),
        ..Default::default()
    });
    let p = Probe::of(&cfg).unwrap();
    assert_eq!(p.cmd, ["true"]);
    assert_eq!(p.interval, Duration::from_millis(200));
    assert_eq!(p.retries, 1);
    cfg.healthcheck = Some(HealthConfig {
        test: Some(vec!["NONE".into()]),
        ..Default::default()
    });
    assert!(Probe::of(&cfg).is_none());
    // `["CMD"]` alone still probes (and fails), as dockerd does.
    cfg.healthcheck = Some(HealthConfig {
        test: Some(vec!["CMD".into()]),
        ..Default::default()
    });
    assert!(Probe::of(&cfg).unwrap().cmd.is_empty());
}

#[test]
fn merge_is_field_by_field() {
    let image = HealthConfig {
        test: Some(vec!["CMD".into(), "img".into()]),
        interval: Some(5_000_000_000),
        timeout: Some(3_000_000_000),
        retries: Some(4),
        ..Default::default()
    };
    let user = HealthConfig {
        interval: Some(1_000_000_000),
        timeout: Some(0),
        ..Default::default()
    };
    let m = merge(Some(user), Some(&image)).unwrap().unwrap();
    assert_eq!(m.test.unwrap(), ["CMD", "img"]);
    assert_eq!(m.interval, Some(1_000_000_000));
    assert_eq!(m.timeout, Some(3_000_000_000));
    assert_eq!(m.retries, Some(4));
    assert_eq!(m.start_period, None);
    let none = HealthConfig {
        test: Some(vec!["NONE".into()]),
        ..Default::default()
    };
    let m = merge(Some(none), Some(&image)).unwrap().unwrap();
    assert_eq!(m.test.unwrap(), ["NONE"]);
    assert_eq!(merge(None, Some(&image)).unwrap(), Some(image));
}

#[test]
fn validation_messages_match_dockerd() {
    let bad = HealthConfig {
        interval: Some(10),
        ..Default::default()
    };
    assert_eq!(
        validate(&bad).unwrap_err().to_string(),
        "Interval in Healthcheck cannot be less than 1ms"
    );
    let bad = HealthConfig {
        retries: Some(-1),
        ..Default::default()
    };
    assert_eq!(
        validate(&bad).unwrap_err().to_string(),
        "Retries in Healthcheck cannot be negative"
    );
    assert!(validate_filter("healthy").is_ok());
    assert!(validate_filter("sick").is_err());
}

#[test]
fn state_round_trips_in_the_api_shape() {
    let t0 = Utc::now();
    let mut h = HealthState::starting();
    h.record(result(t0, 0), &probe(3, Duration::ZERO), t0);
    let v = serde_json::to_value(&h).unwrap();
    assert_eq!(v["Status"], "healthy");
    assert_eq!(v["FailingStreak"], 0);
    assert_eq!(v["Log"][0]["ExitCode"], 0);
    let back: HealthState = serde_json::from_value(v).unwrap();
    assert_eq!(back, h);
}

#[test]
fn go_durations() {
    assert_eq!(go_duration(Duration::from_secs(1)), "1s");
    assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
    assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
    assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
    assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
}
