//! Docker's terminal rendering of a JSON progress stream
//! (`jsonmessage.DisplayJSONMessagesStream` with a TTY): one line per layer
//! ID, rewritten in place with cursor movements as its progress changes.

use std::collections::HashMap;

use serde_json::Value;

use crate::commands::CmdError;
use crate::output;

/// Renders messages in place; keeps the line each ID owns.
#[derive(Default)]
pub struct TtyProgress {
    ids: HashMap<String, usize>,
}

impl TtyProgress {
    /// Writes one message; an error message ends the stream.
    pub fn show(&mut self, v: &Value) -> Result<(), String> {
        if let Some(e) = v
            .get("errorDetail")
            .and_then(|d| d.get("message"))
            .and_then(Value::as_str)
            .or_else(|| v.get("error").and_then(Value::as_str))
        {
            return Err(e.to_string());
        }
        if v.get("aux").is_some() {
            return Ok(());
        }
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
        let id = s("id");
        let has_progress = v.get("progressDetail").is_some();
        let mut out = String::new();
        let mut diff = 0;
        if !id.is_empty() && has_progress {
            let line = match self.ids.get(id) {
                Some(l) => *l,
                None => {
                    let l = self.ids.len();
                    self.ids.insert(id.to_string(), l);
                    out.push('\n');
                    l
                }
            };
            diff = self.ids.len() - line;
            out.push_str(&format!("\x1b[{diff}A"));
        } else {
            // Anything else starts a new block of lines.
            self.ids.clear();
        }
        let endl = if has_progress && s("stream").is_empty() {
            out.push_str("\x1b[2K\r");
            "\r"
        } else {
            ""
        };
        if !id.is_empty() {
            out.push_str(&format!("{id}: "));
        }
        if has_progress {
            out.push_str(&format!("{} {}{endl}", s("status"), s("progress")));
        } else if !s("stream").is_empty() {
            out.push_str(&format!("{}{endl}", s("stream")));
        } else {
            out.push_str(&format!("{}{endl}\n", s("status")));
        }
        if !id.is_empty() && has_progress {
            out.push_str(&format!("\x1b[{diff}B"));
        }
        output::out(&out);
        Ok(())
    }
}

/// Reads the whole stream, rendering it for a terminal.
pub async fn display(resp: hyper::Response<hyper::body::Incoming>) -> Result<(), CmdError> {
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut tty = TtyProgress::default();
    let mut run = |buf: &mut Vec<u8>| -> Result<(), CmdError> {
        let mut de = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
        let mut consumed = 0;
        while let Some(Ok(v)) = de.next() {
            consumed = de.byte_offset();
            tty.show(&v).map_err(|e| {
                output::out("\n");
                CmdError::new(1, e)
            })?;
        }
        buf.drain(..consumed);
        Ok(())
    };
    while let Some(chunk) = crate::client::next_chunk(&mut body).await? {
        buf.extend_from_slice(&chunk);
        run(&mut buf)?;
    }
    run(&mut buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn layers_keep_their_lines() {
        let mut t = TtyProgress::default();
        t.show(&json!({"status":"Pulling from library/busybox","id":"latest"}))
            .unwrap();
        assert!(t.ids.is_empty());
        t.show(&json!({"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}))
            .unwrap();
        t.show(&json!({"status":"Pulling fs layer","progressDetail":{},"id":"bbb"}))
            .unwrap();
        assert_eq!(t.ids.get("aaa"), Some(&0));
        assert_eq!(t.ids.get("bbb"), Some(&1));
        t.show(&json!({"status":"Downloading","progressDetail":{"current":1,"total":2},"progress":"[=>  ]","id":"aaa"})).unwrap();
        assert_eq!(t.ids.len(), 2);
        t.show(&json!({"status":"Digest: sha256:x"})).unwrap();
        assert!(t.ids.is_empty());
        assert_eq!(
            t.show(&json!({"errorDetail":{"message":"boom"},"error":"boom"})),
            Err("boom".to_string())
        );
    }
}
