//! The build context `pier build` sends: a directory tarred with its
//! `.dockerignore` applied (the Dockerfile and .dockerignore always sent),
//! a tar or a lone Dockerfile from stdin, and a Dockerfile given with `-f`
//! outside the context (or `-f -`) added under a random name, as the
//! docker CLI does.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use pier_builder::IgnoreMatcher;

pub struct Context {
    /// The context as an uncompressed tar.
    pub tar: Vec<u8>,
    /// The Dockerfile's path inside the context.
    pub dockerfile: String,
}

fn random_name() -> String {
    let mut b = [0u8; 10];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(".dockerfile.{hex}")
}

fn is_archive(b: &[u8]) -> bool {
    (b.len() >= 2 && b[..2] == [0x1f, 0x8b])
        || (b.len() >= 3 && &b[..3] == b"BZh")
        || (b.len() >= 6 && b[..6] == [0xfd, b'7', b'z', b'X', b'Z', 0])
        || (b.len() >= 262 && &b[257..262] == b"ustar")
}

fn add_file(tar: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) -> Result<(), String> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    tar.append_data(&mut h, name, data)
        .map_err(|e| format!("adding {name} to the build context: {e}"))
}

/// `-` as the context: a tar (sent as is) or a Dockerfile.
pub fn from_stdin(data: Vec<u8>, file: Option<&str>) -> Result<Context, String> {
    if file == Some("-") {
        return Err(
            "invalid argument: can't use stdin for both build context and dockerfile".into(),
        );
    }
    if is_archive(&data) {
        return Ok(Context {
            tar: data,
            dockerfile: file.unwrap_or("Dockerfile").to_string(),
        });
    }
    let mut tar = tar::Builder::new(Vec::new());
    add_file(&mut tar, "Dockerfile", &data)?;
    let tar = tar.into_inner().map_err(|e| e.to_string())?;
    Ok(Context {
        tar,
        dockerfile: "Dockerfile".into(),
    })
}

/// A directory context. `stdin_dockerfile` is the content of `-f -`.
pub fn from_dir(
    dir: &str,
    file: Option<&str>,
    stdin_dockerfile: Option<Vec<u8>>,
) -> Result<Context, String> {
    let root = PathBuf::from(dir);
    match std::fs::metadata(&root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(format!(
                "unable to prepare context: context must be a directory: {dir}"
            ))
        }
        Err(_) => return Err(format!("unable to prepare context: path {dir:?} not found")),
    }
    let root_abs = std::fs::canonicalize(&root).map_err(|e| e.to_string())?;
    // Where the Dockerfile is: inside the context (sent as part of it) or
    // outside (added under a random name).
    let mut extra: Option<(String, Vec<u8>)> = None;
    let rel_dockerfile = match (file, stdin_dockerfile) {
        (_, Some(content)) => {
            let name = random_name();
            extra = Some((name.clone(), content));
            name
        }
        (Some(f), None) => {
            let p = std::fs::canonicalize(f).map_err(|_| {
                let abs = std::env::current_dir()
                    .map(|c| c.join(f))
                    .unwrap_or_else(|_| PathBuf::from(f));
                format!(
                    "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
                    abs.display()
                )
            })?;
            match p.strip_prefix(&root_abs) {
                Ok(rel) => rel.to_string_lossy().into_owned(),
                Err(_) => {
                    let content = std::fs::read(&p)
                        .map_err(|e| format!("unable to read {}: {e}", p.display()))?;
                    let name = random_name();
                    extra = Some((name.clone(), content));
                    name
                }
            }
        }
        (None, None) => {
            let default = if root.join("Dockerfile").exists() || !root.join("dockerfile").exists() {
                "Dockerfile"
            } else {
                "dockerfile"
            };
            if !root.join(default).exists() {
                return Err(format!(
                    "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
                    root_abs.join(default).display()
                ));
            }
            default.to_string()
        }
    };
    let mut ignore = IgnoreMatcher::for_context(&root).map_err(|e| e.to_string())?;
    if !ignore.is_empty() {
        if ignore.excluded(&rel_dockerfile) {
            ignore.keep(&rel_dockerfile).map_err(|e| e.to_string())?;
        }
        if ignore.excluded(".dockerignore") {
            ignore.keep(".dockerignore").map_err(|e| e.to_string())?;
        }
    }
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    // A Dockerfile added under a random name is listed in .dockerignore
    // (created if missing), so the daemon drops it after reading it.
    let skip_ignore = extra.is_some();
    walk(&mut tar, &root, "", &ignore, skip_ignore)?;
    if let Some((name, content)) = extra {
        add_file(&mut tar, &name, &content)?;
        let mut ignore_text = std::fs::read(root.join(".dockerignore")).unwrap_or_default();
        ignore_text.extend_from_slice(format!("\n{name}\n").as_bytes());
        add_file(&mut tar, ".dockerignore", &ignore_text)?;
    }
    let tar = tar.into_inner().map_err(|e| e.to_string())?;
    Ok(Context {
        tar,
        dockerfile: rel_dockerfile,
    })
}

