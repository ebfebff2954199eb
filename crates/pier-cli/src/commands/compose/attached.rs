//! Container output with docker compose's coloured `service-N  | `
//! prefixes: `logs`, and the attached mode of `up` (which also reports
//! exits, aborts on the first with `--abort-on-container-exit`, and stops
//! the project on Ctrl-C).

use bytes::Bytes;
use pier_api::stream::{FrameDecoder, StreamKind};
use serde_json::Value;
use tokio::sync::mpsc;

use super::state::Container;
use super::Compose;
use crate::cli::ComposeLogsArgs;
use crate::client::{encode, next_chunk, Client, Query};
use crate::commands::{CmdError, CmdResult};
use crate::output;

/// docker compose's rainbow: the normal colours, then their bright forms.
const COLORS: &[&str] = &[
    "36", "33", "32", "35", "34", "1;36", "1;33", "1;32", "1;35", "1;34",
];

/// The name shown in prefixes: the container name without the project.
pub fn display_name(project: &str, c: &Container) -> String {
    c.name
        .strip_prefix(&format!("{project}-"))
        .unwrap_or(&c.name)
        .to_string()
}

pub struct Prefixer {
    width: usize,
    color: bool,
    prefix: bool,
}

impl Prefixer {
    pub fn new(names: &[String], color: bool, prefix: bool) -> Self {
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        Self {
            width,
            color,
            prefix,
        }
    }

    pub fn line(&self, name: &str, index: usize, line: &str) -> String {
        if !self.prefix {
            return format!("{line}\n");
        }
        let p = format!("{name:<w$}  | ", w = self.width);
        if self.color {
            let c = COLORS[index % COLORS.len()];
            format!("\x1b[{c}m{p}\x1b[0m{line}\n")
        } else {
            format!("{p}{line}\n")
        }
    }

    pub fn event(&self, name: &str, index: usize, text: &str) -> String {
        if self.color {
            let c = COLORS[index % COLORS.len()];
            format!("\x1b[{c}m{name} {text}\x1b[0m\n")
        } else {
            format!("{name} {text}\n")
        }
    }
}

enum Event {
    Line {
        index: usize,
        stderr: bool,
        text: String,
    },
    Ended {
        index: usize,
    },
    Failed {
        message: String,
    },
}

/// Splits a stream into lines per source (stdout/stderr), keeping partial
/// lines until their newline arrives.
struct Lines {
    out: Vec<u8>,
    err: Vec<u8>,
}

impl Lines {
    fn push(&mut self, stderr: bool, data: &[u8], mut emit: impl FnMut(bool, String)) {
        let buf = if stderr { &mut self.err } else { &mut self.out };
        buf.extend_from_slice(data);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1])
                .trim_end_matches('\r')
                .to_string();
            emit(stderr, text);
        }
    }

    fn flush(&mut self, mut emit: impl FnMut(bool, String)) {
        for (stderr, buf) in [(false, &mut self.out), (true, &mut self.err)] {
            if !buf.is_empty() {
                emit(stderr, String::from_utf8_lossy(buf).to_string());
                buf.clear();
            }
        }
    }
}

async fn stream_logs(
    client: Client,
    id: String,
    index: usize,
    path: String,
    tx: mpsc::UnboundedSender<Event>,
) {
    let tty = client
        .get_json(&format!("/containers/{}/json", encode(&id)))
        .await
        .ok()
        .and_then(|v| v.pointer("/Config/Tty").and_then(Value::as_bool))
        .unwrap_or(false);
    let resp = match client.get(&path).await {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Event::Failed {
                message: e.to_string(),
            });
            return;
        }
    };
    let mut body = resp.into_body();
    let mut dec = FrameDecoder::new();
    let mut lines = Lines {
        out: Vec::new(),
        err: Vec::new(),
    };
    let send = |stderr: bool, text: String| {
        let _ = tx.send(Event::Line {
            index,
            stderr,
            text,
        });
    };
    loop {
        let chunk: Bytes = match next_chunk(&mut body).await {
            Ok(Some(c)) => c,
            Ok(None) | Err(_) => break,
        };
        if tty {
            lines.push(false, &chunk, send);
            continue;
        }
        dec.push(&chunk);
        while let Ok(Some((kind, payload))) = dec.next_frame() {
            match kind {
                StreamKind::Stderr => lines.push(true, &payload, send),
                StreamKind::System => {}
                _ => lines.push(false, &payload, send),
            }
        }
    }
    lines.flush(send);
    let _ = tx.send(Event::Ended { index });
}

fn logs_path(id: &str, follow: bool, tail: &str, timestamps: bool) -> String {
    Query::new()
        .add("stdout", "1")
        .add("stderr", "1")
        .add_if(follow, "follow", "1")
        .add_if(timestamps, "timestamps", "1")
        .add("tail", tail)
        .path(&format!("/containers/{}/logs", encode(id)))
}

