use std::time::{SystemTime, UNIX_EPOCH};

/// `now` as RFC 3339 UTC with nanoseconds: `2026-11-23T08:00:00.123456789Z`.
pub fn now_rfc3339_nanos() -> String {
    rfc3339_nanos(SystemTime::now())
}

/// Formats a time as RFC 3339 UTC with 9 fractional digits (times before
/// 1970 are clamped to the epoch). Allocation-light: used per log line by
/// the shim.
pub fn rfc3339_nanos(t: SystemTime) -> String {
    let mut s = String::with_capacity(30);
    push_rfc3339_nanos(t, &mut s);
    s
}

/// Appends the RFC 3339 form of `t` to `out`.
pub fn push_rfc3339_nanos(t: SystemTime, out: &mut String) {
    use std::fmt::Write;
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        y,
        m,
        day,
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_nanos()
    );
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn matches_chrono() {
        for secs in [
            0u64,
            951_782_400,
            1_709_164_799,
            1_800_000_000,
            4_102_444_800,
            86_399,
        ] {
            for nanos in [0u32, 1, 123_456_789, 999_999_999] {
                let t = UNIX_EPOCH + Duration::new(secs, nanos);
                let c: chrono::DateTime<chrono::Utc> = t.into();
                assert_eq!(
                    rfc3339_nanos(t),
                    c.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                );
            }
        }
    }
}
