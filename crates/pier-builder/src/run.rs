//! Running a RUN step: a throwaway container started through pier-shim
//! (the same monitor pierd uses) on the image's layers plus an init layer
//! holding the runtime's mount points, with its own upper dir – which,
//! once the command exits, is exactly the step's new layer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use pier_runtime::{
    build_spec, launch_shim, NetworkMode, RootfsLayers, RuntimeError, ShimConfig, ShimConnection,
    ShimEvent, ShimRequest, SpecInput,
};

use crate::error::{BuildError, IoContext, Result};
use crate::runnet::{RunNet, RunNetRequest, RunNetwork};

/// Where RUN containers live and how the shim is reached.
pub struct RunEnv {
    pub shim_path: PathBuf,
    /// libcontainer state root (pierd's X/runtime).
    pub runtime_root: PathBuf,
    /// Directory of shim sockets (pierd's X/shim).
    pub shim_dir: PathBuf,
    /// Bundles are made here (R/builder/tmp).
    pub tmp: PathBuf,
    /// The init layer (R/builder/init).
    pub init_layer: PathBuf,
    /// pierd's networking for RUN steps on a network (installed once).
    pub network: OnceLock<Arc<dyn RunNetwork>>,
}

pub struct RunStep<'a> {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
    pub net: RunNet,
    pub extra_hosts: &'a [String],
    pub layers: &'a [PathBuf],
    /// `RUN --mount`s, and their mount points (target, is a dir).
    pub mounts: Vec<pier_runtime::MountSpec>,
    pub mount_points: Vec<(String, bool)>,
}

/// A finished RUN container; its bundle (and upper dir) go away on drop.
pub struct RunOutcome {
    pub exit_code: i32,
    pub id: String,
    bundle: PathBuf,
}

impl RunOutcome {
    pub fn upper(&self) -> PathBuf {
        self.bundle.join("diff")
    }
}

impl Drop for RunOutcome {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.bundle) {
            tracing::warn!("removing {}: {e}", self.bundle.display());
        }
    }
}

/// Makes the init layer: empty mount points for /proc, /sys, /dev and the
/// bind-mounted /etc files, so they never show up in a step's layer.
pub fn ensure_init_layer(dir: &Path) -> Result<()> {
    for d in [
        "proc",
        "sys",
        "dev",
        "dev/pts",
        "dev/shm",
        "dev/mqueue",
        "etc",
    ] {
        std::fs::create_dir_all(dir.join(d)).ctx(|| format!("creating init layer {d}"))?;
    }
    for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
        let p = dir.join(f);
        if !p.exists() {
            std::fs::write(&p, b"").ctx(|| format!("creating init layer {f}"))?;
        }
    }
    Ok(())
}

