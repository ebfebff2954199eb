//! Docker's rules for turning a create request plus an image config into
//! the container's config: which Env, Cmd, Entrypoint, WorkingDir, User and
//! Labels win, and the process environment at start.

use std::collections::HashMap;

use pier_api::models::{ContainerConfig, ContainerCreateBody, HostConfig, ImageConfig};

use super::error::ContainerError;

/// Default PATH for Linux containers (Docker's `oci.DefaultPathEnv`).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub struct Merged {
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub path: String,
    pub args: Vec<String>,
    pub warnings: Vec<String>,
}

/// Merges the request over the image config (Docker's `merge` then
/// `mergeAndVerifyConfig`).
pub fn merge(
    body: ContainerCreateBody,
    image: &ImageConfig,
    id: &str,
) -> Result<Merged, ContainerError> {
    let mut warnings = Vec::new();
    let mut host_config = body.host_config.clone().unwrap_or_default();
    normalize_host_config(&mut host_config, &mut warnings)?;

    let mut c = ContainerConfig {
        hostname: body.hostname.filter(|h| !h.is_empty()),
        domainname: body.domainname,
        user: body.user.filter(|u| !u.is_empty()),
        attach_stdin: Some(body.attach_stdin.unwrap_or(false)),
        attach_stdout: Some(body.attach_stdout.unwrap_or(false)),
        attach_stderr: Some(body.attach_stderr.unwrap_or(false)),
        exposed_ports: body.exposed_ports,
        tty: Some(body.tty.unwrap_or(false)),
        open_stdin: Some(body.open_stdin.unwrap_or(false)),
        stdin_once: Some(body.stdin_once.unwrap_or(false)),
        env: body.env,
        cmd: body.cmd,
        healthcheck: body.healthcheck,
        args_escaped: body.args_escaped,
        image: body.image,
        volumes: body.volumes,
        working_dir: body.working_dir.filter(|w| !w.is_empty()),
        entrypoint: body.entrypoint,
        network_disabled: body.network_disabled,
        on_build: body.on_build,
        labels: body.labels,
        stop_signal: body.stop_signal.filter(|s| !s.is_empty()),
        stop_timeout: body.stop_timeout,
        shell: body.shell,
    };
    validate_env(c.env.as_deref().unwrap_or(&[]))?;

    if c.user.is_none() {
        c.user = image.user.clone().filter(|u| !u.is_empty());
    }
    c.env = Some(merge_env(
        c.env.take().unwrap_or_default(),
        image.env.as_deref().unwrap_or(&[]),
    ));
    let mut labels: HashMap<String, String> = c.labels.take().unwrap_or_default();
    for (k, v) in image.labels.iter().flatten() {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    c.labels = Some(labels);

    // A non-empty user entrypoint replaces the image's entrypoint AND cmd;
    // an explicitly empty one (`[]`) clears the entrypoint but keeps the
    // image cmd only if the user gave none.
    if c.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if c.cmd.as_ref().is_none_or(|v| v.is_empty()) {
            c.cmd = image.cmd.clone();
            c.args_escaped = image.args_escaped;
        }
        if c.entrypoint.is_none() {
            c.entrypoint = image.entrypoint.clone();
        }
    }
    // `--entrypoint ""` arrives as [""]: it means "no entrypoint".
    if c.entrypoint
        .as_ref()
        .is_some_and(|e| e.len() == 1 && e[0].is_empty())
    {
        c.entrypoint = None;
    }
    if c.working_dir.is_none() {
        c.working_dir = image.working_dir.clone().filter(|w| !w.is_empty());
    }
    if c.stop_signal.is_none() {
        c.stop_signal = image.stop_signal.clone().filter(|s| !s.is_empty());
    }
    if c.exposed_ports.as_ref().is_none_or(|p| p.is_empty()) {
        c.exposed_ports = image.exposed_ports.clone();
    }
    if c.volumes.as_ref().is_none_or(|v| v.is_empty()) {
        c.volumes = image.volumes.clone();
    }
    c.healthcheck = super::health::merge(c.healthcheck.take(), image.healthcheck.as_ref())?;
    if c.on_build.is_none() {
        c.on_build = image.on_build.clone();
    }
    if c.shell.is_none() {
        c.shell = image.shell.clone();
    }
    if let Some(wd) = &c.working_dir {
        if !wd.starts_with('/') {
            return Err(ContainerError::InvalidParameter(format!(
                "the working directory '{wd}' is invalid, it needs to be an absolute path"
            )));
        }
    }
    if c.hostname.is_none() {
        c.hostname = Some(id[..12.min(id.len())].to_string());
    }

    let (path, args) = entrypoint_and_args(
        c.entrypoint.as_deref().unwrap_or(&[]),
        c.cmd.as_deref().unwrap_or(&[]),
    )
    .ok_or(ContainerError::NoCommand)?;

    Ok(Merged {
        config: c,
        host_config,
        path,
        args,
        warnings,
    })
}

