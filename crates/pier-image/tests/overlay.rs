//! The unpacked layers really work as overlayfs lower dirs: whiteouts hide
//! files, opaque directories hide the lower contents. Needs root.

mod common;

use common::*;
use pier_image::ImageStore;

#[test]
fn layers_mount_as_overlay_lowerdirs() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("NOTE: skipping overlay mount test: not root");
        return;
    }
    let base = tar_of(&[
        Entry::dir("etc"),
        Entry::file("etc/passwd", b"root"),
        Entry::file("etc/group", b"root"),
        Entry::dir("opq"),
        Entry::file("opq/a", b"a"),
        Entry::file("opq/b", b"b"),
        Entry::dir("keep"),
        Entry::file("keep/x", b"x"),
    ]);
    let top = tar_of(&[
        Entry::dir("etc"),
        Entry::file("etc/.wh.passwd", b""),
        Entry::dir("opq"),
        Entry::file("opq/.wh..wh..opq", b""),
        Entry::file("opq/c", b"c"),
    ]);
    let config = config_for(&[&base, &top], &["sh"], "2024-01-01T00:00:00Z");
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    let archive = docker_save(&[SaveImage {
        config,
        layer_blobs: vec![base, top],
        tags: vec!["ov:1".into()],
    }]);
    store.load(&mut &archive[..]).unwrap();
    let dirs = store.layer_dirs(&store.get("ov:1").unwrap()).unwrap();
    // overlayfs lists lower dirs top first.
    let lower: Vec<String> = dirs.iter().rev().map(|d| d.display().to_string()).collect();
    let merged = tmp.path().join("merged");
    std::fs::create_dir(&merged).unwrap();
    let data = std::ffi::CString::new(format!("lowerdir={}", lower.join(":"))).unwrap();
    if let Err(e) = rustix::mount::mount(
        "overlay",
        &merged,
        "overlay",
        rustix::mount::MountFlags::RDONLY,
        data.as_c_str(),
    ) {
        eprintln!("NOTE: skipping: overlay mount failed: {e}");
        return;
    }
    let seen = |p: &str| merged.join(p).exists();
    let result = std::panic::catch_unwind(|| {
        assert!(!seen("etc/passwd"), "whiteout hides the lower file");
        assert!(seen("etc/group"));
        assert!(seen("opq/c"));
        assert!(
            !seen("opq/a") && !seen("opq/b"),
            "opaque dir hides lower contents"
        );
        assert!(seen("keep/x"));
    });
    rustix::mount::unmount(&merged, rustix::mount::UnmountFlags::DETACH).unwrap();
    result.unwrap();
}
