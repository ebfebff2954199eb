//! Looking things up inside the container's root filesystem without ever
//! following a link out of it (`openat2` with `RESOLVE_IN_ROOT`): the user
//! and groups (runc's `GetExecUser` rules and error texts), the working
//! directory, and the executable (runc's / Go's `LookPath` error texts).

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, mkdirat, Mode, SFlag};

/// Largest /etc/passwd or /etc/group we read.
const MAX_DB: u64 = 4 << 20;

/// A container root directory, opened once.
pub struct RootDir {
    fd: OwnedFd,
}

/// What a failed check reports: runc's text and Docker's exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub exit_code: i32,
}

impl Refusal {
    pub(crate) fn new(message: String, exit_code: i32) -> Self {
        Refusal { message, exit_code }
    }
}

/// `path` relative to the root: leading `/` stripped, empty → ".".
fn rel(path: &str) -> &str {
    let p = path.trim_start_matches('/');
    if p.is_empty() {
        "."
    } else {
        p
    }
}

impl RootDir {
    pub fn open(path: &Path) -> nix::Result<RootDir> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(RootDir { fd })
    }

    /// Opens `path` (absolute inside the container) with symlinks resolved
    /// as if the root were `/`.
    pub fn open_in(&self, path: &str, flags: OFlag) -> nix::Result<OwnedFd> {
        openat2(
            self.fd.as_fd(),
            rel(path),
            OpenHow::new()
                .flags(flags | OFlag::O_CLOEXEC)
                .resolve(ResolveFlag::RESOLVE_IN_ROOT),
        )
    }

    /// The contents of a regular file, `Ok(None)` if it does not exist.
    pub fn read_file(&self, path: &str) -> nix::Result<Option<Vec<u8>>> {
        let fd = match self.open_in(path, OFlag::O_RDONLY | OFlag::O_NOCTTY | OFlag::O_NONBLOCK) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(None),
            Err(e) => return Err(e),
        };
        let st = fstat(&fd)?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Ok(None);
        }
        let mut buf = Vec::new();
        std::fs::File::from(fd)
            .take(MAX_DB)
            .read_to_end(&mut buf)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        Ok(Some(buf))
    }

    pub fn stat(&self, path: &str) -> nix::Result<nix::sys::stat::FileStat> {
        let fd = self.open_in(path, OFlag::O_PATH)?;
        fstat(&fd)
    }

    /// `mkdir -p` inside the root, new dirs mode 0755 owned by root (what
    /// Docker does for a missing WORKDIR).
    pub fn mkdir_all(&self, path: &str) -> nix::Result<()> {
        let clean = clean_path(path);
        let mut prefix = String::from("/");
        for comp in clean.components() {
            let Component::Normal(name) = comp else {
                continue;
            };
            let parent = self.open_in(&prefix, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
            if !prefix.ends_with('/') {
                prefix.push('/');
            }
            prefix.push_str(&name.to_string_lossy());
            match self.open_in(&prefix, OFlag::O_PATH | OFlag::O_DIRECTORY) {
                Ok(_) => continue,
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
            match mkdirat(&parent, name, Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
        }
        // The final path must be a directory (following links in the root).
        self.open_in(&prefix, OFlag::O_PATH | OFlag::O_DIRECTORY)
            .map(drop)
    }
}

/// Lexically cleans an absolute path (`.`/`..`/duplicate slashes).
pub fn clean_path(path: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// A user resolved from Docker's `User` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub sgids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn lines(data: &[u8]) -> impl Iterator<Item = &str> {
    data.split(|b| *b == b'\n')
        .filter_map(|l| std::str::from_utf8(l).ok())
        .map(str::trim)
        .filter(|l| !l.is_empty())
}

fn parse_passwd(data: &[u8]) -> Vec<PasswdEntry<'_>> {
    lines(data)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first().copied()?,
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0),
                home: f.get(5).copied().unwrap_or(""),
            })
        })
        .collect()
}

