//! `docker exec`: extra processes in the running container.
//!
//! The monitor owns each exec's stdio (pipes, or a pty whose master it
//! receives on a per-exec console socket) and reaps it like the init (it is
//! the subreaper). Starting one runs in a forked helper: it resolves the
//! user, working directory and executable through `/proc/<init>/root` (the
//! container's own view, volumes included, never following a link out of
//! it), writes a `process.json` derived from the init's process (caps,
//! rlimits, no-new-privileges, AppArmor), and calls libcontainer's tenant
//! builder, which joins the init's namespaces and cgroup. The monitor itself
//! stays free of libcontainer.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::unistd::Pid;
use oci_spec::runtime::{Capability, LinuxCapabilitiesBuilder, Spec};
use pier_runtime::{ExecFailure, ExecSpec};

use crate::error::ShimError;
use crate::helper::{self, HelperError};
use crate::lc::{self, ChildStdio, TenantIo};
use crate::rootfs::{clean_path, errno_text, Refusal, RootDir};
use crate::seccomp_executor::{Filter, SeccompExecutor};

/// One exec process and its stdio.
pub struct ExecProc {
    pub pid: Pid,
    /// Key of the connection that receives its output (None once it is gone).
    pub conn: Option<u64>,
    /// stdout pipe or pty master; `None` at EOF.
    pub out: Option<OwnedFd>,
    pub err: Option<OwnedFd>,
    pub stdin: Option<OwnedFd>,
    pub stdin_buf: Vec<u8>,
    pub stdin_close: bool,
    pub tty: bool,
    pub exit_code: Option<i32>,
    pub drain_deadline: Option<Duration>,
}

impl ExecProc {
    /// Exited and its output drained (or the drain time is up).
    pub fn done(&self, now: Duration) -> bool {
        self.exit_code.is_some()
            && ((self.out.is_none() && self.err.is_none())
                || self.drain_deadline.is_some_and(|d| now >= d))
    }
}

/// The container an exec joins.
pub struct Target<'a> {
    pub id: &'a str,
    pub runtime_root: &'a Path,
    pub bundle: &'a Path,
    pub init: Pid,
}

fn failure(message: impl Into<String>, exit_code: i32) -> ExecFailure {
    ExecFailure {
        error: message.into(),
        exit_code,
    }
}

fn sys_failure(e: ShimError) -> ExecFailure {
    failure(e.to_string(), 126)
}

/// Starts `spec` in the container. `key` names its console socket.
pub fn spawn(t: &Target<'_>, key: u64, spec: &ExecSpec) -> Result<ExecProc, ExecFailure> {
    if spec.args.is_empty() {
        return Err(failure("No exec command specified", 126));
    }
    let null = helper::dev_null().map_err(|e| failure(format!("/dev/null: {e}"), 126))?;
    let mut console = None;
    let (mut out, mut err, mut stdin, mut child) = (None, None, None, None);
    if spec.tty {
        let name = format!("exec-{key}.sock");
        console = Some(crate::bind_console_socket_named(t.bundle, &name).map_err(sys_failure)?);
    } else {
        let (out_r, out_w) = crate::pipe().map_err(sys_failure)?;
        let (err_r, err_w) = crate::pipe().map_err(sys_failure)?;
        crate::set_nonblocking(&out_r).map_err(sys_failure)?;
        crate::set_nonblocking(&err_r).map_err(sys_failure)?;
        let child_in = if spec.stdin {
            let (in_r, in_w) = crate::pipe().map_err(sys_failure)?;
            crate::set_nonblocking(&in_w).map_err(sys_failure)?;
            stdin = Some(in_w);
            in_r
        } else {
            null.try_clone()
                .map_err(|e| failure(format!("dup /dev/null: {e}"), 126))?
        };
        out = Some(out_r);
        err = Some(err_r);
        child = Some(ChildStdio {
            stdin: child_in,
            stdout: out_w,
            stderr: err_w,
        });
    }
    let io = TenantIo {
        stdio: child,
        console_socket: console.as_ref().map(|(_, p): &(_, PathBuf)| p.clone()),
    };
    let process_json = t.bundle.join(format!("exec-{key}.json"));
    let res = helper::run("exec", || start_tenant(t, spec, &process_json, io));
    let _ = std::fs::remove_file(&process_json);
    let cleanup_console = |c: &Option<(std::os::unix::net::UnixListener, PathBuf)>| {
        if let Some((_, p)) = c {
            let _ = std::fs::remove_file(p);
        }
    };
    let pid = match res {
        Ok(pid) => Pid::from_raw(pid),
        Err(e) => {
            cleanup_console(&console);
            return Err(failure(e.message, e.exit_code));
        }
    };
    if let Some((l, _)) = &console {
        let master = crate::receive_pty_master(l);
        cleanup_console(&console);
        let master = match master {
            Ok(m) => m,
            Err(e) => {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                return Err(sys_failure(e));
            }
        };
        if let Some((rows, cols)) = spec.console.filter(|(r, c)| *r > 0 && *c > 0) {
            let _ = crate::monitor::set_winsize(master.as_raw_fd(), rows, cols);
        }
        crate::set_nonblocking(&master).map_err(sys_failure)?;
        if spec.stdin {
            stdin = master.try_clone().ok();
        }
        out = Some(master);
    }
    Ok(ExecProc {
        pid,
        conn: None,
        out,
        err,
        stdin,
        stdin_buf: Vec::new(),
        stdin_close: false,
        tty: spec.tty,
        exit_code: None,
        drain_deadline: None,
    })
}

