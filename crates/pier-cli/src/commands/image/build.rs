//! `pier build` (also `image build`) and `builder prune`: sends the
//! context to `POST /build` and shows BuildKit's plain progress (or, with
//! `-q`, only the image ID).

use std::collections::BTreeMap;
use std::io::Read;

use hyper::Method;
use serde_json::{json, Value};

use super::build_context::{self, Context};
use super::build_progress::Progress;
use super::build_tty::TtyProgress;
use crate::cli::{BuildArgs, BuilderPruneArgs};
use crate::client::{self, next_chunk, Query};
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::output;
use crate::reference::Reference;

fn read_stdin() -> Result<Vec<u8>, CmdError> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| CmdError::new(1, format!("reading stdin: {e}")))?;
    Ok(buf)
}

/// `--build-arg K=V`, or `K` taken from the environment (else null).
fn build_args_json(args: &[String]) -> String {
    let mut m: BTreeMap<String, Value> = BTreeMap::new();
    for a in args {
        match a.split_once('=') {
            Some((k, v)) => m.insert(k.to_string(), json!(v)),
            None => m.insert(
                a.clone(),
                std::env::var(a).map(Value::from).unwrap_or(Value::Null),
            ),
        };
    }
    serde_json::to_string(&m).unwrap_or_else(|_| "{}".into())
}

fn labels_json(labels: &[String]) -> String {
    let m: BTreeMap<&str, &str> = labels
        .iter()
        .map(|l| l.split_once('=').unwrap_or((l.as_str(), "")))
        .collect();
    serde_json::to_string(&m).unwrap_or_else(|_| "{}".into())
}

