//! `RUN --mount=type=bind|cache|tmpfs`, as BuildKit offers them: a bind of
//! a context path (read-only unless `rw`), a persistent cache directory
//! under R/builder/cache-mounts shared between builds, a tmpfs. Their mount
//! points are made in an extra lower layer so they never show up in the
//! step's layer.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use pier_runtime::MountSpec;
use sha2::{Digest, Sha256};

use crate::copy::{checksum, CopyRequest};
use crate::dockerignore::clean_path;
use crate::error::{BuildError, IoContext, Result};
use crate::executor::{BuildOptions, Builder};
use crate::parser::Instruction;
use crate::rootview::{resolve_in_root, RootView};
use crate::shell::Lexer;

/// What the mounts of one RUN need.
#[derive(Default)]
pub(crate) struct RunMounts {
    pub specs: Vec<MountSpec>,
    /// Part of the step's cache key (bind sources by content).
    pub key: String,
    /// (absolute target, is a directory)
    pub points: Vec<(String, bool)>,
    /// `type=secret,env=`: entries for this RUN's environment only.
    pub env: Vec<String>,
    /// Secret copies, removed when the step is over.
    pub temp: crate::secrets::TempFiles,
}

fn bool_opt(v: Option<&str>) -> Result<bool> {
    match v {
        None | Some("") | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(o) => Err(BuildError::Invalid(format!("invalid boolean value {o:?}"))),
    }
}

impl Builder {
    pub(crate) fn run_mounts(
        &self,
        lexer: &Lexer,
        inst: &Instruction,
        lookup: &dyn Fn(&str) -> Option<String>,
        workdir: &str,
        opts: &BuildOptions,
    ) -> Result<RunMounts> {
        let mut out = RunMounts::default();
        for raw in inst.flag_all("mount") {
            let value = lexer
                .word(&raw, lookup)
                .map_err(|e| BuildError::parse(inst.line, e))?;
            let mut typ = "bind".to_string();
            let (mut target, mut source, mut id) = (None, None, None);
            let (mut readonly, mut rw) = (None, false);
            let (mut mode, mut uid, mut gid, mut size) = (0o755u32, 0u32, 0u32, None);
            let (mut mode_set, mut required, mut env) = (false, false, None);
            for field in value.split(',').filter(|f| !f.is_empty()) {
                let (k, v) = match field.split_once('=') {
                    Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
                    None => (field.trim().to_ascii_lowercase(), None),
                };
                let need = |v: Option<&str>| {
                    v.map(str::to_string).ok_or_else(|| {
                        BuildError::Invalid(format!("invalid field '{k}' must be a key=value pair"))
                    })
                };
                match k.as_str() {
                    "type" => typ = need(v)?,
                    "target" | "dst" | "destination" => target = Some(need(v)?),
                    "source" | "src" => source = Some(need(v)?),
                    "id" => id = Some(need(v)?),
                    "ro" | "readonly" => readonly = Some(bool_opt(v)?),
                    "rw" | "readwrite" => rw = bool_opt(v)?,
                    "mode" => {
                        mode = u32::from_str_radix(&need(v)?, 8)
                            .map_err(|_| BuildError::Invalid(format!("invalid mode {field}")))?;
                        mode_set = true;
                    }
                    "required" => required = bool_opt(v)?,
                    "env" => env = Some(need(v)?),
                    "uid" => {
                        uid = need(v)?
                            .parse()
                            .map_err(|_| BuildError::Invalid(format!("invalid uid {field}")))?
                    }
                    "gid" => {
                        gid = need(v)?
                            .parse()
                            .map_err(|_| BuildError::Invalid(format!("invalid gid {field}")))?
                    }
                    "size" => size = Some(need(v)?),
                    "sharing" => {}
                    "from" => {
                        return Err(BuildError::Invalid(
                            "RUN --mount from= is not supported by Pier's builder yet".into(),
                        ))
                    }
                    _ => {
                        return Err(BuildError::Invalid(format!(
                            "unexpected key '{k}' in '{field}'"
                        )))
                    }
                }
            }
            if typ == "ssh" {
                return Err(BuildError::Invalid(
                    "RUN --mount=type=ssh is not supported by Pier's builder".into(),
                ));
            }
            if typ == "secret" {
                let m = crate::secrets::SecretMount {
                    id,
                    target: target.map(|t| {
                        clean_path(&if t.starts_with('/') {
                            t
                        } else {
                            format!("{}/{t}", workdir.trim_end_matches('/'))
                        })
                    }),
                    env,
                    required,
                    mode: mode_set.then_some(mode),
                    uid,
                    gid,
                };
                let used = m.resolve(&opts.secrets, self.tmp_dir(), &mut out.temp)?;
                out.key.push_str(&used.key);
                if let Some((spec, target)) = used.mount {
                    out.specs.push(spec);
                    out.points.push((target, false));
                }
                out.env.extend(used.env);
                continue;
            }
            let target = target.ok_or_else(|| {
                BuildError::Invalid(format!("mount {value:?}: target is required"))
            })?;
            let target = clean_path(&if target.starts_with('/') {
                target
            } else {
                format!("{}/{target}", workdir.trim_end_matches('/'))
            });
            match typ.as_str() {
                "bind" => {
                    let src_rel = clean_path(&format!("/{}", source.unwrap_or_default()))
                        .trim_start_matches('/')
                        .to_string();
                    let host = resolve_in_root(&opts.context, &src_rel);
                    let meta = std::fs::metadata(&host).map_err(|_| {
                        BuildError::Invalid(format!(
                            "failed to compute cache key: \"/{src_rel}\" not found"
                        ))
                    })?;
                    let req = CopyRequest {
                        keyword: "RUN --mount",
                        srcs: vec![if src_rel.is_empty() {
                            ".".into()
                        } else {
                            src_rel.clone()
                        }],
                        heredocs: Vec::new(),
                        dest: "/m/".into(),
                        workdir: "/".into(),
                        source_root: &opts.context,
                        chown: None,
                        chmod: None,
                        parents: false,
                        excludes: Default::default(),
                        extract: false,
                        target: None,
                    };
                    let sum = checksum(&req.plan()?)?;
                    out.key.push_str(&format!("bind:{target}:{sum}:{rw};"));
                    let ro = readonly.unwrap_or(!rw);
                    out.specs.push(MountSpec::bind(host, &target, ro));
                    out.points.push((target, meta.is_dir()));
                }
                "cache" => {
                    let id = id.unwrap_or_else(|| target.clone());
                    let dir = self.cache_mount_dir(&id, mode, uid, gid)?;
                    out.key.push_str(&format!("cache:{target}:{id};"));
                    out.specs
                        .push(MountSpec::bind(dir, &target, readonly.unwrap_or(false)));
                    out.points.push((target, true));
                }
                "tmpfs" => {
                    let mut options = vec!["nosuid".to_string(), "nodev".to_string()];
                    if let Some(s) = size {
                        options.push(format!("size={s}"));
                    }
                    out.key.push_str(&format!("tmpfs:{target};"));
                    out.specs.push(MountSpec {
                        source: PathBuf::from("tmpfs"),
                        destination: PathBuf::from(&target),
                        typ: "tmpfs".into(),
                        options,
                        readonly: false,
                    });
                    out.points.push((target, true));
                }
                other => {
                    return Err(BuildError::Invalid(format!(
                        "unsupported mount type {other:?}"
                    )))
                }
            }
        }
        Ok(out)
    }

