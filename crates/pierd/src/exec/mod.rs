//! `docker exec`: exec instances (in memory, like Docker's exec store) and
//! their creation and inspection. Starting one is in [`session`]; the
//! process itself is run by the container's shim (EXEC on its socket).

pub mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use pier_api::models::{ExecConfig, ExecInspectResponse, ProcessConfig};

use crate::containers::{Container, ContainerError};
use crate::runtime::{ExecSpec, ShimWriter};

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("No such exec instance: {0}")]
    NotFound(String),
    #[error("No exec command specified")]
    NoCommand,
    #[error("Container {0} is paused, unpause the container before exec")]
    Paused(String),
    #[error("Error: Exec command {0} is already running")]
    AlreadyRunning(String),
    #[error("Error: Exec command {0} has already run")]
    AlreadyRan(String),
    #[error("{0}")]
    BadParameter(String),
    #[error(transparent)]
    Container(#[from] ContainerError),
}

/// What was asked at create time.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    pub tty: bool,
    pub privileged: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub detach_keys: String,
    pub console: Option<(u16, u16)>,
}

#[derive(Default)]
pub struct ExecState {
    pub started: bool,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
    /// The exec's shim connection (for RESIZE) while it runs.
    pub control: Option<Arc<tokio::sync::Mutex<ShimWriter>>>,
    /// Size asked before the process ran, applied once it does.
    pub pending_size: Option<(u16, u16)>,
    /// When it ended (finished execs are forgotten after a while, as
    /// dockerd's exec garbage collection does).
    pub finished_at: Option<std::time::Instant>,
}

/// How long a finished exec stays inspectable.
const KEEP_FINISHED: std::time::Duration = std::time::Duration::from_secs(300);

pub struct Exec {
    pub id: String,
    pub container_id: String,
    pub opts: ExecOptions,
    state: Mutex<ExecState>,
}

impl Exec {
    pub fn lock(&self) -> MutexGuard<'_, ExecState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `GET /exec/{id}/json`.
    pub fn inspect(&self) -> ExecInspectResponse {
        let s = self.lock();
        let (entrypoint, args) = match self.opts.cmd.split_first() {
            Some((e, a)) => (e.clone(), a.to_vec()),
            None => (String::new(), Vec::new()),
        };
        ExecInspectResponse {
            can_remove: Some(false),
            detach_keys: Some(self.opts.detach_keys.clone()),
            id: Some(self.id.clone()),
            running: Some(s.running),
            exit_code: s.exit_code.or(Some(0)),
            process_config: Some(ProcessConfig {
                privileged: Some(self.opts.privileged),
                user: Some(self.opts.user.clone()),
                tty: Some(self.opts.tty),
                entrypoint: Some(entrypoint),
                arguments: Some(args),
            }),
            open_stdin: Some(self.opts.attach_stdin),
            open_stderr: Some(self.opts.attach_stderr),
            open_stdout: Some(self.opts.attach_stdout),
            container_id: Some(self.container_id.clone()),
            pid: Some(s.pid),
        }
    }
}

/// Every exec instance by ID.
#[derive(Default)]
pub struct ExecStore {
    by_id: Mutex<HashMap<String, Arc<Exec>>>,
}

impl ExecStore {
    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<Exec>>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, id: &str) -> Result<Arc<Exec>, ExecError> {
        self.map()
            .get(id)
            .cloned()
            .ok_or_else(|| ExecError::NotFound(id.to_string()))
    }

    /// IDs of the execs of one container (inspect's `ExecIDs`).
    pub fn ids_of(&self, container_id: &str) -> Vec<String> {
        self.map()
            .values()
            .filter(|e| e.container_id == container_id)
            .map(|e| e.id.clone())
            .collect()
    }

    /// Drops the execs of a container that stopped or was removed.
    pub fn forget_container(&self, container_id: &str) {
        self.map().retain(|_, e| e.container_id != container_id);
    }

    fn insert(&self, e: Arc<Exec>) {
        let mut m = self.map();
        m.retain(|_, x| {
            x.lock()
                .finished_at
                .is_none_or(|t| t.elapsed() < KEEP_FINISHED)
        });
        m.insert(e.id.clone(), e);
    }
}

