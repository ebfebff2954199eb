//! COPY/ADD: resolving sources (globs, directories copied by content,
//! heredocs, `--parents`, `--exclude`, ADD's local archive extraction) into
//! a [`Plan`] of destination paths, and the plan's content checksum (paths,
//! types, modes, owners, bytes; never the context's mtimes) for the cache.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use regex_lite::Regex;
use sha2::{Digest, Sha256};

use crate::dockerignore::{clean_path, IgnoreMatcher};
use crate::error::{BuildError, IoContext, Result};
use crate::layer::{Plan, PlanEntry, PlanKind};
use crate::rootview::{resolve_in_root, RootView};

pub struct CopyRequest<'a> {
    /// "COPY" or "ADD", for messages.
    pub keyword: &'a str,
    /// Expanded source words (heredoc markers already removed).
    pub srcs: Vec<String>,
    /// Heredoc sources: (file name, content).
    pub heredocs: Vec<(String, Vec<u8>)>,
    /// Expanded destination as written (trailing `/` meaningful).
    pub dest: String,
    /// WORKDIR, for a relative destination.
    pub workdir: String,
    pub source_root: &'a Path,
    pub chown: Option<(u32, u32)>,
    pub chmod: Option<u32>,
    pub parents: bool,
    pub excludes: IgnoreMatcher,
    /// ADD: extract local tar archives.
    pub extract: bool,
    /// The image being built on, to see what already exists.
    pub target: Option<&'a RootView>,
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// One path component of a glob as a regex (Go's filepath.Match rules).
fn component_regex(pat: &str) -> Result<Regex> {
    let mut re = String::from("^");
    let mut chars = pat.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '*' if !in_class => re.push_str("[^/]*"),
            '?' if !in_class => re.push_str("[^/]"),
            '[' if !in_class => {
                in_class = true;
                re.push('[');
            }
            ']' if in_class => {
                in_class = false;
                re.push(']');
            }
            '\\' => {
                re.push('\\');
                re.push(chars.next().unwrap_or('\\'));
            }
            c if !in_class && ".+()|{}$^".contains(c) => {
                re.push('\\');
                re.push(c);
            }
            c => re.push(c),
        }
    }
    re.push('$');
    Regex::new(&re).map_err(|_| BuildError::Copy(format!("syntax error in pattern: {pat}")))
}

/// Paths (relative to `root`) matching a glob, sorted.
fn glob(root: &Path, pattern: &str) -> Result<Vec<String>> {
    let mut found = vec![String::new()];
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for base in &found {
            let dir = if base.is_empty() {
                root.to_path_buf()
            } else {
                root.join(base)
            };
            if !has_glob(comp) {
                let rel = join_rel(base, comp);
                if std::fs::symlink_metadata(root.join(&rel)).is_ok() {
                    next.push(rel);
                }
                continue;
            }
            let re = component_regex(comp)?;
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| re.is_match(n))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| join_rel(base, &n)));
        }
        found = next;
    }
    found.retain(|p| !p.is_empty());
    Ok(found)
}

