//! load (docker-save and OCI layouts), verification failures that must leave
//! no trace, and save → load round trips.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use pier_image::{ImageStore, LoadOutcome};
use serde_json::{json, Value};

const CREATED: &str = "2024-05-06T07:08:09.123456789Z";

fn base_layer() -> Vec<u8> {
    tar_of(&[
        Entry::dir("bin"),
        Entry::file("bin/busybox", b"\x7fELF fake busybox").mode(0o755),
        Entry::hardlink("bin/sh", "bin/busybox"),
        Entry::dir("etc"),
        Entry::file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
        Entry::dir("tmp").mode(0o1777),
    ])
}

fn top_layer() -> Vec<u8> {
    tar_of(&[
        Entry::dir("etc"),
        Entry::file("etc/.wh.passwd", b""),
        Entry::file("etc/hostname", b"pier\n"),
    ])
}

fn two_layer_image(tags: &[&str]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (a, b) = (base_layer(), top_layer());
    let config = config_for(&[&a, &b], &["sh"], CREATED);
    let archive = docker_save(&[SaveImage {
        config: config.clone(),
        layer_blobs: vec![a.clone(), gzip(&b)],
        tags: tags.iter().map(|s| s.to_string()).collect(),
    }]);
    (archive, config, a)
}

/// Nothing but the empty skeleton is left in the store.
fn assert_empty_store(root: &Path) {
    for d in ["blobs/sha256", "layers", "images", "tmp"] {
        assert_eq!(count_files(&root.join(d)), 0, "{d} is not empty");
    }
    assert!(
        !root.join("repositories.json").exists()
            || fs::read_to_string(root.join("repositories.json"))
                .unwrap()
                .trim()
                == "{}"
    );
}

#[test]
fn loads_docker_save_with_mixed_compression() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let (archive, config, _) = two_layer_image(&["busybox:latest", "busybox:1.36"]);
    let out = store.load(&mut &archive[..]).unwrap();
    let id = sha256(&config);
    assert_eq!(out.len(), 2);
    // In the archive's RepoTags order, like Docker.
    assert_eq!(out[0].to_string(), "Loaded image: busybox:latest");
    assert_eq!(out[1].to_string(), "Loaded image: busybox:1.36");
    assert!(out.iter().all(|o| o.id() == id && o.notice().is_none()));

    let rec = store.get("busybox").unwrap();
    assert_eq!(rec.id, id);
    assert_eq!(store.get(&id).unwrap().id, id);
    assert_eq!(store.get(&hex_of(&id)[..8]).unwrap().id, id);
    assert_eq!(store.get("docker.io/library/busybox:1.36").unwrap().id, id);
    assert_eq!(rec.repo_tags, vec!["busybox:1.36", "busybox:latest"]);
    let dirs = store.layer_dirs(&rec).unwrap();
    assert_eq!(dirs.len(), 2);
    assert!(dirs[0].join("bin/sh").exists());
    assert!(dirs[1].join("etc/hostname").exists());
    assert!(fs::symlink_metadata(dirs[1].join("etc/passwd"))
        .unwrap()
        .file_type()
        .is_char_device_like());
    let cfg = store.config(&rec).unwrap();
    assert_eq!(
        cfg.config().as_ref().unwrap().cmd().as_ref().unwrap(),
        &vec!["sh".to_string()]
    );

    let inspect = store.inspect("busybox:latest").unwrap();
    assert_eq!(inspect.id.as_deref(), Some(id.as_str()));
    assert_eq!(inspect.architecture.as_deref(), Some("amd64"));
    assert_eq!(inspect.os.as_deref(), Some("linux"));
    let c = inspect.config.unwrap();
    assert_eq!(c.cmd.unwrap(), vec!["sh"]);
    assert_eq!(c.env.unwrap(), vec!["PATH=/bin"]);
    let rootfs = inspect.root_fs.unwrap();
    assert_eq!(rootfs.typ, "layers");
    assert_eq!(
        rootfs.layers.unwrap(),
        vec![sha256(&base_layer()), sha256(&top_layer())]
    );
    let j = serde_json::to_value(store.inspect(&id).unwrap()).unwrap();
    assert_eq!(j["Created"], json!(CREATED));
    assert_eq!(j["RepoTags"], json!(["busybox:1.36", "busybox:latest"]));
    assert!(j["Size"].as_i64().unwrap() > 0);

    let hist = store.history("busybox").unwrap();
    assert_eq!(hist.len(), 3);
    assert_eq!(hist[0].id, id);
    assert_eq!(hist[0].created_by, "CMD");
    assert_eq!(hist[0].size, 0);
    assert_eq!(hist[1].id, "<missing>");
    assert!(hist[2].size > 0);
    assert_eq!(hist[0].tags, vec!["busybox:1.36", "busybox:latest"]);
}

