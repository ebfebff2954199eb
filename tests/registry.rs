//! Registries: push and pull against Debian's docker-registry (distribution
//! 2.8) on 127.0.0.1, with pier and the real docker CLI: digest
//! verification, resume of interrupted pulls, cross-repository mounts,
//! manifest lists, zstd layers, and `save` output read by skopeo and umoci.
//! Authentication is in registry_auth.rs.
mod common;
use common::registry::*;
use common::*;
use std::path::Path;
use std::process::Command;

fn sh(script: &str) -> String {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "script failed: {script}\nstdout={}\nstderr={}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out).trim().to_string()
}

fn files_under(p: &Path) -> Vec<String> {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The manifest of `repo:tag` straight from the registry.
fn manifest(reg: &str, repo: &str, tag: &str) -> serde_json::Value {
    let body = sh(&format!(
        "curl -sf -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' -H 'Accept: application/vnd.oci.image.manifest.v1+json' http://{reg}/v2/{repo}/manifests/{tag}"
    ));
    serde_json::from_str(&body).expect("manifest json")
}

/// A docker-save tar `twolayer:latest` with a small and a 3 MB random layer.
fn two_layer_tar(dir: &Path) -> std::path::PathBuf {
    let d = dir.display();
    sh(&format!(
        r#"cd {d}; mkdir -p l1 l2 img
head -c 8192 /dev/urandom > l1/small.bin
head -c 3000000 /dev/urandom > l2/big.bin
tar -C l1 -cf img/l1.tar . ; tar -C l2 -cf img/l2.tar .
d1=$(sha256sum img/l1.tar | cut -d' ' -f1); d2=$(sha256sum img/l2.tar | cut -d' ' -f1)
printf '{{"architecture":"amd64","os":"linux","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]}},"history":[{{"created_by":"l1"}},{{"created_by":"l2"}}]}}' $d1 $d2 > img/config.json
c=$(sha256sum img/config.json | cut -d' ' -f1); mv img/config.json img/$c.json
printf '[{{"Config":"%s.json","RepoTags":["twolayer:latest"],"Layers":["l1.tar","l2.tar"]}}]' $c > img/manifest.json
tar -C img -cf two.tar $c.json manifest.json l1.tar l2.tar"#
    ));
    dir.join("two.tar")
}

#[test]
fn push_and_pull_round_trip_with_pier_and_docker() {
    let reg = Registry::start();
    let r = reg.addr();
    let a = Daemon::start();
    let id = image_id(&a, "busybox");
    let remote = format!("{r}/busybox");
    ok(a.pier(&["tag", "busybox", &remote]));
    let out = ok(a.pier(&["push", &remote]));
    assert!(
        out.contains(&format!("The push refers to repository [{r}/busybox]")),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    assert!(out.contains("latest: digest: sha256:"), "{out}");
    // Pushed as gzip, docker's schema 2.
    let m = manifest(&r, "busybox", "latest");
    assert_eq!(
        m["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        m["layers"][0]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    assert_eq!(m["config"]["digest"], id.as_str());
    // A second push finds everything there.
    let again = ok(a.pier(&["push", &remote]));
    assert!(again.contains(": Layer already exists"), "{again}");
    let digest = again
        .lines()
        .find_map(|l| l.strip_prefix("latest: digest: "))
        .and_then(|l| l.split_whitespace().next())
        .expect("digest line")
        .to_string();
    let pushed = ok(a.pier(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        "busybox",
    ]));
    assert!(pushed.contains(&format!("{remote}@{digest}")), "{pushed}");

    // pier pulls it into a fresh daemon: same image ID, and it runs.
    let b = Daemon::start_empty();
    let out = ok(b.pier(&["pull", &remote]));
    assert!(out.contains("latest: Pulling from busybox"), "{out}");
    assert!(out.contains(": Pull complete"), "{out}");
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(
        out.contains(&format!(
            "Status: Downloaded newer image for {remote}:latest"
        )),
        "{out}"
    );
    assert_eq!(image_id(&b, &remote), id);
    assert_eq!(
        ok(b.pier(&["run", "--rm", &remote, "echo", "pulled"])),
        "pulled"
    );
    let out = ok(b.pier(&["pull", &remote]));
    assert!(
        out.contains(&format!("Status: Image is up to date for {remote}:latest")),
        "{out}"
    );
    assert!(!out.contains("Already exists"), "{out}");
    let digests = ok(b.pier(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        &remote,
    ]));
    assert!(digests.contains(&format!("{remote}@{digest}")), "{digests}");

    // The real docker CLI against a third pierd: pull by tag and by digest.
    let c = Daemon::start_empty();
    ok(c.docker(&["pull", &remote]));
    assert_eq!(
        ok(c.docker(&["inspect", "--format", "{{.Id}}", &remote])),
        id
    );
    let by_digest = format!("{remote}@{digest}");
    let out = ok(c.docker(&["pull", &by_digest]));
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    let missing = c.docker(&["pull", &format!("{r}/nosuch:tag")]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains(&format!(
            "manifest for {r}/nosuch:tag not found: manifest unknown: manifest unknown"
        )),
        "{}",
        stderr(&missing)
    );
    // docker push of the pulled image to another repository mounts the blob.
    let other = format!("{r}/mirror/busybox:v1");
    ok(c.docker(&["tag", &remote, &other]));
    let out = ok(c.docker(&["push", &other]));
    assert!(out.contains(": Mounted from busybox"), "{out}");
    assert!(
        reg.log().contains("mount=sha256") && reg.log().contains("from=busybox"),
        "registry log shows no mount"
    );
    // On a terminal every layer keeps one line, rewritten in place.
    let t = Daemon::start_empty();
    let mut cmd = t.pier_cmd();
    cmd.args(["pull", &remote]);
    let (tty_out, code) = run_in_pty(cmd, &[], std::time::Duration::from_secs(60));
    assert_eq!(code, Some(0), "{tty_out}");
    assert!(
        tty_out.contains("\x1b[1A") && tty_out.contains("\x1b[2K"),
        "{tty_out:?}"
    );
    assert!(tty_out.contains(": Pull complete"), "{tty_out:?}");
    // -a pulls every tag.
    let e = Daemon::start_empty();
    let out = ok(e.pier(&["pull", "-a", &format!("{r}/mirror/busybox")]));
    assert!(out.contains("v1: Pulling from mirror/busybox"), "{out}");
    assert_eq!(image_id(&e, &other), id);
}

#[test]
fn run_pulls_missing_images() {
    let reg = Registry::start();
    let a = Daemon::start();
    let remote = format!("{}/tools/busybox:1", reg.addr());
    ok(a.pier(&["tag", "busybox", &remote]));
    ok(a.pier(&["push", "-q", &remote]));
    let b = Daemon::start_empty();
    let never = b.pier(&["run", "--rm", "--pull", "never", &remote, "true"]);
    assert!(!never.status.success());
    let out = b.pier(&["run", "--rm", &remote, "echo", "ran"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "ran");
    assert!(
        stderr(&out).contains(&format!("Unable to find image '{remote}' locally")),
        "{}",
        stderr(&out)
    );
    // docker run through pierd does the same.
    let c = Daemon::start_empty();
    let out = c.docker(&["run", "--rm", &remote, "echo", "docker-ran"]);
    assert_eq!(stdout(&out).trim(), "docker-ran", "{}", stderr(&out));
}

#[test]
fn corrupt_blob_is_rejected_and_nothing_is_stored() {
    let reg = Registry::start();
    let a = Daemon::start();
    let remote = format!("{}/busybox", reg.addr());
    ok(a.pier(&["tag", "busybox", &remote]));
    ok(a.pier(&["push", &remote]));
    let proxy = Proxy::start(reg.port, ProxyMode::CorruptBigBlobs);
    let b = Daemon::start_empty();
    let via = format!("{}/busybox", proxy.addr());
    let out = b.pier(&["pull", &via]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("filesystem layer verification failed for digest sha256:"),
        "{}",
        stderr(&out)
    );
    assert_eq!(ok(b.pier(&["images", "-q"])), "");
    let img = b.data_root.join("image");
    assert!(
        files_under(&img.join("blobs/sha256")).is_empty(),
        "{:?}",
        files_under(&img.join("blobs/sha256"))
    );
    assert!(
        files_under(&img.join("layers")).is_empty(),
        "{:?}",
        files_under(&img.join("layers"))
    );
    assert!(
        files_under(&img.join("tmp")).is_empty(),
        "{:?}",
        files_under(&img.join("tmp"))
    );
}

#[test]
fn interrupted_pull_resumes_without_refetching_completed_layers() {
    let reg = Registry::start();
    let a = Daemon::start();
    let work = tempfile::tempdir().unwrap();
    ok(a.pier(&["load", "-i", two_layer_tar(work.path()).to_str().unwrap()]));
    let id = image_id(&a, "twolayer");
    let remote = format!("{}/twolayer", reg.addr());
    ok(a.pier(&["tag", "twolayer", &remote]));
    ok(a.pier(&["push", &remote]));
    let m = manifest(&reg.addr(), "twolayer", "latest");
    let small = m["layers"][0]["digest"].as_str().unwrap().to_string();
    let big = m["layers"][1]["digest"].as_str().unwrap().to_string();

    let proxy = Proxy::start(reg.port, ProxyMode::CutBlobOnce { min: 1_000_000 });
    // One download at a time: the second layer waits for the first.
    let b = Daemon::start_empty_with(&["--max-concurrent-downloads", "1"]);
    let via = format!("{}/twolayer", proxy.addr());
    let first = b.pier(&["pull", &via]);
    assert!(
        !first.status.success(),
        "the cut pull succeeded: {}",
        stdout(&first)
    );
    assert!(stdout(&first).contains(": Waiting"), "{}", stdout(&first));
    let out = ok(b.pier(&["pull", &via]));
    assert!(
        out.contains(&format!("{}: Already exists", &small[7..19])),
        "{out}"
    );
    assert_eq!(image_id(&b, &via), id);
    let gets = |digest: &str| -> Vec<Logged> {
        proxy
            .requests()
            .into_iter()
            .filter(|l| l.method == "GET" && l.path.ends_with(&format!("/blobs/{digest}")))
            .collect()
    };
    assert_eq!(
        gets(&small).len(),
        1,
        "small layer fetched again: {:?}",
        gets(&small)
    );
    let big_gets = gets(&big);
    assert_eq!(big_gets.len(), 2, "{big_gets:?}");
    assert_eq!(big_gets[1].status, 206, "{big_gets:?}");
    assert!(
        big_gets[1]
            .range
            .as_deref()
            .is_some_and(|r| r.starts_with("bytes=") && r != "bytes=0-"),
        "{big_gets:?}"
    );
    let layers = ok(b.pier(&[
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        &via,
    ]));
    let layers: Vec<String> = serde_json::from_str(&layers).unwrap();
    let dir = b.data_root.join("image/layers").join(&layers[1][7..]);
    assert_eq!(
        std::fs::metadata(dir.join("big.bin")).unwrap().len(),
        3_000_000
    );
}

#[test]
fn cross_repository_push_mounts_blobs() {
    let reg = Registry::start();
    let proxy = Proxy::start(reg.port, ProxyMode::Pass);
    let a = Daemon::start();
    let first = format!("{}/team-a/busybox", proxy.addr());
    let second = format!("{}/team-b/busybox:v2", proxy.addr());
    ok(a.pier(&["tag", "busybox", &first]));
    ok(a.pier(&["tag", "busybox", &second]));
    ok(a.pier(&["push", &first]));
    let out = ok(a.pier(&["push", &second]));
    assert!(out.contains(": Mounted from team-a/busybox"), "{out}");
    let mounts: Vec<Logged> = proxy
        .requests()
        .into_iter()
        .filter(|l| {
            l.method == "POST"
                && l.path.contains("mount=")
                && l.path.contains("from=team-a%2Fbusybox")
        })
        .collect();
    // The layer and the config.
    assert_eq!(mounts.len(), 2, "{:?}", proxy.requests());
    assert!(mounts
        .iter()
        .all(|m| m.status == 201 && m.path.starts_with("/v2/team-b/busybox/blobs/uploads/")));
    // Nothing was uploaded to team-b (only the mount).
    assert!(!proxy
        .requests()
        .iter()
        .any(|l| l.method == "PUT" && l.path.starts_with("/v2/team-b/busybox/blobs/uploads/")));
}

/// Uploads a blob file to the registry with curl (monolithic POST + PUT).
fn upload_blob(reg: &str, repo: &str, file: &Path) -> (String, u64) {
    let digest = format!(
        "sha256:{}",
        sh(&format!("sha256sum {} | cut -d' ' -f1", file.display()))
    );
    let size = std::fs::metadata(file).unwrap().len();
    sh(&format!(
        r#"loc=$(curl -sf -D - -o /dev/null -X POST http://{reg}/v2/{repo}/blobs/uploads/ | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
case "$loc" in http*) ;; *) loc="http://{reg}$loc";; esac
case "$loc" in *\?*) sep='&';; *) sep='?';; esac
curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary @{f} "$loc${{sep}}digest={digest}""#,
        f = file.display()
    ));
    (digest, size)
}

