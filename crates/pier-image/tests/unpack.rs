//! LayerUnpacker against hostile and ordinary layers. Every hostile case
//! checks that a sentinel tree next to the target is unchanged.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{snapshot, tar_of, Entry};
use pier_image::{ImageError, LayerUnpacker, UnpackStats};

struct Scene {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    target: PathBuf,
    sentinel: PathBuf,
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

impl Scene {
    fn new() -> Scene {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().to_path_buf();
        let target = base.join("target");
        let sentinel = base.join("sentinel");
        fs::create_dir_all(sentinel.join("sub")).unwrap();
        fs::write(sentinel.join("secret"), b"do not touch").unwrap();
        fs::write(sentinel.join("sub/x"), b"x").unwrap();
        fs::create_dir(&target).unwrap();
        Scene {
            _tmp: tmp,
            base,
            target,
            sentinel,
        }
    }

    /// Unpacks `entries` and asserts nothing outside the target changed.
    fn unpack(&self, entries: &[Entry]) -> Result<UnpackStats, ImageError> {
        let before = snapshot(&self.sentinel);
        let base_before: Vec<_> = fs::read_dir(&self.base)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let result = LayerUnpacker::unpack(&tar_of(entries)[..], &self.target);
        assert_eq!(before, snapshot(&self.sentinel), "sentinel changed");
        let base_after: Vec<_> = fs::read_dir(&self.base)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            base_before.len(),
            base_after.len(),
            "something appeared next to the target"
        );
        assert!(!Path::new("/escape").exists() && !Path::new("/escaped").exists());
        result
    }

    fn t(&self, p: &str) -> PathBuf {
        self.target.join(p)
    }
}

fn assert_bad(r: Result<UnpackStats, ImageError>, needle: &str) {
    match r {
        Err(e) => {
            assert_eq!(e.status_code(), 400, "{e}");
            assert!(
                e.to_string().contains(needle),
                "error {e:?} lacks {needle:?}"
            );
        }
        Ok(s) => panic!("hostile layer accepted: {s:?}"),
    }
}

#[test]
fn dotdot_escape_is_a_breakout() {
    let s = Scene::new();
    assert_bad(s.unpack(&[Entry::file("../escape", b"pwned")]), "breakout");
    assert!(!s.base.join("escape").exists());
    assert_bad(
        s.unpack(&[Entry::file("a/../../escape", b"pwned")]),
        "breakout",
    );
    assert_bad(
        s.unpack(&[Entry::file("../sentinel/secret", b"pwned")]),
        "breakout",
    );
}

#[test]
fn absolute_and_dot_paths_are_made_relative() {
    let s = Scene::new();
    s.unpack(&[
        Entry::file("/abs/path", b"a"),
        Entry::file("./dot/file", b"b"),
        Entry::file("x/../inside", b"c"),
    ])
    .unwrap();
    assert_eq!(fs::read(s.t("abs/path")).unwrap(), b"a");
    assert_eq!(fs::read(s.t("dot/file")).unwrap(), b"b");
    assert_eq!(fs::read(s.t("inside")).unwrap(), b"c");
}

#[test]
fn writes_through_absolute_symlink_stay_inside() {
    let s = Scene::new();
    let outside = s.sentinel.display().to_string();
    // The link points at the real sentinel; resolved in-root it names a
    // directory that does not exist inside the target.
    let r = s.unpack(&[
        Entry::symlink("evil", &outside),
        Entry::file("evil/secret", b"pwned"),
    ]);
    if r.is_ok() {
        assert!(s
            .target
            .join(outside.trim_start_matches('/'))
            .join("secret")
            .exists());
    }
    assert_eq!(fs::read_link(s.t("evil")).unwrap(), Path::new(&outside));

    let s = Scene::new();
    s.unpack(&[
        Entry::symlink("root", "/"),
        Entry::file("root/landed", b"ok"),
    ])
    .unwrap();
    assert_eq!(fs::read(s.t("landed")).unwrap(), b"ok");
}

#[test]
fn writes_through_dotdot_symlink_stay_inside() {
    let s = Scene::new();
    s.unpack(&[
        Entry::symlink("up", "../../.."),
        Entry::file("up/escaped", b"ok"),
    ])
    .unwrap();
    assert_eq!(fs::read(s.t("escaped")).unwrap(), b"ok");
    assert!(!s.base.join("escaped").exists());

    // `../sentinel` resolved in-root is `/sentinel` of the layer: missing,
    // so writing through it fails instead of reaching the real sentinel.
    let s = Scene::new();
    assert_bad(
        s.unpack(&[
            Entry::symlink("up", "../sentinel"),
            Entry::dir("up/sub"),
            Entry::file("up/sub/x", b"pwned"),
        ]),
        "No such file",
    );
    // Once the layer has its own /sentinel, that is where the write lands.
    let s = Scene::new();
    s.unpack(&[
        Entry::dir("sentinel"),
        Entry::symlink("up", "../sentinel"),
        Entry::dir("up/sub"),
        Entry::file("up/sub/x", b"inside"),
    ])
    .unwrap();
    assert_eq!(fs::read(s.t("sentinel/sub/x")).unwrap(), b"inside");
}