trait CharDev {
    fn is_char_device_like(&self) -> bool;
}
impl CharDev for fs::FileType {
    fn is_char_device_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_char_device()
    }
}

#[test]
fn shared_layers_are_unpacked_once_and_tags_move() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let (first, first_cfg, _) = two_layer_image(&["app:latest"]);
    store.load(&mut &first[..]).unwrap();
    let a = base_layer();
    let other = tar_of(&[Entry::file("other", b"2")]);
    let cfg2 = config_for(&[&a, &other], &["other"], "2025-01-01T00:00:00Z");
    let second = docker_save(&[SaveImage {
        config: cfg2.clone(),
        layer_blobs: vec![zstd(&a), other],
        tags: vec!["app:latest".into()],
    }]);
    let out = store.load(&mut &second[..]).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].notice().unwrap(),
        format!(
            "The image app:latest already exists, renaming the old one with ID {} to empty string",
            sha256(&first_cfg)
        )
    );
    // Three distinct layers for two images with one shared.
    assert_eq!(
        fs::read_dir(tmp.path().join("layers"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().is_dir())
            .count(),
        3
    );
    let old = store.get(&sha256(&first_cfg)).unwrap();
    assert!(old.repo_tags.is_empty(), "the old image is now dangling");
    assert_eq!(store.get("app").unwrap().id, sha256(&cfg2));
    // Loading the same archive again changes nothing.
    let again = store.load(&mut &second[..]).unwrap();
    assert!(again[0].notice().is_none());
}

#[test]
fn untagged_image_reports_its_id() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let (archive, config, _) = two_layer_image(&[]);
    let out = store.load(&mut &archive[..]).unwrap();
    assert_eq!(
        out,
        vec![LoadOutcome::Untagged {
            id: sha256(&config)
        }]
    );
    assert_eq!(
        out[0].to_string(),
        format!("Loaded image ID: {}", sha256(&config))
    );
}

#[test]
fn diff_id_mismatch_is_rejected_leaving_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let (a, b) = (base_layer(), top_layer());
    let config = config_for(&[&a, &b], &["sh"], CREATED);
    let tampered = tar_of(&[Entry::dir("etc"), Entry::file("etc/hostname", b"evil\n")]);
    let archive = docker_save(&[SaveImage {
        config,
        layer_blobs: vec![a, gzip(&tampered)],
        tags: vec!["busybox:latest".into()],
    }]);
    let err = store.load(&mut &archive[..]).unwrap_err();
    assert_eq!(err.status_code(), 400);
    assert!(err.to_string().contains("invalid diffID"), "{err}");
    assert_empty_store(tmp.path());
    assert!(store.get("busybox").is_err());
    assert!(store.list().is_empty());
}

