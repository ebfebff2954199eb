//! A service's `volumes:` (short `source:target[:opts]` and long syntax).

use super::values::{boolean, bytes, child, map, opt_string, string, Result};
use super::Context;
use crate::error::ComposeError;
use crate::model::{BindOptions, ServiceVolume, TmpfsOptions, VolumeOptions, VolumeType};
use crate::yaml::{Node, Value};

const PROPAGATIONS: [&str; 6] = [
    "rprivate", "private", "rshared", "shared", "rslave", "slave",
];

pub fn service_volumes(node: &Node, path: &str, ctx: &mut Context) -> Result<Vec<ServiceVolume>> {
    let Value::Seq(items) = &node.value else {
        if matches!(node.value, Value::Null) {
            return Ok(Vec::new());
        }
        return Err(ComposeError::node(node, path, "must be a list"));
    };
    let mut out = Vec::new();
    for item in items {
        let volume = match &item.value {
            Value::Map(_) => long(item, path, ctx)?,
            _ => {
                let text = string(item, path)?;
                short(&text, ctx).map_err(|why| {
                    ComposeError::node(item, path, format!("invalid volume {text:?}: {why}"))
                })?
            }
        };
        out.push(volume);
    }
    Ok(out)
}

fn is_host_path(source: &str) -> bool {
    source.starts_with(['.', '/', '~'])
}

/// `target`, `name:target`, `./dir:target:ro,z`, `/abs:target:rshared`.
pub fn short(text: &str, ctx: &Context) -> std::result::Result<ServiceVolume, &'static str> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, options] => (Some(*source), *target, Some(*options)),
        _ => return Err("too many colons"),
    };
    if target.is_empty() || !target.starts_with('/') {
        return Err("the target must be an absolute path");
    }
    let mut volume = ServiceVolume {
        target: target.to_string(),
        ..ServiceVolume::default()
    };
    match source.filter(|s| !s.is_empty()) {
        None => volume.kind = VolumeType::Volume,
        Some(source) if is_host_path(source) => {
            volume.kind = VolumeType::Bind;
            volume.source = Some(ctx.host_path(source).to_string_lossy().into_owned());
            volume.bind = Some(BindOptions {
                create_host_path: true,
                ..BindOptions::default()
            });
        }
        Some(name) => {
            volume.kind = VolumeType::Volume;
            volume.source = Some(name.to_string());
        }
    }
    for option in options.unwrap_or("").split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => volume.read_only = true,
            "rw" => volume.read_only = false,
            "z" | "Z" => {
                let bind = volume.bind.get_or_insert_with(BindOptions::default);
                bind.selinux = Some(option.to_string());
            }
            "nocopy" => {
                volume
                    .volume
                    .get_or_insert_with(VolumeOptions::default)
                    .nocopy = true;
            }
            p if PROPAGATIONS.contains(&p) => {
                if volume.kind != VolumeType::Bind {
                    return Err("propagation applies to bind mounts only");
                }
                volume
                    .bind
                    .get_or_insert_with(BindOptions::default)
                    .propagation = Some(p.to_string());
            }
            _ => return Err("unknown option"),
        }
    }
    Ok(volume)
}