fn put_manifest(reg: &str, repo: &str, tag: &str, media_type: &str, body: &str) {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), body).unwrap();
    sh(&format!(
        "curl -sf -X PUT -H 'Content-Type: {media_type}' --data-binary @{} http://{reg}/v2/{repo}/manifests/{tag}",
        f.path().display()
    ));
}

#[test]
fn manifest_lists_select_the_platform_and_zstd_layers_pull() {
    let reg = Registry::start();
    let r = reg.addr();
    let a = Daemon::start();
    let id = image_id(&a, "busybox");
    let remote = format!("{r}/multi");
    ok(a.pier(&["tag", "busybox", &remote]));
    ok(a.pier(&["push", &remote]));
    let m = manifest(&r, "multi", "latest");
    let mbytes = sh(&format!(
        "curl -sf -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' http://{r}/v2/multi/manifests/latest | wc -c"
    ));
    let mdigest = sh(&format!(
        "curl -sf -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' http://{r}/v2/multi/manifests/latest | sha256sum | cut -d' ' -f1"
    ));
    // An OCI index with an attestation-like entry, arm64 and amd64.
    let entry = |os: &str, arch: &str| {
        format!(
            r#"{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:{mdigest}","size":{mbytes},"platform":{{"os":"{os}","architecture":"{arch}"}}}}"#
        )
    };
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{},{},{}]}}"#,
        entry("unknown", "unknown"),
        entry("linux", "arm64"),
        entry("linux", "amd64")
    );
    put_manifest(
        &r,
        "multi",
        "index",
        "application/vnd.oci.image.index.v1+json",
        &index,
    );
    let b = Daemon::start_empty();
    let wrong = b.pier(&["pull", "--platform", "linux/arm64", &remote]);
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains(
            "does not match the specified platform: wanted linux/arm64, actual: linux/amd64"
        ),
        "{}",
        stderr(&wrong)
    );
    let tagged = format!("{remote}:index");
    let bad = b.pier(&["pull", "--platform", "linux/s390x", &tagged]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("no matching manifest for linux/s390x in the manifest list entries"),
        "{}",
        stderr(&bad)
    );
    let out = ok(b.pier(&["pull", "--platform", "linux/amd64", &tagged]));
    let index_digest = out
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .expect("digest line")
        .to_string();
    assert_ne!(
        index_digest,
        format!("sha256:{mdigest}"),
        "the Digest line names the index"
    );
    assert_eq!(image_id(&b, &tagged), id);
    let dist = b
        .raw_request("GET", &format!("/distribution/{tagged}/json"), None)
        .unwrap();
    assert_eq!(dist.status, 200);
    let v = dist.json();
    assert_eq!(v["Descriptor"]["digest"], index_digest.as_str());
    assert_eq!(v["Platforms"].as_array().map(Vec::len), Some(2), "{v}");

    // The same image with its layer recompressed as zstd in an OCI manifest.
    let work = tempfile::tempdir().unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let zst = work.path().join("layer.tar.zst");
    sh(&format!(
        "curl -sf http://{r}/v2/multi/blobs/{layer} | gzip -dc | zstd -q -o {}",
        zst.display()
    ));
    let (zdigest, zsize) = upload_blob(&r, "multi", &zst);
    let cfg = m["config"].clone();
    let oci = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":{},"size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"{zdigest}","size":{zsize}}}]}}"#,
        cfg["digest"], cfg["size"]
    );
    put_manifest(
        &r,
        "multi",
        "zstd",
        "application/vnd.oci.image.manifest.v1+json",
        &oci,
    );
    let c = Daemon::start_empty();
    let z = format!("{remote}:zstd");
    ok(c.pier(&["pull", &z]));
    assert_eq!(image_id(&c, &z), id);
    assert_eq!(ok(c.pier(&["run", "--rm", &z, "echo", "zstd"])), "zstd");
}