#[test]
fn hostile_layer_in_archive_is_rejected_leaving_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let evil = tar_of(&[Entry::file("../../../../escape", b"x")]);
    let config = config_for(&[&evil], &["sh"], CREATED);
    let archive = docker_save(&[SaveImage {
        config,
        layer_blobs: vec![evil],
        tags: vec!["evil:1".into()],
    }]);
    let err = store.load(&mut &archive[..]).unwrap_err();
    assert!(err.to_string().contains("breakout"), "{err}");
    assert_empty_store(tmp.path());
    // The outer archive's own names are never used as paths either.
    let outer = archive_with_name("../../outer-escape", b"x");
    assert!(store.load(&mut &outer[..]).is_err());
    assert!(!tmp.path().parent().unwrap().join("outer-escape").exists());
    assert_empty_store(tmp.path());
}

fn archive_with_name(name: &str, data: &[u8]) -> Vec<u8> {
    tar_of(&[Entry::file(name, data)])
}

fn oci_archive(
    tag_annotations: Value,
    layer_blobs: Vec<Vec<u8>>,
    config: &[u8],
    nested: bool,
) -> Vec<u8> {
    let mut files: Files = vec![(
        "oci-layout".into(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    )];
    files.push(blob_file(config));
    for b in &layer_blobs {
        files.push(blob_file(b));
    }
    let manifest = oci_manifest(
        config,
        &layer_blobs,
        "application/vnd.oci.image.layer.v1.tar+gzip",
    );
    files.push(blob_file(&manifest));
    let mut top = descriptor("application/vnd.oci.image.manifest.v1+json", &manifest);
    if nested {
        let arm = oci_manifest(b"{}", &[], "x");
        files.push(blob_file(&arm));
        let mut amd = descriptor("application/vnd.oci.image.manifest.v1+json", &manifest);
        amd["platform"] = json!({"os": "linux", "architecture": "amd64"});
        let mut armd = descriptor("application/vnd.oci.image.manifest.v1+json", &arm);
        armd["platform"] = json!({"os": "linux", "architecture": "arm64"});
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [armd, amd],
        }))
        .unwrap();
        files.push(blob_file(&index));
        top = descriptor("application/vnd.oci.image.index.v1+json", &index);
    }
    top["annotations"] = tag_annotations;
    let index = json!({"schemaVersion": 2, "manifests": [top]});
    files.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
    archive(&files)
}

#[test]
fn loads_oci_layouts_following_nested_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let (a, b) = (base_layer(), top_layer());
    let config = config_for(&[&a, &b], &["sh"], CREATED);
    let arch = oci_archive(
        json!({"io.containerd.image.name": "docker.io/library/alpine:3", "org.opencontainers.image.ref.name": "3"}),
        vec![gzip(&a), gzip(&b)],
        &config,
        true,
    );
    let out = store.load(&mut &gzip(&arch)[..]).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to_string(), "Loaded image: alpine:3");
    let rec = store.get("alpine:3").unwrap();
    assert_eq!(rec.id, sha256(&config));
    assert!(rec.manifest_digest.is_some());
    assert!(store.layer_dirs(&rec).unwrap()[0]
        .join("bin/busybox")
        .exists());

    // ref.name alone as a full reference, e.g. from skopeo.
    let tmp2 = tempfile::tempdir().unwrap();
    let store2 = ImageStore::open(tmp2.path()).unwrap();
    let arch = oci_archive(
        json!({"org.opencontainers.image.ref.name": "example.com/x/y:v1"}),
        vec![gzip(&a), gzip(&b)],
        &config,
        false,
    );
    let out = store2.load(&mut &arch[..]).unwrap();
    assert_eq!(out[0].to_string(), "Loaded image: example.com/x/y:v1");
    // A bare tag names no repository: the image comes in untagged.
    let tmp3 = tempfile::tempdir().unwrap();
    let store3 = ImageStore::open(tmp3.path()).unwrap();
    let arch = oci_archive(
        json!({"org.opencontainers.image.ref.name": "latest"}),
        vec![gzip(&a), gzip(&b)],
        &config,
        false,
    );
    let out = store3.load(&mut &arch[..]).unwrap();
    assert_eq!(
        out,
        vec![LoadOutcome::Untagged {
            id: sha256(&config)
        }]
    );
}

