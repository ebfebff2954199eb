//! Go's `time.Time.String()` and RFC 3339 output in the local zone, with the
//! zone abbreviation Go would print (from the TZif database).

use chrono::{DateTime, FixedOffset, Local, Offset, TimeZone, Utc};

/// `time.Unix(secs, 0).String()`: `2006-01-02 15:04:05 -0700 MST`.
pub fn unix_string(secs: i64) -> String {
    let Some(utc) = Utc.timestamp_opt(secs, 0).single() else {
        return String::new();
    };
    let (local, abbr) = localize(utc);
    format!("{} {}", local.format("%Y-%m-%d %H:%M:%S %z"), abbr)
}

/// `time.Unix(secs, 0).Format(time.RFC3339)` in the local zone.
pub fn unix_rfc3339(secs: i64) -> String {
    let Some(utc) = Utc.timestamp_opt(secs, 0).single() else {
        return String::new();
    };
    let (local, _) = localize(utc);
    if local.offset().local_minus_utc() == 0 {
        local.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        local.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// A JSON-decoded Go `time.Time` printed with `String()`: the offset it
/// was written with, nanoseconds without trailing zeros.
pub fn rfc3339_to_go(s: &str) -> String {
    let Ok(t) = DateTime::parse_from_rfc3339(s) else {
        return s.to_string();
    };
    let nanos = t.timestamp_subsec_nanos();
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{:09}", nanos).trim_end_matches('0').to_string()
    };
    let off = t.offset().local_minus_utc();
    let zone = if off == 0 {
        "UTC".to_string()
    } else {
        String::new()
    };
    let base = format!("{}{frac} {}", t.format("%Y-%m-%d %H:%M:%S"), t.format("%z"));
    if zone.is_empty() {
        base
    } else {
        format!("{base} {zone}")
    }
}

/// The zone file, read once per process: `ps -a` formats a time per row,
/// and re-reading the file for each of 1000 rows cost more than the rest of
/// the row.
fn zone_file(path: String) -> Option<std::borrow::Cow<'static, [u8]>> {
    static ZONE: std::sync::OnceLock<(String, Option<Vec<u8>>)> = std::sync::OnceLock::new();
    let (cached_path, data) = ZONE.get_or_init(|| {
        let data = std::fs::read(&path).ok();
        (path.clone(), data)
    });
    if *cached_path == path {
        data.as_deref().map(std::borrow::Cow::Borrowed)
    } else {
        std::fs::read(&path).ok().map(std::borrow::Cow::Owned)
    }
}

fn localize(utc: DateTime<Utc>) -> (DateTime<FixedOffset>, String) {
    let tz = std::env::var("TZ").ok();
    // Go: TZ="" or TZ="UTC" means UTC.
    if matches!(tz.as_deref(), Some("") | Some("UTC")) {
        return (utc.fixed_offset(), "UTC".into());
    }
    let offset = Local.offset_from_utc_datetime(&utc.naive_utc()).fix();
    let local = utc.with_timezone(&offset);
    let path = match tz.as_deref() {
        Some(name) => {
            let name = name.strip_prefix(':').unwrap_or(name);
            if name.starts_with('/') {
                name.to_string()
            } else {
                format!("/usr/share/zoneinfo/{name}")
            }
        }
        None => "/etc/localtime".to_string(),
    };
    let abbr = zone_file(path)
        .and_then(|data| abbreviation(&data, utc.timestamp(), offset.local_minus_utc()))
        .unwrap_or_else(|| {
            if offset.local_minus_utc() == 0 {
                "UTC".to_string()
            } else {
                // Go names an unknown zone by its offset, e.g. "+0530".
                offset_name(offset.local_minus_utc())
            }
        });
    (local, abbr)
}

fn offset_name(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let s = secs.abs();
    let (h, m) = (s / 3600, (s % 3600) / 60);
    if m == 0 {
        format!("{sign}{h:02}")
    } else {
        format!("{sign}{h:02}{m:02}")
    }
}