#[test]
fn saved_archives_are_read_by_skopeo_and_umoci() {
    let d = Daemon::start();
    let work = tempfile::tempdir().unwrap();
    let tar = work.path().join("busybox.tar");
    ok(d.pier(&["save", "-o", tar.to_str().unwrap(), "busybox"]));
    let out = sh(&format!("skopeo inspect docker-archive:{}", tar.display()));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Layers"].as_array().map(Vec::len), Some(1), "{v}");
    let layout = work.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    sh(&format!(
        "tar -C {} -xf {}",
        layout.display(),
        tar.display()
    ));
    // Docker's layout: the tag is the index entry's ref.name annotation.
    let out = sh(&format!("skopeo inspect oci:{}:latest", layout.display()));
    assert!(out.contains("\"Layers\""), "{out}");
    let tags = sh(&format!("umoci ls --layout {}", layout.display()));
    assert!(tags.lines().any(|l| l.trim() == "latest"), "{tags}");
    let bundle = work.path().join("bundle");
    let tag = tags.lines().next().unwrap().trim().to_string();
    sh(&format!(
        "umoci unpack --rootless --image {}:{tag} {}",
        layout.display(),
        bundle.display()
    ));
    assert!(bundle.join("rootfs/bin/busybox").exists());
}

#[test]
fn push_all_tags_and_errors_for_missing_tags() {
    let reg = Registry::start();
    let a = Daemon::start();
    let repo = format!("{}/many", reg.addr());
    for t in ["one", "two"] {
        ok(a.pier(&["tag", "busybox", &format!("{repo}:{t}")]));
    }
    let out = ok(a.pier(&["push", "-a", &repo]));
    assert!(out.contains("one: digest: sha256:"), "{out}");
    assert!(out.contains("two: digest: sha256:"), "{out}");
    let tags = sh(&format!("curl -sf http://{}/v2/many/tags/list", reg.addr()));
    assert!(
        tags.contains("\"one\"") && tags.contains("\"two\""),
        "{tags}"
    );
    let missing = a.pier(&["push", &format!("{repo}:three")]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains(&format!("tag does not exist: {repo}:three")),
        "{}",
        stderr(&missing)
    );
    let none = a.docker(&["push", "-a", &format!("{}/nothing", reg.addr())]);
    assert!(!none.status.success());
    assert!(
        stderr(&none).contains("An image does not exist locally with the tag"),
        "{}",
        stderr(&none)
    );
}
