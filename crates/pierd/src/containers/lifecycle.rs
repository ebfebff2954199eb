//! Creating and starting containers, and the per-container task that holds
//! the shim connection and records the exit.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pier_api::models::ContainerCreateBody;

use super::config::{self, process_env};
use super::error::{ContainerError, IoContext};
use super::etcfiles;
use super::record::{ContainerRecord, StateRecord, Status};
use super::store::{AttachStart, Container};
use crate::daemon::Daemon;
use crate::network::plan::StartPlan;
use crate::runtime::{self, RuntimeError, ShimControl, ShimEvent, ShimReader, ShimRequest};

/// How long START waits for parked attaches to subscribe.
const ATTACH_SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Created {
    pub id: String,
    pub warnings: Vec<String>,
}

pub fn new_id() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// `POST /containers/create`.
pub async fn create(
    d: &Arc<Daemon>,
    name: Option<&str>,
    body: ContainerCreateBody,
) -> Result<Created, ContainerError> {
    // `docker run` starts it next: the first, slow cgroup migration can
    // happen meanwhile.
    pier_runtime::attach_warm::warm();
    // Name errors first: they do not depend on the image.
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        super::names::validate(n)?;
    }
    let image_ref = body
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| {
            ContainerError::InvalidParameter(
                "config cannot be empty in order to create a container".into(),
            )
        })?;
    let images = d.images.clone();
    let lookup = image_ref.clone();
    let (image, image_config, layers) = tokio::task::spawn_blocking(move || {
        let rec = images.get(&lookup)?;
        let cfg = images.container_config(&rec)?;
        let layers = images.layer_dirs(&rec)?;
        Ok::<_, ContainerError>((rec, cfg, layers))
    })
    .await
    .map_err(|e| ContainerError::Runtime(format!("image lookup failed: {e}")))??;

    let id = new_id();
    let mut endpoints_config = body
        .networking_config
        .clone()
        .and_then(|n| n.endpoints_config)
        .unwrap_or_default();
    let mut merged = config::merge(body, &image_config, &id)?;
    let more = super::hostspec::check_at_create(&mut merged.host_config)?;
    merged.warnings.extend(more);
    crate::network::plan::validate_create(
        d,
        &merged.host_config,
        &merged.config,
        &mut endpoints_config,
        &mut merged.warnings,
    )?;
    let mut cfg = merged.config;
    cfg.image = Some(image_ref.clone());
    let mount_points =
        super::mounts::register_async(d, &id, &merged.host_config, &cfg, &layers).await?;
    let rec = ContainerRecord {
        id: id.clone(),
        name: String::new(),
        created: Utc::now(),
        path: merged.path,
        args: merged.args,
        config: cfg,
        host_config: merged.host_config,
        image: image_ref,
        image_id: image.id.clone(),
        layers,
        state: StateRecord::default(),
        restart_count: 0,
        mount_points,
        endpoints_config,
    };
    let points = rec.mount_points.clone();
    let c = d
        .containers
        .insert_new(rec, name)
        .inspect_err(|_| super::mounts::release(d, &id, &points, true))?;
    let me = c.clone();
    let made = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&me.dir).ctx(|| format!("creating {}", me.dir.display()))?;
        me.persist_blocking()
    })
    .await
    .map_err(|e| ContainerError::Runtime(format!("create task failed: {e}")))
    .and_then(|r| r);
    if let Err(e) = made {
        super::mounts::release(d, &id, &points, true);
        d.containers.forget(&id);
        let _ = std::fs::remove_dir_all(d.containers.dir_of(&id));
        return Err(e);
    }
    tracing::info!(id = %id, name = %c.name(), "container created");
    Ok(Created {
        id,
        warnings: merged.warnings,
    })
}