fn be32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Finds the abbreviation in effect at `t` (or the one matching `utoff`) in
/// TZif data.
fn abbreviation(data: &[u8], t: i64, utoff: i32) -> Option<String> {
    if data.get(..4)? != b"TZif" {
        return None;
    }
    let version = *data.get(4)?;
    let counts = |base: usize| -> Option<[usize; 6]> {
        let mut c = [0usize; 6];
        for (i, slot) in c.iter_mut().enumerate() {
            *slot = be32(data, base + 20 + i * 4)? as usize;
        }
        Some(c)
    };
    // [isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt]
    let c1 = counts(0)?;
    let v1_len = c1[3] * 5 + c1[4] * 6 + c1[5] + c1[2] * 8 + c1[1] + c1[0];
    let (base, c, tsize) = if version >= b'2' {
        let b2 = 44 + v1_len;
        (b2, counts(b2)?, 8)
    } else {
        (0, c1, 4)
    };
    let (timecnt, typecnt, charcnt, leapcnt) = (c[3], c[4], c[5], c[2]);
    let trans_at = base + 44;
    let idx_at = trans_at + timecnt * tsize;
    let types_at = idx_at + timecnt;
    let chars_at = types_at + typecnt * 6;
    let chars = data.get(chars_at..chars_at + charcnt)?;
    let ttinfo = |i: usize| -> Option<(i32, String)> {
        let at = types_at + i * 6;
        let off = be32(data, at)?;
        let ai = *data.get(at + 5)? as usize;
        let end = chars.get(ai..)?.iter().position(|&b| b == 0)? + ai;
        Some((off, String::from_utf8_lossy(&chars[ai..end]).into_owned()))
    };
    let trans = |i: usize| -> Option<i64> {
        let at = trans_at + i * tsize;
        if tsize == 8 {
            Some(i64::from_be_bytes(data.get(at..at + 8)?.try_into().ok()?))
        } else {
            be32(data, at).map(i64::from)
        }
    };
    // The transition in effect at t, if t is inside the table.
    if timecnt > 0 && trans(timecnt - 1)? >= t {
        let mut found = None;
        for i in 0..timecnt {
            if trans(i)? <= t {
                found = Some(i);
            } else {
                break;
            }
        }
        let ty = match found {
            Some(i) => *data.get(idx_at + i)? as usize,
            None => 0,
        };
        let (off, name) = ttinfo(ty)?;
        if off == utoff {
            return Some(name);
        }
    }
    // After the table: the POSIX TZ footer ("CET-1CEST,M3.5.0,M10.5.0/3").
    if version >= b'2' {
        let footer_at = chars_at + charcnt + leapcnt * 12 + c[1] + c[0];
        if let Some(footer) = data.get(footer_at..) {
            let s = String::from_utf8_lossy(footer);
            let line = s
                .trim_start_matches('\n')
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            if let Some(name) = footer_name(&line, utoff) {
                return Some(name);
            }
        }
    }
    (0..typecnt)
        .filter_map(ttinfo)
        .find(|(off, _)| *off == utoff)
        .map(|(_, n)| n)
}

/// Picks the std or dst name of a POSIX TZ string by offset.
fn footer_name(tz: &str, utoff: i32) -> Option<String> {
    let mut rest = tz;
    let take_name = |r: &mut &str| -> Option<String> {
        if let Some(q) = r.strip_prefix('<') {
            let end = q.find('>')?;
            let n = q[..end].to_string();
            *r = &q[end + 1..];
            Some(n)
        } else {
            let end = r
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            let n = r[..end].to_string();
            *r = &r[end..];
            Some(n)
        }
    };
    let take_off = |r: &mut &str| -> Option<i32> {
        let end = r
            .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '+' || c == '-'))
            .unwrap_or(r.len());
        let s = &r[..end];
        *r = &r[end..];
        if s.is_empty() {
            return None;
        }
        let (neg, s) = match s.strip_prefix('-') {
            Some(x) => (true, x),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let mut parts = s.split(':').map(|p| p.parse::<i32>().unwrap_or(0));
        let secs = parts.next().unwrap_or(0) * 3600
            + parts.next().unwrap_or(0) * 60
            + parts.next().unwrap_or(0);
        // POSIX offsets are west-positive.
        Some(if neg { secs } else { -secs })
    };
    let std = take_name(&mut rest)?;
    let std_off = take_off(&mut rest)?;
    if std_off == utoff {
        return Some(std);
    }
    let dst = take_name(&mut rest)?;
    let dst_off = take_off(&mut rest).unwrap_or(std_off + 3600);
    (dst_off == utoff).then_some(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_names() {
        assert_eq!(
            footer_name("CET-1CEST,M3.5.0,M10.5.0/3", 3600).as_deref(),
            Some("CET")
        );
        assert_eq!(
            footer_name("CET-1CEST,M3.5.0,M10.5.0/3", 7200).as_deref(),
            Some("CEST")
        );
        assert_eq!(footer_name("<+0530>-5:30", 19800).as_deref(), Some("+0530"));
        assert_eq!(footer_name("UTC0", 0).as_deref(), Some("UTC"));
    }

    #[test]
    fn go_time_strings() {
        assert_eq!(
            rfc3339_to_go("2026-11-23T09:45:42.637885201Z"),
            "2026-11-23 09:45:42.637885201 +0000 UTC"
        );
        assert_eq!(
            rfc3339_to_go("0001-01-01T00:00:00Z"),
            "0001-01-01 00:00:00 +0000 UTC"
        );
        assert_eq!(
            rfc3339_to_go("2026-11-23T09:45:42.5+01:00"),
            "2026-11-23 09:45:42.5 +0100"
        );
    }

    #[test]
    fn utc_strings() {
        std::env::set_var("TZ", "UTC");
        assert_eq!(unix_string(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(unix_rfc3339(86400), "1970-01-02T00:00:00Z");
    }

    #[test]
    fn real_zone_file_if_present() {
        if let Ok(data) = std::fs::read("/usr/share/zoneinfo/Europe/Berlin") {
            assert_eq!(
                abbreviation(&data, 1_700_000_000, 3600).as_deref(),
                Some("CET")
            );
            assert_eq!(
                abbreviation(&data, 1_690_000_000, 7200).as_deref(),
                Some("CEST")
            );
        }
    }
}
