//! Crash safety: leftovers of an interrupted run are cleaned at open, and a
//! store killed with SIGKILL at random points reopens consistent, with every
//! completed load still there.

mod common;

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use pier_image::ImageStore;

fn nobody(_: &str) -> Option<String> {
    None
}

/// Everything on disk is accounted for and everything recorded is on disk.
fn assert_consistent(root: &Path, store: &ImageStore) {
    assert_eq!(count_files(&root.join("tmp")), 0, "tmp/ is emptied at open");
    let mut layers = HashSet::new();
    let mut blobs = HashSet::new();
    for img in store.list() {
        let cfg = store.config(&img).unwrap();
        assert_eq!(cfg.rootfs().diff_ids(), &img.layers);
        blobs.insert(img.id[7..].to_string());
        for (d, dir) in img.layers.iter().zip(store.layer_dirs(&img).unwrap()) {
            assert!(dir.is_dir(), "layer dir of {d} missing");
            assert!(root
                .join("layers")
                .join(format!("{}.json", &d[7..]))
                .exists());
            layers.insert(d[7..].to_string());
        }
        for t in &img.repo_tags {
            assert_eq!(store.get(t).unwrap().id, img.id);
        }
    }
    for e in fs::read_dir(root.join("layers")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let hex = name.trim_end_matches(".json");
        assert!(
            layers.contains(hex),
            "unreferenced layer entry {name} survived open"
        );
    }
    for e in fs::read_dir(root.join("images")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            blobs.contains(name.trim_end_matches(".json")),
            "stray image record {name}"
        );
    }
    let repos: serde_json::Value = serde_json::from_slice(
        &fs::read(root.join("repositories.json")).unwrap_or_else(|_| b"{}".to_vec()),
    )
    .unwrap();
    for (tag, id) in repos.as_object().unwrap() {
        assert_eq!(&store.get(tag).unwrap().id, id.as_str().unwrap());
    }
}

#[test]
fn open_cleans_crash_leftovers() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let layer = tar_of(&[Entry::file("hello", b"world")]);
    let config = config_for(&[&layer], &["sh"], "2024-01-01T00:00:00Z");
    let id = sha256(&config);
    {
        let store = ImageStore::open(root).unwrap();
        let archive = docker_save(&[SaveImage {
            config: config.clone(),
            layer_blobs: vec![layer.clone()],
            tags: vec!["keep:1".into()],
        }]);
        store.load(&mut &archive[..]).unwrap();
    }
    // What a kill -9 at various points leaves behind.
    fs::create_dir_all(root.join("tmp/load-123/deep")).unwrap();
    fs::write(root.join("tmp/load-123/deep/f0"), b"half a blob").unwrap();
    fs::write(root.join("tmp/layer-junk"), b"x").unwrap();
    fs::write(
        root.join(".repositories.json.tmp-0123456789abcdef"),
        b"{\"broken\": ",
    )
    .unwrap();
    fs::write(root.join("images/.x.json.tmp-0000000000000000"), b"{").unwrap();
    let orphan = "ab".repeat(32);
    fs::create_dir_all(root.join("layers").join(&orphan).join("usr")).unwrap();
    fs::write(root.join("layers").join(&orphan).join("usr/half"), b"half").unwrap();
    fs::write(
        root.join("blobs/sha256").join("cd".repeat(32)),
        b"orphan blob",
    )
    .unwrap();
    // An image record whose tag write never happened is kept (dangling), a
    // tag pointing at a record that never got written is dropped.
    let mut repos: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("repositories.json")).unwrap()).unwrap();
    repos["ghost:1"] = serde_json::json!(format!("sha256:{}", "ef".repeat(32)));
    fs::write(
        root.join("repositories.json"),
        serde_json::to_vec(&repos).unwrap(),
    )
    .unwrap();

    let store = ImageStore::open(root).unwrap();
    assert_eq!(store.get("keep:1").unwrap().id, id);
    assert!(store.get("ghost:1").is_err());
    assert!(!root.join("layers").join(&orphan).exists());
    assert!(!root.join("blobs/sha256").join("cd".repeat(32)).exists());
    assert!(!root
        .join(".repositories.json.tmp-0123456789abcdef")
        .exists());
    assert_consistent(root, &store);
    let rec = store.get("keep:1").unwrap();
    assert_eq!(
        fs::read(store.layer_dirs(&rec).unwrap()[0].join("hello")).unwrap(),
        b"world"
    );
}