    fn cache_mount_dir(&self, id: &str, mode: u32, uid: u32, gid: u32) -> Result<PathBuf> {
        let name = hex::encode(Sha256::digest(id.as_bytes()));
        let dir = self
            .run_env
            .tmp
            .parent()
            .unwrap_or(Path::new("/"))
            .join("cache-mounts")
            .join(name);
        if !dir.exists() {
            std::fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                .ctx(|| format!("chmod {}", dir.display()))?;
            nix::unistd::chown(&dir, Some(uid.into()), Some(gid.into()))
                .map_err(|e| BuildError::Runtime(format!("chown {}: {e}", dir.display())))?;
        }
        Ok(dir)
    }
}

/// Creates the mount points (and their parents, with the image's metadata
/// where the image has them) in `layer`.
pub(crate) fn mount_point_layer(
    layer: &Path,
    points: &[(String, bool)],
    image: &[PathBuf],
    tmp: &Path,
) -> Result<()> {
    let view = RootView::open(image, tmp)?;
    for (target, is_dir) in points {
        let rel = target.trim_start_matches('/');
        let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
        let mut acc = PathBuf::new();
        for (i, c) in comps.iter().enumerate() {
            acc.push(c);
            let here = layer.join(&acc);
            let last = i + 1 == comps.len();
            if here.exists() {
                continue;
            }
            if last && !is_dir {
                std::fs::write(&here, b"").ctx(|| format!("creating {}", here.display()))?;
                continue;
            }
            std::fs::create_dir(&here).ctx(|| format!("creating {}", here.display()))?;
            if let Ok(m) = std::fs::symlink_metadata(view.root().join(&acc)) {
                if m.is_dir() {
                    let _ = std::fs::set_permissions(
                        &here,
                        std::fs::Permissions::from_mode(m.mode() & 0o7777),
                    );
                    let _ = nix::unistd::chown(&here, Some(m.uid().into()), Some(m.gid().into()));
                }
            }
        }
    }
    Ok(())
}
