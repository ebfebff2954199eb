//! `pier compose` test projects: a fixture directory from
//! tests/fixtures/compose copied to a temp dir, run with the test's own
//! pierd and a project name of its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::Daemon;

pub struct ComposeProject {
    pub dir: tempfile::TempDir,
    pub name: String,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read fixture dir") {
        let e = e.expect("dir entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy fixture file");
        }
    }
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compose")
}

impl ComposeProject {
    /// A copy of `tests/fixtures/compose/<fixture>`.
    pub fn fixture(fixture: &str, name: &str) -> ComposeProject {
        let p = ComposeProject::empty(name);
        copy_dir(&fixtures().join(fixture), p.path());
        p
    }

    /// An empty project directory (files come from `write`, or stdin).
    pub fn empty(name: &str) -> ComposeProject {
        let dir = tempfile::Builder::new()
            .prefix("pc")
            .tempdir_in("/tmp")
            .expect("tempdir");
        ComposeProject {
            dir,
            name: name.to_string(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, file: &str, content: &str) {
        std::fs::write(self.path().join(file), content).expect("write project file");
    }

    /// `pier compose -p NAME ARGS...` run in the project directory.
    pub fn cmd(&self, d: &Daemon, args: &[&str]) -> Command {
        let mut c = d.pier_cmd();
        c.current_dir(self.path())
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_FILE")
            .arg("compose")
            .arg("-p")
            .arg(&self.name)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, d: &Daemon, args: &[&str]) -> Output {
        self.cmd(d, args).output().expect("run pier compose")
    }

    pub fn run_env(&self, d: &Daemon, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut c = self.cmd(d, args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("run pier compose")
    }
}

/// `{{.Id}}` of a container by name.
pub fn container_id(d: &Daemon, name: &str) -> String {
    super::ok(d.pier(&["inspect", "-f", "{{.Id}}", name]))
}

/// An HTTP/1.0 GET to `ip:port`, the body returned.
pub fn http_get(ip: &str, port: u16) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(
        &format!("{ip}:{port}")
            .parse()
            .map_err(std::io::Error::other)?,
        std::time::Duration::from_secs(3),
    )?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or(out))
}
