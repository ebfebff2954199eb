//! Docker's human-readable texts (go-units): sizes like `4.26MB` and
//! durations like `About a minute`, plus the container `Status` column.

use chrono::{DateTime, Utc};

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// go-units `HumanSizeWithPrecision`: decimal (1000-based) units, `%.Ng`.
pub fn human_size_precision(size: f64, precision: usize) -> String {
    let mut size = size;
    let mut i = 0;
    while size >= 1000.0 && i < DECIMAL_UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(size, precision), DECIMAL_UNITS[i])
}

/// go-units `HumanSize` (precision 4).
pub fn human_size(size: u64) -> String {
    human_size_precision(size as f64, 4)
}

/// Go's `%.{p}g`: shortest of fixed/exponent with `p` significant digits
/// and trailing zeros removed.
pub fn go_g(v: f64, p: usize) -> String {
    let p = p.max(1);
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    // Round to p significant digits first; rounding may bump the exponent.
    let sci = format!("{:.*e}", p - 1, v);
    let (mantissa, e) = sci.split_once('e').unwrap_or((&sci, "0"));
    let e: i32 = e.parse().unwrap_or(exp);
    if e < -4 || e >= p as i32 {
        let m = trim_zeros(mantissa);
        let sign = if e < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", e.abs());
    }
    let decimals = (p as i32 - 1 - e).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// go-units `HumanDuration`.
pub fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = d.num_minutes();
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (d.num_milliseconds() as f64 / 3_600_000.0).round() as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", d.num_hours() / 24 / 365)
}

/// "3 minutes ago" style text for a past instant.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ago", human_duration(now - t))
}

/// The `Status` text of `GET /containers/json` and `docker ps`.
#[derive(Debug, Clone)]
pub enum StatusInput<'a> {
    Created,
    Running {
        started: DateTime<Utc>,
        paused: bool,
        health: Option<&'a str>,
    },
    Restarting {
        exit_code: i64,
        finished: DateTime<Utc>,
    },
    Exited {
        exit_code: i64,
        finished: DateTime<Utc>,
    },
    Removing,
    Dead,
}

pub fn container_status(s: &StatusInput<'_>, now: DateTime<Utc>) -> String {
    match s {
        StatusInput::Created => "Created".into(),
        StatusInput::Running {
            started,
            paused,
            health,
        } => {
            let mut out = format!("Up {}", human_duration(now - *started));
            if *paused {
                out.push_str(" (Paused)");
            }
            if let Some(h) = health {
                if *h == "starting" {
                    out.push_str(" (health: starting)");
                } else if !h.is_empty() && *h != "none" {
                    out.push_str(&format!(" ({h})"));
                }
            }
            out
        }
        StatusInput::Restarting {
            exit_code,
            finished,
        } => {
            format!("Restarting ({exit_code}) {}", ago(*finished, now))
        }
        StatusInput::Exited {
            exit_code,
            finished,
        } => {
            format!("Exited ({exit_code}) {}", ago(*finished, now))
        }
        StatusInput::Removing => "Removal In Progress".into(),
        StatusInput::Dead => "Dead".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(human_size_precision(4_261_234.0, 3), "4.26MB");
        assert_eq!(human_size_precision(1000.0, 3), "1kB");
        assert_eq!(human_size_precision(0.0, 3), "0B");
        assert_eq!(human_size_precision(512.0, 3), "512B");
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size_precision(999.9, 3), "1e+03B");
    }

    #[test]
    fn durations_match_go_units() {
        let d = chrono::Duration::seconds;
        assert_eq!(human_duration(d(0)), "Less than a second");
        assert_eq!(human_duration(d(1)), "1 second");
        assert_eq!(human_duration(d(59)), "59 seconds");
        assert_eq!(human_duration(d(60)), "About a minute");
        assert_eq!(human_duration(d(3 * 60)), "3 minutes");
        assert_eq!(human_duration(d(3600)), "About an hour");
        assert_eq!(human_duration(d(5 * 3600)), "5 hours");
        assert_eq!(human_duration(d(3 * 86400)), "3 days");
    }

    #[test]
    fn status_texts() {
        let now = Utc::now();
        let s = container_status(
            &StatusInput::Exited {
                exit_code: 3,
                finished: now - chrono::Duration::seconds(5),
            },
            now,
        );
        assert_eq!(s, "Exited (3) 5 seconds ago");
        let s = container_status(
            &StatusInput::Running {
                started: now,
                paused: false,
                health: None,
            },
            now,
        );
        assert_eq!(s, "Up Less than a second");
    }
}
