//! The daemon's shared state: paths, the image store, the container store,
//! and host facts gathered once at start (so `/info` does no slow work).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pier_image::ImageStore;

use crate::containers::{ContainerError, ContainerStore, IoContext};

#[derive(Debug, Clone)]
pub struct Paths {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// R/containers
    pub containers: PathBuf,
    /// R/tmp: request bodies spooled before the image store reads them.
    pub tmp: PathBuf,
    /// X/shim
    pub shim_dir: PathBuf,
    /// X/runtime
    pub runtime_root: PathBuf,
}

impl Paths {
    pub fn new(data_root: &Path, exec_root: &Path) -> Self {
        Self {
            data_root: data_root.to_path_buf(),
            exec_root: exec_root.to_path_buf(),
            containers: data_root.join("containers"),
            tmp: data_root.join("tmp"),
            shim_dir: exec_root.join("shim"),
            runtime_root: exec_root.join("runtime"),
        }
    }

    /// X/shim/<id12>.sock
    pub fn shim_socket(&self, id: &str) -> PathBuf {
        self.shim_dir
            .join(format!("{}.sock", &id[..id.len().min(12)]))
    }
}

/// Facts about the host that do not change while pierd runs.
#[derive(Debug, Clone)]
pub struct HostInfo {
    pub id: String,
    pub hostname: String,
    pub kernel_version: String,
    pub operating_system: String,
    pub os_version: String,
    pub ncpu: i64,
    pub mem_total: i64,
    pub cgroup_version: u8,
}

impl HostInfo {
    pub fn gather(data_root: &Path) -> Self {
        let uname = rustix::system::uname();
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let field = |key: &str| {
            os_release
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .map(|v| v.trim_matches('"').to_string())
                .unwrap_or_default()
        };
        let mem_total = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<i64>().ok())
            })
            .map(|kb| kb * 1024)
            .unwrap_or(0);
        let cgroup_version = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            2
        } else {
            1
        };
        let operating_system = match field("PRETTY_NAME") {
            s if s.is_empty() => "Linux".to_string(),
            s => s,
        };
        Self {
            id: engine_id(data_root),
            hostname: uname.nodename().to_string_lossy().into_owned(),
            kernel_version: uname.release().to_string_lossy().into_owned(),
            operating_system,
            os_version: field("VERSION_ID"),
            ncpu: std::thread::available_parallelism()
                .map(|n| n.get() as i64)
                .unwrap_or(1),
            mem_total,
            cgroup_version,
        }
    }
}

/// A stable engine ID kept under the data root (Docker shows it in `info`).
fn engine_id(data_root: &Path) -> String {
    let path = data_root.join("engine-id");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim();
        if !s.is_empty() {
            return s.to_string();
        }
    }
    let bytes: [u8; 16] = rand::random();
    let h = hex::encode(bytes);
    let id = format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    );
    if let Err(e) = crate::containers::atomic_write(&path, id.as_bytes(), true) {
        tracing::warn!("cannot persist engine id: {e}");
    }
    id
}

pub struct Daemon {
    pub paths: Paths,
    pub shim_path: PathBuf,
    pub images: Arc<ImageStore>,
    pub containers: ContainerStore,
    pub host: HostInfo,
    /// R/volumes
    pub volumes: Arc<pier_volume::VolumeStore>,
    /// `docker exec` instances.
    pub execs: crate::exec::ExecStore,
    /// The `/events` stream.
    pub events: crate::events::EventBus,
    /// Set by `main` once the daemon's networking is open.
    pub network: Option<Arc<pier_network::Networking>>,
    /// The image builder (`POST /build`), state under R/builder.
    pub builder: Arc<pier_builder::Builder>,
    /// Healthcheck monitors of running containers.
    pub health: crate::containers::health::Monitors,
}

impl Daemon {
    /// Opens (or creates) every store under the roots. Blocking.
    pub fn open(
        data_root: &Path,
        exec_root: &Path,
        shim_path: PathBuf,
    ) -> Result<Self, ContainerError> {
        let paths = Paths::new(data_root, exec_root);
        for dir in [
            &paths.data_root,
            &paths.containers,
            &paths.exec_root,
            &paths.shim_dir,
            &paths.runtime_root,
        ] {
            std::fs::create_dir_all(dir).ctx(|| format!("creating {}", dir.display()))?;
        }
        // Spooled bodies of requests that were cut short by a crash.
        let _ = std::fs::remove_dir_all(&paths.tmp);
        std::fs::create_dir_all(&paths.tmp).ctx(|| format!("creating {}", paths.tmp.display()))?;
        let images = Arc::new(ImageStore::open(data_root.join("image"))?);
        let containers = ContainerStore::load(&paths.containers)?;
        let volumes = Arc::new(pier_volume::VolumeStore::open(data_root.join("volumes"))?);
        crate::containers::mounts::restore(&volumes, &containers, &paths);
        let host = HostInfo::gather(data_root);
        let builder = crate::handlers::build::open_builder(images.clone(), &paths, &shim_path)
            .map_err(|e| ContainerError::Runtime(format!("opening the builder: {e}")))?;
        Ok(Self {
            paths,
            shim_path,
            images,
            containers,
            host,
            volumes,
            execs: Default::default(),
            events: Default::default(),
            network: None,
            builder,
            health: Default::default(),
        })
    }
}
