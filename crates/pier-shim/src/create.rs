//! What the create helper does, in a forked child of the monitor: mount the
//! rootfs, resolve user / cwd / executable in it, patch `config.json`,
//! `libcontainer create`, and bring up `lo` in a new network namespace.
//! On failure it leaves nothing mounted.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use pier_runtime::ShimConfig;
use serde::{Deserialize, Serialize};

use crate::error::ShimError;
use crate::helper::HelperError;
use crate::lc::{self, ChildStdio};
use crate::overlay;
use crate::rootfs::{clean_path, RootDir};
use crate::seccomp_executor::{Filter, SeccompExecutor};

/// What the monitor needs to know about the created container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Created {
    pub pid: i32,
    /// `linux.cgroupsPath` (for the OOM check at exit).
    pub cgroup: Option<String>,
    /// The initial pty size `(rows, cols)`.
    pub console: Option<(u16, u16)>,
}

struct Prepared {
    /// The bundle libcontainer gets: `bundle/` itself, or `bundle/lc/`
    /// whose spec leaves the seccomp filter to [`SeccompExecutor`].
    lc_bundle: PathBuf,
    executor: Option<SeccompExecutor>,
    /// The command, for the runtime's own not-found errors.
    arg0: String,
    cgroup: Option<String>,
    oom_kill_disable: bool,
    console: Option<(u16, u16)>,
    new_netns: bool,
}

pub fn rootfs_dir(bundle: &Path) -> PathBuf {
    bundle.join("rootfs")
}

fn refuse(r: crate::rootfs::Refusal) -> ShimError {
    ShimError::Create {
        message: r.message,
        exit_code: r.exit_code,
    }
}

/// Resolves the user, creates the cwd, checks the executable and writes the
/// patched spec back.
fn prepare_spec(cfg: &ShimConfig, rootfs: &Path) -> Result<Prepared, ShimError> {
    let spec_path = cfg.bundle.join("config.json");
    let mut spec = Spec::load(&spec_path)
        .map_err(|e| ShimError::Other(format!("loading {}: {e}", spec_path.display())))?;
    let root = RootDir::open(rootfs)
        .map_err(|e| ShimError::sys(format!("opening {}", rootfs.display()), e))?;
    let mut user = root.resolve_user(&cfg.user).map_err(refuse)?;
    let group_add = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(pier_runtime::GROUP_ADD_ANNOTATION))
        .cloned()
        .unwrap_or_default();
    if !group_add.is_empty() {
        let names: Vec<&str> = group_add.split(',').collect();
        for g in root.resolve_groups(&names).map_err(refuse)? {
            if !user.sgids.contains(&g) {
                user.sgids.push(g);
            }
        }
    }

    let mounted: Vec<PathBuf> = spec
        .mounts()
        .iter()
        .flatten()
        .map(|m| clean_path(&m.destination().to_string_lossy()))
        .collect();
    let process = spec
        .process_mut()
        .as_mut()
        .ok_or_else(|| ShimError::Other("config.json has no process".into()))?;
    process.set_terminal(Some(cfg.tty));
    let cwd = process.cwd().to_string_lossy().into_owned();
    let cwd = if cwd.is_empty() { "/".to_string() } else { cwd };
    if !cwd.starts_with('/') {
        return Err(ShimError::Create {
            message: format!(
                "the working directory '{cwd}' is invalid, it needs to be an absolute path"
            ),
            exit_code: 128,
        });
    }
    let cwd = clean_path(&cwd).to_string_lossy().into_owned();
    root.mkdir_all(&cwd).map_err(|e| ShimError::Create {
        message: format!(
            "chdir to cwd ({cwd:?}) set in config.json failed: {}",
            crate::rootfs::errno_text(e)
        ),
        exit_code: 128,
    })?;

    let mut env = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=") && e.len() > 5) {
        env.retain(|e| !e.starts_with("HOME="));
        env.push(format!("HOME={}", user.home));
    }
    let path_env = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .map(str::to_string);
    // With `--init` the init is bind-mounted later, by libcontainer: check
    // the command it will run instead.
    let args = process.args().clone().unwrap_or_default();
    let arg0 = match args.as_slice() {
        [init, sep, cmd, ..] if init == pier_runtime::INIT_PATH && sep == "--" => cmd.clone(),
        _ => args.first().cloned().unwrap_or_default(),
    };
    root.check_executable(&arg0, path_env.as_deref(), &cwd, &user, &mounted)
        .map_err(refuse)?;
    process.set_env(Some(env));

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
    let console = process.console_size().map(|b| {
        (
            b.height().min(u16::MAX as u64) as u16,
            b.width().min(u16::MAX as u64) as u16,
        )
    });

    let linux = spec.linux().as_ref();
    let oom_kill_disable = linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.disable_oom_killer())
        .unwrap_or(false);
    let cgroup = linux
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    let new_netns = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none())
        });
    // Temp file + rename, without fsync: the patched spec is derived data,
    // read back at once by libcontainer and rewritten by pierd on every start.
    let bytes = serde_json::to_vec(&spec)
        .map_err(|e| ShimError::Other(format!("serialising the spec: {e}")))?;
    let tmp = cfg.bundle.join(".config.json.shim");
    std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, &spec_path))
        .map_err(|e| ShimError::io(format!("writing {}", spec_path.display()), e))?;
    let (lc_bundle, executor) = runtime_bundle(cfg, spec, rootfs)?;
    Ok(Prepared {
        lc_bundle,
        executor,
        arg0,
        cgroup,
        oom_kill_disable,
        console,
        new_netns,
    })
}

