//! Tags, Docker's removal rules, the image list and its filters, import and
//! create_image.

mod common;

use std::fs;
use std::io::Write;

use common::*;
use pier_api::filters::Filters;
use pier_image::{ImageStore, ImageUser, ImportOptions};
use serde_json::json;

fn image(store: &ImageStore, marker: &str, created: &str, tags: &[&str]) -> String {
    let base = tar_of(&[Entry::dir("bin"), Entry::file("bin/sh", b"sh").mode(0o755)]);
    let own = tar_of(&[Entry::file(marker, marker.as_bytes())]);
    let config = config_for(&[&base, &own], &["sh"], created);
    let archive = docker_save(&[SaveImage {
        config: config.clone(),
        layer_blobs: vec![base, own],
        tags: tags.iter().map(|s| s.to_string()).collect(),
    }]);
    store.load(&mut &archive[..]).unwrap();
    sha256(&config)
}

fn nobody(_: &str) -> Option<String> {
    None
}

fn layer_count(store: &ImageStore) -> usize {
    fs::read_dir(store.root().join("layers"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count()
}

fn delete_items(items: &[pier_api::models::ImageDeleteResponseItem]) -> Vec<String> {
    items
        .iter()
        .map(|i| match (&i.untagged, &i.deleted) {
            (Some(u), _) => format!("Untagged: {u}"),
            (_, Some(d)) => format!("Deleted: {d}"),
            _ => "?".into(),
        })
        .collect()
}

#[test]
fn tag_and_untag() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let id = image(&store, "a", "2024-01-01T00:00:00Z", &["busybox:latest"]);
    store.tag("busybox", "myrepo/app:1").unwrap();
    store.tag(&id[7..19], "other").unwrap();
    assert_eq!(store.get("myrepo/app:1").unwrap().id, id);
    assert_eq!(
        store.get("other:latest").unwrap().repo_tags,
        vec!["busybox:latest", "myrepo/app:1", "other:latest"]
    );
    assert!(store
        .inspect("other")
        .unwrap()
        .metadata
        .unwrap()
        .last_tag_time
        .is_some());
    assert_eq!(
        store.tag("busybox", "Bad:tag").unwrap_err().to_string(),
        "invalid reference format: repository name (library/Bad) must be lowercase"
    );
    assert_eq!(
        store.tag("nosuch", "x").unwrap_err().to_string(),
        "No such image: nosuch:latest"
    );
    assert_eq!(
        store
            .tag("busybox", &format!("x@{id}"))
            .unwrap_err()
            .status_code(),
        400
    );

    let out = store.remove("myrepo/app:1", false, false, &nobody).unwrap();
    assert_eq!(delete_items(&out), vec!["Untagged: myrepo/app:1"]);
    assert!(store.get("myrepo/app:1").is_err());
    assert_eq!(
        store.get(&id).unwrap().repo_tags,
        vec!["busybox:latest", "other:latest"]
    );
    // Survives a reopen.
    drop(store);
    let store = ImageStore::open(tmp.path()).unwrap();
    assert_eq!(
        store.get(&id).unwrap().repo_tags,
        vec!["busybox:latest", "other:latest"]
    );
}

#[test]
fn removing_the_last_tag_deletes_image_and_unused_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let a = image(&store, "a", "2024-01-01T00:00:00Z", &["a:latest"]);
    let b = image(&store, "b", "2024-01-02T00:00:00Z", &["b:latest"]);
    assert_eq!(layer_count(&store), 3, "the base layer is shared");
    let out = store.remove("a", false, false, &nobody).unwrap();
    let items = delete_items(&out);
    assert_eq!(items[0], "Untagged: a:latest");
    assert_eq!(items[1], format!("Deleted: {a}"));
    assert_eq!(items.len(), 3, "only a's own layer goes: {items:?}");
    assert_eq!(layer_count(&store), 2);
    assert!(store.get(&a).is_err());
    assert!(!tmp.path().join("blobs/sha256").join(&a[7..]).exists());
    let out = store.remove(&b, false, false, &nobody).unwrap();
    assert_eq!(delete_items(&out).len(), 4, "untag, image, two layers");
    assert_eq!(layer_count(&store), 0);
    assert_eq!(count_files(&tmp.path().join("blobs/sha256")), 0);
    assert_eq!(count_files(&tmp.path().join("tmp")), 0);
    assert_eq!(
        store
            .remove("a", false, false, &nobody)
            .unwrap_err()
            .to_string(),
        "No such image: a:latest"
    );
}