fn parse_group(data: &[u8]) -> Vec<GroupEntry<'_>> {
    lines(data)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first().copied()?,
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Resolves Docker's `User` string ("", "name", "uid", "name:group",
/// "uid:gid") like runc's `GetExecUser`: names need an entry in the image's
/// /etc/passwd or /etc/group, numbers work without one; supplementary groups
/// come from /etc/group membership when no group is given.
pub fn resolve_user(
    spec: &str,
    passwd: Option<&[u8]>,
    group: Option<&[u8]>,
) -> Result<ExecUser, Refusal> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, ""),
    };
    let uid_num: Option<u32> = user_arg.parse().ok();
    let gid_num: Option<u32> = group_arg.parse().ok();
    let mut out = ExecUser {
        uid: 0,
        gid: 0,
        sgids: Vec::new(),
        home: "/".into(),
    };
    let users = passwd.map(parse_passwd).unwrap_or_default();
    let found = users.iter().find(|u| {
        if user_arg.is_empty() {
            u.uid == 0
        } else if let Some(n) = uid_num {
            u.uid == n
        } else {
            u.name == user_arg
        }
    });
    let mut matched_name = "";
    match found {
        Some(u) => {
            matched_name = u.name;
            out.uid = u.uid;
            out.gid = u.gid;
            if !u.home.is_empty() {
                out.home = u.home.to_string();
            }
        }
        None if !user_arg.is_empty() => match uid_num {
            Some(n) => out.uid = n,
            None => {
                return Err(Refusal::new(
                    format!("unable to find user {user_arg}: no matching entries in passwd file"),
                    128,
                ))
            }
        },
        None => {}
    }
    if !group_arg.is_empty() || !matched_name.is_empty() {
        let groups = group.map(parse_group).unwrap_or_default();
        if !group_arg.is_empty() {
            let g = groups.iter().find(|g| match gid_num {
                Some(n) => g.gid == n,
                None => g.name == group_arg,
            });
            match (g, gid_num) {
                (Some(g), _) => out.gid = g.gid,
                (None, Some(n)) => out.gid = n,
                (None, None) => {
                    return Err(Refusal::new(
                        format!(
                            "unable to find group {group_arg}: no matching entries in group file"
                        ),
                        128,
                    ))
                }
            }
        } else {
            for g in groups.iter().filter(|g| g.members.contains(&matched_name)) {
                if !out.sgids.contains(&g.gid) {
                    out.sgids.push(g.gid);
                }
            }
        }
    }
    Ok(out)
}

/// Docker's `--group-add`: numbers as they are, names from /etc/group
/// (runc's text when a name is unknown).
pub fn resolve_groups(names: &[&str], group: Option<&[u8]>) -> Result<Vec<u32>, Refusal> {
    let groups = group.map(parse_group).unwrap_or_default();
    let mut out = Vec::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let gid = match n.parse::<u32>() {
            Ok(g) => g,
            Err(_) => groups
                .iter()
                .find(|g| g.name == n)
                .map(|g| g.gid)
                .ok_or_else(|| {
                    Refusal::new(
                        format!("Unable to find group {n}: no matching entries in group file"),
                        128,
                    )
                })?,
        };
        if !out.contains(&gid) {
            out.push(gid);
        }
    }
    Ok(out)
}

impl RootDir {
    /// `--group-add` resolved against the image's /etc/group.
    pub fn resolve_groups(&self, names: &[&str]) -> Result<Vec<u32>, Refusal> {
        let group = self.read_file("/etc/group").map_err(|e| {
            Refusal::new(
                format!("unable to read /etc/group in the container: {e}"),
                128,
            )
        })?;
        resolve_groups(names, group.as_deref())
    }

    /// Reads the image's /etc/passwd and /etc/group and resolves `spec`.
    pub fn resolve_user(&self, spec: &str) -> Result<ExecUser, Refusal> {
        let read = |p: &str| {
            self.read_file(p)
                .map_err(|e| Refusal::new(format!("unable to read {p} in the container: {e}"), 128))
        };
        let passwd = read("/etc/passwd")?;
        let group = read("/etc/group")?;
        resolve_user(spec, passwd.as_deref(), group.as_deref())
    }

    fn is_executable(&self, path: &str, user: &ExecUser) -> nix::Result<bool> {
        let st = self.stat(path)?;
        let fmt = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        if fmt == SFlag::S_IFDIR {
            return Ok(false);
        }
        let mode = st.st_mode;
        Ok(if user.uid == 0 {
            mode & 0o111 != 0
        } else if st.st_uid == user.uid {
            mode & 0o100 != 0
        } else if st.st_gid == user.gid || user.sgids.contains(&st.st_gid) {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        })
    }

