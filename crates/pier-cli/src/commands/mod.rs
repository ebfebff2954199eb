//! The verbs. Each returns `Ok(())` or a [`CmdError`] carrying docker's
//! message and exit status.

pub mod compose;
pub mod container;
pub mod image;
pub mod network;
pub mod system;
pub mod volume;

use crate::cli;
use crate::client::{Client, ClientError};
use crate::format::FormatError;
use crate::output;

pub const BIN: &str = "pier";

/// What a failed command prints (if anything) and its exit status.
#[derive(Debug)]
pub struct CmdError {
    pub code: i32,
    pub message: String,
}

impl CmdError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// An exit status with nothing to print (e.g. the container's status).
    pub fn status(code: i32) -> Self {
        Self::new(code, "")
    }

    /// Several errors, printed one per line like Go's `errors.Join`.
    pub fn join(errs: Vec<String>) -> Result<(), CmdError> {
        if errs.is_empty() {
            Ok(())
        } else {
            Err(CmdError::new(1, errs.join("\n")))
        }
    }
}

impl From<ClientError> for CmdError {
    fn from(e: ClientError) -> Self {
        CmdError::new(1, e.to_string())
    }
}

impl From<FormatError> for CmdError {
    fn from(e: FormatError) -> Self {
        CmdError::new(1, e.to_string())
    }
}

pub type CmdResult = Result<(), CmdError>;

/// Everything a command needs: the API client and which command it is.
pub struct Ctx {
    pub client: Client,
    /// Canonical command path, e.g. `["container", "ls"]`.
    pub path: Vec<&'static str>,
    pub debug: bool,
}

impl Ctx {
    pub fn command_path(&self) -> String {
        let mut s = BIN.to_string();
        for p in &self.path {
            s.push(' ');
            s.push_str(p);
        }
        s
    }

    pub fn usage(&self) -> String {
        format!(
            "{} {}",
            self.command_path(),
            cli::use_line(&self.path).unwrap_or_default()
        )
    }

    /// cobra's `RequiresMinArgs`.
    pub fn require_min(&self, args: &[String], n: usize) -> CmdResult {
        if args.len() >= n {
            return Ok(());
        }
        Err(CmdError::new(
            1,
            format!(
                "{BIN}: '{}' requires at least {n} {}\n\nUsage:  {}\n\nSee '{} --help' for more information",
                self.command_path(),
                plural(n),
                self.usage(),
                self.command_path()
            ),
        ))
    }

    /// cobra's `ExactArgs`.
    pub fn require_exact(&self, args: &[String], n: usize) -> CmdResult {
        if args.len() == n {
            return Ok(());
        }
        Err(CmdError::new(
            1,
            format!(
                "{BIN}: '{}' requires {n} {}\n\nUsage:  {}\n\nRun '{} --help' for more information",
                self.command_path(),
                plural(n),
                self.usage(),
                self.command_path()
            ),
        ))
    }

    /// cobra's `RequiresMaxArgs` (docker's message has the "SRun" typo).
    pub fn require_max(&self, args: &[String], n: usize) -> CmdResult {
        if args.len() <= n {
            return Ok(());
        }
        Err(CmdError::new(
            1,
            format!(
                "{BIN}: '{}' requires at most {n} {}\n\nUsage:  {}\n\nSRun '{} --help' for more information",
                self.command_path(),
                plural(n),
                self.usage(),
                self.command_path()
            ),
        ))
    }

    /// cobra's `NoArgs`.
    pub fn no_args(&self, args: &[String]) -> CmdResult {
        if args.is_empty() {
            return Ok(());
        }
        Err(CmdError::new(
            1,
            format!(
                "{BIN}: '{}' accepts no arguments\n\nUsage:  {}\n\nRun '{} --help' for more information",
                self.command_path(),
                self.usage(),
                self.command_path()
            ),
        ))
    }

