//! `pier events`: the daemon's event stream, printed like docker's
//! `prettyPrintEvent` or through a `--format` template.

use chrono::{Local, TimeZone};

use crate::cli::EventsArgs;
use crate::client::{next_chunk, Query};
use crate::commands::container::logs::get_timestamp;
use crate::commands::{filters_json, CmdError, CmdResult, Ctx};
use crate::format::template::{ObjKind, Object, Template, Value};
use crate::output;

/// An event as docker's `events.Message` (Go field names, JSON tags).
fn message(v: &serde_json::Value) -> Value {
    let s = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let i = |k: &str| v.get(k).and_then(|x| x.as_i64()).unwrap_or_default();
    let mut attrs = Object::new(ObjKind::Map, "map[string]string");
    if let Some(a) = v.pointer("/Actor/Attributes").and_then(|a| a.as_object()) {
        for (k, x) in a {
            attrs
                .fields
                .push((k.clone(), Value::from(x.as_str().unwrap_or_default())));
        }
    }
    let actor = Object::new(ObjKind::Struct, "events.Actor")
        .with(
            "ID",
            v.pointer("/Actor/ID")
                .and_then(|x| x.as_str())
                .unwrap_or_default(),
        )
        .with("Attributes", Value::from(attrs));
    let mut o = Object::new(ObjKind::Struct, "*events.Message")
        .with("Status", s("status"))
        .with("ID", s("id"))
        .with("From", s("from"))
        .with("Type", s("Type"))
        .with("Action", s("Action"))
        .with("Actor", Value::from(actor))
        .with("Scope", s("scope"))
        .with("Time", i("time"))
        .with("TimeNano", i("timeNano"));
    o.omit_empty = &["Status", "ID", "From", "Scope", "Time", "TimeNano"];
    o.json_names = &[
        ("Status", "status"),
        ("ID", "id"),
        ("From", "from"),
        ("Scope", "scope"),
        ("Time", "time"),
        ("TimeNano", "timeNano"),
    ];
    Value::from(o)
}

/// docker's `prettyPrintEvent`.
pub fn pretty(v: &serde_json::Value) -> String {
    let mut out = String::new();
    let nanos = v.get("timeNano").and_then(|x| x.as_i64()).unwrap_or(0);
    let secs = v.get("time").and_then(|x| x.as_i64()).unwrap_or(0);
    let t = if nanos != 0 {
        Some(Local.timestamp_nanos(nanos))
    } else if secs != 0 {
        Local.timestamp_opt(secs, 0).single()
    } else {
        None
    };
    if let Some(t) = t {
        // jsonmessage.RFC3339NanoFixed
        out.push_str(
            &t.format("%Y-%m-%dT%H:%M:%S%.9f%:z ")
                .to_string()
                .replace("+00:00 ", "Z "),
        );
    }
    let s = |p: &str| {
        v.pointer(p)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string()
    };
    out.push_str(&format!(
        "{} {} {}",
        s("/Type"),
        s("/Action"),
        s("/Actor/ID")
    ));
    if let Some(a) = v
        .pointer("/Actor/Attributes")
        .and_then(|a| a.as_object())
        .filter(|a| !a.is_empty())
    {
        let mut kv: Vec<String> = a
            .iter()
            .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or_default()))
            .collect();
        kv.sort();
        out.push_str(&format!(" ({})", kv.join(", ")));
    }
    out.push('\n');
    out
}

pub async fn run(ctx: &Ctx, a: EventsArgs) -> CmdResult {
    ctx.no_args(&a.args)?;
    let format = match a.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some("{{json .}}".to_string()),
        Some(f) => Some(f.to_string()),
    };
    let tmpl = match &format {
        None => None,
        Some(f) => {
            let t = Template::parse(f)
                .map_err(|e| CmdError::new(64, format!("Error parsing format: {e}")))?;
            t.execute(&message(&serde_json::json!({})))
                .map_err(|e| CmdError::new(64, format!("Error parsing format: {e}")))?;
            Some(t)
        }
    };
    let now = chrono::Utc::now();
    let ts = |v: &Option<String>| -> Result<Option<String>, CmdError> {
        match v {
            Some(s) if !s.is_empty() => get_timestamp(s, now)
                .map(Some)
                .map_err(|e| CmdError::new(1, e)),
            _ => Ok(None),
        }
    };
    let (since, until) = (ts(&a.since)?, ts(&a.until)?);
    let filters = filters_json(ctx, &a.filter)?;
    let q = Query::new()
        .add_if(since.is_some(), "since", since.clone().unwrap_or_default())
        .add_if(until.is_some(), "until", until.clone().unwrap_or_default())
        .add_if(
            filters.is_some(),
            "filters",
            filters.clone().unwrap_or_default(),
        );
    let resp = ctx.client.get(&q.path("/events")).await?;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = next_chunk(&mut body).await? {
        buf.extend_from_slice(&chunk);
        let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<serde_json::Value>();
        let mut consumed = 0;
        while let Some(Ok(v)) = de.next() {
            consumed = de.byte_offset();
            match &tmpl {
                None => output::out(&pretty(&v)),
                Some(t) => {
                    let s = t
                        .execute(&message(&v))
                        .map_err(|e| CmdError::new(1, e.to_string()))?;
                    output::outln(&s);
                }
            }
        }
        buf.drain(..consumed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_line_like_docker() {
        std::env::set_var("TZ", "UTC");
        let v = serde_json::json!({"status":"start","id":"abc","from":"busybox","Type":"container","Action":"start",
            "Actor":{"ID":"abc","Attributes":{"name":"web","image":"busybox"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789_i64});
        assert_eq!(
            pretty(&v),
            "2023-11-14T22:13:20.123456789Z container start abc (image=busybox, name=web)\n"
        );
        let t = Template::parse("{{json .}}").unwrap();
        assert_eq!(
            t.execute(&message(&v)).unwrap(),
            r#"{"status":"start","id":"abc","from":"busybox","Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"image":"busybox","name":"web"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}"#
        );
    }
}