/// Docker's defaults and checks on the host config we act on.
fn normalize_host_config(
    hc: &mut HostConfig,
    _warnings: &mut Vec<String>,
) -> Result<(), ContainerError> {
    let mode = hc.network_mode.clone().unwrap_or_default();
    let mode = match mode.as_str() {
        "" | "default" => "bridge".to_string(),
        // Container and user-defined networks are checked against the
        // daemon's state by `network::plan::validate_create`.
        _ => mode,
    };
    hc.network_mode = Some(mode);
    if hc
        .log_config
        .as_ref()
        .and_then(|l| l.typ.as_deref())
        .is_none_or(str::is_empty)
    {
        // The CLI sends `--log-opt`s with an empty Type: keep them.
        let opts = hc.log_config.as_ref().and_then(|l| l.config.clone());
        hc.log_config = Some(pier_api::models::HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(opts.unwrap_or_default()),
        });
    }
    match hc.log_config.as_ref().and_then(|l| l.typ.as_deref()) {
        Some("json-file") | Some("none") | Some("local") => {}
        Some(other) => {
            return Err(ContainerError::InvalidParameter(format!(
                "logging driver {other} is not supported: use json-file, local or none"
            )))
        }
        None => {}
    }
    Ok(())
}

fn validate_env(env: &[String]) -> Result<(), ContainerError> {
    for e in env {
        let key = e.split_once('=').map(|(k, _)| k).unwrap_or(e);
        if key.is_empty() {
            return Err(ContainerError::InvalidParameter(format!(
                "invalid environment variable: {e:?}"
            )));
        }
    }
    Ok(())
}

/// User env first, then image env entries whose key the user did not set.
pub fn merge_env(user: Vec<String>, image: &[String]) -> Vec<String> {
    if user.is_empty() {
        return image.to_vec();
    }
    let mut out = user;
    for ie in image {
        let key = ie.split_once('=').map(|(k, _)| k).unwrap_or(ie);
        let overridden = out
            .iter()
            .any(|ue| ue.split_once('=').map(|(k, _)| k).unwrap_or(ue) == key);
        if !overridden {
            out.push(ie.clone());
        }
    }
    out
}

/// Docker's Path/Args: the entrypoint's first word, then the rest of the
/// entrypoint and the cmd; or the cmd alone.
pub fn entrypoint_and_args(entrypoint: &[String], cmd: &[String]) -> Option<(String, Vec<String>)> {
    if let Some((first, rest)) = entrypoint.split_first() {
        let mut args = rest.to_vec();
        args.extend_from_slice(cmd);
        return Some((first.clone(), args));
    }
    let (first, rest) = cmd.split_first()?;
    Some((first.clone(), rest.to_vec()))
}

