//! Volumes and mounts of containers (Docker's `registerMountPoints`,
//! `createContainerVolumesOS`, `setupMounts`, `removeMountPoints`):
//! resolved at create, mounted at start, released at exit and removal.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use pier_api::models::{ContainerConfig, HostConfig};
use pier_volume::imageview::copy_up_from_image;
use pier_volume::mountpoint::{
    self, clean, parse_bind, parse_mount, parse_volumes_from, tmpfs_mount_options, MountPoint,
    VolumeRequest, TYPE_BIND, TYPE_TMPFS, TYPE_VOLUME,
};
use pier_volume::{CreateOptions, VolumeError, VolumeStore, DRIVER};

use super::error::ContainerError;
use super::record::{ContainerRecord, Status};
use super::store::ContainerStore;
use crate::daemon::Daemon;
use crate::runtime::MountSpec;

fn invalid(msg: impl Into<String>) -> ContainerError {
    ContainerError::InvalidParameter(msg.into())
}

fn upsert(points: &mut Vec<MountPoint>, mp: MountPoint) {
    points.retain(|p| p.destination != mp.destination);
    points.push(mp);
}

/// Creates (or finds) the volume of a mount and fills in its name and
/// path. Local volumes get Docker's default mode "z".
fn attach_volume(
    vols: &VolumeStore,
    id: &str,
    mp: &mut MountPoint,
    req: VolumeRequest,
) -> Result<(), ContainerError> {
    let v = vols.create(CreateOptions {
        name: mp.named.then(|| mp.name.clone()),
        driver: Some(req.driver),
        labels: req.labels,
        options: req.options,
        reference: Some(id.to_string()),
    })?;
    mp.name = v.record.name;
    mp.source = v.mountpoint.display().to_string();
    mp.driver = DRIVER.into();
    Ok(())
}

/// `register` off the async runtime.
pub async fn register_async(
    d: &Arc<Daemon>,
    id: &str,
    hc: &HostConfig,
    cfg: &ContainerConfig,
    layers: &[PathBuf],
) -> Result<Vec<MountPoint>, ContainerError> {
    let (d, id, hc, cfg, layers) = (
        d.clone(),
        id.to_string(),
        hc.clone(),
        cfg.clone(),
        layers.to_vec(),
    );
    tokio::task::spawn_blocking(move || register(&d, &id, &hc, &cfg, &layers))
        .await
        .map_err(|e| ContainerError::Runtime(format!("mount setup failed: {e}")))?
}

/// At create (blocking): every mount of the container, volumes created
/// and referenced, image content copied into new volumes. On error the
/// references taken are released and anonymous volumes made are removed.
pub fn register(
    d: &Daemon,
    id: &str,
    hc: &HostConfig,
    cfg: &ContainerConfig,
    layers: &[PathBuf],
) -> Result<Vec<MountPoint>, ContainerError> {
    let mut points: Vec<MountPoint> = Vec::new();
    let res = register_into(d, id, hc, cfg, layers, &mut points);
    if let Err(e) = res {
        release(d, id, &points, true);
        return Err(e);
    }
    Ok(points)
}

