//! Helpers for the volume tests.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use super::{ok, Daemon};

/// Imports an image `name` holding busybox at /bin (with `sh`) and, at
/// /data, `seed` (uid 1000, gid 2000, mode 0640) and `sub/` (uid 1000,
/// mode 0700), declaring `VOLUME /data`.
pub fn import_volume_image(d: &Daemon, name: &str) {
    let root = d.dir.path().join(format!("img-{name}"));
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir bin");
    std::fs::copy("/bin/busybox", bin.join("busybox")).expect("copy busybox");
    for applet in ["sh", "ls", "cat", "stat", "echo", "touch"] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("applet link");
    }
    let data = root.join("data");
    std::fs::create_dir_all(data.join("sub")).expect("mkdir data");
    std::fs::write(data.join("seed"), b"from the image\n").expect("seed");
    set(&data.join("seed"), 1000, 2000, 0o640);
    set(&data.join("sub"), 1000, 1000, 0o700);
    set(&data, 0, 0, 0o751);
    let tar = d.dir.path().join(format!("img-{name}.tar"));
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .args(["bin", "data"])
        .status()
        .expect("tar");
    assert!(st.success());
    ok(d.docker(&[
        "import",
        "--change",
        "VOLUME /data",
        "--change",
        "CMD [\"/bin/sh\"]",
        tar.to_str().expect("utf-8 path"),
        name,
    ]));
}

fn set(p: &Path, uid: u32, gid: u32, mode: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Names of the volumes `docker volume ls -q` shows.
pub fn volume_names(d: &Daemon) -> Vec<String> {
    ok(d.docker(&["volume", "ls", "-q"]))
        .lines()
        .map(str::to_owned)
        .collect()
}