fn long(node: &Node, path: &str, ctx: &mut Context) -> Result<ServiceVolume> {
    let allowed = [
        "type",
        "source",
        "target",
        "read_only",
        "bind",
        "volume",
        "tmpfs",
        "consistency",
        "image",
    ];
    let fields = map(node, path, &allowed)?;
    let kind_node = fields
        .get("type")
        .ok_or_else(|| ComposeError::node(node, path, "type is required"))?;
    let kind = match string(kind_node, &child(path, "type"))?.as_str() {
        "volume" => VolumeType::Volume,
        "bind" => VolumeType::Bind,
        "tmpfs" => VolumeType::Tmpfs,
        other => {
            return Err(ComposeError::node(
                kind_node,
                &child(path, "type"),
                format!("unsupported volume type {other:?}"),
            ))
        }
    };
    let mut volume = ServiceVolume {
        kind,
        ..ServiceVolume::default()
    };
    for (key, value) in fields {
        let path = &child(path, key);
        match key.as_str() {
            "source" => volume.source = opt_string(value, path)?,
            "target" => volume.target = string(value, path)?,
            "read_only" => volume.read_only = boolean(value, path)?,
            "bind" => {
                let mut bind = BindOptions::default();
                for (key, value) in
                    map(value, path, &["propagation", "create_host_path", "selinux"])?
                {
                    let path = &child(path, key);
                    match key.as_str() {
                        "propagation" => bind.propagation = opt_string(value, path)?,
                        "create_host_path" => bind.create_host_path = boolean(value, path)?,
                        "selinux" => bind.selinux = opt_string(value, path)?,
                        _ => {}
                    }
                }
                volume.bind = Some(bind);
            }
            "volume" => {
                let mut options = VolumeOptions::default();
                for (key, value) in map(value, path, &["nocopy", "subpath"])? {
                    let path = &child(path, key);
                    match key.as_str() {
                        "nocopy" => options.nocopy = boolean(value, path)?,
                        "subpath" => options.subpath = opt_string(value, path)?,
                        _ => {}
                    }
                }
                volume.volume = Some(options);
            }
            "tmpfs" => {
                let mut options = TmpfsOptions::default();
                for (key, value) in map(value, path, &["size", "mode"])? {
                    let path = &child(path, key);
                    match key.as_str() {
                        "size" => options.size = Some(bytes(value, path)?),
                        "mode" => {
                            options.mode = Some(super::service_parts::file_mode(value, path)?)
                        }
                        _ => {}
                    }
                }
                volume.tmpfs = Some(options);
            }
            _ => {}
        }
    }
    if !volume.target.starts_with('/') {
        return Err(ComposeError::node(
            node,
            path,
            "target must be an absolute path",
        ));
    }
    if kind == VolumeType::Bind {
        let source = volume
            .source
            .clone()
            .ok_or_else(|| ComposeError::node(node, path, "a bind mount needs a source"))?;
        volume.source = Some(ctx.host_path(&source).to_string_lossy().into_owned());
    }
    Ok(volume)
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;

    use super::*;

    #[test]
    fn short_syntax() {
        let env: IndexMap<String, String> = [("HOME".to_string(), "/home/u".to_string())].into();
        let ctx = Context {
            project_dir: "/proj".into(),
            env: &env,
            warnings: Vec::new(),
        };
        let cases = [
            ("/data", VolumeType::Volume, None, false),
            ("db:/var/lib/db", VolumeType::Volume, Some("db"), false),
            ("db:/var/lib/db:ro", VolumeType::Volume, Some("db"), true),
            (
                "./site:/usr/share/html:ro,z",
                VolumeType::Bind,
                Some("/proj/site"),
                true,
            ),
            ("../up:/x", VolumeType::Bind, Some("/up"), false),
            (
                "~/cache:/cache:rw",
                VolumeType::Bind,
                Some("/home/u/cache"),
                false,
            ),
            (
                "/etc/hosts:/h:rshared",
                VolumeType::Bind,
                Some("/etc/hosts"),
                false,
            ),
        ];
        for (text, kind, source, ro) in cases {
            let volume = short(text, &ctx).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(volume.kind, kind, "{text}");
            assert_eq!(volume.source.as_deref(), source, "{text}");
            assert_eq!(volume.read_only, ro, "{text}");
        }
        let propagation = short("/a:/b:rshared", &ctx).expect("ok");
        assert_eq!(
            propagation.bind.and_then(|b| b.propagation).as_deref(),
            Some("rshared")
        );
        for bad in ["a:b:c:d", "db:relative", "db:/x:bogus", "db:/x:rshared"] {
            assert!(short(bad, &ctx).is_err(), "{bad}");
        }
    }
}
