//! `pier create`, and the create-with-pull step `run` shares
//! (docker's `createContainer`).

use crate::cli::{CreateArgs, CreateFlags};
use crate::client::{ClientError, Query};
use crate::commands::{display_json_stream, CmdError, CmdResult, Ctx, BIN};
use crate::output;
use crate::reference::Reference;

use super::config::{self, CreateConfig};

/// Why creating failed: an API error (mapped to exit codes by the caller)
/// or a local one.
#[derive(Debug)]
pub enum CreateError {
    Api(ClientError),
    Other(String),
}

impl std::fmt::Display for CreateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CreateError::Api(e) => write!(f, "{e}"),
            CreateError::Other(s) => f.write_str(s),
        }
    }
}

impl From<ClientError> for CreateError {
    fn from(e: ClientError) -> Self {
        CreateError::Api(e)
    }
}

/// `docker: <err>\n\nRun 'docker run --help' for more information`.
pub fn with_help(err: &str, cmd: &str) -> String {
    format!("{BIN}: {err}\n\nRun '{BIN} {cmd} --help' for more information")
}

pub fn validate_pull(p: &str) -> Result<(), String> {
    match p {
        "always" | "missing" | "never" | "" => Ok(()),
        _ => Err(format!(
            "invalid pull option: '{p}': must be one of \"always\", \"missing\" or \"never\""
        )),
    }
}

/// `POST /images/create?fromImage=...&tag=...`, progress on stderr.
pub async fn pull_image(
    ctx: &Ctx,
    image: &str,
    quiet: bool,
    platform: Option<&str>,
) -> Result<(), CreateError> {
    let r =
        Reference::parse(image).ok_or_else(|| CreateError::Other(Reference::parse_error(image)))?;
    let tag = r
        .digest
        .clone()
        .or_else(|| r.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let q = Query::new()
        .add("fromImage", r.name())
        .add("tag", tag)
        .add_if(platform.is_some(), "platform", platform.unwrap_or_default());
    let resp = ctx
        .client
        .send_with_headers(
            hyper::Method::POST,
            &q.path("/images/create"),
            crate::client::empty(),
            None,
            &crate::commands::image::registry_auth::headers_for(&r.domain),
        )
        .await?;
    if quiet {
        let mut body = resp.into_body();
        let mut all = Vec::new();
        while let Some(c) = crate::client::next_chunk(&mut body).await? {
            all.extend_from_slice(&c);
        }
        for v in serde_json::Deserializer::from_slice(&all)
            .into_iter::<serde_json::Value>()
            .flatten()
        {
            if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
                return Err(CreateError::Other(e.to_string()));
            }
        }
        return Ok(());
    }
    display_json_stream(resp, true)
        .await
        .map_err(|e| CreateError::Other(e.message))
}