/// Everything the shim needs, written into the bundle. Blocking.
fn prepare_bundle(
    d: &Daemon,
    rec: &ContainerRecord,
    dir: &Path,
    net: &StartPlan,
    own_netns: Option<std::path::PathBuf>,
) -> Result<runtime::ShimConfig, ContainerError> {
    for sub in ["rootfs", "diff", "work"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).ctx(|| format!("creating {}", p.display()))?;
    }
    // A stale exit record from a previous run must not be mistaken for
    // this run's.
    let _ = std::fs::remove_file(dir.join("exit.json"));
    let (hostname, domainname) = net.names().unwrap_or_else(|| {
        (
            rec.config.hostname.clone().unwrap_or_default(),
            rec.config.domainname.clone().unwrap_or_default(),
        )
    });
    let host_network = rec.network_mode() == "host";
    etcfiles::write_all(dir, &hostname, &domainname, host_network)
        .ctx(|| format!("writing /etc files into {}", dir.display()))?;

    let host = super::hostspec::host_spec(&rec.host_config, &d.shim_path)?;
    let extra_mounts = super::mounts::setup(d, rec)?;
    let mut args = vec![rec.path.clone()];
    args.extend(rec.args.iter().cloned());
    let input = runtime::SpecInput {
        id: rec.id.clone(),
        args,
        env: process_env(&rec.config),
        cwd: rec
            .config
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into()),
        hostname,
        domainname,
        tty: rec.tty(),
        network: own_netns.map_or_else(|| net.runtime_mode(), runtime::NetworkMode::Join),
        // `container:<x>` shares x's names and files, as Docker does.
        hostname_path: net.etc_dir().unwrap_or(&dir.to_path_buf()).join("hostname"),
        hosts_path: net.etc_dir().unwrap_or(&dir.to_path_buf()).join("hosts"),
        resolv_conf_path: net
            .etc_dir()
            .unwrap_or(&dir.to_path_buf())
            .join("resolv.conf"),
        readonly_rootfs: rec.host_config.readonly_rootfs.unwrap_or(false),
        console_size: console_size(rec),
        extra_mounts,
        limits: host.limits,
        security: host.security,
        init: host.init,
        group_add: rec.host_config.group_add.clone().unwrap_or_default(),
        shm_size: host.shm_size,
    };
    let (log_max_size, log_max_files) = match super::hostspec::log_rotation(&rec.host_config) {
        Ok(r) => r,
        Err(e) => {
            super::mounts::on_stop(d, rec);
            return Err(e);
        }
    };
    if let Err(e) = runtime::write_spec(&input, &dir.join("config.json")) {
        super::mounts::on_stop(d, rec);
        return Err(ContainerError::Runtime(format!(
            "writing the runtime spec: {e}"
        )));
    }

    Ok(runtime::ShimConfig {
        id: rec.id.clone(),
        bundle: dir.to_path_buf(),
        rootfs: runtime::RootfsLayers {
            lower: rec.layers.clone(),
            upper: dir.join("diff"),
            work: dir.join("work"),
        },
        runtime_root: d.paths.runtime_root.clone(),
        socket: d.paths.shim_socket(&rec.id),
        log: rec.log_path(dir),
        exit_file: dir.join("exit.json"),
        tty: rec.tty(),
        open_stdin: rec.config.open_stdin.unwrap_or(false),
        ephemeral: rec.auto_remove(),
        user: rec.config.user.clone().unwrap_or_default(),
        log_max_size,
        log_max_files,
        log_attrs: super::logattrs::attrs(rec),
    })
}

fn console_size(rec: &ContainerRecord) -> Option<(u16, u16)> {
    let cs = rec.host_config.console_size.as_ref()?;
    let (h, w) = (*cs.first()?, *cs.get(1)?);
    (h > 0 && w > 0).then(|| {
        (
            h.min(u16::MAX as usize) as u16,
            w.min(u16::MAX as usize) as u16,
        )
    })
}

/// `POST /containers/{id}/start`.
pub async fn start(d: &Arc<Daemon>, c: &Arc<Container>) -> Result<(), ContainerError> {
    let _op = c.op.lock().await;
    let rec = {
        let g = c.lock();
        if g.removing || c.is_removed() {
            return Err(ContainerError::RemovalInProgress(c.id.clone()));
        }
        if g.rec.state.running() {
            return Err(ContainerError::NotModified);
        }
        g.rec.clone()
    };
    wait_previous_shim(c).await;
    let net = match crate::network::plan::plan(d, &rec) {
        Ok(n) => n,
        // Through fail_start so parked attaches (docker run) are released.
        Err(e) => {
            let message = e.to_string();
            return Err(fail_start(
                d,
                c,
                RuntimeError::Create {
                    exit_code: 128,
                    message,
                },
            )
            .await);
        }
    };
    // On bridges pierd makes the namespace, so it is wired while the shim
    // creates the container.
    let own_netns = match crate::network::attach::precreate_netns(d, &net).await {
        Ok(n) => n,
        Err(e) => {
            let message = e.to_string();
            let err = RuntimeError::Create {
                exit_code: 128,
                message,
            };
            return Err(fail_start(d, c, err).await);
        }
    };
    let dd = d.clone();
    let dir = c.dir.clone();
    let rec2 = rec.clone();
    let net2 = net.clone();
    let netns_path = own_netns.as_ref().map(|n| n.path());
    let prepared =
        tokio::task::spawn_blocking(move || prepare_bundle(&dd, &rec2, &dir, &net2, netns_path))
            .await
            .map_err(|e| ContainerError::Runtime(format!("prepare task failed: {e}")))?;
    let shim_cfg = match prepared {
        Ok(cfg) => cfg,
        // Recorded like any failed start (State.Error, parked attaches
        // released, AutoRemove honoured: `docker run --rm` waits for the
        // removal), while the caller keeps the original error and status.
        Err(e) => {
            let message = e.to_string();
            let _ = fail_start(
                d,
                c,
                RuntimeError::Create {
                    exit_code: 0,
                    message,
                },
            )
            .await;
            return Err(e);
        }
    };
    let socket = shim_cfg.socket.clone();
    let _ = std::fs::remove_file(&socket);

    let launched =
        crate::network::attach::launch_connected(d, &rec, &c.dir, &shim_cfg, own_netns, &net);
    if let Err(e) = launched.await {
        return Err(fail_start(d, c, e).await);
    }

    match run_started(c, &socket, &rec).await {
        Ok((pid, reader, ctl)) => {
            {
                let mut g = c.lock();
                g.starting = None;
                g.shim = Some(ctl);
                let st = &mut g.rec.state;
                st.status = Status::Running;
                st.pid = pid as i64;
                st.exit_code = 0;
                st.error.clear();
                st.oom_killed = false;
                st.started_at = Some(Utc::now());
            }
            c.publish(|l| {
                l.running = true;
                l.exit_code = 0;
                l.error = None;
            });
            // The monitor starts before the record is written so a fast
            // exit is never missed; it waits for `op` only for AutoRemove.
            tokio::spawn(monitor(d.clone(), c.clone(), reader));
            super::health::monitor::on_start(d, c);
            // Written off the response path: should pierd die before the
            // write lands, recovery finds the live shim by its socket.
            let me = c.clone();
            tokio::spawn(async move {
                if let Err(e) = me.persist().await {
                    tracing::error!(id = %me.id, "cannot record start: {e}");
                }
            });
            tracing::info!(id = %c.id, pid, "container started");
            Ok(())
        }
        Err(e) => {
            c.lock().starting = None;
            Err(fail_start(d, c, e).await)
        }
    }
}

