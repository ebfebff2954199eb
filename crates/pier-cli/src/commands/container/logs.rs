//! `pier logs [-f] [--tail N] [-t] [--since] [--until] [--details]`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use pier_api::stream::{FrameDecoder, StreamKind};

use crate::cli::LogsArgs;
use crate::client::{encode, next_chunk, Query};
use crate::commands::container::units::go_duration;
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::output;

/// docker's `timetypes.GetTimestamp`: durations count back from now,
/// RFC 3339 dates (with or without zone) become Unix seconds.nanos, Unix
/// timestamps pass through.
pub fn get_timestamp(value: &str, now: DateTime<Utc>) -> Result<String, String> {
    if value != "0" {
        if let Ok(d) = go_duration(value) {
            let t = now - chrono::Duration::nanoseconds(d);
            return Ok(t.timestamp().to_string());
        }
    }
    let has_zone = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    let parsed: Option<DateTime<Utc>> = if has_zone {
        DateTime::parse_from_rfc3339(value)
            .ok()
            .or_else(|| DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M%:z").ok())
            .or_else(|| DateTime::parse_from_str(value, "%Y-%m-%dT%H%:z").ok())
            .map(|t| t.with_timezone(&Utc))
            .or_else(|| {
                let v = value.trim_end_matches(['Z', 'z']);
                NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
                    .ok()
                    .or_else(|| {
                        NaiveDate::parse_from_str(v, "%Y-%m-%d")
                            .ok()
                            .and_then(|d| d.and_hms_opt(0, 0, 0))
                    })
                    .map(|n| Utc.from_utc_datetime(&n))
            })
    } else {
        let local = |n: NaiveDateTime| {
            chrono::Local
                .from_local_datetime(&n)
                .single()
                .map(|t| t.with_timezone(&Utc))
        };
        NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .or_else(|| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M").ok())
            .or_else(|| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H").ok())
            .or_else(|| {
                NaiveDate::parse_from_str(value, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })
            .and_then(local)
    };
    if let Some(t) = parsed {
        return Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    if value.contains('-') {
        return Err(format!("parsing time {value:?}: {}", date_error(value)));
    }
    let (secs, nanos) = value.split_once('.').unwrap_or((value, ""));
    if !secs.is_empty()
        && secs.bytes().all(|c| c.is_ascii_digit())
        && nanos.bytes().all(|c| c.is_ascii_digit())
    {
        return Ok(value.to_string());
    }
    Err(format!(
        "failed to parse value as time or duration: {value:?}"
    ))
}

/// Go's reason for a date that looks like a timestamp but does not parse.
fn date_error(value: &str) -> String {
    let mut parts = value.split(['-', 'T', ':', 'Z', 'z', '+', '.']);
    let _year = parts.next();
    let month: Option<u32> = parts.next().and_then(|m| m.parse().ok());
    let day: Option<u32> = parts.next().and_then(|d| d.parse().ok());
    match (month, day) {
        (Some(m), _) if !(1..=12).contains(&m) => "month out of range".into(),
        (_, Some(d)) if !(1..=31).contains(&d) => "day out of range".into(),
        _ => format!("cannot parse {value:?} as \"2006-01-02\""),
    }
}

pub async fn run(ctx: &Ctx, a: LogsArgs) -> CmdResult {
    ctx.require_exact(&a.args, 1)?;
    let c = ctx
        .client
        .get_json(&format!("/containers/{}/json", encode(&a.args[0])))
        .await?;
    let id = c["Id"].as_str().unwrap_or_default().to_string();
    let is_tty = c
        .pointer("/Config/Tty")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let now = Utc::now();
    let ts = |name: &str, v: &Option<String>| -> Result<Option<String>, CmdError> {
        match v {
            Some(s) if !s.is_empty() => get_timestamp(s, now)
                .map(Some)
                .map_err(|e| CmdError::new(1, format!("invalid value for {name:?}: {e}"))),
            _ => Ok(None),
        }
    };
    let since = ts("since", &a.since)?;
    let until = ts("until", &a.until)?;
    let q = Query::new()
        .add("stdout", "1")
        .add("stderr", "1")
        .add_if(since.is_some(), "since", since.clone().unwrap_or_default())
        .add_if(until.is_some(), "until", until.clone().unwrap_or_default())
        .add_if(a.timestamps, "timestamps", "1")
        .add_if(a.details, "details", "1")
        .add_if(a.follow, "follow", "1")
        .add("tail", &a.tail);
    let resp = ctx
        .client
        .get(&q.path(&format!("/containers/{}/logs", encode(&id))))
        .await?;
    let mut body = resp.into_body();
    let mut dec = FrameDecoder::new();
    while let Some(chunk) = next_chunk(&mut body).await? {
        if is_tty {
            output::out_bytes(&chunk);
            continue;
        }
        dec.push(&chunk);
        while let Some((kind, payload)) = dec
            .next_frame()
            .map_err(|b| CmdError::new(1, format!("Unrecognized input header: {b}")))?
        {
            match kind {
                StreamKind::Stdout | StreamKind::Stdin => output::out_bytes(&payload),
                StreamKind::Stderr => output::err_bytes(&payload),
                StreamKind::System => {
                    return Err(CmdError::new(
                        1,
                        format!(
                            "error from daemon in stream: {}",
                            String::from_utf8_lossy(&payload)
                        ),
                    ))
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_like_docker() {
        let now = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(
            get_timestamp("10m", now).unwrap(),
            (now.timestamp() - 600).to_string()
        );
        assert_eq!(
            get_timestamp("2013-01-02T13:23:37Z", now).unwrap(),
            "1357133017.000000000"
        );
        assert_eq!(get_timestamp("1357133017", now).unwrap(), "1357133017");
        assert_eq!(get_timestamp("1357133017.5", now).unwrap(), "1357133017.5");
        assert!(get_timestamp("yesterday", now).is_err());
    }
}