/// Creates the container, pulling the image when it is missing (docker's
/// `--pull missing`), and returns its ID.
pub async fn create_container(
    ctx: &Ctx,
    flags: &CreateFlags,
    cfg: &CreateConfig,
    image: &str,
) -> Result<String, CreateError> {
    let named = Reference::parse(image);
    // reference.ParseAnyReference: a name, a full ID or a digest.
    let is_id = (image.len() == 64 && image.bytes().all(|c| c.is_ascii_hexdigit()))
        || image
            .strip_prefix("sha256:")
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit()));
    if named.is_none() && !is_id {
        return Err(CreateError::Other(Reference::parse_error(image)));
    }
    // docker sizes the container's console from its own stdout up front.
    let mut cfg = cfg.clone();
    if let Some((h, w)) = crate::tty::size(1) {
        if let Some(hc) = cfg
            .body
            .get_mut("HostConfig")
            .and_then(|v| v.as_object_mut())
        {
            hc.insert("ConsoleSize".into(), serde_json::json!([h, w]));
        }
    }
    if flags.opts.use_api_socket {
        let Some(sock) = ctx.client.unix_socket() else {
            return Err(CreateError::Other(format!(
                "flag --use-api-socket can only be used with unix sockets: docker endpoint {} incompatible",
                ctx.client.address()
            )));
        };
        if let Some(hc) = cfg
            .body
            .get_mut("HostConfig")
            .and_then(|v| v.as_object_mut())
        {
            let m = serde_json::json!({"Type": "bind", "Source": sock, "Target": "/var/run/docker.sock", "BindOptions": {}});
            match hc.get_mut("Mounts").and_then(|v| v.as_array_mut()) {
                Some(a) => a.push(m),
                None => {
                    hc.insert("Mounts".into(), serde_json::json!([m]));
                }
            }
        }
    }
    let cfg = &cfg;
    if let Some(cid) = &flags.opts.cidfile {
        if std::path::Path::new(cid).exists() {
            return Err(CreateError::Other(format!(
                "container ID file found, make sure the other container isn't running or delete {cid}"
            )));
        }
    }
    if let Some(p) = flags.platform.as_deref() {
        check_platform(p)
            .map_err(|e| CreateError::Other(format!("error parsing specified platform: {e}")))?;
    }
    if flags.pull == "always" {
        pull_image(ctx, image, flags.quiet, flags.platform.as_deref()).await?;
    }
    let q = Query::new()
        .add_if(
            flags.name.is_some(),
            "name",
            flags.name.as_deref().unwrap_or_default(),
        )
        .add_if(
            flags.platform.is_some(),
            "platform",
            flags.platform.as_deref().unwrap_or_default(),
        );
    let path = q.path("/containers/create");
    let resp = match ctx.client.post_json(&path, &cfg.body).await {
        Ok(r) => r,
        Err(e) if e.is_not_found() && named.is_some() && flags.pull == "missing" => {
            if !flags.quiet {
                let familiar = named
                    .clone()
                    .map(|r| r.with_default_tag().familiar_string())
                    .unwrap_or_default();
                output::errln(&format!("Unable to find image '{familiar}' locally"));
            }
            pull_image(ctx, image, flags.quiet, flags.platform.as_deref()).await?;
            ctx.client.post_json(&path, &cfg.body).await?
        }
        Err(e) => return Err(e.into()),
    };
    let v = crate::client::parse_json(&resp)?;
    let id = v
        .get("Id")
        .and_then(|x| x.as_str())
        .unwrap_or_default()
        .to_string();
    if let Some(w) = v.get("Warnings").and_then(|w| w.as_array()) {
        for w in w.iter().filter_map(|x| x.as_str()) {
            output::errln(&format!("WARNING: {w}"));
        }
    }
    if let Some(cid) = &flags.opts.cidfile {
        std::fs::write(cid, &id).map_err(|e| {
            CreateError::Other(format!("failed to write the container ID to the file: {e}"))
        })?;
    }
    Ok(id)
}

pub async fn run(ctx: &Ctx, a: CreateArgs) -> CmdResult {
    ctx.require_min(&a.args, 1)?;
    config::windows_only_flags(&a.create.opts).map_err(|e| CmdError::new(1, e))?;
    validate_pull(&a.create.pull).map_err(|e| CmdError::new(125, with_help(&e, "create")))?;
    let image = &a.args[0];
    let cfg = config::build(&a.create.opts, image, &a.args[1..])
        .map_err(|e| CmdError::new(125, with_help(&e, "create")))?;
    let id = create_container(ctx, &a.create, &cfg, image)
        .await
        .map_err(|e| CmdError::new(1, e.to_string()))?;
    output::outln(&id);
    Ok(())
}

/// The shape checks of containerd's `platforms.Parse`, which the docker CLI
/// runs before create (the daemon judges the OS and architecture names).
fn check_platform(spec: &str) -> Result<(), String> {
    let invalid = |why: String| Err(format!("{why}: invalid argument"));
    if spec.contains('*') {
        return invalid(format!("{spec:?}: wildcards not yet supported"));
    }
    let parts: Vec<&str> = spec.splitn(4, '/').collect();
    for (i, part) in parts.iter().enumerate() {
        // The OS may carry an `(osversion)` suffix.
        let part = if i == 0 {
            part.split_once('(').map_or(*part, |(os, _)| os)
        } else {
            part
        };
        let ok = !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !ok {
            return invalid(format!(
                "{part:?} is an invalid component of {spec:?}: platform specifier component must match \"^[A-Za-z0-9_.-]+$\""
            ));
        }
    }
    if parts.len() > 3 {
        return invalid(format!("{spec:?}: cannot parse platform specifier"));
    }
    Ok(())
}