/// Connects to the freshly launched shim, lets parked attaches subscribe,
/// then sends START and waits for STARTED.
async fn run_started(
    c: &Arc<Container>,
    socket: &Path,
    rec: &ContainerRecord,
) -> Result<(u32, ShimReader, Arc<ShimControl>), RuntimeError> {
    let mut conn = runtime::ShimConnection::connect(socket).await?;
    let pending = {
        let mut g = c.lock();
        g.starting = Some(socket.to_path_buf());
        std::mem::take(&mut g.pending)
    };
    let mut acks = Vec::new();
    for p in pending {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let notice = AttachStart {
            socket: socket.to_path_buf(),
            subscribed: tx,
        };
        if p.notify.send(notice).is_ok() {
            acks.push(rx);
        }
    }
    for rx in acks {
        // A dropped attach answers with an error at once; only a stuck one
        // costs the timeout.
        let _ = tokio::time::timeout(ATTACH_SUBSCRIBE_TIMEOUT, rx).await;
    }
    if rec.tty() {
        if let Some((rows, cols)) = console_size(rec) {
            conn.send(&ShimRequest::Resize { rows, cols }).await?;
        }
    }
    conn.send(&ShimRequest::Start).await?;
    let pid = loop {
        match runtime::next_event_conn(&mut conn).await {
            Some(ShimEvent::Started { pid }) => break pid,
            Some(ShimEvent::Error(msg)) => {
                return Err(RuntimeError::Create {
                    exit_code: exit_code_for(&msg),
                    message: msg,
                })
            }
            Some(_) => continue,
            None => {
                return Err(RuntimeError::Shim(
                    "the shim closed the connection before the container started".into(),
                ))
            }
        }
    };
    let (reader, writer) = conn.into_split();
    Ok((
        pid,
        reader,
        Arc::new(ShimControl::new(socket.to_path_buf(), writer)),
    ))
}

/// Docker's mapping of start errors to exit codes (126 not executable,
/// 127 not found, 128 anything else).
pub fn exit_code_for(msg: &str) -> i32 {
    let m = msg.to_ascii_lowercase();
    if m.contains("permission denied") || m.contains("is a directory") {
        126
    } else if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("not a directory")
    {
        127
    } else {
        128
    }
}