/// Runs in a child process (see `kill_minus_nine_at_random_points`): loads
/// and removes images forever, logging each completed step.
#[test]
#[ignore = "helper run by kill_minus_nine_at_random_points"]
fn crash_worker() {
    let Ok(root) = std::env::var("PIER_CRASH_ROOT") else {
        return;
    };
    let log_path = std::env::var("PIER_CRASH_LOG").unwrap();
    let start: usize = std::env::var("PIER_CRASH_START").unwrap().parse().unwrap();
    let store = ImageStore::open(&root).unwrap();
    let mut log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .unwrap();
    let base = zstd(&tar_of(&[
        Entry::dir("bin"),
        Entry::file("bin/sh", &vec![9u8; 1 << 20]).mode(0o755),
    ]));
    let mut previous: Option<String> = None;
    writeln!(log, "S").unwrap();
    log.sync_all().unwrap();
    for i in start.. {
        let t0 = std::time::Instant::now();
        let files: Vec<Entry> = (0..24)
            .map(|j| Entry::file(&format!("d{i}/f{j}"), &vec![(i + j) as u8; 128 << 10]))
            .collect();
        let own = tar_of(&files);
        let plain_base = zstd::decode_all(&base[..]).unwrap();
        let config = config_for(&[&plain_base, &own], &["sh"], "2024-01-01T00:00:00Z");
        let archive = docker_save(&[SaveImage {
            config: config.clone(),
            layer_blobs: vec![base.clone(), own],
            tags: vec![format!("img{i}:latest"), "moving:latest".into()],
        }]);
        store.load(&mut &archive[..]).unwrap();
        let id = sha256(&config);
        writeln!(log, "L {id}").unwrap();
        log.sync_all().unwrap();
        if let Some(p) = previous.take() {
            store.remove(&p, true, false, &nobody).unwrap();
            writeln!(log, "R {p}").unwrap();
            log.sync_all().unwrap();
        }
        previous = Some(id);
        eprintln!("iteration {i}: {:?}", t0.elapsed());
    }
}

#[test]
fn kill_minus_nine_at_random_points() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let log = tmp.path().join("log");
    let exe = std::env::current_exe().unwrap();
    let mut start = 0;
    for round in 0..10u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_worker",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PIER_CRASH_ROOT", &root)
            .env("PIER_CRASH_LOG", &log)
            .env("PIER_CRASH_START", start.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the worker is past its start-up, then kill it somewhere
        // inside the load/remove loop.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !fs::read_to_string(&log).unwrap_or_default().contains('S') {
            assert!(std::time::Instant::now() < deadline, "worker never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50 + round * 397 % 1600));
        child.kill().unwrap();
        child.wait().unwrap();
        start += 1000;

        let store = ImageStore::open(&root).unwrap();
        assert_consistent(&root, &store);
        let text = fs::read_to_string(&log).unwrap_or_default();
        let mut loaded: Vec<String> = Vec::new();
        let mut removed = HashSet::new();
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("L", id)) => loaded.push(id.to_string()),
                Some(("R", id)) => {
                    removed.insert(id.to_string());
                }
                _ => {}
            }
        }
        // A removal may have been cut short: the newest image's predecessor
        // of this round may or may not still be there. Everything else is exact.
        eprintln!(
            "round {round}: {} loads, {} removals completed",
            loaded.len(),
            removed.len()
        );
        let in_flight: HashSet<&String> = loaded.iter().rev().take(2).collect();
        for id in &loaded {
            let present = store.get(id).is_ok();
            if removed.contains(id) {
                assert!(!present, "round {round}: removed image {id} came back");
            } else if !in_flight.contains(id) {
                assert!(present, "round {round}: loaded image {id} lost");
            }
        }
        if let Some(last) = loaded.last() {
            assert!(
                store.get(last).is_ok(),
                "round {round}: the last completed load is there"
            );
        }
        // Reset the log for the next round so in-flight bookkeeping stays simple.
        for id in loaded.iter().filter(|i| !removed.contains(*i)) {
            let _ = store.remove(id, true, false, &nobody);
        }
        fs::write(&log, b"").unwrap();
        assert_consistent(&root, &store);
        drop(store);
    }
}

#[test]
fn a_second_open_of_the_same_root_is_refused() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ImageStore>();
    let tmp = tempfile::tempdir().unwrap();
    let first = ImageStore::open(tmp.path()).unwrap();
    fs::write(
        tmp.path().join("tmp/in-progress"),
        b"staging of the first store",
    )
    .unwrap();
    let err = ImageStore::open(tmp.path())
        .err()
        .expect("second open must fail");
    assert_eq!(err.status_code(), 500);
    assert!(err.to_string().contains("already open"), "{err}");
    assert!(
        tmp.path().join("tmp/in-progress").exists(),
        "the first store's staging survives"
    );
    drop(first);
    // Another test in this binary forks children that are killed at random
    // points; one forked while `first` was open inherits its lock fd and
    // holds the flock until it dies, so allow a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match ImageStore::open(tmp.path()) {
            Ok(_) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(e.to_string().contains("already open"), "{e}");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => panic!("reopen after drop: {e}"),
        }
    }
}
