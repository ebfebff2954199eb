//! A container's mount points and Docker's rules for reading them from a
//! create request: `Binds` (`-v`), `Mounts` (`--mount`), `VolumesFrom`,
//! and tmpfs options (moby's linux parser, with its messages).

use std::collections::HashMap;
use std::path::{Component, Path};

use pier_api::models::{self, Mount, MountType};
use serde::{Deserialize, Serialize};

pub const TYPE_VOLUME: &str = "volume";
pub const TYPE_BIND: &str = "bind";
pub const TYPE_TMPFS: &str = "tmpfs";

/// One mount of a container, kept in its record from create to removal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    /// "volume", "bind" or "tmpfs".
    pub typ: String,
    /// Volume name (volumes only).
    #[serde(default)]
    pub name: String,
    /// Host path (binds; volumes: their data dir).
    #[serde(default)]
    pub source: String,
    pub destination: String,
    #[serde(default)]
    pub driver: String,
    /// Docker's `Mode` column: the `-v` mode string, "z" for local volumes.
    #[serde(default)]
    pub mode: String,
    pub rw: bool,
    #[serde(default)]
    pub propagation: String,
    /// Copy image content into the volume when it is empty.
    #[serde(default)]
    pub copy_data: bool,
    /// The user named the volume (`-v NAME:`, `source=NAME`): it is never
    /// removed with the container.
    #[serde(default)]
    pub named: bool,
    /// tmpfs mount data (`size=64m,mode=1777`).
    #[serde(default)]
    pub tmpfs_data: String,
    /// A `-v /host:/ctr` bind: a missing host directory is created.
    #[serde(default)]
    pub create_source: bool,
}

impl MountPoint {
    /// The API's `MountPoint` (inspect and `ps`); Docker omits empty
    /// `Name` and `Driver`.
    pub fn to_api(&self) -> models::MountPoint {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        models::MountPoint {
            typ: Some(self.typ.clone()),
            name: opt(&self.name),
            source: Some(self.source.clone()),
            destination: Some(self.destination.clone()),
            driver: opt(&self.driver),
            mode: Some(self.mode.clone()),
            rw: Some(self.rw),
            propagation: Some(self.propagation.clone()),
        }
    }
}

/// What a parsed volume mount asks of the volume store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeRequest {
    pub driver: String,
    pub options: Option<HashMap<String, String>>,
    pub labels: Option<HashMap<String, String>>,
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "slave", "rslave", "shared", "rshared",
];
const DEFAULT_PROPAGATION: &str = "rprivate";

fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let (mut rw, mut label, mut prop, mut copy, mut consistency) = (0, 0, 0, 0, 0);
    for o in mode.split(',') {
        match o {
            "ro" | "rw" => rw += 1,
            "z" | "Z" => label += 1,
            "nocopy" => copy += 1,
            "consistent" | "cached" | "delegated" => consistency += 1,
            p if PROPAGATIONS.contains(&p) => prop += 1,
            _ => return false,
        }
    }
    rw <= 1 && label <= 1 && prop <= 1 && copy <= 1 && consistency <= 1
}

fn read_write(mode: &str) -> bool {
    valid_mode(mode) && !mode.split(',').any(|o| o == "ro")
}

fn propagation_of(mode: &str) -> Option<&str> {
    mode.split(',').find(|o| PROPAGATIONS.contains(o))
}

/// `path.Clean` for absolute paths.
pub fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().unwrap_or_default()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    if p.starts_with('/') {
        format!("/{}", parts.join("/"))
    } else {
        parts.join("/")
    }
}

fn config_error(typ: &str, msg: impl std::fmt::Display) -> String {
    format!("invalid mount config for type {typ:?}: {msg}")
}

fn validate_target(typ: &str, target: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err(config_error(typ, "field Target must not be empty"));
    }
    if clean(&target.replace('\\', "/")) == "/" {
        return Err(config_error(
            typ,
            "invalid specification: destination can't be '/'",
        ));
    }
    if !target.starts_with('/') {
        return Err(config_error(
            typ,
            format!("invalid mount path: '{target}' mount path must be absolute"),
        ));
    }
    Ok(())
}