    /// Checks that `arg0` names an executable file, searching `path_env`
    /// when it has no slash, with runc's error texts:
    /// `exec: "foo": executable file not found in $PATH` (127),
    /// `exec: "/foo": stat /foo: no such file or directory` (127),
    /// `exec: "/etc": permission denied` (126).
    /// Paths under `mounted` (mount points the runtime has yet to mount:
    /// volumes, binds, tmpfs) are left to the runtime to find.
    pub fn check_executable(
        &self,
        arg0: &str,
        path_env: Option<&str>,
        cwd: &str,
        user: &ExecUser,
        mounted: &[PathBuf],
    ) -> Result<(), Refusal> {
        let later = |p: &Path| mounted.iter().any(|m| p.starts_with(m));
        let not_found = || {
            Refusal::new(
                format!("exec: {arg0:?}: executable file not found in $PATH"),
                127,
            )
        };
        if arg0.is_empty() {
            return Err(not_found());
        }
        let absolute = |p: &str| -> String {
            if p.starts_with('/') {
                p.to_string()
            } else {
                format!("{}/{}", cwd.trim_end_matches('/'), p)
            }
        };
        if arg0.contains('/') {
            let full = clean_path(&absolute(arg0));
            // Kernel filesystems are mounted later by the runtime.
            if ["/proc", "/sys", "/dev"]
                .iter()
                .any(|k| full.starts_with(k))
                || later(&full)
            {
                return Ok(());
            }
            let full = full.to_string_lossy().into_owned();
            return match self.is_executable(&full, user) {
                Ok(true) => Ok(()),
                Ok(false) | Err(Errno::EACCES) => Err(Refusal::new(
                    format!("exec: {arg0:?}: permission denied"),
                    126,
                )),
                Err(e @ (Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP)) => Err(Refusal::new(
                    format!("exec: {arg0:?}: stat {arg0}: {}", errno_text(e)),
                    127,
                )),
                Err(e) => Err(Refusal::new(
                    format!("exec: {arg0:?}: stat {arg0}: {}", errno_text(e)),
                    128,
                )),
            };
        }
        for dir in path_env.unwrap_or("").split(':') {
            let dir = if dir.is_empty() { "." } else { dir };
            let cand = clean_path(&absolute(&format!("{dir}/{arg0}")));
            if later(&cand) {
                return Ok(());
            }
            if let Ok(true) = self.is_executable(&cand.to_string_lossy(), user) {
                return Ok(());
            }
        }
        Err(not_found())
    }
}

