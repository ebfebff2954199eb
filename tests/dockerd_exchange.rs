//! Image exchange with a real dockerd: `pier save` output loads (same image
//! ID) and runs in Docker's own daemon, and `docker save` output from that
//! daemon loads into pierd. The dockerd here is private to the test: its own
//! data root, exec root and socket, no bridge and no iptables changes.
mod common;
use common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Dockerd {
    child: Child,
    socket: std::path::PathBuf,
}

impl Dockerd {
    fn start(dir: &Path) -> Dockerd {
        let dockerd = ["/usr/sbin/dockerd", "/usr/bin/dockerd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("dockerd is missing: scripts/test.sh installs docker.io");
        let socket = dir.join("dockerd.sock");
        let log = std::fs::File::create(dir.join("dockerd.log")).expect("dockerd log");
        let child = Command::new(dockerd)
            .arg("--data-root")
            .arg(dir.join("docker-root"))
            .arg("--exec-root")
            .arg(dir.join("docker-run"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        let d = Dockerd { child, socket };
        assert!(
            eventually(Duration::from_secs(60), || d
                .docker(&["version"])
                .status
                .success()),
            "dockerd did not come up: {}",
            std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
        );
        d
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new(docker_cli())
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .args(args)
            .output()
            .expect("run docker")
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its own containerd.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn pier_save_loads_into_dockerd_and_docker_save_loads_into_pier() {
    let pier = Daemon::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let dockerd = Dockerd::start(dir.path());

    let id = ok(pier.pier(&["images", "-q", "--no-trunc", "busybox"]));
    let tar = dir.path().join("from-pier.tar");
    ok(pier.pier(&["save", "-o", tar.to_str().unwrap(), "busybox"]));
    let out = ok(dockerd.docker(&["load", "-i", tar.to_str().unwrap()]));
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    assert_eq!(
        ok(dockerd.docker(&["images", "-q", "--no-trunc", "busybox"])),
        id
    );
    let hello = ok(dockerd.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "echo",
        "hello from dockerd",
    ]));
    assert_eq!(hello, "hello from dockerd");

    // And back: an image dockerd made (a tag on the same image, and a
    // commit with a new layer) loads into a fresh pierd with the same IDs.
    ok(dockerd.docker(&[
        "run",
        "--name",
        "mk",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo made > /made",
    ]));
    let new_id = ok(dockerd.docker(&["commit", "mk", "made-by-docker:1"]));
    let back = dir.path().join("from-docker.tar");
    ok(dockerd.docker(&["save", "-o", back.to_str().unwrap(), "made-by-docker:1"]));
    let fresh = Daemon::start_empty();
    ok(fresh.pier(&["load", "-i", back.to_str().unwrap()]));
    assert_eq!(
        ok(fresh.pier(&["images", "-q", "--no-trunc", "made-by-docker:1"])),
        new_id
    );
    let made = ok(fresh.pier(&[
        "run",
        "--rm",
        "--network",
        "none",
        "made-by-docker:1",
        "cat",
        "/made",
    ]));
    assert_eq!(made, "made");
}