pub async fn run(ctx: &Ctx, a: BuildArgs) -> CmdResult {
    ctx.require_exact(&a.args, 1)?;
    let mut full_tags = Vec::new();
    for t in &a.tags {
        let r = Reference::parse(t).ok_or_else(|| {
            CmdError::new(
                1,
                format!(
                    "invalid argument \"{t}\" for \"-t, --tag\" flag: invalid reference format"
                ),
            )
        })?;
        let r = r.with_default_tag();
        full_tags.push(format!(
            "{}:{}",
            r.name(),
            r.familiar_string()
                .rsplit_once(':')
                .map_or("latest", |x| x.1)
        ));
    }
    match a.progress.as_str() {
        "auto" | "plain" | "tty" | "quiet" | "rawjson" => {}
        other => {
            return Err(CmdError::new(
                1,
                format!("invalid progress mode {other:?}: use auto, plain, tty, quiet or rawjson"),
            ))
        }
    }
    let quiet = a.quiet || a.progress == "quiet";
    let spec = a.args[0].as_str();
    if spec.starts_with("http://") || spec.starts_with("https://") || spec.starts_with("git@") {
        return Err(CmdError::new(
            1,
            "unable to prepare context: remote build contexts are not supported by pier yet",
        ));
    }
    let Context { tar, dockerfile } = if spec == "-" {
        build_context::from_stdin(read_stdin()?, a.file.as_deref())
    } else {
        let stdin_df = if a.file.as_deref() == Some("-") {
            Some(read_stdin()?)
        } else {
            None
        };
        build_context::from_dir(spec, a.file.as_deref(), stdin_df)
    }
    .map_err(|e| CmdError::new(1, e))?;
    let dockerfile_text = dockerfile_from_tar(&tar, &dockerfile);
    // Like buildx, SOURCE_DATE_EPOCH from the environment is passed on.
    let mut build_args = a.build_args.clone();
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        if !build_args
            .iter()
            .any(|b| b.split('=').next() == Some("SOURCE_DATE_EPOCH"))
        {
            build_args.push(format!("SOURCE_DATE_EPOCH={epoch}"));
        }
    }

    let mut q = Query::new()
        .add("dockerfile", &dockerfile)
        .add_if(quiet, "q", "1")
        .add_if(a.no_cache, "nocache", "1")
        .add_if(a.pull, "pull", "1")
        .add("rm", if a.rm { "1" } else { "0" })
        .add_if(a.force_rm, "forcerm", "1")
        .add("buildargs", build_args_json(&build_args))
        .add("labels", labels_json(&a.labels))
        .add("pierprogress", "1");
    for t in &a.tags {
        q = q.add("t", t);
    }
    for h in &a.add_hosts {
        q = q.add("extrahosts", h);
    }
    if let Some(t) = a.target.as_deref().filter(|t| !t.is_empty()) {
        q = q.add("target", t);
    }
    if let Some(n) = a.network.as_deref().filter(|n| !n.is_empty()) {
        q = q.add("networkmode", n);
    }
    if let Some(p) = a.platform.as_deref().filter(|p| !p.is_empty()) {
        q = q.add("platform", p);
    }
    let tty =
        !quiet && (a.progress == "tty" || (a.progress == "auto" && crate::tty::is_terminal(2)));
    let mut progress = Progress::new(&dockerfile, dockerfile_text.clone());
    let mut live = TtyProgress::new(&dockerfile, dockerfile_text.clone());
    if tty {
        live.draw();
    } else if !quiet {
        progress.header(dockerfile_text.as_ref().map_or(0, |t| t.len()), tar.len());
    }
    let mut headers = super::build_secrets::header(ctx, &a.secrets)?;
    headers.push(super::registry_auth::config_header());
    let resp = ctx
        .client
        .send_with_headers(
            Method::POST,
            &q.path("/build"),
            client::full(tar),
            Some("application/x-tar"),
            &headers,
        )
        .await?;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut failure: Option<String> = None;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    loop {
        let chunk = if tty {
            tokio::select! {
                c = next_chunk(&mut body) => c?,
                _ = tick.tick() => {
                    live.draw();
                    continue;
                }
            }
        } else {
            next_chunk(&mut body).await?
        };
        let Some(chunk) = chunk else { break };
        buf.extend_from_slice(&chunk);
        let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        let mut consumed = 0;
        while let Some(Ok(v)) = de.next() {
            consumed = de.byte_offset();
            if quiet {
                if let Some(id) = v.pointer("/aux/ID").and_then(Value::as_str) {
                    progress.image_id = Some(id.to_string());
                }
                if let Some(m) = v.pointer("/errorDetail/message").and_then(Value::as_str) {
                    failure = Some(m.to_string());
                }
            } else {
                let r = if tty {
                    live.handle(&v)
                } else {
                    progress.handle(&v)
                };
                if let Err(e) = r {
                    failure = Some(e);
                }
            }
        }
        buf.drain(..consumed);
    }
    if let Some(f) = failure {
        return Err(CmdError::new(1, f));
    }
    let Some(id) = progress.image_id.clone().or_else(|| live.image_id.clone()) else {
        return Err(CmdError::new(1, "the build produced no image"));
    };
    if quiet {
        output::out(&format!("{id}\n"));
    } else if tty {
        live.finish(&full_tags);
    } else {
        progress.finish(&full_tags);
    }
    if let Some(path) = a.iidfile.as_deref().filter(|p| !p.is_empty()) {
        std::fs::write(path, &id)
            .map_err(|e| CmdError::new(1, format!("failed to write image ID to file: {e}")))?;
    }
    Ok(())
}

fn dockerfile_from_tar(tar: &[u8], name: &str) -> Option<String> {
    let mut a = tar::Archive::new(tar);
    for e in a.entries().ok()? {
        let mut e = e.ok()?;
        let path = e
            .path()
            .ok()?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if path == name {
            let mut s = String::new();
            e.read_to_string(&mut s).ok()?;
            return Some(s);
        }
    }
    None
}

/// `pier builder prune`.
pub async fn prune(ctx: &Ctx, a: BuilderPruneArgs) -> CmdResult {
    ctx.no_args(&a.args)?;
    if !a.force {
        output::out(
            "WARNING! This will remove all dangling build cache.\nAre you sure you want to continue? [y/N] ",
        );
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(());
        }
    }
    let q = Query::new().add_if(a.all, "all", "1");
    let raw = ctx
        .client
        .post_json(&q.path("/build/prune"), &json!({}))
        .await?;
    let v = client::parse_json(&raw)?;
    let mut out = String::new();
    if let Some(ids) = v.get("CachesDeleted").and_then(Value::as_array) {
        if !ids.is_empty() {
            out.push_str("Deleted build cache objects:\n");
            for id in ids.iter().filter_map(Value::as_str) {
                out.push_str(&format!("{}\n", &id[..id.len().min(25)]));
            }
            out.push('\n');
        }
    }
    let space = v.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0);
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        pier_api::human::human_size(space)
    ));
    output::out(&out);
    Ok(())
}