/// The process environment at start (Docker's `CreateDaemonEnvironment`):
/// PATH, HOSTNAME and TERM defaults, overridden by the config's Env; a bare
/// `NAME` (no `=`) in the config unsets it.
pub fn process_env(config: &ContainerConfig) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={}", config.hostname.as_deref().unwrap_or("")),
    ];
    if config.tty.unwrap_or(false) {
        env.push("TERM=xterm".into());
    }
    for value in config.env.iter().flatten() {
        match value.split_once('=') {
            Some((key, _)) => {
                match env
                    .iter_mut()
                    .find(|e| e.split_once('=').map(|(k, _)| k) == Some(key))
                {
                    Some(slot) => *slot = value.clone(),
                    None => env.push(value.clone()),
                }
            }
            None => env.retain(|e| e.split_once('=').map(|(k, _)| k) != Some(value.as_str())),
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn image() -> ImageConfig {
        ImageConfig {
            cmd: Some(s(&["sh"])),
            env: Some(s(&["PATH=/bin", "A=image"])),
            labels: Some([("l".to_string(), "img".to_string())].into()),
            working_dir: Some("/srv".into()),
            ..Default::default()
        }
    }

    fn body(cmd: Option<&[&str]>, ep: Option<&[&str]>) -> ContainerCreateBody {
        ContainerCreateBody {
            image: Some("busybox".into()),
            cmd: cmd.map(s),
            entrypoint: ep.map(s),
            ..Default::default()
        }
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn image_cmd_is_inherited() {
        let m = merge(body(None, None), &image(), ID).unwrap();
        assert_eq!((m.path.as_str(), m.args.len()), ("sh", 0));
        assert_eq!(m.config.working_dir.as_deref(), Some("/srv"));
        assert_eq!(m.config.hostname.as_deref(), Some("0123456789ab"));
    }

    #[test]
    fn user_cmd_replaces_image_cmd() {
        let m = merge(body(Some(&["echo", "hi"]), None), &image(), ID).unwrap();
        assert_eq!(m.path, "echo");
        assert_eq!(m.args, s(&["hi"]));
    }

    #[test]
    fn entrypoint_drops_image_cmd() {
        let mut img = image();
        img.entrypoint = Some(s(&["/init"]));
        let m = merge(body(None, Some(&["echo"])), &img, ID).unwrap();
        assert_eq!((m.path.as_str(), m.args.len()), ("echo", 0));
        let m = merge(body(Some(&["a"]), None), &img, ID).unwrap();
        assert_eq!((m.path.as_str(), m.args.clone()), ("/init", s(&["a"])));
    }

    #[test]
    fn empty_entrypoint_clears_it() {
        let mut img = image();
        img.entrypoint = Some(s(&["/init"]));
        let m = merge(body(Some(&["ls"]), Some(&[""])), &img, ID).unwrap();
        assert_eq!(m.path, "ls");
        assert!(m.config.entrypoint.is_none());
        // [""] with no cmd: the image cmd is not inherited either.
        let e = merge(body(None, Some(&[""])), &img, ID).err().unwrap();
        assert_eq!(e.to_string(), "no command specified");
    }

    #[test]
    fn no_command_at_all() {
        let img = ImageConfig::default();
        let e = merge(body(None, None), &img, ID).err().unwrap();
        assert!(matches!(e, ContainerError::NoCommand));
    }

    #[test]
    fn env_and_labels_merge() {
        let mut b = body(Some(&["true"]), None);
        b.env = Some(s(&["A=user", "B=1"]));
        b.labels = Some([("l".to_string(), "user".to_string())].into());
        let m = merge(b, &image(), ID).unwrap();
        assert_eq!(m.config.env.unwrap(), s(&["A=user", "B=1", "PATH=/bin"]));
        assert_eq!(m.config.labels.unwrap()["l"], "user");
    }

    #[test]
    fn bad_env_is_rejected() {
        let mut b = body(Some(&["true"]), None);
        b.env = Some(s(&["=x"]));
        assert!(merge(b, &image(), ID).is_err());
    }

    #[test]
    fn network_modes() {
        let mut b = body(Some(&["true"]), None);
        b.host_config = Some(HostConfig {
            network_mode: Some("default".into()),
            ..Default::default()
        });
        let m = merge(b, &image(), ID).unwrap();
        assert_eq!(m.host_config.network_mode.as_deref(), Some("bridge"));
    }

    #[test]
    fn process_env_defaults_and_overrides() {
        let c = ContainerConfig {
            hostname: Some("h".into()),
            tty: Some(true),
            env: Some(s(&["PATH=/x", "A=1", "HOSTNAME"])),
            ..Default::default()
        };
        assert_eq!(process_env(&c), s(&["PATH=/x", "TERM=xterm", "A=1"]));
        let c = ContainerConfig::default();
        assert_eq!(process_env(&c)[0], format!("PATH={DEFAULT_PATH}"));
    }
}
