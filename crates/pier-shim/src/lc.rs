//! The libcontainer calls, each meant to run inside a [`crate::helper`]
//! child (never in the long-lived monitor).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;

use crate::seccomp_executor::SeccompExecutor;

/// The error with its chain of causes, `a: b: c`.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

/// The container's stdio when it has no terminal.
pub struct ChildStdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// `libcontainer create`: the init waits for `start`. Returns its pid.
pub fn create(
    id: &str,
    bundle: &Path,
    runtime_root: &Path,
    stdio: Option<ChildStdio>,
    console_socket: Option<PathBuf>,
    executor: Option<SeccompExecutor>,
) -> Result<i32, String> {
    std::fs::create_dir_all(runtime_root)
        .map_err(|e| format!("creating {}: {e}", runtime_root.display()))?;
    let mut b = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(runtime_root)
        .map_err(|e| chain(&e))?
        .validate_id()
        .map_err(|e| chain(&e))?
        .with_console_socket(console_socket);
    if let Some(io) = stdio {
        b = b
            .with_stdin(io.stdin)
            .with_stdout(io.stdout)
            .with_stderr(io.stderr);
    }
    if let Some(x) = executor {
        b = b.with_executor(x);
    }
    let c = b
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(|e| chain(&e))?;
    c.pid()
        .map(|p| p.as_raw())
        .ok_or_else(|| "libcontainer created the container without a pid".to_string())
}

fn load(runtime_root: &Path, id: &str) -> Result<Option<Container>, String> {
    let dir = runtime_root.join(id);
    if !dir.exists() {
        return Ok(None);
    }
    Container::load(dir).map(Some).map_err(|e| chain(&e))
}

/// `libcontainer start`.
pub fn start(runtime_root: &Path, id: &str) -> Result<(), String> {
    let mut c =
        load(runtime_root, id)?.ok_or_else(|| format!("container {id} has no runtime state"))?;
    c.start().map_err(|e| chain(&e))
}

/// `libcontainer delete --force`: kills what is left, removes the cgroups
/// and the state dir. A container without state is already deleted.
pub fn delete(runtime_root: &Path, id: &str) -> Result<(), String> {
    match load(runtime_root, id)? {
        Some(mut c) => c.delete(true).map_err(|e| chain(&e)),
        None => Ok(()),
    }
}

/// What a tenant (exec) process gets.
pub struct TenantIo {
    pub stdio: Option<ChildStdio>,
    pub console_socket: Option<PathBuf>,
}

/// `libcontainer exec --detach --process <process.json>`: a process that
/// joins the running container's namespaces and cgroup. Returns its pid.
pub fn exec(
    runtime_root: &Path,
    id: &str,
    process_json: &Path,
    io: TenantIo,
    executor: Option<SeccompExecutor>,
) -> Result<i32, String> {
    let mut b = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(runtime_root)
        .map_err(|e| chain(&e))?
        .with_console_socket(io.console_socket);
    if let Some(s) = io.stdio {
        b = b
            .with_stdin(s.stdin)
            .with_stdout(s.stdout)
            .with_stderr(s.stderr);
    }
    if let Some(x) = executor {
        b = b.with_executor(x);
    }
    b.as_tenant()
        .with_process(Some(process_json))
        .with_detach(true)
        .build()
        .map(|p| p.as_raw())
        .map_err(|e| chain(&e))
}