/// `--add-host` values (`name:ip` or `name=ip`) as hosts lines.
fn extra_host_lines(hosts: &[String]) -> String {
    let mut out = String::new();
    for h in hosts {
        let split = h.find('=').or_else(|| h.find(':'));
        if let Some(i) = split {
            let (name, ip) = (&h[..i], &h[i + 1..]);
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            out.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    out
}

fn runtime_err(e: RuntimeError) -> BuildError {
    BuildError::Runtime(e.to_string())
}

impl RunEnv {
    /// Runs the step to completion; `on_start` gets the container ID,
    /// `on_output` every chunk of stdout/stderr. Call from a blocking
    /// thread: it drives the shim's async client on the current tokio
    /// runtime (or a private one).
    pub fn run(
        &self,
        step: &RunStep<'_>,
        on_start: &mut dyn FnMut(&str),
        on_output: &mut dyn FnMut(&[u8]),
    ) -> Result<RunOutcome> {
        let id = hex::encode(rand::random::<[u8; 32]>());
        let id12 = id[..12].to_string();
        let bundle = self.tmp.join(format!("run-{id12}"));
        for sub in ["rootfs", "diff", "work"] {
            std::fs::create_dir_all(bundle.join(sub))
                .ctx(|| format!("creating {}", bundle.display()))?;
        }
        let mut outcome = RunOutcome {
            exit_code: -1,
            id: id.clone(),
            bundle: bundle.clone(),
        };
        let net = self.effective_net(&step.net)?;
        let base_hosts = if net == RunNet::Host {
            std::fs::read_to_string("/etc/hosts").unwrap_or_default()
        } else {
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".to_string()
        };
        let hosts = format!("{base_hosts}{}", extra_host_lines(step.extra_hosts));
        std::fs::write(bundle.join("hosts"), hosts).ctx(|| "writing hosts".into())?;
        std::fs::write(bundle.join("hostname"), format!("{id12}\n"))
            .ctx(|| "writing hostname".into())?;
        let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
        std::fs::write(bundle.join("resolv.conf"), resolv).ctx(|| "writing resolv.conf".into())?;

        let input = SpecInput {
            id: id.clone(),
            args: step.args.clone(),
            env: step.env.clone(),
            cwd: step.cwd.clone(),
            hostname: id12.clone(),
            network: if net == RunNet::Host {
                NetworkMode::Host
            } else {
                NetworkMode::None
            },
            hostname_path: bundle.join("hostname"),
            hosts_path: bundle.join("hosts"),
            resolv_conf_path: bundle.join("resolv.conf"),
            extra_mounts: step.mounts.clone(),
            ..Default::default()
        };
        let spec = build_spec(&input);
        let bytes = serde_json::to_vec(&spec)
            .map_err(|e| BuildError::Runtime(format!("encoding the runtime spec: {e}")))?;
        std::fs::write(bundle.join("config.json"), bytes).ctx(|| "writing config.json".into())?;
        let mut lower = step.layers.to_vec();
        lower.push(self.init_layer.clone());
        if !step.mount_points.is_empty() {
            let layer = bundle.join("mounts");
            std::fs::create_dir_all(&layer).ctx(|| format!("creating {}", layer.display()))?;
            crate::runmount::mount_point_layer(&layer, &step.mount_points, step.layers, &self.tmp)?;
            lower.push(layer);
        }
        let cfg = ShimConfig {
            id: id.clone(),
            bundle: bundle.clone(),
            rootfs: RootfsLayers {
                lower,
                upper: bundle.join("diff"),
                work: bundle.join("work"),
            },
            runtime_root: self.runtime_root.clone(),
            socket: self.shim_dir.join(format!("{id12}.sock")),
            log: None,
            exit_file: bundle.join("exit.json"),
            tty: false,
            open_stdin: false,
            // A RUN step's container is thrown away after the step.
            ephemeral: true,
            user: step.user.clone(),
            log_max_size: 0,
            log_max_files: 0,
            log_attrs: Default::default(),
        };
        let shim_json = bundle.join("shim.json");
        let cfg_bytes = serde_json::to_vec(&cfg)
            .map_err(|e| BuildError::Runtime(format!("encoding shim.json: {e}")))?;
        std::fs::write(&shim_json, cfg_bytes).ctx(|| "writing shim.json".into())?;
        std::fs::create_dir_all(&self.shim_dir)
            .ctx(|| format!("creating {}", self.shim_dir.display()))?;

        let fut = async {
            let pid = match launch_shim(&self.shim_path, &cfg, &shim_json).await {
                Ok(l) => l.pid,
                // The command could not be started (not found, not
                // executable): Docker reports it as the step's exit code.
                Err(RuntimeError::Create { message, exit_code }) => {
                    on_output(format!("{message}\n").as_bytes());
                    return Ok(exit_code);
                }
                Err(e) => return Err(runtime_err(e)),
            };
            // The namespace exists and init waits for START: connect it.
            if let RunNet::Network(name) = &net {
                if let Err(e) = self
                    .connect_network(&id, pid, name, &id12, step.extra_hosts, &bundle)
                    .await
                {
                    abort_created(&cfg.socket).await;
                    return Err(e);
                }
            }
            on_start(&id);
            let mut conn = ShimConnection::connect(&cfg.socket)
                .await
                .map_err(runtime_err)?;
            conn.send(&ShimRequest::Subscribe)
                .await
                .map_err(runtime_err)?;
            conn.send(&ShimRequest::Start).await.map_err(runtime_err)?;
            loop {
                match conn.recv().await {
                    Ok(Some(ShimEvent::Stdout(b))) | Ok(Some(ShimEvent::Stderr(b))) => {
                        on_output(&b)
                    }
                    Ok(Some(ShimEvent::Exited { exit_code, .. })) => return Ok(exit_code),
                    Ok(Some(ShimEvent::Error(m))) => return Err(BuildError::Runtime(m)),
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {
                        // The shim went away: its exit record is the truth.
                        return match pier_runtime::read_exit_record(&cfg.exit_file) {
                            Ok(Some(r)) => Ok(r.exit_code),
                            _ => Err(BuildError::Runtime(
                                "the RUN container's monitor exited unexpectedly".into(),
                            )),
                        };
                    }
                }
            }
        };
        let res = block_on(fut);
        if let (RunNet::Network(_), Some(n)) = (&net, self.network.get()) {
            let _ = block_on(n.release(&id));
        }
        outcome.exit_code = res??;
        Ok(outcome)
    }

    /// The network a step really gets: without pierd's networking (the
    /// builder used on its own) the default bridge falls back to the
    /// host's network; a user network is an error.
    fn effective_net(&self, net: &RunNet) -> Result<RunNet> {
        match net {
            RunNet::Network(n) if self.network.get().is_none() => {
                if n == "bridge" {
                    Ok(RunNet::Host)
                } else {
                    Err(BuildError::Invalid(format!(
                        "network {n} is not available to the builder"
                    )))
                }
            }
            other => Ok(other.clone()),
        }
    }

    async fn connect_network(
        &self,
        id: &str,
        pid: u32,
        network: &str,
        hostname: &str,
        extra_hosts: &[String],
        bundle: &Path,
    ) -> Result<()> {
        let Some(n) = self.network.get() else {
            return Ok(());
        };
        let files = n
            .connect(RunNetRequest {
                id,
                pid,
                network,
                hostname,
                extra_hosts,
            })
            .await
            .map_err(BuildError::Runtime)?;
        // In place: the files are already bind-mounted into the container.
        let res = std::fs::write(bundle.join("hosts"), files.hosts)
            .and_then(|_| std::fs::write(bundle.join("resolv.conf"), files.resolv_conf))
            .ctx(|| "writing the RUN container's hosts and resolv.conf".into());
        if res.is_err() {
            n.release(id).await;
        }
        res
    }
}

/// Kills a created RUN container whose networking failed and waits for
/// its shim to see the end (the ephemeral shim then cleans up).
async fn abort_created(socket: &Path) {
    let Ok(mut conn) = ShimConnection::connect(socket).await else {
        return;
    };
    let _ = conn.send(&ShimRequest::Subscribe).await;
    if conn.send(&ShimRequest::Signal(9)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Ok(Some(ev)) = conn.recv().await {
            if matches!(ev, ShimEvent::Exited { .. }) {
                break;
            }
        }
    })
    .await;
}

/// Runs a future to completion from synchronous code.
pub(crate) fn block_on<F: std::future::Future>(fut: F) -> Result<F::Output> {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => Ok(h.block_on(fut)),
        Err(_) => Ok(tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ctx(|| "starting a tokio runtime".into())?
            .block_on(fut)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_host_lines() {
        assert_eq!(
            extra_host_lines(&["db:10.0.0.2".into(), "v6=::1".into(), "x:[fe80::1]".into()]),
            "10.0.0.2\tdb\n::1\tv6\nfe80::1\tx\n"
        );
    }
}