#[test]
fn oci_blob_digest_mismatch_is_rejected_leaving_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let a = base_layer();
    let config = config_for(&[&a], &["sh"], CREATED);
    let good = oci_archive(
        json!({"io.containerd.image.name": "x:1"}),
        vec![gzip(&a)],
        &config,
        false,
    );
    // Swap the layer blob's content while keeping its name.
    let mut ar = tar::Archive::new(&good[..]);
    let layer_name = format!("blobs/sha256/{}", hex_of(&sha256(&gzip(&a))));
    let mut files: Files = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if name == layer_name {
            data = gzip(&tar_of(&[Entry::file("evil", b"x")]));
        }
        files.push((name, data));
    }
    let err = store.load(&mut &archive(&files)[..]).unwrap_err();
    assert_eq!(err.status_code(), 400);
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    assert_empty_store(tmp.path());
}

#[test]
fn docker_25_blob_names_must_match_content() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let a = base_layer();
    let config = config_for(&[&a], &["sh"], CREATED);
    let wrong = format!("blobs/sha256/{}", "0".repeat(64));
    let manifest = json!([{"Config": wrong, "RepoTags": ["x:1"], "Layers": [blob_file(&a).0]}]);
    let files: Files = vec![
        (wrong.clone(), config),
        blob_file(&a),
        (
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        ),
    ];
    let err = store.load(&mut &archive(&files)[..]).unwrap_err();
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    assert_empty_store(tmp.path());
}

#[test]
fn rejects_archives_that_are_not_images() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    for bad in [
        archive(&vec![("hello".into(), b"x".to_vec())]),
        archive(&vec![("manifest.json".into(), b"null".to_vec())]),
        archive(&vec![(
            "manifest.json".into(),
            b"[{\"Config\":\"missing.json\",\"Layers\":[]}]".to_vec(),
        )]),
        b"not a tar at all, just some words here".to_vec(),
    ] {
        let err = store.load(&mut &bad[..]).unwrap_err();
        assert_eq!(err.status_code(), 400, "{err}");
    }
    assert_empty_store(tmp.path());
}