/// The bundle for libcontainer. With a precompilable seccomp profile that
/// is `bundle/lc/`: the same spec without the profile, with the capabilities
/// the executor needs to install the cached program, and the rootfs as an
/// absolute path. `bundle/config.json` keeps the real spec (exec reads it).
fn runtime_bundle(
    cfg: &ShimConfig,
    mut spec: Spec,
    rootfs: &Path,
) -> Result<(PathBuf, Option<SeccompExecutor>), ShimError> {
    let lc_dir = cfg.bundle.join("lc");
    let profile = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().clone())
        .filter(crate::seccomp_bpf::precompilable);
    let Some(profile) = profile else {
        let _ = std::fs::remove_dir_all(&lc_dir);
        return Ok((cfg.bundle.clone(), None));
    };
    let filter =
        Filter::for_profile(&cfg.runtime_root, profile).map_err(|e| ShimError::Create {
            message: format!("failed to initialize seccomp: {e}"),
            exit_code: 128,
        })?;
    let process = spec
        .process_mut()
        .as_mut()
        .ok_or_else(|| ShimError::Other("config.json has no process".into()))?;
    let nnp = process.no_new_privileges().unwrap_or(false);
    let executor = SeccompExecutor::new(filter, process.capabilities().clone(), nnp);
    process.set_capabilities(executor.widen());
    if let Some(linux) = spec.linux_mut().as_mut() {
        linux.set_seccomp(None);
    }
    if let Some(root) = spec.root_mut().as_mut() {
        root.set_path(rootfs.to_path_buf());
    }
    let bytes = serde_json::to_vec(&spec)
        .map_err(|e| ShimError::Other(format!("serialising the spec: {e}")))?;
    std::fs::create_dir_all(&lc_dir)
        .and_then(|()| std::fs::write(lc_dir.join("config.json"), bytes))
        .map_err(|e| ShimError::io(format!("writing {}/config.json", lc_dir.display()), e))?;
    Ok((lc_dir, Some(executor)))
}

/// libcontainer's create error, with runc's texts and docker's exit codes
/// for a command it could not find or run (one on a mount, which only the
/// runtime sees).
fn runtime_refusal(arg0: &str, m: String) -> ShimError {
    let (message, exit_code) = if m.contains(&format!("executable '{arg0}' not found in $PATH")) {
        if arg0.contains('/') {
            (
                format!("exec: {arg0:?}: stat {arg0}: no such file or directory"),
                127,
            )
        } else {
            (
                format!("exec: {arg0:?}: executable file not found in $PATH"),
                127,
            )
        }
    } else if m.contains(&format!("executable '{arg0}' at path")) {
        (format!("exec: {arg0:?}: permission denied"), 126)
    } else {
        (m, 128)
    };
    ShimError::Create { message, exit_code }
}

/// Sets `lo` up in the network namespace of `pid`. Changes this process'
/// network namespace: only for the throwaway helper.
fn loopback_up(pid: i32) -> Result<(), ShimError> {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|e| ShimError::io("opening the container's network namespace", e))?;
    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| ShimError::sys("entering the container's network namespace", e))?;
    // SAFETY: plain socket/ioctl calls on a zeroed ifreq we own.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(ShimError::sys("socket", nix::errno::Errno::last()));
        }
        let sock = crate::helper::owned(s);
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) < 0 {
            return Err(ShimError::sys("SIOCGIFFLAGS lo", nix::errno::Errno::last()));
        }
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) < 0 {
            return Err(ShimError::sys("SIOCSIFFLAGS lo", nix::errno::Errno::last()));
        }
    }
    Ok(())
}