#[test]
fn symlink_as_final_component_is_replaced_not_followed() {
    let s = Scene::new();
    let secret = s.sentinel.join("secret").display().to_string();
    s.unpack(&[
        Entry::symlink("f", &secret),
        Entry::file("f", b"replaced").mode(0o600),
    ])
    .unwrap();
    let m = fs::symlink_metadata(s.t("f")).unwrap();
    assert!(m.is_file());
    assert_eq!(fs::read(s.t("f")).unwrap(), b"replaced");

    // A directory entry over a symlink to a directory replaces the link.
    let s = Scene::new();
    let sent = s.sentinel.display().to_string();
    s.unpack(&[Entry::symlink("d", &sent), Entry::dir("d").mode(0o700)])
        .unwrap();
    assert!(fs::symlink_metadata(s.t("d")).unwrap().is_dir());
}

#[test]
fn hardlinks_outside_are_rejected() {
    let s = Scene::new();
    let before = fs::metadata("/etc/passwd").unwrap().nlink();
    let r = s.unpack(&[Entry::hardlink("pw", "/etc/passwd")]);
    assert!(
        r.is_err(),
        "hardlink to a missing in-root /etc/passwd must fail"
    );
    assert!(!s.t("pw").exists());
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), before);

    assert_bad(s.unpack(&[Entry::hardlink("x", "../../x")]), "breakout");
    assert_bad(
        s.unpack(&[Entry::hardlink("y", "../sentinel/secret")]),
        "breakout",
    );

    // Through a symlinked directory pointing at the real sentinel.
    let s = Scene::new();
    let sent = s.sentinel.display().to_string();
    let r = s.unpack(&[Entry::symlink("s", &sent), Entry::hardlink("l", "s/secret")]);
    assert!(r.is_err());
    assert_eq!(fs::metadata(s.sentinel.join("secret")).unwrap().nlink(), 1);
}

#[test]
fn device_nodes_are_skipped() {
    let s = Scene::new();
    let stats = s
        .unpack(&[
            Entry::dir("dev"),
            Entry::char_dev("dev/null", 1, 3),
            Entry::char_dev("dev/sda", 8, 0),
        ])
        .unwrap();
    assert_eq!(stats.skipped, 2);
    assert!(!s.t("dev/null").exists());
    assert!(!s.t("dev/sda").exists());
}

#[test]
fn symlink_loops_fail_cleanly() {
    let s = Scene::new();
    assert_bad(
        s.unpack(&[
            Entry::symlink("loop", "loop"),
            Entry::file("loop/file", b"x"),
        ]),
        "symbolic links",
    );
    let s = Scene::new();
    assert_bad(
        s.unpack(&[
            Entry::symlink("a", "b"),
            Entry::symlink("b", "a"),
            Entry::file("a/x", b"x"),
        ]),
        "symbolic links",
    );
    let s = Scene::new();
    let r = s.unpack(&[
        Entry::dir("d"),
        Entry::symlink("d/self", "."),
        Entry::file("d/self/self/self/f", b"ok"),
    ]);
    r.unwrap();
    assert_eq!(fs::read(s.t("d/f")).unwrap(), b"ok");
}

#[test]
fn whiteouts_become_overlay_form() {
    let s = Scene::new();
    let stats = s
        .unpack(&[
            Entry::dir("dir"),
            Entry::file("dir/.wh.gone", b"").owner(0, 0),
            Entry::dir("opq"),
            Entry::file("opq/.wh..wh..opq", b""),
            Entry::file("opq/kept", b"k"),
            Entry::file("nodir/.wh.x", b""),
            Entry::file(".wh..wh.plnk", b""),
        ])
        .unwrap();
    assert_eq!(stats.whiteouts, 3);
    let m = fs::symlink_metadata(s.t("dir/gone")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), 0);
    assert!(!s.t("dir/.wh.gone").exists());
    assert!(fs::symlink_metadata(s.t("nodir/x"))
        .unwrap()
        .file_type()
        .is_char_device());
    assert_eq!(fs::read(s.t("opq/kept")).unwrap(), b"k");
    assert!(!s.t(".wh..wh.plnk").exists());
    if is_root() {
        let mut buf = [0u8; 8];
        let n = rustix::fs::getxattr(s.t("opq"), "trusted.overlay.opaque", &mut buf[..]).unwrap();
        assert_eq!(&buf[..n], b"y");
    }
    assert_bad(s.unpack(&[Entry::file(".wh..", b"")]), "whiteout");
}