/// `-v` / `Binds` (moby's `ParseMountRaw`). Volume mounts come with the
/// request for the store; binds are not checked for existence (they are
/// created at start).
pub fn parse_bind(
    raw: &str,
    volume_driver: &str,
) -> Result<(MountPoint, Option<VolumeRequest>), String> {
    let invalid = || format!("invalid volume specification: '{raw}'");
    let arr: Vec<&str> = raw.splitn(4, ':').collect();
    if arr[0].is_empty() {
        return Err(invalid());
    }
    let (source, target, mode) = match arr.len() {
        1 => ("", arr[0], ""),
        2 => {
            if valid_mode(arr[1]) {
                return Err(invalid());
            }
            (arr[0], arr[1], "")
        }
        3 => (arr[0], arr[1], arr[2]),
        _ => return Err(invalid()),
    };
    if !valid_mode(mode) {
        return Err(format!("invalid mode: {mode}"));
    }
    let bind = source.starts_with('/');
    let typ = if bind { TYPE_BIND } else { TYPE_VOLUME };
    validate_target(typ, target).map_err(|e| format!("{}: {e}", invalid()))?;
    let mut mp = MountPoint {
        typ: typ.into(),
        destination: clean(target),
        rw: read_write(mode),
        mode: mode.into(),
        ..Default::default()
    };
    if bind {
        mp.source = clean(source);
        mp.propagation = propagation_of(mode).unwrap_or(DEFAULT_PROPAGATION).into();
        mp.create_source = true;
        return Ok((mp, None));
    }
    mp.name = source.into();
    mp.named = !source.is_empty();
    mp.copy_data = !mode.split(',').any(|o| o == "nocopy");
    mp.propagation = propagation_of(mode).unwrap_or_default().into();
    let req = VolumeRequest {
        driver: volume_driver.into(),
        ..Default::default()
    };
    Ok((mp, Some(req)))
}

fn mount_type_name(t: Option<&MountType>) -> String {
    t.map(|t| t.to_string()).unwrap_or_default()
}

/// `--mount` / `Mounts` (moby's `ParseMountSpec`): binds must exist.
pub fn parse_mount(m: &Mount) -> Result<(MountPoint, Option<VolumeRequest>), String> {
    let typ = mount_type_name(m.typ.as_ref());
    let err = |msg: &str| config_error(&typ, msg);
    if m.typ.as_ref() != Some(&MountType::BIND) && m.bind_options.is_some() {
        return Err(err("field BindOptions must not be specified"));
    }
    if m.typ.as_ref() != Some(&MountType::VOLUME) && m.volume_options.is_some() {
        return Err(err("field VolumeOptions must not be specified"));
    }
    if m.typ.as_ref() != Some(&MountType::TMPFS) && m.tmpfs_options.is_some() {
        return Err(err("field TmpfsOptions must not be specified"));
    }
    let target = m.target.clone().unwrap_or_default();
    validate_target(&typ, &target)?;
    let source = m.source.clone().unwrap_or_default();
    let ro = m.read_only.unwrap_or(false);
    let mut mp = MountPoint {
        typ: typ.clone(),
        destination: clean(&target),
        rw: !ro,
        ..Default::default()
    };
    match m.typ {
        Some(MountType::BIND) => {
            if source.is_empty() {
                return Err(err("field Source must not be empty"));
            }
            let prop = m
                .bind_options
                .as_ref()
                .and_then(|b| b.propagation.as_ref())
                .map(|p| p.to_string())
                .filter(|p| !p.is_empty());
            if let Some(p) = &prop {
                if !PROPAGATIONS.contains(&p.as_str()) {
                    return Err(err(&format!("invalid propagation mode: {p}")));
                }
            }
            if !source.starts_with('/') {
                return Err(err(&format!(
                    "invalid mount path: '{source}' mount path must be absolute"
                )));
            }
            let create = m
                .bind_options
                .as_ref()
                .and_then(|b| b.create_mountpoint)
                .unwrap_or(false);
            if !create && std::fs::symlink_metadata(&source).is_err() {
                return Err(err(&format!("bind source path does not exist: {source}")));
            }
            mp.source = clean(&source);
            mp.propagation = prop.unwrap_or_else(|| DEFAULT_PROPAGATION.into());
            mp.create_source = create;
            Ok((mp, None))
        }
        Some(MountType::VOLUME) => {
            let vo = m.volume_options.clone().unwrap_or_default();
            if vo.subpath.as_deref().is_some_and(|s| !s.is_empty()) {
                return Err(err("volume subpaths are not supported"));
            }
            mp.name = source.clone();
            mp.named = !source.is_empty();
            mp.copy_data = !vo.no_copy.unwrap_or(false);
            let dc = vo.driver_config.unwrap_or_default();
            let req = VolumeRequest {
                driver: dc.name.unwrap_or_default(),
                options: dc.options,
                labels: vo.labels,
            };
            Ok((mp, Some(req)))
        }
        Some(MountType::TMPFS) => {
            if !source.is_empty() {
                return Err(err("field Source must not be specified"));
            }
            mp.tmpfs_data = tmpfs_data(m.tmpfs_options.as_ref(), ro).map_err(|e| err(&e))?;
            Ok((mp, None))
        }
        _ => Err(err("mount type unknown")),
    }
}