/// The create helper's body.
pub fn create(
    cfg: &ShimConfig,
    stdio: Option<ChildStdio>,
    console_socket: Option<PathBuf>,
) -> Result<Created, HelperError> {
    // The container's processes are cloned from here: keep pierd's answer
    // pipe (our stdout) out of them.
    if let Ok(null) = crate::helper::dev_null() {
        crate::helper::dup_onto(&null, 1);
    }
    let rootfs = rootfs_dir(&cfg.bundle);
    overlay::mount_rootfs(&cfg.rootfs, &cfg.bundle, &rootfs, cfg.ephemeral)?;
    let res = (|| {
        let prep = prepare_spec(cfg, &rootfs)?;
        let pid = lc::create(
            &cfg.id,
            &prep.lc_bundle,
            &cfg.runtime_root,
            stdio,
            console_socket,
            prep.executor,
        )
        .map_err(|m| runtime_refusal(&prep.arg0, m))?;
        if prep.oom_kill_disable {
            if let Some(cg) = prep.cgroup.as_deref() {
                let dir = pier_runtime::cgroupfs::CgroupDir::new(Path::new("/sys/fs/cgroup"), cg);
                if let Err(e) = dir.set_oom_kill_disable() {
                    crate::slog!("--oom-kill-disable: {e}");
                }
            }
        }
        if prep.new_netns {
            if let Err(e) = loopback_up(pid) {
                // The container exists: the monitor tears it down.
                crate::slog!("bringing up lo: {e}");
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = lc::delete(&cfg.runtime_root, &cfg.id);
                return Err(e);
            }
        }
        apply_bind_propagation(&cfg.bundle, pid);
        Ok(Created {
            pid,
            cgroup: prep.cgroup,
            console: prep.console,
        })
    })();
    if res.is_err() {
        if let Err(e) = overlay::unmount_rootfs(&rootfs) {
            crate::slog!("{e}");
        }
    }
    res.map_err(HelperError::from)
}

/// libcontainer 0.7 passes a bind mount's propagation option (`rprivate`,
/// `rshared`, ...) in the same mount(2) call as MS_BIND, where the kernel
/// ignores it, so every bind ends up with the container root's propagation
/// (slave). As runc does, change each bind's propagation on its mount
/// point, from inside the created container's mount namespace, before
/// START. Runs last in the create helper: it leaves the helper in that
/// namespace.
fn apply_bind_propagation(bundle: &Path, init: i32) {
    use nix::mount::MsFlags;
    let Ok(spec) = Spec::load(bundle.join("config.json")) else {
        return;
    };
    let wanted: Vec<(PathBuf, MsFlags)> = spec
        .mounts()
        .iter()
        .flatten()
        .filter_map(|m| {
            let opts = m.options().as_ref()?;
            if !opts.iter().any(|o| o == "bind" || o == "rbind") {
                return None;
            }
            let flags = opts.iter().rev().find_map(|o| match o.as_str() {
                "private" => Some(MsFlags::MS_PRIVATE),
                "rprivate" => Some(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
                "shared" => Some(MsFlags::MS_SHARED),
                "rshared" => Some(MsFlags::MS_SHARED | MsFlags::MS_REC),
                "slave" => Some(MsFlags::MS_SLAVE),
                "rslave" => Some(MsFlags::MS_SLAVE | MsFlags::MS_REC),
                "unbindable" => Some(MsFlags::MS_UNBINDABLE),
                "runbindable" => Some(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
                _ => None,
            })?;
            Some((m.destination().clone(), flags))
        })
        .collect();
    if wanted.is_empty() {
        return;
    }
    let ns = match std::fs::File::open(format!("/proc/{init}/ns/mnt")) {
        Ok(f) => f,
        Err(e) => {
            crate::slog!("bind propagation: opening the mount namespace: {e}");
            return;
        }
    };
    // Entering a mount namespace also moves root and cwd to its root: the
    // container's rootfs, so destinations resolve as the container sees them.
    if let Err(e) = nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNS) {
        crate::slog!("bind propagation: entering the mount namespace: {e}");
        return;
    }
    for (dest, flags) in wanted {
        if let Err(e) = nix::mount::mount(None::<&str>, &dest, None::<&str>, flags, None::<&str>) {
            crate::slog!("bind propagation of {}: {e}", dest.display());
        }
    }
}