fn walk(
    tar: &mut tar::Builder<Vec<u8>>,
    dir: &Path,
    rel: &str,
    ignore: &IgnoreMatcher,
    skip_ignore_file: bool,
) -> Result<(), String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let rel_path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| format!("stat {}: {e}", path.display()))?;
        if skip_ignore_file && rel_path == ".dockerignore" {
            continue;
        }
        let excluded = !ignore.is_empty() && ignore.excluded(&rel_path);
        if excluded {
            if meta.is_dir() && !ignore.can_skip_dir(&rel_path) {
                walk(tar, &path, &rel_path, ignore, false)?;
            }
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(meta.mode() & 0o7777);
        h.set_mtime(meta.mtime().max(0) as u64);
        h.set_uid(0);
        h.set_gid(0);
        let ft = meta.file_type();
        let res = if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, format!("{rel_path}/"), std::io::empty())
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path).map_err(|e| e.to_string())?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            tar.append_link(&mut h, &rel_path, &target)
        } else if ft.is_file() {
            let f =
                std::fs::File::open(&path).map_err(|e| format!("open {}: {e}", path.display()))?;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(meta.len());
            tar.append_data(&mut h, &rel_path, f.take(meta.len()))
        } else {
            continue;
        };
        res.map_err(|e| format!("adding {rel_path} to the build context: {e}"))?;
        if ft.is_dir() {
            walk(tar, &path, &rel_path, ignore, false)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn dockerignore_applied_and_build_files_kept() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("logs/keep")).unwrap();
        std::fs::write(r.join("logs/a.log"), "x").unwrap();
        std::fs::write(r.join("logs/keep/b.log"), "x").unwrap();
        std::fs::write(r.join("main.rs"), "x").unwrap();
        std::fs::write(r.join("secret.env"), "x").unwrap();
        std::fs::write(r.join("Dockerfile"), "FROM x\n").unwrap();
        std::fs::write(
            r.join(".dockerignore"),
            "logs\n!logs/keep\n*.env\nDockerfile\n.dockerignore\n",
        )
        .unwrap();
        let c = from_dir(r.to_str().unwrap(), None, None).unwrap();
        assert_eq!(c.dockerfile, "Dockerfile");
        assert_eq!(
            names(&c.tar),
            [
                ".dockerignore",
                "Dockerfile",
                "logs/keep/",
                "logs/keep/b.log",
                "main.rs"
            ]
        );
    }

    #[test]
    fn dockerfile_outside_and_stdin() {
        let t = tempfile::tempdir().unwrap();
        let ctx = t.path().join("ctx");
        std::fs::create_dir(&ctx).unwrap();
        std::fs::write(ctx.join("f"), "x").unwrap();
        let df = t.path().join("Other.dockerfile");
        std::fs::write(&df, "FROM y\n").unwrap();
        let c = from_dir(ctx.to_str().unwrap(), df.to_str(), None).unwrap();
        assert!(c.dockerfile.starts_with(".dockerfile."));
        assert_eq!(
            names(&c.tar),
            [
                "f".to_string(),
                c.dockerfile.clone(),
                ".dockerignore".to_string()
            ]
        );
        let c = from_stdin(b"FROM z\n".to_vec(), None).unwrap();
        assert_eq!(names(&c.tar), ["Dockerfile"]);
        assert!(from_stdin(b"FROM z\n".to_vec(), Some("-")).is_err());
        let e = from_dir("/nonexistent-dir", None, None).err().unwrap();
        assert_eq!(
            e,
            "unable to prepare context: path \"/nonexistent-dir\" not found"
        );
    }
}