/// moby's `ConvertTmpfsOptions`: `ro`, `mode=<octal>`, `size=<n>[kmg]`.
pub fn tmpfs_data(o: Option<&models::MountTmpfsOptions>, ro: bool) -> Result<String, String> {
    let mut raw = Vec::new();
    if ro {
        raw.push("ro".to_string());
    }
    if let Some(o) = o {
        if let Some(mode) = o.mode.filter(|m| *m != 0) {
            raw.push(format!("mode={mode:o}"));
        }
        if let Some(size) = o.size_bytes.filter(|s| *s != 0) {
            let (mut n, mut suffix) = (size, "");
            for (s, d) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
                if size % d == 0 {
                    n = size / d;
                    suffix = s;
                    break;
                }
            }
            raw.push(format!("size={n}{suffix}"));
        }
        for opt in o.options.iter().flatten() {
            match opt.as_slice() {
                [k] if k == "exec" || k == "noexec" => raw.push(k.clone()),
                [k, v] if k == "exec" || k == "noexec" => raw.push(format!("{k}={v}")),
                [k, ..] => return Err(format!("invalid option: {k}")),
                [] => return Err("invalid option array length".into()),
            }
        }
    }
    Ok(raw.join(","))
}

/// The mount options of a tmpfs (Docker's defaults `noexec,nosuid,nodev`
/// merged with the user's data, later words winning).
pub fn tmpfs_mount_options(data: &str) -> Vec<String> {
    let mut out: Vec<String> = vec!["noexec".into(), "nosuid".into(), "nodev".into()];
    let opposite = |o: &str| -> Option<&'static str> {
        Some(match o {
            "exec" => "noexec",
            "noexec" => "exec",
            "suid" => "nosuid",
            "nosuid" => "suid",
            "dev" => "nodev",
            "nodev" => "dev",
            "rw" => "ro",
            "ro" => "rw",
            _ => return None,
        })
    };
    for o in data.split(',').filter(|s| !s.is_empty()) {
        if let Some(opp) = opposite(o) {
            out.retain(|x| x != opp);
        }
        let key = o.split('=').next().unwrap_or(o);
        if o.contains('=') {
            out.retain(|x| x.split('=').next() != Some(key));
        }
        if !out.iter().any(|x| x == o) {
            out.push(o.to_string());
        }
    }
    out
}

/// `--volumes-from CONTAINER[:ro|rw]` → (container, read-write).
pub fn parse_volumes_from(spec: &str) -> Result<(String, bool), String> {
    if spec.is_empty() {
        return Err("volumes-from specification cannot be an empty string".into());
    }
    let (id, mode) = spec.split_once(':').unwrap_or((spec, ""));
    if mode.is_empty() {
        return Ok((id.to_string(), true));
    }
    if !valid_mode(mode) || propagation_of(mode).is_some() || mode.split(',').any(|o| o == "nocopy")
    {
        return Err(format!("invalid mode: {mode}"));
    }
    Ok((id.to_string(), read_write(mode)))
}