fn register_into(
    d: &Daemon,
    id: &str,
    hc: &HostConfig,
    cfg: &ContainerConfig,
    layers: &[PathBuf],
    points: &mut Vec<MountPoint>,
) -> Result<(), ContainerError> {
    let vols = &d.volumes;
    let driver = hc.volume_driver.clone().unwrap_or_default();
    let tmpfs: HashSet<String> = hc.tmpfs.iter().flatten().map(|(k, _)| clean(k)).collect();
    for dest in hc.tmpfs.iter().flatten().map(|(k, _)| k) {
        mountpoint::validate_tmpfs_destination(dest).map_err(invalid)?;
    }

    for spec in hc.volumes_from.iter().flatten() {
        let (from, rw) = parse_volumes_from(spec).map_err(invalid)?;
        let src = d
            .containers
            .get(&from)
            .map_err(|e| invalid(e.to_string()))?;
        for m in src.snapshot().mount_points {
            let mut cp = m.clone();
            cp.rw = m.rw && rw;
            cp.copy_data = false;
            if cp.typ == TYPE_VOLUME {
                vols.get(&cp.name)?;
                vols.reference(&cp.name, id);
            }
            upsert(points, cp);
        }
    }

    let mut explicit: HashSet<String> = HashSet::new();
    for raw in hc.binds.iter().flatten() {
        let (mut mp, req) = parse_bind(raw, &driver).map_err(invalid)?;
        if explicit.contains(&mp.destination) || tmpfs.contains(&mp.destination) {
            return Err(invalid(format!(
                "Duplicate mount point: {}",
                mp.destination
            )));
        }
        if let Some(req) = req {
            attach_volume(vols, id, &mut mp, req)?;
            if mp.mode.is_empty() {
                mp.mode = "z".into();
            }
        }
        explicit.insert(mp.destination.clone());
        upsert(points, mp);
    }

    for m in hc.mounts.iter().flatten() {
        let (mut mp, req) = parse_mount(m).map_err(invalid)?;
        if explicit.contains(&mp.destination) {
            return Err(invalid(format!(
                "Duplicate mount point: {}",
                m.target.clone().unwrap_or_default()
            )));
        }
        if let Some(req) = req {
            attach_volume(vols, id, &mut mp, req)?;
            mp.mode = "z".into();
        }
        explicit.insert(mp.destination.clone());
        upsert(points, mp);
    }

    // The image's VOLUMEs and `-v /path`: anonymous volumes where nothing
    // else is mounted.
    for spec in cfg.volumes.iter().flatten() {
        let dest = clean(spec);
        if points.iter().any(|p| p.destination == dest) || tmpfs.contains(&dest) {
            continue;
        }
        mountpoint::validate_tmpfs_destination(&dest).map_err(invalid)?;
        let mut mp = MountPoint {
            typ: TYPE_VOLUME.into(),
            destination: dest,
            rw: true,
            copy_data: true,
            ..Default::default()
        };
        attach_volume(
            vols,
            id,
            &mut mp,
            VolumeRequest {
                driver: driver.clone(),
                ..Default::default()
            },
        )?;
        points.push(mp);
    }

    for mp in points
        .iter()
        .filter(|p| p.typ == TYPE_VOLUME && p.copy_data)
    {
        let path = vols.mount(&mp.name, id)?;
        let copied = copy_up_from_image(layers, vols.root(), &mp.destination, &path);
        vols.unmount(&mp.name, id)?;
        if copied? {
            tracing::debug!(volume = %mp.name, dest = %mp.destination, "copied image content into volume");
        }
    }
    Ok(())
}

/// At start (blocking): the extra mounts of the OCI spec. Volumes with
/// driver options are mounted now; `-v` host dirs are created if missing.
pub fn setup(d: &Daemon, rec: &ContainerRecord) -> Result<Vec<MountSpec>, ContainerError> {
    let mut specs = Vec::new();
    let mut mounted: Vec<&MountPoint> = Vec::new();
    let res = (|| {
        for mp in &rec.mount_points {
            match mp.typ.as_str() {
                TYPE_VOLUME => {
                    let path = d.volumes.mount(&mp.name, &rec.id)?;
                    mounted.push(mp);
                    specs.push(bind_spec(path, mp));
                }
                TYPE_BIND => {
                    let src = PathBuf::from(&mp.source);
                    if std::fs::symlink_metadata(&src).is_err() {
                        if !mp.create_source {
                            return Err(invalid(format!(
                                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                                mp.source
                            )));
                        }
                        std::fs::create_dir_all(&src).map_err(|e| {
                            ContainerError::io(
                                format!("error while creating mount source path '{}'", mp.source),
                                e,
                            )
                        })?;
                    }
                    specs.push(bind_spec(src, mp));
                }
                TYPE_TMPFS => specs.push(tmpfs_spec(&mp.destination, &mp.tmpfs_data)),
                _ => {}
            }
        }
        for (dest, data) in rec.host_config.tmpfs.iter().flatten() {
            specs.push(tmpfs_spec(&clean(dest), data));
        }
        Ok(())
    })();
    if let Err(e) = res {
        for mp in mounted {
            let _ = d.volumes.unmount(&mp.name, &rec.id);
        }
        return Err(e);
    }
    Ok(specs)
}