#[test]
fn multi_tag_removal_by_id_needs_force() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let id = image(
        &store,
        "a",
        "2024-01-01T00:00:00Z",
        &["a:latest", "b:latest"],
    );
    let short = &id[7..19];
    let err = store.remove(&id, false, false, &nobody).unwrap_err();
    assert_eq!(err.status_code(), 409);
    assert_eq!(err.to_string(), format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"));
    let out = store.remove(short, true, false, &nobody).unwrap();
    let items = delete_items(&out);
    assert_eq!(
        &items[..3],
        &[
            "Untagged: a:latest".to_string(),
            "Untagged: b:latest".into(),
            format!("Deleted: {id}")
        ]
    );
    assert!(store.list().is_empty());
    // Two tags of one repository by ID: also several references.
    let id = image(&store, "a", "2024-01-01T00:00:00Z", &["a:1", "a:2"]);
    assert_eq!(
        store
            .remove(&id, false, false, &nobody)
            .unwrap_err()
            .status_code(),
        409
    );
}

#[test]
fn images_in_use_conflict_like_docker() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let id = image(&store, "a", "2024-01-01T00:00:00Z", &["busybox:latest"]);
    let short = id[7..19].to_string();
    let ctr = "c0ffee".repeat(10) + "abcd";
    let used = |img: &str| (img == id).then(|| ctr.clone());
    let err = store.remove("busybox", false, false, &used).unwrap_err();
    assert_eq!(err.status_code(), 409);
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to remove repository reference \"busybox\" (must force) - container {} is using its referenced image {short}", &ctr[..12])
    );
    let err = store.remove(&id, false, false, &used).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to delete {short} (cannot be forced) - image is being used by running container {}", &ctr[..12])
    );
    assert_eq!(store.get("busybox").unwrap().id, id);
    // Forcing a tag removal of a running image only untags it.
    let out = store.remove("busybox", true, false, &used).unwrap();
    assert_eq!(delete_items(&out), vec!["Untagged: busybox:latest"]);
    assert!(store.get(&id).unwrap().repo_tags.is_empty());
}

#[test]
fn stopped_users_are_soft_conflicts_and_keep_layers_until_gc() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let id = image(&store, "a", "2024-01-01T00:00:00Z", &[]);
    let dirs = store.layer_dirs(&store.get(&id).unwrap()).unwrap();
    let stopped = |_: &str| {
        Some(ImageUser {
            container_id: "f".repeat(64),
            running: false,
        })
    };
    let err = store
        .remove_with_usage(&id, false, false, &stopped)
        .unwrap_err();
    assert_eq!(err.to_string(), format!("conflict: unable to delete {} (must be forced) - image is being used by stopped container ffffffffffff", &id[7..19]));
    let out = store.remove_with_usage(&id, true, false, &stopped).unwrap();
    assert_eq!(delete_items(&out), vec![format!("Deleted: {id}")]);
    assert!(store.get(&id).is_err());
    assert!(store.list().is_empty());
    assert!(
        dirs.iter().all(|d| d.exists()),
        "the container still needs the layers"
    );
    drop(store);
    let store = ImageStore::open(tmp.path()).unwrap();
    assert!(dirs.iter().all(|d| d.exists()), "kept across restarts");
    assert!(store
        .collect_garbage(&|_| Some("c".into()))
        .unwrap()
        .is_empty());
    assert_eq!(store.collect_garbage(&nobody).unwrap(), vec![id]);
    assert!(dirs.iter().all(|d| !d.exists()));
}

