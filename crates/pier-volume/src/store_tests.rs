//! Tests of `VolumeStore`.

use super::*;

fn named(n: &str) -> CreateOptions {
    CreateOptions {
        name: Some(n.into()),
        ..Default::default()
    }
}

#[test]
fn create_get_reopen_remove() {
    let d = tempfile::tempdir().unwrap();
    let s = VolumeStore::open(d.path()).unwrap();
    let mut o = named("data");
    o.labels = Some([("a".to_string(), "1".to_string())].into());
    let v = s.create(o).unwrap();
    assert_eq!(v.mountpoint, d.path().join("data/_data"));
    assert!(v.mountpoint.is_dir());
    // Same name again: the existing volume, labels unchanged.
    let again = s.create(named("data")).unwrap();
    assert_eq!(again.record.labels()["a"], "1");
    let anon = s.create(CreateOptions::default()).unwrap();
    assert_eq!(anon.record.name.len(), 64);
    assert!(anon.record.is_anonymous());
    fs::write(v.mountpoint.join("f"), b"keep").unwrap();

    // A crash mid-create leaves a staging dir that open() deletes.
    fs::create_dir_all(d.path().join(".creating-x/_data")).unwrap();
    // So does an interrupted copy-up.
    fs::create_dir_all(d.path().join(".copyup-y/m")).unwrap();
    std::os::unix::fs::symlink("/", d.path().join(".copyup-y/m/root")).unwrap();
    let s = VolumeStore::open(d.path()).unwrap();
    assert!(!d.path().join(".creating-x").exists());
    assert!(!d.path().join(".copyup-y").exists());
    assert_eq!(s.all().len(), 2);
    assert_eq!(fs::read(s.data_path("data").join("f")).unwrap(), b"keep");
    assert_eq!(s.size("data"), 4);

    s.reference("data", "c1");
    let e = s.remove("data", true).unwrap_err();
    assert_eq!(e.to_string(), "remove data: volume is in use - [c1]");
    assert_eq!(e.status_code(), 409);
    assert!(s.data_path("data").join("f").exists());
    s.release("data", "c1");
    s.remove("data", false).unwrap();
    assert!(!d.path().join("data").exists());
    let e = s.remove("data", false).unwrap_err();
    assert_eq!(e.to_string(), "get data: no such volume");
    assert_eq!(e.status_code(), 404);
    s.remove("data", true).unwrap();
}

#[test]
fn bad_names_and_options() {
    let d = tempfile::tempdir().unwrap();
    let s = VolumeStore::open(d.path()).unwrap();
    let e = s.create(named("foo/bar")).unwrap_err();
    assert_eq!(e.to_string(), "create foo/bar: \"foo/bar\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path");
    assert_eq!(e.status_code(), 400);
    assert!(s
        .create(named("x"))
        .unwrap_err()
        .to_string()
        .contains("too short"));
    let mut o = named("vv");
    o.options = Some([("type".to_string(), "tmpfs".to_string())].into());
    assert_eq!(
        s.create(o).unwrap_err().to_string(),
        "create vv: missing required option: \"device\""
    );
    let mut o = named("vv");
    o.driver = Some("nosuch".into());
    let e = s.create(o).unwrap_err();
    assert_eq!(
        e.to_string(),
        "create vv: error looking up volume plugin nosuch: plugin \"nosuch\" not found"
    );
    assert_eq!(e.status_code(), 404);
    assert!(s.all().is_empty());
}

#[test]
fn prune_skips_referenced_and_optioned() {
    let d = tempfile::tempdir().unwrap();
    let s = VolumeStore::open(d.path()).unwrap();
    let a = s.create(CreateOptions::default()).unwrap();
    let b = s.create(CreateOptions::default()).unwrap();
    s.create(named("named")).unwrap();
    let mut o = named("dev");
    o.options = [("type", "none"), ("device", "/nonexistent"), ("o", "bind")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<HashMap<_, _>>()
        .into();
    s.create(o).unwrap();
    fs::write(a.mountpoint.join("f"), vec![0u8; 100]).unwrap();
    s.reference(&b.record.name, "c");
    let r = s.prune(|v| v.record.is_anonymous()).unwrap();
    assert_eq!(r.deleted, vec![a.record.name.clone()]);
    assert_eq!(r.reclaimed, 100);
    let r = s.prune(|_| true).unwrap();
    assert_eq!(r.deleted, vec!["named".to_string()]);
    assert_eq!(s.all().len(), 2);
}

#[test]
fn tmpfs_volume_mounts_on_first_use_and_unmounts_after_last() {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let s = VolumeStore::open(d.path()).unwrap();
    let mut o = named("tv");
    o.options = [("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<HashMap<_, _>>()
        .into();
    s.create(o).unwrap();
    let p = s.mount("tv", "c1").unwrap();
    assert!(options::is_mount_point(&p));
    fs::write(p.join("f"), b"x").unwrap();
    s.mount("tv", "c2").unwrap();
    s.unmount("tv", "c1").unwrap();
    assert!(p.join("f").exists(), "still mounted for c2");
    s.unmount("tv", "c2").unwrap();
    assert!(!options::is_mount_point(&p));
    assert!(!p.join("f").exists());
    s.remove("tv", false).unwrap();
}
