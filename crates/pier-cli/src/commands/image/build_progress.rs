//! BuildKit's plain progress format for `pier build`, drawn from pierd's
//! build events (`pierprogress=1`): `#N [stage k/n] INSTRUCTION`, output
//! lines with their time offset, `#N CACHED`, `#N DONE 0.1s`, and on a
//! failed RUN the step's last output and BuildKit's error text.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;

use crate::output;

struct Vertex {
    n: usize,
    start: Instant,
    cached: bool,
    label: String,
    line: usize,
    /// Last output lines, for the error summary.
    tail: Vec<(f64, String)>,
    partial: String,
}

pub struct Progress {
    counter: usize,
    /// Open steps by build step number (stages may run in parallel).
    open: BTreeMap<u64, Vertex>,
    failed: Option<Vertex>,
    pub image_id: Option<String>,
    dockerfile: String,
    dockerfile_text: Option<String>,
}

/// BuildKit's wording of a failed RUN (`process "..." did not complete
/// successfully: exit code: N`), from the classic builder's message.
pub fn buildkit_error(message: &str, code: Option<i64>) -> String {
    if let (Some(rest), Some(code)) = (message.strip_prefix("The command '"), code) {
        if let Some((cmd, _)) = rest.rsplit_once("' returned a non-zero code") {
            return format!("process \"{cmd}\" did not complete successfully: exit code: {code}");
        }
    }
    message.to_string()
}

fn errline(s: &str) {
    output::err_bytes(s.as_bytes());
}

impl Progress {
    pub fn new(dockerfile: &str, dockerfile_text: Option<String>) -> Self {
        Progress {
            counter: 0,
            open: BTreeMap::new(),
            failed: None,
            image_id: None,
            dockerfile: dockerfile.to_string(),
            dockerfile_text,
        }
    }

    fn next(&mut self) -> usize {
        self.counter += 1;
        self.counter
    }

    /// The `[internal]` vertices BuildKit shows first.
    pub fn header(&mut self, dockerfile_size: usize, context_size: usize) {
        let n = self.next();
        errline(&format!(
            "#{n} [internal] load build definition from {}\n#{n} transferring dockerfile: {dockerfile_size}B done\n#{n} DONE 0.0s\n\n",
            self.dockerfile
        ));
        let n = self.next();
        errline(&format!(
            "#{n} [internal] load build context\n#{n} transferring context: {context_size}B done\n#{n} DONE 0.0s\n\n"
        ));
    }

    fn flush_partial(v: &mut Vertex) {
        if !v.partial.is_empty() {
            let line = std::mem::take(&mut v.partial);
            let t = v.start.elapsed().as_secs_f64();
            errline(&format!("#{} {t:.3} {line}\n", v.n));
            v.tail.push((t, line));
        }
    }

    fn close(&mut self, at: u64) {
        if let Some(mut v) = self.open.remove(&at) {
            Self::flush_partial(&mut v);
            if !v.cached {
                errline(&format!(
                    "#{} DONE {:.1}s\n",
                    v.n,
                    v.start.elapsed().as_secs_f64()
                ));
            }
            errline("\n");
        }
    }

    /// Handles one message; `Err` carries the final error text.
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
            self.close(at);
            let n = self.next();
            let num = |k: &str| step.get(k).and_then(Value::as_u64).unwrap_or(0);
            let text = step.get("text").and_then(Value::as_str).unwrap_or("");
            let stage = step.get("stage").and_then(Value::as_str).unwrap_or("");
            let multi = step.get("multi").and_then(Value::as_bool).unwrap_or(false);
            let label = if multi {
                format!("[{stage} {}/{}] {text}", num("k"), num("n"))
            } else {
                format!("[{}/{}] {text}", num("k"), num("n"))
            };
            errline(&format!("#{n} {label}\n"));
            self.open.insert(
                at,
                Vertex {
                    n,
                    start: Instant::now(),
                    cached: false,
                    label,
                    line: num("line") as usize,
                    tail: Vec::new(),
                    partial: String::new(),
                },
            );
        } else if ev.get("cached").is_some() {
            if let Some(v) = self.open.get_mut(&at) {
                v.cached = true;
                errline(&format!("#{} CACHED\n", v.n));
            }
        } else if let Some(out) = ev.get("output").and_then(Value::as_str) {
            if let Some(v) = self.open.get_mut(&at) {
                v.partial.push_str(out);
                while let Some(i) = v.partial.find('\n') {
                    let line: String = v.partial[..i].to_string();
                    v.partial.drain(..=i);
                    let t = v.start.elapsed().as_secs_f64();
                    errline(&format!("#{} {t:.3} {line}\n", v.n));
                    v.tail.push((t, line));
                    if v.tail.len() > 10 {
                        v.tail.remove(0);
                    }
                }
            }
        } else if ev.get("done").is_some() {
            self.close(at);
        } else if ev.get("failed").is_some() {
            self.failed = self.open.remove(&at);
        } else if let Some(w) = ev.get("warning").and_then(Value::as_str) {
            errline(w);
        }
        Ok(())
    }

    /// Marks the current step failed; returns the final error line.
    fn fail(&mut self, text: &str) -> String {
        if let Some(mut v) = self.failed.take() {
            Self::flush_partial(&mut v);
            errline(&format!("#{} ERROR: {text}\n", v.n));
            let mut summary = format!("------\n > {}:\n", v.label);
            for (t, l) in &v.tail {
                summary.push_str(&format!("{t:.3} {l}\n"));
            }
            summary.push_str("------\n");
            if v.line > 0 {
                summary.push_str(&format!("{}:{}\n", self.dockerfile, v.line));
                if let Some(line) = self
                    .dockerfile_text
                    .as_deref()
                    .and_then(|t| t.lines().nth(v.line - 1))
                {
                    summary.push_str(&format!(" {:>3} | >>> {line}\n", v.line));
                }
                summary.push_str("--------------------\n");
            }
            errline(&summary);
        }
        format!("ERROR: failed to build: failed to solve: {text}")
    }

    /// The export vertex after a successful build.
    pub fn finish(&mut self, tags: &[String]) {
        let open: Vec<u64> = self.open.keys().copied().collect();
        for at in open {
            self.close(at);
        }
        let n = self.next();
        let id = self.image_id.clone().unwrap_or_default();
        let mut s = format!(
            "#{n} exporting to image\n#{n} exporting layers done\n#{n} writing image {id} done\n"
        );
        for t in tags {
            s.push_str(&format!("#{n} naming to {t} done\n"));
        }
        s.push_str(&format!("#{n} DONE 0.0s\n"));
        errline(&s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_errors_in_buildkit_words() {
        assert_eq!(
            buildkit_error(
                "The command '/bin/sh -c exit 3' returned a non-zero code: 3",
                Some(3)
            ),
            "process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3"
        );
        assert_eq!(buildkit_error("other", None), "other");
    }
}