/// Go's lowercase errno texts (what runc prints).
pub fn errno_text(e: Errno) -> String {
    match e {
        Errno::ENOENT => "no such file or directory".into(),
        Errno::ENOTDIR => "not a directory".into(),
        Errno::EACCES => "permission denied".into(),
        Errno::ELOOP => "too many levels of symbolic links".into(),
        other => other.desc().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
        alice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &[u8] = b"root:x:0:\n\
        wheel:x:10:alice,root\n\
        audio:x:29:alice\n\
        alice:x:1000:\n\
        nogroup:x:65534:\n";

    fn r(spec: &str) -> Result<ExecUser, Refusal> {
        resolve_user(spec, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn users_like_runc() {
        let u = r("").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        assert_eq!(u.sgids, vec![10]);
        let u = r("alice").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/home/alice"));
        assert_eq!(u.sgids, vec![10, 29]);
        let u = r("1000").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        let u = r("alice:audio").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 29));
        assert!(
            u.sgids.is_empty(),
            "explicit group: no supplementary groups"
        );
        let u = r("nobody").unwrap();
        assert_eq!((u.uid, u.gid), (65534, 65534));
        let u = r("4242:4343").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 4343, "/"));
        let u = r("4242").unwrap();
        assert_eq!((u.uid, u.gid), (4242, 0));
        assert_eq!(
            r("foo").unwrap_err().message,
            "unable to find user foo: no matching entries in passwd file"
        );
        assert_eq!(
            r("alice:nosuch").unwrap_err().message,
            "unable to find group nosuch: no matching entries in group file"
        );
        // without the files numeric ids work, names do not
        let u = resolve_user("1000:1000", None, None).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/"));
        assert_eq!(resolve_user("", None, None).unwrap().uid, 0);
        assert!(resolve_user("nobody", None, None).is_err());
    }

    #[test]
    fn lookups_stay_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("bin/tool"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            root.join("bin/tool"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(root.join("bin/data"), b"x").unwrap();
        std::fs::set_permissions(
            root.join("bin/data"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        symlink("/bin/tool", root.join("bin/link")).unwrap();
        // An absolute link pointing at the host's passwd must resolve inside the root.
        symlink("/etc/real-passwd", root.join("etc/passwd")).unwrap();
        std::fs::write(root.join("etc/real-passwd"), b"bob:x:7:8::/b:/bin/sh\n").unwrap();
        symlink("../../../../../../../../../../", root.join("escape")).unwrap();

        let rd = RootDir::open(root).unwrap();
        let u = rd.resolve_user("bob").unwrap();
        assert_eq!((u.uid, u.gid), (7, 8));
        assert!(rd.read_file("/escape/etc/shadow").unwrap().is_none());

        let root_user = ExecUser {
            uid: 0,
            gid: 0,
            sgids: vec![],
            home: "/".into(),
        };
        let path = Some("/usr/bin:/bin");
        rd.check_executable("tool", path, "/", &root_user, &[])
            .unwrap();
        rd.check_executable("link", path, "/", &root_user, &[])
            .unwrap();
        rd.check_executable("/bin/tool", path, "/", &root_user, &[])
            .unwrap();
        rd.check_executable("../bin/tool", path, "/etc", &root_user, &[])
            .unwrap();
        let e = rd
            .check_executable("foo", path, "/", &root_user, &[])
            .unwrap_err();
        assert_eq!(
            e.message,
            "exec: \"foo\": executable file not found in $PATH"
        );
        assert_eq!(e.exit_code, 127);
        let e = rd
            .check_executable("data", path, "/", &root_user, &[])
            .unwrap_err();
        assert_eq!(e.exit_code, 127);
        let e = rd
            .check_executable("/etc", path, "/", &root_user, &[])
            .unwrap_err();
        assert_eq!(e.message, "exec: \"/etc\": permission denied");
        assert_eq!(e.exit_code, 126);
        let e = rd
            .check_executable("/bin/data", path, "/", &root_user, &[])
            .unwrap_err();
        assert_eq!(e.exit_code, 126);
        let e = rd
            .check_executable("/nope", path, "/", &root_user, &[])
            .unwrap_err();
        assert_eq!(
            e.message,
            "exec: \"/nope\": stat /nope: no such file or directory"
        );
        assert_eq!(e.exit_code, 127);
        let e = rd
            .check_executable("tool", None, "/", &root_user, &[])
            .unwrap_err();
        assert_eq!(e.exit_code, 127);
        // On a volume or bind the runtime mounts later: the runtime finds it.
        let vol = [PathBuf::from("/data")];
        rd.check_executable("/data/run.sh", path, "/", &root_user, &vol)
            .unwrap();
        rd.check_executable("run.sh", Some("/data"), "/", &root_user, &vol)
            .unwrap();
        assert!(rd
            .check_executable("/datas/run.sh", path, "/", &root_user, &vol)
            .is_err());

        rd.mkdir_all("/work/a/../b/c").unwrap();
        assert!(root.join("work/b/c").is_dir());
        assert!(!root.join("work/a").exists());
        // through the escaping link: created inside the root, not outside
        rd.mkdir_all("/escape/pier-mkdir-test").unwrap();
        assert!(root.join("pier-mkdir-test").is_dir());
        assert!(rd.mkdir_all("/bin/tool/sub").is_err());
    }

    #[test]
    fn group_add_names_and_numbers() {
        let group = b"root:x:0:\nwheel:x:10:root\ndaemon:x:1:\n";
        assert_eq!(
            resolve_groups(&["10", "daemon", "wheel", "4242"], Some(group)).unwrap(),
            vec![10, 1, 4242]
        );
        let e = resolve_groups(&["nosuch"], Some(group)).unwrap_err();
        assert_eq!(
            e.message,
            "Unable to find group nosuch: no matching entries in group file"
        );
    }
}
