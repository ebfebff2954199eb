//! Docker's event stream (`GET /events`): a bounded in-memory history (for
//! `since`) and a broadcast channel for live subscribers, with Docker's
//! JSON shape, types, actions, attributes and filters.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use pier_api::filters::Filters;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::containers::Container;
use crate::daemon::Daemon;

/// Events kept for `since` (Docker keeps 256 too).
const HISTORY: usize = 256;

#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One event as Docker serialises `events.Message`.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Legacy fields, set for container and image events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(rename = "Type")]
    pub typ: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    pub fn new(typ: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) -> Self {
        let now = Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or(0);
        let legacy = matches!(typ, "container" | "image");
        Event {
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| id.to_string()),
            from: (typ == "container")
                .then(|| attributes.get("image").cloned())
                .flatten(),
            typ: typ.into(),
            action: action.into(),
            actor: Actor {
                id: id.into(),
                attributes,
            },
            scope: "local".into(),
            time: now.timestamp(),
            time_nano: nanos,
        }
    }

    fn at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.time_nano)
    }

    /// Docker's event filters: type, event (action, without the
    /// `: detail` of exec actions), container, image, label, plus the
    /// names of other object types.
    pub fn matches(&self, f: &Filters) -> bool {
        let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
            let v = f.get(key);
            v.is_empty() || v.iter().any(|x| pred(x))
        };
        let attr = |k: &str| self.actor.attributes.get(k).map(String::as_str);
        let base_action = self.action.split(':').next().unwrap_or("");
        let is = |t: &str| self.typ == t;
        any("type", &|t| t == self.typ)
            && any("event", &|e| e == self.action || e == base_action)
            && any("container", &|c| {
                is("container") && (self.actor.id.starts_with(c) || attr("name") == Some(c))
            })
            && any("image", &|i| {
                let img = if is("image") {
                    attr("name").unwrap_or(&self.actor.id)
                } else {
                    attr("image").unwrap_or("")
                };
                img == i
                    || self.actor.id == i
                    || img.strip_suffix(":latest") == Some(i)
                    || i.strip_suffix(":latest") == Some(img)
            })
            && any("label", &|l| match l.split_once('=') {
                Some((k, v)) => attr(k) == Some(v),
                None => attr(l).is_some(),
            })
            && any("network", &|n| {
                is("network") && self.actor.id.starts_with(n)
            })
            && any("volume", &|v| is("volume") && self.actor.id == v)
    }
}

pub struct EventBus {
    tx: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            tx: broadcast::channel(1024).0,
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
        }
    }
}

impl EventBus {
    pub fn publish(&self, ev: Event) {
        tracing::debug!(typ = %ev.typ, action = %ev.action, id = %ev.actor.id, "event");
        {
            let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(ev.clone());
        }
        let _ = self.tx.send(ev);
    }

    /// Past events in `[since, until]` and a receiver for what comes next,
    /// taken together so nothing falls between them.
    pub fn subscribe(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        let past = match since {
            None => Vec::new(),
            Some(s) => h
                .iter()
                .filter(|e| e.at() >= s && until.is_none_or(|u| e.at() <= u))
                .cloned()
                .collect(),
        };
        (past, rx)
    }

    #[allow(dead_code)]
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// Attributes of a container event: image, name, and the labels.
fn container_attrs(c: &Container) -> BTreeMap<String, String> {
    let g = c.lock();
    let mut a: BTreeMap<String, String> = g
        .rec
        .config
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    a.insert("image".into(), g.rec.image.clone());
    a.insert(
        "name".into(),
        g.rec.name.trim_start_matches('/').to_string(),
    );
    a
}

/// A container event with extra attributes (exitCode, signal, ...).
pub fn container(d: &Daemon, c: &Container, action: &str, extra: &[(&str, String)]) {
    let mut a = container_attrs(c);
    for (k, v) in extra {
        a.insert((*k).to_string(), v.clone());
    }
    d.events.publish(Event::new("container", action, &c.id, a));
}

pub fn exec_create(d: &Daemon, c: &Container, exec_id: &str, cmd: &[String]) {
    let mut a = container_attrs(c);
    a.insert("execID".into(), exec_id.into());
    let action = format!("exec_create: {}", cmd.join(" "));
    d.events.publish(Event::new("container", &action, &c.id, a));
}

pub fn exec_start(d: &Daemon, c: &Container, e: &crate::exec::Exec) {
    let mut a = container_attrs(c);
    a.insert("execID".into(), e.id.clone());
    let action = format!("exec_start: {}", e.opts.cmd.join(" "));
    d.events.publish(Event::new("container", &action, &c.id, a));
}

pub fn exec_die(d: &Daemon, c: &Container, exec_id: &str, code: i64) {
    let mut a = container_attrs(c);
    a.insert("execID".into(), exec_id.into());
    a.insert("exitCode".into(), code.to_string());
    d.events
        .publish(Event::new("container", "exec_die", &c.id, a));
}

/// An image event (`tag`, `untag`, `delete`, `load`, `import`, `pull`).
pub fn image(d: &Daemon, action: &str, id: &str, name: Option<&str>) {
    let mut a = BTreeMap::new();
    if let Some(n) = name {
        a.insert("name".into(), n.to_string());
    }
    d.events.publish(Event::new("image", action, id, a));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str, name: &str) -> Event {
        let mut a = BTreeMap::new();
        a.insert("name".into(), name.into());
        a.insert("image".into(), "busybox".into());
        a.insert("com.x".into(), "1".into());
        Event::new("container", action, &"ab".repeat(32), a)
    }

    #[test]
    fn json_shape_and_filters() {
        let e = ev("exec_start: sh -c true", "web");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["Type"], "container");
        assert_eq!(v["status"], "exec_start: sh -c true");
        assert_eq!(v["from"], "busybox");
        assert_eq!(v["Actor"]["Attributes"]["name"], "web");
        assert!(v["timeNano"].as_i64().unwrap() > 0);
        let f = |s: &str| Filters::from_pairs(s.split(' ')).unwrap();
        assert!(e.matches(&f("event=exec_start")));
        assert!(!e.matches(&f("event=start")));
        assert!(e.matches(&f("container=web type=container")));
        assert!(e.matches(&f("container=abab")));
        assert!(!e.matches(&f("container=other")));
        assert!(e.matches(&f("image=busybox:latest")));
        assert!(e.matches(&f("label=com.x=1")));
        assert!(!e.matches(&f("label=com.x=2")));
        assert!(!e.matches(&f("type=image")));
    }

    #[test]
    fn history_respects_since_until() {
        let bus = EventBus::default();
        bus.publish(ev("create", "a"));
        let mid = Utc::now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        bus.publish(ev("start", "a"));
        let (past, _rx) = bus.subscribe(Some(mid), None);
        assert_eq!(past.len(), 1);
        assert_eq!(past[0].action, "start");
        let (past, _rx) = bus.subscribe(None, None);
        assert!(past.is_empty());
    }
}