#[test]
fn save_then_load_gives_the_same_image() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let (archive, config, _) = two_layer_image(&["busybox:latest"]);
    store.load(&mut &archive[..]).unwrap();
    store.tag("busybox", "localhost:5000/mine:v2").unwrap();
    let mut saved = Vec::new();
    store
        .save(
            &["busybox".into(), "localhost:5000/mine:v2".into()],
            &mut saved,
        )
        .unwrap();

    let mut names = Vec::new();
    let mut manifest: Value = Value::Null;
    let mut index: Value = Value::Null;
    for e in tar::Archive::new(&saved[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let n = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if n.starts_with("blobs/sha256/") && !n.ends_with('/') {
            assert_eq!(
                format!("blobs/sha256/{}", hex_of(&sha256(&data))),
                n,
                "blob named by its digest"
            );
        }
        if n == "manifest.json" {
            manifest = serde_json::from_slice(&data).unwrap();
        }
        if n == "index.json" {
            index = serde_json::from_slice(&data).unwrap();
        }
        names.push(n);
    }
    for must in ["manifest.json", "index.json", "oci-layout", "repositories"] {
        assert!(names.iter().any(|n| n == must), "{must} missing");
    }
    let id = sha256(&config);
    assert_eq!(
        manifest[0]["Config"],
        json!(format!("blobs/sha256/{}", hex_of(&id)))
    );
    assert_eq!(
        manifest[0]["RepoTags"],
        json!(["busybox:latest", "localhost:5000/mine:v2"])
    );
    assert_eq!(
        manifest[0]["Layers"][1],
        json!(format!("blobs/sha256/{}", hex_of(&sha256(&top_layer()))))
    );
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        json!("docker.io/library/busybox:latest")
    );

    let tmp2 = tempfile::tempdir().unwrap();
    let other = ImageStore::open(tmp2.path()).unwrap();
    let out = other.load(&mut &saved[..]).unwrap();
    assert!(out.iter().all(|o| o.id() == id));
    assert_eq!(other.get("localhost:5000/mine:v2").unwrap().id, id);
    // Saving again from the second store yields the same bytes.
    let mut again = Vec::new();
    other
        .save(
            &["busybox".into(), "localhost:5000/mine:v2".into()],
            &mut again,
        )
        .unwrap();
    assert_eq!(saved, again);
    // By ID: no tags in the archive, still loadable.
    let mut by_id = Vec::new();
    store.save(std::slice::from_ref(&id), &mut by_id).unwrap();
    let tmp3 = tempfile::tempdir().unwrap();
    let third = ImageStore::open(tmp3.path()).unwrap();
    assert_eq!(
        third.load(&mut &by_id[..]).unwrap(),
        vec![LoadOutcome::Untagged { id: id.clone() }]
    );
    assert!(
        store
            .save(&["nosuch".into()], &mut Vec::new())
            .unwrap_err()
            .status_code()
            == 404
    );
    assert_eq!(
        store
            .check_save(&["nosuch".into()])
            .unwrap_err()
            .status_code(),
        404
    );
    // A bare repository saves all its tags, even without :latest.
    store
        .remove("busybox:latest", false, false, &|_| None)
        .unwrap();
    store.tag(&id, "busybox:1").unwrap();
    store.check_save(&["busybox".into()]).unwrap();
    let mut repo = Vec::new();
    store.save(&["busybox".into()], &mut repo).unwrap();
    let tmp4 = tempfile::tempdir().unwrap();
    let fourth = ImageStore::open(tmp4.path()).unwrap();
    assert_eq!(
        fourth.load(&mut &repo[..]).unwrap()[0].to_string(),
        "Loaded image: busybox:1"
    );
}

#[test]
fn saved_archives_pass_skopeo() {
    let Ok(out) = std::process::Command::new("skopeo")
        .arg("--version")
        .output()
    else {
        eprintln!("NOTE: skopeo not installed, skipping (apt install skopeo)");
        return;
    };
    assert!(out.status.success());
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    let (archive, config, _) = two_layer_image(&["busybox:latest"]);
    store.load(&mut &archive[..]).unwrap();
    let saved = tmp.path().join("saved.tar");
    store
        .save(
            &["busybox:latest".into()],
            &mut fs::File::create(&saved).unwrap(),
        )
        .unwrap();
    let skopeo = |arg: String| {
        let o = std::process::Command::new("skopeo")
            .args(["inspect", "--raw"])
            .arg(&arg)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "skopeo inspect {arg}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o2 = std::process::Command::new("skopeo")
            .args(["inspect", "--config"])
            .arg(&arg)
            .output()
            .unwrap();
        assert!(
            o2.status.success(),
            "skopeo inspect --config {arg}: {}",
            String::from_utf8_lossy(&o2.stderr)
        );
        serde_json::from_slice::<Value>(&o2.stdout).unwrap()
    };
    let cfg = skopeo(format!("docker-archive:{}", saved.display()));
    assert_eq!(cfg["config"]["Cmd"], json!(["sh"]));
    let layout = tmp.path().join("layout");
    fs::create_dir(&layout).unwrap();
    let st = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&saved)
        .arg("-C")
        .arg(&layout)
        .status()
        .unwrap();
    assert!(st.success());
    let cfg = skopeo(format!("oci-archive:{}:latest", saved.display()));
    assert_eq!(cfg["config"]["Cmd"], json!(["sh"]));
    let cfg = skopeo(format!("oci:{}:latest", layout.display()));
    assert_eq!(serde_json::to_vec(&cfg).map(|_| ()).ok(), Some(()));
    assert_eq!(cfg["rootfs"]["diff_ids"][0], json!(sha256(&base_layer())));
    let _ = config;
}