pub async fn logs(c: &Compose, a: ComposeLogsArgs) -> CmdResult {
    let services = c.select(&a.services)?;
    let mut cs = c.service_containers(&services, true).await?;
    if let Some(i) = a.index {
        cs.retain(|x| x.number == i);
    }
    let names: Vec<String> = cs
        .iter()
        .map(|x| display_name(&c.project.name, x))
        .collect();
    let color = c.ansi && !a.no_color;
    let p = Prefixer::new(&names, color, !a.no_log_prefix);
    let (tx, mut rx) = mpsc::unbounded_channel();
    for (i, x) in cs.iter().enumerate() {
        let path = logs_path(&x.id, a.follow, &a.tail, a.timestamps);
        tokio::spawn(stream_logs(
            c.client.clone(),
            x.id.clone(),
            i,
            path,
            tx.clone(),
        ));
    }
    drop(tx);
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Line {
                index,
                stderr,
                text,
            } => {
                let s = p.line(&names[index], index, &text);
                if stderr {
                    output::err_bytes(s.as_bytes());
                } else {
                    output::out(&s);
                }
            }
            Event::Ended { .. } => {}
            Event::Failed { message } => output::errln(&message),
        }
    }
    Ok(())
}

/// `up` without `-d`.
pub async fn attach_up(
    c: &Compose,
    cs: Vec<Container>,
    abort: bool,
    exit_code_from: Option<&str>,
    color: bool,
    prefix: bool,
    timeout: Option<i64>,
) -> CmdResult {
    let names: Vec<String> = cs
        .iter()
        .map(|x| display_name(&c.project.name, x))
        .collect();
    let p = Prefixer::new(&names, c.ansi && color, prefix);
    output::outln(&format!("Attaching to {}", names.join(", ")));
    let (tx, mut rx) = mpsc::unbounded_channel();
    for (i, x) in cs.iter().enumerate() {
        let path = logs_path(&x.id, true, "all", false);
        tokio::spawn(stream_logs(
            c.client.clone(),
            x.id.clone(),
            i,
            path,
            tx.clone(),
        ));
    }
    drop(tx);
    let mut live = cs.len();
    let mut exit_code: i32 = 0;
    let mut stop_all = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    while live > 0 {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                match ev {
                    Event::Line { index, stderr: _, text } => {
                        output::out(&p.line(&names[index], index, &text));
                    }
                    Event::Failed { message } => output::errln(&message),
                    Event::Ended { index } => {
                        live -= 1;
                        let code = c
                            .inspect(&cs[index].id)
                            .await
                            .ok()
                            .and_then(|v| v.pointer("/State/ExitCode").and_then(Value::as_i64))
                            .unwrap_or(0) as i32;
                        output::out(&p.event(&names[index], index, &format!("exited with code {code}")));
                        match exit_code_from {
                            Some(s) if s == cs[index].service => exit_code = code,
                            None if abort && !stop_all => exit_code = code,
                            _ => {}
                        }
                        if abort && !stop_all {
                            stop_all = true;
                            output::outln("Aborting on container exit...");
                            break;
                        }
                    }
                }
            }
            _ = &mut ctrl_c => {
                stop_all = true;
                output::outln("Gracefully stopping... (press Ctrl+C again to force)");
                break;
            }
        }
    }
    if stop_all {
        // With --exit-code-from, the chosen service may still be running:
        // its exit code is read after the stop.
        for x in cs.iter().rev() {
            c.stop_container(x, timeout).await?;
        }
        if let Some(s) = exit_code_from {
            if let Some(x) = cs.iter().find(|x| x.service == s) {
                if let Ok(v) = c.inspect(&x.id).await {
                    exit_code = v
                        .pointer("/State/ExitCode")
                        .and_then(Value::as_i64)
                        .unwrap_or(0) as i32;
                }
            }
        }
    }
    if exit_code != 0 {
        return Err(CmdError::status(exit_code));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_align_and_colour() {
        let p = Prefixer::new(&["web-1".into(), "db-10".into()], false, true);
        assert_eq!(p.line("web-1", 0, "hi"), "web-1  | hi\n");
        let p = Prefixer::new(&["web-1".into(), "db-1".into()], true, true);
        assert_eq!(p.line("db-1", 1, "x"), "\x1b[33mdb-1   | \x1b[0mx\n");
        let p = Prefixer::new(&["web-1".into()], false, false);
        assert_eq!(p.line("web-1", 0, "x"), "x\n");
    }

    #[test]
    fn lines_keep_partial_output() {
        let mut l = Lines {
            out: Vec::new(),
            err: Vec::new(),
        };
        let mut got = Vec::new();
        l.push(false, b"a\nb", |e, t| got.push((e, t)));
        l.push(false, b"c\r\n", |e, t| got.push((e, t)));
        l.flush(|e, t| got.push((e, t)));
        assert_eq!(got, [(false, "a".to_string()), (false, "bc".to_string())]);
    }
}