    /// A flag error (status 125), as cobra's `FlagErrorFunc` prints it.
    pub fn flag_error(&self, msg: &str) -> CmdError {
        CmdError::new(
            125,
            format!(
                "{msg}\n\nUsage:  {}\n\nRun '{} --help' for more information",
                self.usage(),
                self.command_path()
            ),
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        "argument"
    } else {
        "arguments"
    }
}

/// `--filter key=value` flags as docker sends them: `{"key":{"value":true}}`.
pub fn filters_json(ctx: &Ctx, pairs: &[String]) -> Result<Option<String>, CmdError> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut m: std::collections::BTreeMap<String, std::collections::BTreeMap<String, bool>> =
        Default::default();
    for p in pairs {
        let Some((k, v)) = p.split_once('=') else {
            return Err(ctx.flag_error(&format!(
                "invalid argument \"{p}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)"
            )));
        };
        m.entry(k.trim().to_lowercase())
            .or_default()
            .insert(v.trim().to_string(), true);
    }
    Ok(Some(
        serde_json::to_string(&m).unwrap_or_else(|_| "{}".into()),
    ))
}

/// Prints a rendered table or template output.
pub fn print_rendered(s: &str) {
    output::out(s);
}

/// A streamed JSON message (pull, load, import progress), docker's
/// `jsonmessage.Display` for a non-terminal: errors end the stream.
pub fn display_json_message(v: &serde_json::Value, to_stderr: bool) -> Result<(), String> {
    if let Some(e) = v
        .get("errorDetail")
        .and_then(|d| d.get("message"))
        .and_then(|m| m.as_str())
    {
        return Err(e.to_string());
    }
    if let Some(e) = v.get("error").and_then(|m| m.as_str()) {
        return Err(e.to_string());
    }
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default();
    let progress = v
        .get("progressDetail")
        .is_some_and(|p| p.as_object().is_some_and(|o| !o.is_empty()));
    if progress && !s("progress").is_empty() {
        return Ok(());
    }
    if v.get("aux").is_some() && s("status").is_empty() && s("stream").is_empty() {
        return Ok(());
    }
    let mut line = String::new();
    if !s("id").is_empty() {
        line.push_str(&format!("{}: ", s("id")));
    }
    if !s("from").is_empty() {
        line.push_str(&format!("(from {}) ", s("from")));
    }
    if !s("progress").is_empty() {
        line.push_str(&format!("{} {}\n", s("status"), s("progress")));
    } else if !s("stream").is_empty() {
        line.push_str(s("stream"));
    } else {
        line.push_str(s("status"));
        line.push('\n');
    }
    if to_stderr {
        output::err_bytes(line.as_bytes());
    } else {
        output::out(&line);
    }
    Ok(())
}

/// Reads a JSON-message stream to its end, displaying each message.
pub async fn display_json_stream(
    resp: hyper::Response<hyper::body::Incoming>,
    to_stderr: bool,
) -> Result<(), CmdError> {
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let handle = |buf: &mut Vec<u8>, flush: bool| -> Result<(), CmdError> {
        let mut de = serde_json::Deserializer::from_slice(buf).into_iter::<serde_json::Value>();
        let mut consumed = 0;
        loop {
            match de.next() {
                Some(Ok(v)) => {
                    consumed = de.byte_offset();
                    display_json_message(&v, to_stderr).map_err(|e| CmdError::new(1, e))?;
                }
                Some(Err(e)) if e.is_eof() && !flush => break,
                Some(Err(e)) => return Err(CmdError::new(1, e.to_string())),
                None => break,
            }
        }
        buf.drain(..consumed);
        Ok(())
    };
    while let Some(chunk) = crate::client::next_chunk(&mut body).await? {
        buf.extend_from_slice(&chunk);
        handle(&mut buf, false)?;
    }
    if buf.iter().any(|b| !b.is_ascii_whitespace()) {
        handle(&mut buf, true)?;
    }
    Ok(())
}