#[test]
fn child_images_block_parent_removal_and_history_follows_parents() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let base = image(&store, "a", "2024-01-01T00:00:00Z", &["base:1"]);
    let mut cfg = store.config_json(&store.get(&base).unwrap()).unwrap();
    cfg["config"]["Healthcheck"] = json!({"Test": ["CMD", "true"], "Interval": 1000000000});
    cfg["history"]
        .as_array_mut()
        .unwrap()
        .push(json!({"created": "2024-02-01T00:00:00Z", "created_by": "RUN touch new"}));
    cfg["created"] = json!("2024-02-01T00:00:00Z");
    let new_tar = tmp.path().join("new.tar");
    fs::write(&new_tar, tar_of(&[Entry::file("new", b"n")])).unwrap();
    let child = store
        .create_image_json(cfg, vec![new_tar], Some(&base))
        .unwrap();
    assert_eq!(child.parent.as_deref(), Some(base.as_str()));
    assert_eq!(store.layer_dirs(&child).unwrap().len(), 3);
    let hc = store
        .inspect(&child.id)
        .unwrap()
        .config
        .unwrap()
        .healthcheck
        .unwrap();
    assert_eq!(hc.test.unwrap(), vec!["CMD", "true"]);
    let h = store.history(&child.id).unwrap();
    assert_eq!(h[0].id, child.id);
    assert_eq!(h[0].created_by, "RUN touch new");
    assert_eq!(h[1].id, base, "the parent's entry carries its ID");
    assert_eq!(h[1].tags, vec!["base:1"]);

    let err = store.remove(&base, true, false, &nobody).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
            &base[7..19]
        )
    );
    // Untagging the parent leaves it as an intermediate image (hidden unless all).
    store.remove("base:1", false, false, &nobody).unwrap();
    let f = Filters::default();
    assert_eq!(store.summaries(false, &f).unwrap().len(), 1);
    assert_eq!(store.summaries(true, &f).unwrap().len(), 2);
    // Removing the child with prune takes the untagged parent too.
    let out = delete_items(&store.remove(&child.id, false, true, &nobody).unwrap());
    assert!(out.contains(&format!("Deleted: {base}")), "{out:?}");
    assert!(store.list().is_empty());
    assert_eq!(layer_count(&store), 0);
}

#[test]
fn summaries_and_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let old = image(
        &store,
        "a",
        "2023-01-01T00:00:00Z",
        &["busybox:latest", "busybox:1"],
    );
    let mid = image(&store, "b", "2024-01-01T00:00:00Z", &["alpine:3"]);
    let new = image(&store, "c", "2025-01-01T00:00:00Z", &[]);
    let all = store.summaries(false, &Filters::default()).unwrap();
    assert_eq!(
        all.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![new.clone(), mid.clone(), old.clone()]
    );
    assert!(all[0].repo_tags.is_empty() && all[0].repo_digests.is_empty());
    assert_eq!(all[2].repo_tags, vec!["busybox:1", "busybox:latest"]);
    assert_eq!(
        (
            all[2].shared_size,
            all[2].containers,
            all[2].parent_id.as_str()
        ),
        (-1, -1, "")
    );
    assert_eq!(all[2].created, 1672531200);
    assert_eq!(all[2].labels["test"], "yes");
    let j = serde_json::to_value(&all[0]).unwrap();
    assert_eq!(j["RepoTags"], json!([]));

    let ids = |f: &[&str]| {
        let f = Filters::from_pairs(f.iter().copied()).unwrap();
        store
            .summaries(false, &f)
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&["dangling=true"]), vec![new.clone()]);
    assert_eq!(ids(&["dangling=false"]), vec![mid.clone(), old.clone()]);
    assert_eq!(ids(&["reference=busy*"]), vec![old.clone()]);
    assert_eq!(ids(&["reference=busybox:1"]), vec![old.clone()]);
    assert_eq!(ids(&["reference=alpine"]), vec![mid.clone()]);
    assert_eq!(ids(&["before=alpine:3"]), vec![old.clone()]);
    assert_eq!(ids(&["since=busybox"]), vec![new.clone(), mid.clone()]);
    assert_eq!(
        ids(&["label=test=yes", "reference=alpine"]),
        vec![mid.clone()]
    );
    assert!(ids(&["label=test=no"]).is_empty());
    assert_eq!(
        ids(&["until=2024-06-01T00:00:00Z"]),
        vec![mid.clone(), old.clone()]
    );
    let only = Filters::from_pairs(["reference=busybox:1"]).unwrap();
    assert_eq!(
        store.summaries(false, &only).unwrap()[0].repo_tags,
        vec!["busybox:1"]
    );
    let bad = Filters::from_pairs(["color=red"]).unwrap();
    assert_eq!(store.summaries(false, &bad).unwrap_err().status_code(), 400);
    let bad = Filters::from_pairs(["dangling=maybe"]).unwrap();
    assert_eq!(store.summaries(false, &bad).unwrap_err().status_code(), 400);
    let missing = Filters::from_pairs(["before=nosuch"]).unwrap();
    assert_eq!(
        store.summaries(false, &missing).unwrap_err().status_code(),
        404
    );
}