fn bind_spec(source: PathBuf, mp: &MountPoint) -> MountSpec {
    let mut spec = MountSpec::bind(source, &mp.destination, !mp.rw);
    if !mp.propagation.is_empty() && mp.propagation != "rprivate" {
        spec.options.push(mp.propagation.clone());
    }
    spec
}

fn tmpfs_spec(dest: &str, data: &str) -> MountSpec {
    MountSpec {
        source: "tmpfs".into(),
        destination: dest.into(),
        typ: "tmpfs".into(),
        options: tmpfs_mount_options(data),
        readonly: false,
    }
}

/// The container stopped (or failed to start): volumes mounted for it
/// may be unmounted.
pub fn on_stop(d: &Daemon, rec: &ContainerRecord) {
    for mp in rec.mount_points.iter().filter(|m| m.typ == TYPE_VOLUME) {
        if let Err(e) = d.volumes.unmount(&mp.name, &rec.id) {
            tracing::warn!(id = %rec.id, volume = %mp.name, "{e}");
        }
    }
}

/// The container is removed: its references go, and with `remove_anonymous`
/// (`rm -v`, `--rm`) its anonymous volumes too – never named ones, nor
/// ones another container still uses.
pub fn release(d: &Daemon, id: &str, points: &[MountPoint], remove_anonymous: bool) {
    for mp in points
        .iter()
        .filter(|m| m.typ == TYPE_VOLUME && !m.name.is_empty())
    {
        d.volumes.release(&mp.name, id);
        if remove_anonymous && !mp.named {
            match d.volumes.remove(&mp.name, false) {
                Ok(()) | Err(VolumeError::InUse { .. }) | Err(VolumeError::NotFound { .. }) => {}
                Err(e) => tracing::warn!(id, volume = %mp.name, "removing anonymous volume: {e}"),
            }
        }
    }
}

/// At daemon start: references of every container, and the mounts still
/// held by running ones (or by ones started just before a crash, whose
/// record still says "created" but whose shim is there).
pub fn restore(vols: &VolumeStore, containers: &ContainerStore, paths: &crate::daemon::Paths) {
    for c in containers.list() {
        let rec = c.snapshot();
        let live = rec.state.status == Status::Running
            || (rec.state.status == Status::Created && paths.shim_socket(&rec.id).exists());
        for mp in rec.mount_points.iter().filter(|m| m.typ == TYPE_VOLUME) {
            vols.reference(&mp.name, &rec.id);
            if live {
                vols.restore_active(&mp.name, &rec.id);
            }
        }
    }
    vols.unmount_unused();
}

/// `ps --filter volume=X`: X is a mount's destination, volume name, or
/// (for binds) source.
pub fn uses_volume(rec: &ContainerRecord, wanted: &[String]) -> bool {
    rec.mount_points.iter().any(|m| {
        let key = if m.name.is_empty() {
            &m.source
        } else {
            &m.name
        };
        wanted.iter().any(|w| *w == m.destination || w == key)
    })
}

/// Docker's `Mounts` of inspect and `ps`.
pub fn api_mounts(rec: &ContainerRecord) -> Vec<pier_api::models::MountPoint> {
    rec.mount_points.iter().map(MountPoint::to_api).collect()
}