pub(crate) fn join_rel(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl CopyRequest<'_> {
    fn ids(&self) -> (u32, u32) {
        self.chown.unwrap_or((0, 0))
    }

    /// Adds every missing ancestor of `rel` (existing ones keep the image's
    /// metadata, so the new layer does not change them).
    fn parents_of(&self, plan: &mut Plan, rel: &str) {
        let mut acc = String::new();
        let comps: Vec<&str> = rel.split('/').collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            acc = join_rel(&acc, c);
            self.dir_entry(plan, &acc);
        }
    }

    fn dir_entry(&self, plan: &mut Plan, rel: &str) {
        if plan.contains_key(rel) {
            return;
        }
        let existing = self
            .target
            .and_then(|v| std::fs::symlink_metadata(v.root().join(rel)).ok())
            .filter(|m| m.is_dir());
        let entry = match existing {
            Some(m) => PlanEntry {
                kind: PlanKind::Dir,
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                mtime: m.mtime().max(0) as u64,
            },
            None => {
                let (uid, gid) = self.ids();
                PlanEntry {
                    kind: PlanKind::Dir,
                    mode: 0o755,
                    uid,
                    gid,
                    mtime: now_secs(),
                }
            }
        };
        plan.insert(rel.to_string(), entry);
    }

    fn entry_for(&self, path: &Path, meta: &std::fs::Metadata) -> Result<Option<PlanEntry>> {
        let (uid, gid) = self.ids();
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            PlanKind::Dir
        } else if ft.is_file() {
            PlanKind::File(path.to_path_buf())
        } else if ft.is_symlink() {
            let t = std::fs::read_link(path).ctx(|| format!("readlink {}", path.display()))?;
            PlanKind::Symlink(t.to_string_lossy().into_owned())
        } else {
            return Ok(None);
        };
        let mode = match (&kind, self.chmod) {
            (PlanKind::Symlink(_), _) => 0o777,
            (_, Some(m)) => m,
            _ => meta.mode() & 0o7777,
        };
        Ok(Some(PlanEntry {
            kind,
            mode,
            uid,
            gid,
            mtime: meta.mtime().max(0) as u64,
        }))
    }

    /// Copies a directory's contents under `dest_rel`.
    fn add_tree(
        &self,
        plan: &mut Plan,
        src: &Path,
        dest_rel: &str,
        rel_in_src: &str,
    ) -> Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(src)
            .ctx(|| format!("reading {}", src.display()))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for name in names {
            let name = name.to_string_lossy().into_owned();
            let inner = join_rel(rel_in_src, &name);
            if !self.excludes.is_empty() && self.excludes.excluded(&inner) {
                continue;
            }
            let path = src.join(&name);
            let meta =
                std::fs::symlink_metadata(&path).ctx(|| format!("stat {}", path.display()))?;
            let target = join_rel(dest_rel, &name);
            if let Some(e) = self.entry_for(&path, &meta)? {
                let is_dir = meta.is_dir();
                plan.insert(target.clone(), e);
                if is_dir {
                    self.add_tree(plan, &path, &target, &inner)?;
                }
            }
        }
        Ok(())
    }

    /// A plan that only creates directory `rel` and its parents.
    pub fn dirs_plan(&self, rel: &str) -> Plan {
        let mut plan = Plan::new();
        self.parents_of(&mut plan, rel);
        self.dir_entry(&mut plan, rel);
        plan
    }

    pub fn plan(&self) -> Result<Plan> {
        let mut sources: Vec<String> = Vec::new();
        for s in &self.srcs {
            let cleaned = clean_path(&format!("/{s}"));
            let rel = cleaned.trim_start_matches('/').to_string();
            if has_glob(&rel) {
                let matches = glob(self.source_root, &rel)?;
                sources.extend(matches);
            } else {
                let p = resolve_in_root(self.source_root, &rel);
                if std::fs::symlink_metadata(&p).is_err() {
                    return Err(BuildError::Copy(format!(
                        "{} failed: file not found in build context or excluded by .dockerignore: stat {s}: file does not exist",
                        self.keyword
                    )));
                }
                sources.push(rel);
            }
        }
        if sources.is_empty() && self.heredocs.is_empty() {
            return Err(BuildError::Copy(format!(
                "{} failed: no source files were specified",
                self.keyword
            )));
        }
        let count = sources.len() + self.heredocs.len();
        let dest_abs = if self.dest.starts_with('/') {
            self.dest.clone()
        } else {
            format!("{}/{}", self.workdir.trim_end_matches('/'), self.dest)
        };
        let wants_dir = self.dest.ends_with('/')
            || self.dest == "."
            || self.dest.ends_with("/.")
            || self.dest == "..";
        // Follow symlinks of the destination inside the image.
        let dest_rel = match self.target {
            Some(v) => {
                let resolved = v.resolve(&dest_abs);
                let rel = resolved
                    .strip_prefix(v.root())
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                rel
            }
            None => clean_path(&dest_abs).trim_start_matches('/').to_string(),
        };
        let exists_dir = self
            .target
            .is_some_and(|v| v.root().join(&dest_rel).is_dir())
            || dest_rel.is_empty();
        if count > 1 && !wants_dir && !exists_dir {
            return Err(BuildError::Copy(format!(
                "When using {} with more than one source file, the destination must be a directory and end with a /",
                self.keyword
            )));
        }
        let dest_is_dir = wants_dir || exists_dir || count > 1;

        let mut plan = Plan::new();
        for rel in &sources {
            let src = resolve_in_root(self.source_root, rel);
            let meta = std::fs::metadata(&src)
                .or_else(|_| std::fs::symlink_metadata(&src))
                .ctx(|| format!("stat {rel}"))?;
            let base_name = Path::new(rel)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if meta.is_dir() {
                let target = if self.parents {
                    join_rel(&dest_rel, rel)
                } else {
                    dest_rel.clone()
                };
                if !target.is_empty() {
                    self.parents_of(&mut plan, &target);
                    self.dir_entry(&mut plan, &target);
                }
                self.add_tree(&mut plan, &src, &target, "")?;
                continue;
            }
            if !self.excludes.is_empty() && self.excludes.excluded(rel) {
                continue;
            }
            if self.extract {
                if let Some(entries) = crate::archive::extract_archive(&src)? {
                    if !dest_rel.is_empty() {
                        self.parents_of(&mut plan, &dest_rel);
                        self.dir_entry(&mut plan, &dest_rel);
                    }
                    for (path, e) in entries {
                        let target = join_rel(&dest_rel, &path);
                        self.parents_of(&mut plan, &target);
                        plan.insert(target, e);
                    }
                    continue;
                }
            }
            let target = if self.parents {
                join_rel(&dest_rel, rel)
            } else if dest_is_dir {
                join_rel(&dest_rel, &base_name)
            } else {
                dest_rel.clone()
            };
            self.parents_of(&mut plan, &target);
            if let Some(e) = self.entry_for(&src, &meta)? {
                plan.insert(target, e);
            }
        }
        for (name, content) in &self.heredocs {
            let target = if dest_is_dir {
                join_rel(&dest_rel, name)
            } else {
                dest_rel.clone()
            };
            self.parents_of(&mut plan, &target);
            let (uid, gid) = self.ids();
            plan.insert(
                target,
                PlanEntry {
                    kind: PlanKind::Content(content.clone()),
                    mode: self.chmod.unwrap_or(0o644),
                    uid,
                    gid,
                    mtime: now_secs(),
                },
            );
        }
        Ok(plan)
    }
}