/// Records a failed start like Docker: ExitCode and State.Error set, the
/// container stays "created", parked attaches are released, and AutoRemove
/// removes it.
async fn fail_start(d: &Arc<Daemon>, c: &Arc<Container>, e: RuntimeError) -> ContainerError {
    let (msg, code) = match &e {
        RuntimeError::Create { message, exit_code } => {
            let code = if *exit_code > 0 {
                *exit_code
            } else {
                exit_code_for(message)
            };
            (message.clone(), code)
        }
        other => (other.to_string(), 128),
    };
    tracing::info!(id = %c.id, "start failed: {msg}");
    // Recovery reads an exit record on a "created" container as "it ran
    // while pierd was down"; a failed start did not run.
    let _ = std::fs::remove_file(c.dir.join("exit.json"));
    super::mounts::on_stop(d, &c.snapshot());
    let auto_remove = {
        let mut g = c.lock();
        g.pending.clear();
        let st = &mut g.rec.state;
        st.exit_code = code as i64;
        st.error = msg.clone();
        st.pid = 0;
        if st.status == Status::Running {
            st.status = Status::Exited;
        }
        g.rec.auto_remove()
    };
    c.publish(|l| {
        l.exits += 1;
        l.running = false;
        l.exit_code = code as i64;
        l.error = Some(msg.clone());
    });
    if auto_remove {
        let (d, c) = (d.clone(), c.clone());
        // `op` is held by the caller: remove once it is released.
        tokio::spawn(async move {
            if let Err(e) = super::control::remove(&d, &c, true).await {
                tracing::warn!(id = %c.id, "auto-remove after failed start: {e}");
            }
        });
    } else if let Err(pe) = c.persist().await {
        tracing::error!(id = %c.id, "cannot record failed start: {pe}");
    }
    if (126..=127).contains(&code) {
        ContainerError::StartFailed(msg)
    } else {
        ContainerError::Runtime(msg)
    }
}

/// Holds the shim connection of a running container until it exits.
pub async fn monitor(d: Arc<Daemon>, c: Arc<Container>, mut reader: ShimReader) {
    let (code, oom, finished) = loop {
        match runtime::next_event(&mut reader).await {
            Some(ShimEvent::Exited {
                exit_code,
                oom_killed,
            }) => break (exit_code as i64, oom_killed, Utc::now()),
            Some(_) => continue,
            // The shim died without telling us: its exit record (written
            // before EXITED) is the truth, else Docker's 255.
            None => {
                let (code, oom, at) = exit_from_record(&c.dir);
                on_exit(&d, &c, code, oom, at).await;
                return;
            }
        }
    };
    // After EXITED the shim still deletes the runtime state; the next
    // start must not race it.
    let (gone, retiring) = tokio::sync::watch::channel(false);
    c.lock().retiring = Some(retiring);
    tokio::spawn(async move {
        let drain = async { while runtime::next_event(&mut reader).await.is_some() {} };
        let _ = tokio::time::timeout(SHIM_RETIRE_TIMEOUT, drain).await;
        let _ = gone.send(true);
    });
    on_exit(&d, &c, code, oom, finished).await;
}

/// How long a start waits for the previous run's shim to finish its
/// cleanup; a shim stuck longer is not waited for.
const SHIM_RETIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits until the shim of this container's previous run is gone.
async fn wait_previous_shim(c: &Container) {
    let retiring = c.lock().retiring.take();
    if let Some(mut rx) = retiring {
        let _ = tokio::time::timeout(SHIM_RETIRE_TIMEOUT, rx.wait_for(|gone| *gone)).await;
    }
}

pub fn exit_from_record(dir: &Path) -> (i64, bool, DateTime<Utc>) {
    match runtime::read_exit(&dir.join("exit.json")) {
        Some(r) => (
            r.exit_code as i64,
            r.oom_killed,
            DateTime::parse_from_rfc3339(&r.finished_at)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|_| Utc::now()),
        ),
        None => (255, false, Utc::now()),
    }
}

/// Records an exit, wakes waiters and performs AutoRemove.
pub async fn on_exit(
    d: &Arc<Daemon>,
    c: &Arc<Container>,
    code: i64,
    oom: bool,
    finished: DateTime<Utc>,
) {
    super::health::monitor::on_stop(d, &c.id);
    let auto_remove = {
        let mut g = c.lock();
        g.shim = None;
        g.starting = None;
        let st = &mut g.rec.state;
        st.status = Status::Exited;
        st.paused = false;
        st.pid = 0;
        st.exit_code = code;
        st.oom_killed = oom;
        st.finished_at = Some(finished);
        g.rec.auto_remove() && !g.manual_restart
    };
    tracing::info!(id = %c.id, code, "container exited");
    super::mounts::on_stop(d, &c.snapshot());
    // AutoRemove: the removal releases the endpoints, after `removed` waiters
    // (`run --rm`) have their answer.
    if !auto_remove {
        crate::network::attach::release(d, &c.id).await;
    }
    c.publish(|l| {
        l.exits += 1;
        l.running = false;
        l.exit_code = code;
    });
    crate::events::container(d, c, "die", &[("exitCode", code.to_string())]);
    if !auto_remove {
        super::restart::after_exit(d, c, false);
    }
    if auto_remove {
        // Skip writing a record that is about to be deleted; a crash in
        // between is handled by recovery (the shim is gone, exit.json stays).
        if let Err(e) = super::control::remove(d, c, true).await {
            tracing::warn!(id = %c.id, "auto-remove failed: {e}");
        }
    } else if let Err(e) = c.persist().await {
        tracing::error!(id = %c.id, "cannot record exit: {e}");
    }
}