fn refuse(r: Refusal) -> HelperError {
    HelperError::new(r.message, r.exit_code)
}

/// Every capability this process may hand on (`exec --privileged`): the
/// same set `--privileged` containers get from pier-runtime.
fn all_capabilities() -> Vec<Capability> {
    pier_runtime::security::available_caps()
        .into_iter()
        .filter_map(|n| serde_json::from_value(serde_json::Value::from(n)).ok())
        .collect()
}

/// The helper's body: checks, `process.json`, libcontainer tenant start.
fn start_tenant(
    t: &Target<'_>,
    spec: &ExecSpec,
    process_json: &Path,
    io: TenantIo,
) -> Result<i32, HelperError> {
    // The exec is cloned from here: keep the shim's stdout out of it.
    if let Ok(null) = helper::dev_null() {
        helper::dup_onto(&null, 1);
    }
    let root_path = PathBuf::from(format!("/proc/{}/root", t.init));
    let root = RootDir::open(&root_path)
        .map_err(|e| HelperError::new(format!("opening the container's root: {e}"), 126))?;
    let user = root.resolve_user(&spec.user).map_err(refuse)?;
    let cwd = if spec.cwd.is_empty() { "/" } else { &spec.cwd };
    if !cwd.starts_with('/') {
        return Err(HelperError::new(
            format!("the working directory '{cwd}' is invalid, it needs to be an absolute path"),
            126,
        ));
    }
    let cwd = clean_path(cwd).to_string_lossy().into_owned();
    if let Err(e) = root.stat(&cwd) {
        return Err(HelperError::new(
            format!(
                "chdir to cwd ({cwd:?}) set in config.json failed: {}",
                errno_text(e)
            ),
            if e == nix::errno::Errno::EACCES {
                126
            } else {
                127
            },
        ));
    }
    let mut env = spec.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=") && e.len() > 5) {
        env.retain(|e| !e.starts_with("HOME="));
        env.push(format!("HOME={}", user.home));
    }
    let path_env = env.iter().rev().find_map(|e| e.strip_prefix("PATH="));
    // The container's root in /proc has its mounts: nothing is left out.
    root.check_executable(&spec.args[0], path_env, &cwd, &user, &[])
        .map_err(refuse)?;

    let bundle_spec = Spec::load(t.bundle.join("config.json"))
        .map_err(|e| HelperError::new(format!("loading config.json: {e}"), 126))?;
    let mut process = bundle_spec.process().clone().unwrap_or_default();
    process
        .set_args(Some(spec.args.clone()))
        .set_env(Some(env))
        .set_cwd(PathBuf::from(&cwd))
        .set_terminal(Some(spec.tty))
        .set_console_size(None);
    let mut u = process.user().clone();
    let mut gids = u.additional_gids().clone().unwrap_or_default();
    for g in &user.sgids {
        if !gids.contains(g) {
            gids.push(*g);
        }
    }
    u.set_uid(user.uid)
        .set_gid(user.gid)
        .set_additional_gids(if gids.is_empty() { None } else { Some(gids) });
    process.set_user(u);
    if spec.privileged {
        let all: std::collections::HashSet<Capability> = all_capabilities().into_iter().collect();
        let mut caps = LinuxCapabilitiesBuilder::default()
            .bounding(all.clone())
            .effective(all.clone())
            .permitted(all)
            .build()
            .map_err(|e| HelperError::new(format!("capabilities: {e}"), 126))?;
        // The builder's defaults for these are not what docker grants.
        caps.set_inheritable(None).set_ambient(None);
        process.set_capabilities(Some(caps));
    }
    // Docker filters exec'd processes with the container's profile too.
    let executor = match bundle_spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().clone())
    {
        Some(profile) => {
            let filter = Filter::for_profile(t.runtime_root, profile)
                .map_err(|e| HelperError::new(format!("seccomp: {e}"), 126))?;
            let nnp = process.no_new_privileges().unwrap_or(false);
            Some(SeccompExecutor::new(
                filter,
                process.capabilities().clone(),
                nnp,
            ))
        }
        None => None,
    };
    if let Some(x) = &executor {
        process.set_capabilities(x.widen());
    }
    let bytes = serde_json::to_vec(&process)
        .map_err(|e| HelperError::new(format!("encoding process.json: {e}"), 126))?;
    std::fs::write(process_json, bytes)
        .map_err(|e| HelperError::new(format!("writing process.json: {e}"), 126))?;
    lc::exec(t.runtime_root, t.id, process_json, io, executor).map_err(|m| {
        let code = if m.contains("no such file or directory") || m.contains("not found") {
            127
        } else {
            126
        };
        HelperError::new(m, code)
    })
}
