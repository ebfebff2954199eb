//! scripts/build-busybox-image.sh produces an archive this store loads.

use std::path::Path;
use std::process::Command;

use pier_image::ImageStore;

#[test]
fn busybox_script_output_loads() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-busybox-image.sh");
    let have_bash = Command::new("bash")
        .arg("-c")
        .arg("true")
        .status()
        .is_ok_and(|s| s.success());
    let can_get_busybox =
        Path::new("/bin/busybox").exists() || Path::new("/usr/bin/apt-get").exists();
    if !have_bash || !can_get_busybox || !script.exists() {
        eprintln!("NOTE: skipping: needs bash and /bin/busybox or apt-get");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("busybox.tar");
    let t0 = std::time::Instant::now();
    let st = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "build-busybox-image.sh failed");
    eprintln!("script took {:?}", t0.elapsed());
    // Idempotent: a second run gives the same bytes.
    let out2 = tmp.path().join("again.tar");
    assert!(Command::new("bash")
        .arg(&script)
        .arg(&out2)
        .status()
        .unwrap()
        .success());
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());

    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    let loaded = store.load(&mut std::fs::File::open(&out).unwrap()).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].to_string(), "Loaded image: busybox:latest");
    let rec = store.get("busybox:latest").unwrap();
    let cfg = store.container_config(&rec).unwrap();
    assert_eq!(cfg.cmd.unwrap(), vec!["sh"]);
    assert_eq!(
        cfg.env.unwrap(),
        vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    );
    let dirs = store.layer_dirs(&rec).unwrap();
    assert_eq!(dirs.len(), 1);
    let sh = dirs[0].join("bin/sh");
    assert!(sh.exists(), "bin/sh missing");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&sh).unwrap().ino(),
        std::fs::metadata(dirs[0].join("bin/busybox"))
            .unwrap()
            .ino()
    );
    assert_eq!(
        std::fs::metadata(dirs[0].join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    assert!(std::fs::read_to_string(dirs[0].join("etc/passwd"))
        .unwrap()
        .starts_with("root:x:0:0:"));
    assert_eq!(store.history("busybox").unwrap().len(), 2);
}