#[test]
fn busybox_like_layer_keeps_owners_modes_links_and_times() {
    let s = Scene::new();
    let cap = [
        1u8, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    s.unpack(&[
        Entry::dir("./").mode(0o755).mtime(1_000),
        Entry::dir("bin").mtime(2_000),
        Entry::file("bin/busybox", b"\x7fELF busybox")
            .mode(0o755)
            .mtime(3_000),
        Entry::hardlink("bin/sh", "bin/busybox"),
        Entry::symlink("bin/ls", "busybox"),
        Entry::file("bin/su", b"su").mode(0o4755),
        Entry::file("bin/ping", b"ping")
            .mode(0o755)
            .xattr("security.capability", &cap),
        Entry::file("bin/sneaky", b"s").xattr("trusted.overlay.redirect", b"/etc"),
        Entry::dir("tmp").mode(0o1777),
        Entry::dir("home/user").owner(1000, 1000).mode(0o750),
        Entry::file("home/user/.profile", b"p")
            .owner(1000, 1001)
            .mode(0o600),
        Entry::dir("etc"),
        Entry::file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
    ])
    .unwrap();
    let md = |p: &str| fs::symlink_metadata(s.t(p)).unwrap();
    assert_eq!(md("bin/busybox").mode() & 0o7777, 0o755);
    assert_eq!(md("bin/busybox").ino(), md("bin/sh").ino());
    assert_eq!(fs::read_link(s.t("bin/ls")).unwrap(), Path::new("busybox"));
    assert_eq!(md("bin/su").mode() & 0o7777, 0o4755);
    assert_eq!(md("tmp").permissions().mode() & 0o7777, 0o1777);
    assert_eq!(md("bin/busybox").mtime(), 3_000);
    assert_eq!(
        md("bin").mtime(),
        2_000,
        "directory times are set after their children"
    );
    assert_eq!(md(".").mode() & 0o777, 0o755);
    assert!(rustix::fs::getxattr(
        s.t("bin/sneaky"),
        "trusted.overlay.redirect",
        &mut [0u8; 16][..]
    )
    .is_err());
    if is_root() {
        assert_eq!((md("home/user").uid(), md("home/user").gid()), (1000, 1000));
        assert_eq!(
            (
                md("home/user/.profile").uid(),
                md("home/user/.profile").gid()
            ),
            (1000, 1001)
        );
        let mut buf = [0u8; 32];
        let n = rustix::fs::getxattr(s.t("bin/ping"), "security.capability", &mut buf[..]).unwrap();
        assert_eq!(&buf[..n], &cap[..]);
    }
}

#[test]
fn later_entries_replace_earlier_ones() {
    let s = Scene::new();
    s.unpack(&[
        Entry::file("a", b"file first"),
        Entry::dir("a"),
        Entry::file("a/inner", b"1"),
        Entry::dir("b"),
        Entry::file("b/inner", b"2"),
        Entry::file("b", b"file replaces dir"),
        Entry::dir("c").mode(0o700),
        Entry::file("c/one", b"1"),
        Entry::dir("c").mode(0o755),
        Entry::file("c/two", b"2"),
        Entry::file("d", b"old"),
        Entry::file("d", b"new"),
    ])
    .unwrap();
    assert!(s.t("a").is_dir());
    assert_eq!(fs::read(s.t("b")).unwrap(), b"file replaces dir");
    assert!(s.t("c/one").exists() && s.t("c/two").exists());
    assert_eq!(fs::metadata(s.t("c")).unwrap().mode() & 0o777, 0o755);
    assert_eq!(fs::read(s.t("d")).unwrap(), b"new");
}

#[test]
fn garbage_input_is_an_error_not_a_panic() {
    let s = Scene::new();
    let r = LayerUnpacker::unpack(
        &b"this is not a tar archive, clearly not one at all"[..],
        &s.target,
    );
    // A short non-tar is an error or (like GNU tar) an empty archive; never a panic.
    if let Err(e) = r {
        assert_eq!(e.status_code(), 400);
    }
    let mut truncated = tar_of(&[Entry::file("big", &[7u8; 4096])]);
    truncated.truncate(1024);
    assert!(LayerUnpacker::unpack(&truncated[..], &s.target).is_err());
}