/// Host paths for the tmpfs destinations of `HostConfig.Tmpfs`.
pub fn validate_tmpfs_destination(dest: &str) -> Result<(), String> {
    if clean(dest) == "/" {
        return Err("invalid specification: destination can't be '/'".into());
    }
    if !dest.starts_with('/') {
        return Err(format!(
            "invalid mount path: '{dest}' mount path must be absolute"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_like_docker() {
        let (m, v) = parse_bind("myvol:/data", "").unwrap();
        assert_eq!(
            (m.typ.as_str(), m.name.as_str(), m.rw, m.copy_data),
            ("volume", "myvol", true, true)
        );
        assert!(m.named && v.is_some());
        let (m, _) = parse_bind("myvol:/data:ro,nocopy", "").unwrap();
        assert!(!m.rw && !m.copy_data);
        let (m, v) = parse_bind("/srv/x/../y:/data/:ro", "").unwrap();
        assert_eq!(
            (
                m.typ.as_str(),
                m.source.as_str(),
                m.destination.as_str(),
                m.mode.as_str()
            ),
            ("bind", "/srv/y", "/data", "ro")
        );
        assert_eq!(m.propagation, "rprivate");
        assert!(v.is_none() && !m.rw && m.create_source);
        let (m, _) = parse_bind("/a:/b:rshared", "").unwrap();
        assert_eq!(m.propagation, "rshared");
        let (m, _) = parse_bind("/anon", "").unwrap();
        assert!(!m.named && m.name.is_empty() && m.typ == "volume");
        assert_eq!(
            parse_bind("/data:ro", "").unwrap_err(),
            "invalid volume specification: '/data:ro'"
        );
        assert_eq!(
            parse_bind("/a:/b:bogus", "").unwrap_err(),
            "invalid mode: bogus"
        );
        assert_eq!(
            parse_bind("/a:rel", "").unwrap_err(),
            "invalid volume specification: '/a:rel': invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"
        );
        assert!(parse_bind("/a:/", "")
            .unwrap_err()
            .contains("destination can't be '/'"));
        assert!(parse_bind(":/x", "").is_err());
    }

    #[test]
    fn mounts_like_docker() {
        let m: Mount = serde_json::from_value(serde_json::json!({
            "Type": "bind", "Source": "/nonexistent-pier-src", "Target": "/x"
        }))
        .unwrap();
        assert_eq!(
            parse_mount(&m).unwrap_err(),
            "invalid mount config for type \"bind\": bind source path does not exist: /nonexistent-pier-src"
        );
        let m: Mount = serde_json::from_value(serde_json::json!({
            "Type": "bind", "Source": "/tmp", "Target": "/x", "ReadOnly": true,
            "BindOptions": {"Propagation": "rslave"}
        }))
        .unwrap();
        let (mp, _) = parse_mount(&m).unwrap();
        assert_eq!(
            (mp.rw, mp.propagation.as_str(), mp.mode.as_str()),
            (false, "rslave", "")
        );
        let m: Mount = serde_json::from_value(serde_json::json!({
            "Type": "volume", "Target": "/v",
            "VolumeOptions": {"NoCopy": true, "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs"}}}
        }))
        .unwrap();
        let (mp, req) = parse_mount(&m).unwrap();
        assert!(!mp.copy_data && !mp.named);
        assert_eq!(req.unwrap().options.unwrap()["type"], "tmpfs");
        let m: Mount = serde_json::from_value(serde_json::json!({
            "Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 67108864, "Mode": 448}
        }))
        .unwrap();
        let (mp, _) = parse_mount(&m).unwrap();
        assert_eq!(mp.tmpfs_data, "mode=700,size=64m");
        let m: Mount = serde_json::from_value(serde_json::json!({
            "Type": "tmpfs", "Target": "/t", "Source": "x"
        }))
        .unwrap();
        assert!(parse_mount(&m)
            .unwrap_err()
            .ends_with("field Source must not be specified"));
    }

    #[test]
    fn tmpfs_and_volumes_from() {
        assert_eq!(
            tmpfs_mount_options("size=10m,exec,mode=755"),
            ["nosuid", "nodev", "size=10m", "exec", "mode=755"]
        );
        assert_eq!(parse_volumes_from("c1").unwrap(), ("c1".into(), true));
        assert_eq!(parse_volumes_from("c1:ro").unwrap(), ("c1".into(), false));
        assert_eq!(
            parse_volumes_from("c1:rshared").unwrap_err(),
            "invalid mode: rshared"
        );
        assert!(parse_volumes_from("").is_err());
    }
}