fn console_of(v: &Option<Vec<usize>>) -> Option<(u16, u16)> {
    match v.as_deref() {
        Some([h, w]) if *h > 0 && *w > 0 => Some((*h as u16, *w as u16)),
        _ => None,
    }
}

/// `POST /containers/{id}/exec`.
pub fn create(store: &ExecStore, c: &Container, cfg: ExecConfig) -> Result<String, ExecError> {
    let cmd = cfg.cmd.clone().unwrap_or_default();
    if cmd.is_empty() {
        return Err(ExecError::NoCommand);
    }
    let detach_keys = cfg.detach_keys.clone().unwrap_or_default();
    crate::detachkeys::parse(&detach_keys).map_err(ExecError::BadParameter)?;
    {
        let g = c.lock();
        if !g.rec.state.running() && g.rec.state.restarting {
            return Err(ContainerError::Restarting(c.id.clone()).into());
        }
        if !g.rec.state.running() {
            return Err(ContainerError::NotRunning(c.id.clone()).into());
        }
        if g.rec.state.paused {
            return Err(ExecError::Paused(c.id.clone()));
        }
    }
    let id = hex::encode(rand::random::<[u8; 32]>());
    let opts = ExecOptions {
        cmd,
        env: cfg.env.unwrap_or_default(),
        user: cfg.user.unwrap_or_default(),
        working_dir: cfg.working_dir.unwrap_or_default(),
        tty: cfg.tty.unwrap_or(false),
        privileged: cfg.privileged.unwrap_or(false),
        attach_stdin: cfg.attach_stdin.unwrap_or(false),
        attach_stdout: cfg.attach_stdout.unwrap_or(false),
        attach_stderr: cfg.attach_stderr.unwrap_or(false),
        detach_keys,
        console: console_of(&cfg.console_size),
    };
    store.insert(Arc::new(Exec {
        id: id.clone(),
        container_id: c.id.clone(),
        opts,
        state: Mutex::new(ExecState::default()),
    }));
    Ok(id)
}

/// Docker's `ReplaceOrAppendEnvValues`: `KEY=v` replaces `KEY`, a bare
/// `KEY` removes it.
pub(crate) fn replace_or_append(base: &mut Vec<String>, overrides: &[String]) {
    for o in overrides {
        let key = o.split('=').next().unwrap_or("");
        let pos = base
            .iter()
            .position(|b| b.split('=').next().unwrap_or("") == key);
        match (pos, o.contains('=')) {
            (Some(i), true) => base[i] = o.clone(),
            (Some(i), false) => {
                base.remove(i);
            }
            (None, true) => base.push(o.clone()),
            (None, false) => {}
        }
    }
}

/// What the shim runs: the container's defaults filled in as Docker does
/// (user and working dir from the container config, env = daemon env +
/// container env + exec env).
pub fn spec_for(e: &Exec, c: &Container, tty_override: Option<bool>) -> ExecSpec {
    let rec = c.snapshot();
    let tty = tty_override.unwrap_or(e.opts.tty);
    let mut env = vec![
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        format!(
            "HOSTNAME={}",
            rec.config.hostname.clone().unwrap_or_default()
        ),
    ];
    if tty {
        env.push("TERM=xterm".into());
    }
    replace_or_append(&mut env, &rec.config.env.clone().unwrap_or_default());
    replace_or_append(&mut env, &e.opts.env);
    let user = if e.opts.user.is_empty() {
        rec.config.user.clone().unwrap_or_default()
    } else {
        e.opts.user.clone()
    };
    let cwd = if e.opts.working_dir.is_empty() {
        rec.config.working_dir.clone().unwrap_or_default()
    } else {
        e.opts.working_dir.clone()
    };
    ExecSpec {
        args: e.opts.cmd.clone(),
        env,
        cwd,
        user,
        tty,
        stdin: e.opts.attach_stdin,
        privileged: e.opts.privileged,
        console: e.opts.console,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_override_rules() {
        let mut base = vec!["PATH=/bin".to_string(), "A=1".into(), "B=2".into()];
        replace_or_append(&mut base, &["A=9".into(), "B".into(), "C=3".into()]);
        assert_eq!(base, ["PATH=/bin", "A=9", "C=3"]);
    }
}
