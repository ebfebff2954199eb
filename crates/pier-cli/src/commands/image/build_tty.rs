//! BuildKit's TTY progress for `pier build` on a terminal: a block redrawn
//! in place – `[+] Building 1.2s (5/9)`, one line per step with its time,
//! `CACHED` steps, and the last lines of output of running steps.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::build_progress::buildkit_error;
use crate::output;

/// Output lines shown under a running step.
const TAIL: usize = 6;

struct Vertex {
    label: String,
    start: Instant,
    end: Option<Duration>,
    cached: bool,
    failed: bool,
    line: usize,
    tail: Vec<String>,
    partial: String,
}

pub struct TtyProgress {
    started: Instant,
    total: usize,
    vertices: Vec<Vertex>,
    /// Step number → index in `vertices`.
    by_step: BTreeMap<u64, usize>,
    drawn: usize,
    finished: bool,
    pub image_id: Option<String>,
    dockerfile: String,
    dockerfile_text: Option<String>,
}

fn fmt_secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl TtyProgress {
    pub fn new(dockerfile: &str, dockerfile_text: Option<String>) -> Self {
        let now = Instant::now();
        let internal = |label: String| Vertex {
            label,
            start: now,
            end: Some(Duration::ZERO),
            cached: false,
            failed: false,
            line: 0,
            tail: Vec::new(),
            partial: String::new(),
        };
        TtyProgress {
            started: now,
            total: 2,
            vertices: vec![
                internal(format!(
                    "[internal] load build definition from {dockerfile}"
                )),
                internal("[internal] load build context".into()),
            ],
            by_step: BTreeMap::new(),
            drawn: 0,
            finished: false,
            image_id: None,
            dockerfile: dockerfile.to_string(),
            dockerfile_text,
        }
    }

    fn width() -> usize {
        crate::tty::size(2)
            .filter(|(_, cols)| *cols > 0)
            .map_or(80, |(_, cols)| cols.max(20) as usize)
    }

    /// Redraws the block in place.
    pub fn draw(&mut self) {
        let width = Self::width();
        let done = self.vertices.iter().filter(|v| v.end.is_some()).count();
        let mut lines = vec![format!(
            "[+] Building {} ({done}/{}){}",
            fmt_secs(self.started.elapsed()),
            self.total.max(self.vertices.len()),
            if self.finished { " FINISHED" } else { "" }
        )];
        for v in &self.vertices {
            let time = fmt_secs(v.end.unwrap_or_else(|| v.start.elapsed()));
            let name = match (v.cached, v.failed) {
                (true, _) => format!(" => CACHED {}", v.label),
                (_, true) => format!(" => ERROR {}", v.label),
                _ => format!(" => {}", v.label),
            };
            let room = width.saturating_sub(time.len() + 2);
            let name: String = name.chars().take(room).collect();
            let pad = width.saturating_sub(name.chars().count() + time.len() + 1);
            lines.push(format!("{name}{}{time}", " ".repeat(pad)));
            if v.end.is_none() {
                for l in &v.tail {
                    let l = format!(" => => # {l}");
                    lines.push(l.chars().take(width.saturating_sub(1)).collect());
                }
            }
        }
        let mut out = String::new();
        if self.drawn > 0 {
            let _ = write!(out, "\x1b[{}A", self.drawn);
        }
        for l in &lines {
            let _ = writeln!(out, "\r\x1b[2K{l}");
        }
        // Lines left over from a taller previous frame.
        for _ in lines.len()..self.drawn {
            out.push_str("\r\x1b[2K\n");
        }
        let extra = self.drawn.saturating_sub(lines.len());
        if extra > 0 {
            let _ = write!(out, "\x1b[{extra}A");
        }
        self.drawn = lines.len();
        output::err_bytes(out.as_bytes());
    }

    fn end(&mut self, at: u64) {
        if let Some(&i) = self.by_step.get(&at) {
            let v = &mut self.vertices[i];
            if v.end.is_none() {
                v.end = Some(v.start.elapsed());
            }
        }
    }

    pub fn handle(&mut self, msg: &Value) -> Result<(), String> {
        if let Some(detail) = msg.get("errorDetail") {
            let text = detail
                .get("message")
                .and_then(Value::as_str)
                .or_else(|| msg.get("error").and_then(Value::as_str))
                .unwrap_or("unknown error");
            let text = buildkit_error(text, detail.get("code").and_then(Value::as_i64));
            return Err(self.fail(&text));
        }
        if let Some(id) = msg.pointer("/aux/ID").and_then(Value::as_str) {
            self.image_id = Some(id.to_string());
            return Ok(());
        }
        let Some(ev) = msg.get("pier") else {
            return Ok(());
        };
        let at = ev.get("at").and_then(Value::as_u64).unwrap_or(0);
        if let Some(step) = ev.get("step") {
            let num = |k: &str| step.get(k).and_then(Value::as_u64).unwrap_or(0);
            let text = step.get("text").and_then(Value::as_str).unwrap_or("");
            let stage = step.get("stage").and_then(Value::as_str).unwrap_or("");
            let label = if step.get("multi").and_then(Value::as_bool).unwrap_or(false) {
                format!("[{stage} {}/{}] {text}", num("k"), num("n"))
            } else {
                format!("[{}/{}] {text}", num("k"), num("n"))
            };
            self.total = 2 + num("total") as usize + 1;
            self.by_step.insert(at, self.vertices.len());
            self.vertices.push(Vertex {
                label,
                start: Instant::now(),
                end: None,
                cached: false,
                failed: false,
                line: num("line") as usize,
                tail: Vec::new(),
                partial: String::new(),
            });
        } else if ev.get("cached").is_some() {
            if let Some(&i) = self.by_step.get(&at) {
                self.vertices[i].cached = true;
            }
        } else if let Some(out) = ev.get("output").and_then(Value::as_str) {
            if let Some(&i) = self.by_step.get(&at) {
                let v = &mut self.vertices[i];
                v.partial.push_str(out);
                while let Some(p) = v.partial.find('\n') {
                    let line: String = v.partial[..p].to_string();
                    v.partial.drain(..=p);
                    v.tail.push(line);
                    if v.tail.len() > TAIL {
                        v.tail.remove(0);
                    }
                }
            }
        } else if ev.get("done").is_some() {
            self.end(at);
        } else if ev.get("failed").is_some() {
            if let Some(&i) = self.by_step.get(&at) {
                self.vertices[i].failed = true;
            }
            self.end(at);
        } else if let Some(w) = ev.get("warning").and_then(Value::as_str) {
            self.draw();
            output::err_bytes(w.as_bytes());
            self.drawn = 0;
        }
        self.draw();
        Ok(())
    }

    fn fail(&mut self, text: &str) -> String {
        self.finished = true;
        self.draw();
        if let Some(v) = self.vertices.iter().find(|v| v.failed) {
            let mut s = format!("------\n > {}:\n", v.label);
            for l in &v.tail {
                let _ = writeln!(s, "{l}");
            }
            s.push_str("------\n");
            if v.line > 0 {
                let _ = writeln!(s, "{}:{}", self.dockerfile, v.line);
                if let Some(line) = self
                    .dockerfile_text
                    .as_deref()
                    .and_then(|t| t.lines().nth(v.line - 1))
                {
                    let _ = writeln!(s, " {:>3} | >>> {line}", v.line);
                }
                s.push_str("--------------------\n");
            }
            output::err_bytes(s.as_bytes());
        }
        format!("ERROR: failed to build: failed to solve: {text}")
    }

    pub fn finish(&mut self, tags: &[String]) {
        let now = Instant::now();
        for v in &mut self.vertices {
            if v.end.is_none() {
                v.end = Some(v.start.elapsed());
            }
        }
        let mut label = "exporting to image".to_string();
        if let Some(t) = tags.first() {
            label = format!("exporting to image ({t})");
        }
        self.vertices.push(Vertex {
            label,
            start: now,
            end: Some(Duration::ZERO),
            cached: false,
            failed: false,
            line: 0,
            tail: Vec::new(),
            partial: String::new(),
        });
        self.finished = true;
        self.draw();
    }
}
