//! `docker commit`: the RW layer as a layer tar (overlay whiteouts turned
//! back into OCI `.wh.` entries, runtime mount points left out) on top of
//! the container's image, with the container's config and `--change`s.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use pier_api::models::{ContainerConfig, ImageConfig};
use serde_json::{json, Value};

/// An empty regular file entry (whiteout markers).
fn empty_header() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

fn append_dir<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &Path,
    prefix: &str,
    skip: &[String],
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    let mut opaque = [0u8; 4];
    if !prefix.is_empty()
        && matches!(rustix::fs::lgetxattr(dir, "trusted.overlay.opaque", &mut opaque), Ok(1) if opaque[0] == b'y')
    {
        let mut h = empty_header();
        tar.append_data(&mut h, format!("{prefix}/.wh..wh..opq"), std::io::empty())?;
    }
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let abs = format!("/{rel}");
        if skip
            .iter()
            .any(|s| *s == abs || abs.starts_with(&format!("{s}/")))
        {
            continue;
        }
        let path = e.path();
        let m = path.symlink_metadata()?;
        if m.file_type().is_char_device() && m.rdev() == 0 {
            let mut h = empty_header();
            let wh = match rel.rsplit_once('/') {
                Some((p, n)) => format!("{p}/.wh.{n}"),
                None => format!(".wh.{rel}"),
            };
            tar.append_data(&mut h, wh, std::io::empty())?;
            continue;
        }
        tar.append_path_with_name(&path, &rel)?;
        if m.is_dir() {
            append_dir(tar, &path, &rel, skip)?;
        }
    }
    Ok(())
}

/// Writes the RW layer `upper` as an OCI layer tar.
pub fn layer_tar<W: Write>(upper: &Path, skip: &[String], out: W) -> std::io::Result<W> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    append_dir(&mut tar, upper, "", skip)?;
    tar.into_inner()
}

/// The new image's config JSON (base layers kept in `rootfs`): the base image's, its `config` replaced
/// by the container's (then `changes` applied), plus history and author.
pub fn image_config(
    mut base: Value,
    container: &ContainerConfig,
    created_by: &str,
    changes: &[String],
    comment: &str,
    author: &str,
) -> Result<Value, String> {
    let mut cfg: ImageConfig = base
        .get("config")
        .cloned()
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default();
    cfg.cmd = container.cmd.clone();
    cfg.entrypoint = container.entrypoint.clone();
    cfg.env = container.env.clone();
    cfg.working_dir = container.working_dir.clone();
    cfg.user = container.user.clone();
    cfg.labels = container.labels.clone();
    cfg.exposed_ports = container.exposed_ports.clone();
    cfg.volumes = container.volumes.clone();
    cfg.stop_signal = container.stop_signal.clone();
    if container.healthcheck.is_some() {
        cfg.healthcheck = container.healthcheck.clone();
    }
    let cfg = pier_image::apply_changes(cfg, changes).map_err(|e| e.to_string())?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let obj = base
        .as_object_mut()
        .ok_or_else(|| "the base image config is not an object".to_string())?;
    obj.insert(
        "config".into(),
        serde_json::to_value(&cfg).map_err(|e| e.to_string())?,
    );
    obj.insert("created".into(), json!(now));
    if !author.is_empty() {
        obj.insert("author".into(), json!(author));
    } else {
        obj.remove("author");
    }
    let mut entry = json!({ "created": now, "created_by": created_by });
    if !comment.is_empty() {
        entry["comment"] = json!(comment);
    }
    if !author.is_empty() {
        entry["author"] = json!(author);
    }
    match obj.get_mut("history").and_then(Value::as_array_mut) {
        Some(h) => h.push(entry),
        None => {
            obj.insert("history".into(), json!([entry]));
        }
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteouts_become_wh_entries_and_mounts_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/new"), "x").unwrap();
        std::fs::write(d.path().join("etc/hostname"), "").unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            d.path().join("etc/gone"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let t = layer_tar(d.path(), &["/etc/hostname".into()], Vec::new()).unwrap();
        let mut a = tar::Archive::new(&t[..]);
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["etc", "etc/.wh.gone", "etc/new"]);
    }

    #[test]
    fn config_takes_container_settings_and_changes() {
        let base = json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": []}, "history": [{"created_by": "x"}]});
        let c = ContainerConfig {
            cmd: Some(vec!["sleep".into(), "1".into()]),
            env: Some(vec!["A=1".into()]),
            ..Default::default()
        };
        let v = image_config(base, &c, "sleep 1", &["ENV B=2".into()], "msg", "me").unwrap();
        assert_eq!(v["config"]["Cmd"], json!(["sleep", "1"]));
        assert_eq!(v["config"]["Env"], json!(["A=1", "B=2"]));
        assert_eq!(v["history"][1]["comment"], "msg");
        assert_eq!(v["author"], "me");
        // the base layers stay; the new one is appended by the store
        assert_eq!(v["rootfs"]["type"], "layers");
    }
}