#[test]
fn import_makes_a_one_layer_image() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let rootfs = tar_of(&[
        Entry::dir("bin"),
        Entry::file("bin/sh", b"sh").mode(0o755),
        Entry::file("etc/os-release", b"ID=pier\n"),
    ]);
    let rec = store
        .import(
            &mut &gzip(&rootfs)[..],
            ImportOptions {
                reference: Some("imported:v1".into()),
                changes: vec![
                    "CMD [\"/bin/sh\"]".into(),
                    "ENV A=1".into(),
                    "EXPOSE 8080".into(),
                    "WORKDIR /srv".into(),
                ],
                message: None,
                platform: None,
            },
        )
        .unwrap();
    assert_eq!(rec.repo_tags, vec!["imported:v1"]);
    assert_eq!(
        rec.layers,
        vec![sha256(&rootfs)],
        "diff_id of the uncompressed tar"
    );
    let ins = store.inspect("imported:v1").unwrap();
    let c = ins.config.clone().unwrap();
    assert_eq!(c.cmd.unwrap(), vec!["/bin/sh"]);
    assert_eq!(c.env.unwrap(), vec!["A=1"]);
    assert_eq!(c.exposed_ports.unwrap(), vec!["8080/tcp"]);
    assert_eq!(c.working_dir.as_deref(), Some("/srv"));
    assert_eq!(ins.architecture.as_deref(), Some("amd64"));
    assert_eq!(ins.comment.as_deref(), Some("Imported from -"));
    let h = store.history("imported:v1").unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(
        (h[0].comment.as_str(), h[0].created_by.as_str()),
        ("Imported from -", "")
    );
    assert!(h[0].size > 0);
    assert!(store.layer_dirs(&rec).unwrap()[0]
        .join("etc/os-release")
        .exists());
    // The config parses as an OCI image config too.
    let oci = store.config(&rec).unwrap();
    assert_eq!(oci.rootfs().diff_ids(), &vec![sha256(&rootfs)]);
    // Plain and bzip2 input, untagged, with a message.
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&rootfs).unwrap();
    let rec2 = store
        .import(
            &mut &bz.finish().unwrap()[..],
            ImportOptions {
                message: Some("hello".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(rec2.repo_tags.is_empty());
    assert_eq!(rec2.layers, rec.layers, "same content, same layer");
    assert_eq!(store.history(&rec2.id).unwrap()[0].comment, "hello");
    // Bad input is rejected before anything is stored.
    let bad = ImportOptions {
        changes: vec!["RUN rm -rf /".into()],
        ..Default::default()
    };
    assert_eq!(
        store.import(&mut &rootfs[..], bad).unwrap_err().to_string(),
        "run is not a valid change command"
    );
    let bad = ImportOptions {
        reference: Some("UPPER".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .import(&mut &rootfs[..], bad)
            .unwrap_err()
            .status_code(),
        400
    );
    assert_eq!(store.list().len(), 2);
    assert_eq!(count_files(&tmp.path().join("tmp")), 0);
}

#[test]
fn concurrent_loads_of_the_same_image() {
    let tmp = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(ImageStore::open(tmp.path()).unwrap());
    let base = tar_of(&[Entry::file("big", &vec![1u8; 1 << 20])]);
    let config = config_for(&[&base], &["sh"], "2024-01-01T00:00:00Z");
    let archive = std::sync::Arc::new(docker_save(&[SaveImage {
        config: config.clone(),
        layer_blobs: vec![base],
        tags: vec!["x:1".into()],
    }]));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (s, a) = (store.clone(), archive.clone());
            std::thread::spawn(move || s.load(&mut &a[..]).unwrap())
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.get("x:1").unwrap().id, sha256(&config));
    assert_eq!(layer_count(&store), 1);
    assert_eq!(count_files(&tmp.path().join("tmp")), 0);
}