/// The content checksum of a plan (no mtimes).
pub fn checksum(plan: &Plan) -> Result<String> {
    let mut h = Sha256::new();
    for (path, e) in plan {
        h.update(path.as_bytes());
        h.update(format!("\0{:o}\0{}\0{}\0", e.mode, e.uid, e.gid).as_bytes());
        match &e.kind {
            PlanKind::Dir => h.update(b"d"),
            PlanKind::Symlink(t) => {
                h.update(b"l");
                h.update(t.as_bytes());
            }
            PlanKind::Content(b) => {
                h.update(b"f");
                h.update(Sha256::digest(b));
            }
            PlanKind::File(p) => {
                h.update(b"f");
                let mut f = std::fs::File::open(p).ctx(|| format!("opening {}", p.display()))?;
                let mut fh = Sha256::new();
                std::io::copy(&mut f, &mut fh).ctx(|| format!("reading {}", p.display()))?;
                h.update(fh.finalize());
            }
        }
        h.update(b"\n");
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(root: &'a Path, srcs: &[&str], dest: &str) -> CopyRequest<'a> {
        CopyRequest {
            keyword: "COPY",
            srcs: srcs.iter().map(|s| s.to_string()).collect(),
            heredocs: Vec::new(),
            dest: dest.into(),
            workdir: "/".into(),
            source_root: root,
            chown: None,
            chmod: None,
            parents: false,
            excludes: IgnoreMatcher::default(),
            extract: false,
            target: None,
        }
    }

    fn keys(p: &Plan) -> Vec<&str> {
        p.keys().map(String::as_str).collect()
    }

    #[test]
    fn sources_and_destinations() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("src/sub")).unwrap();
        std::fs::write(r.join("src/a.txt"), "a").unwrap();
        std::fs::write(r.join("src/sub/b.txt"), "b").unwrap();
        std::fs::write(r.join("top.txt"), "t").unwrap();
        // A directory is copied by content.
        let p = req(r, &["src"], "/app").plan().unwrap();
        assert_eq!(keys(&p), ["app", "app/a.txt", "app/sub", "app/sub/b.txt"]);
        // A file into a dir (trailing slash) or onto a name.
        let p = req(r, &["top.txt"], "/d/").plan().unwrap();
        assert_eq!(keys(&p), ["d", "d/top.txt"]);
        let p = req(r, &["top.txt"], "/d/renamed").plan().unwrap();
        assert_eq!(keys(&p), ["d", "d/renamed"]);
        // Globs; several sources need a dir destination.
        let p = req(r, &["src/*.txt", "top.txt"], "/x/").plan().unwrap();
        assert_eq!(keys(&p), ["x", "x/a.txt", "x/top.txt"]);
        let e = req(r, &["src/a.txt", "top.txt"], "/x").plan().unwrap_err();
        assert!(e
            .to_string()
            .contains("must be a directory and end with a /"));
        // Missing sources.
        let e = req(r, &["nope"], "/x").plan().unwrap_err();
        assert!(e.to_string().contains("file not found in build context"));
        let e = req(r, &["*.none"], "/x/").plan().unwrap_err();
        assert_eq!(e.to_string(), "COPY failed: no source files were specified");
        // --parents keeps the source path; --exclude drops matches.
        let mut q = req(r, &["src/sub/b.txt"], "/p/");
        q.parents = true;
        assert_eq!(
            keys(&q.plan().unwrap()),
            ["p", "p/src", "p/src/sub", "p/src/sub/b.txt"]
        );
        let mut q = req(r, &["src"], "/e/");
        q.excludes = IgnoreMatcher::new(&["*.txt".into()]).unwrap();
        assert_eq!(keys(&q.plan().unwrap()), ["e", "e/sub", "e/sub/b.txt"]);
        // Escaping the context is clamped to it.
        let p = req(r, &["../../top.txt"], "/t").plan().unwrap();
        assert_eq!(keys(&p), ["t"]);
    }

    #[test]
    fn checksum_ignores_mtime_but_not_content_or_mode() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::write(r.join("f"), "one").unwrap();
        let c1 = checksum(&req(r, &["f"], "/f").plan().unwrap()).unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(r.join("f"))
            .unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        let c2 = checksum(&req(r, &["f"], "/f").plan().unwrap()).unwrap();
        assert_eq!(c1, c2);
        std::fs::write(r.join("f"), "two").unwrap();
        let c3 = checksum(&req(r, &["f"], "/f").plan().unwrap()).unwrap();
        assert_ne!(c1, c3);
        let mut q = req(r, &["f"], "/f");
        q.chmod = Some(0o600);
        assert_ne!(checksum(&q.plan().unwrap()).unwrap(), c3);
    }

    #[test]
    fn add_extracts_archives() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let tgz = std::fs::File::create(r.join("a.tar.gz")).unwrap();
        let gz = flate2::write::GzEncoder::new(tgz, flate2::Compression::default());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o640);
        h.set_uid(7);
        b.append_data(&mut h, "dir/file", &b"hi"[..]).unwrap();
        b.into_inner().unwrap().finish().unwrap();
        let mut q = req(r, &["a.tar.gz"], "/opt/");
        q.keyword = "ADD";
        q.extract = true;
        let p = q.plan().unwrap();
        assert_eq!(keys(&p), ["opt", "opt/dir", "opt/dir/file"]);
        assert_eq!(p["opt/dir/file"].uid, 7);
        assert_eq!(p["opt/dir/file"].mode, 0o640);
    }
}
