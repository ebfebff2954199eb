//! The Engine API itself: headers, version negotiation, errors, hostile input.
mod common;
use common::*;

#[test]
fn ping_and_version_headers() {
    let d = Daemon::start_empty();
    for method in ["GET", "HEAD"] {
        let r = d.raw_request(method, "/_ping", None).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Api-Version"), Some("1.51"));
        assert_eq!(r.header("Ostype"), Some("linux"));
        assert!(r.header("Server").is_some());
        if method == "GET" {
            assert_eq!(r.body, b"OK");
        }
    }
    let r = d.raw_request("GET", "/version", None).unwrap();
    let v = r.json();
    assert_eq!(v["ApiVersion"], "1.51");
    assert_eq!(v["MinAPIVersion"], "1.24");
    assert_eq!(v["Os"], "linux");
    // With and without the version prefix.
    let r = d.raw_request("GET", "/v1.41/version", None).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Api-Version"), Some("1.51"));
}

#[test]
fn versions_out_of_range_are_refused() {
    let d = Daemon::start_empty();
    let r = d.raw_request("GET", "/v1.12/version", None).unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("Minimum supported API version is 1.24"));
    let r = d
        .raw_request("GET", "/v1.99/containers/json", None)
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("too new"));
    // Errors carry the headers too.
    assert_eq!(r.header("Api-Version"), Some("1.51"));
}

#[test]
fn docker_errors_have_dockers_codes_and_texts() {
    let d = Daemon::start_empty();
    let r = d
        .raw_request("GET", "/v1.51/containers/nosuch/json", None)
        .unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "No such container: nosuch");
    let r = d.raw_request("GET", "/images/nosuch/json", None).unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "No such image: nosuch:latest");
    let r = d
        .raw_request("POST", "/containers/create", Some(b"{not json"))
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].is_string());
    let r = d
        .raw_request("POST", "/containers/create", Some(br#"{"Image": 5}"#))
        .unwrap();
    assert_eq!(r.status, 400);
    let r = d
        .raw_request(
            "POST",
            "/containers/create?name=bad/name",
            Some(br#"{"Image":"x"}"#),
        )
        .unwrap();
    assert_eq!(r.status, 400);
    let r = d.raw_request("GET", "/no/such/route", None).unwrap();
    assert_eq!(r.status, 404);
    assert!(r.json()["message"].is_string());
    // The daemon survived all of it.
    assert_eq!(d.raw_request("GET", "/_ping", None).unwrap().status, 200);
}

#[test]
fn garbage_requests_never_kill_the_daemon() {
    let d = Daemon::start();
    let bodies: &[&[u8]] = &[
        b"",
        b"null",
        b"[]",
        b"{\"Image\":\"busybox\",\"Cmd\":\"notalist\"}",
        b"{\"Image\":\"busybox\",\"HostConfig\":{\"NetworkMode\":7}}",
        b"\xff\xfe\x00",
        b"{\"Image\":\"busybox\",\"Cmd\":[\"true\"],\"Env\":[\"=\",\"\"]}",
    ];
    for b in bodies {
        let r = d
            .raw_request("POST", "/containers/create", Some(b))
            .unwrap();
        assert!(
            r.status < 500 || r.status == 500 && r.json()["message"].is_string(),
            "status {} for {:?}",
            r.status,
            b
        );
    }
    for path in [
        "/containers/json?filters=%7B",
        "/containers/json?limit=abc",
        "/images/json?filters=[1]",
        "/containers/%00/json",
        "/containers/x/logs?tail=zz",
        "/containers/x/wait?condition=bogus",
    ] {
        let r = d.raw_request("GET", path, None).unwrap();
        assert!((400..500).contains(&r.status), "{path}: {}", r.status);
    }
    assert_eq!(d.raw_request("GET", "/_ping", None).unwrap().status, 200);
}

#[test]
fn socket_is_0660_root_and_pier_group() {
    use std::os::unix::fs::MetadataExt;
    let d = Daemon::start_empty();
    let m = std::fs::metadata(&d.socket).unwrap();
    assert_eq!(m.mode() & 0o777, 0o660);
    assert_eq!(m.uid(), 0);
    let group = std::fs::read_to_string("/etc/group").unwrap();
    let gid = group
        .lines()
        .find_map(|l| {
            l.strip_prefix("pier:")
                .and_then(|r| r.split(':').nth(1))
                .and_then(|g| g.parse::<u32>().ok())
        })
        .expect("pier group exists");
    assert_eq!(m.gid(), gid);
}

#[test]
fn tcp_without_tls_is_refused() {
    let dir = tempfile::Builder::new()
        .prefix("pt")
        .tempdir_in("/tmp")
        .unwrap();
    let out = std::process::Command::new(bin("pierd"))
        .args(["-H", "tcp://127.0.0.1:23751", "--data-root"])
        .arg(dir.path().join("root"))
        .arg("--exec-root")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.to_lowercase().contains("tls"), "{err}");
}

#[test]
fn hostile_image_tar_is_rejected_and_writes_nothing_outside() {
    let d = Daemon::start_empty();
    let work = d.dir.path().join("hostile");
    std::fs::create_dir_all(&work).unwrap();
    // A layer whose entries climb out of the layer directory.
    let layer = work.join("layer.tar");
    {
        let f = std::fs::File::create(&layer).unwrap();
        let mut b = TarWriter::new(f);
        b.file("../../../../../../tmp/pier-escape-marker", b"pwned");
        b.symlink("evil", "/tmp");
        b.file("evil/pier-escape-marker2", b"pwned");
        b.finish();
    }
    let layer_bytes = std::fs::read(&layer).unwrap();
    let diff_id = sha256_hex(&layer_bytes);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:{diff_id}"]}}}}"#
    );
    let config_hex = sha256_hex(config.as_bytes());
    let manifest = format!(
        r#"[{{"Config":"{config_hex}.json","RepoTags":["evil:latest"],"Layers":["l/layer.tar"]}}]"#
    );
    let image = work.join("image.tar");
    {
        let f = std::fs::File::create(&image).unwrap();
        let mut b = TarWriter::new(f);
        b.file(&format!("{config_hex}.json"), config.as_bytes());
        b.file("l/layer.tar", &layer_bytes);
        b.file("manifest.json", manifest.as_bytes());
        b.finish();
    }
    let _ = std::fs::remove_file("/tmp/pier-escape-marker");
    let _ = std::fs::remove_file("/tmp/pier-escape-marker2");
    let out = d.docker(&["load", "-i", image.to_str().unwrap()]);
    assert!(
        !std::path::Path::new("/tmp/pier-escape-marker").exists(),
        "escaped via ../"
    );
    assert!(
        !std::path::Path::new("/tmp/pier-escape-marker2").exists(),
        "escaped via symlink"
    );
    // Like Docker, a layer that climbs out of its root is refused as a whole.
    assert!(
        !out.status.success(),
        "hostile image loaded: {}",
        stdout(&out)
    );
    assert!(!stderr(&out).trim().is_empty());
    assert!(
        !d.docker(&["inspect", "evil"]).status.success(),
        "nothing half-loaded stays behind"
    );
    assert_eq!(d.raw_request("GET", "/_ping", None).unwrap().status, 200);
}

/// A minimal ustar writer, so hostile names reach the archive verbatim.
struct TarWriter<W: std::io::Write> {
    out: W,
}

impl<W: std::io::Write> TarWriter<W> {
    fn new(out: W) -> Self {
        Self { out }
    }
    fn header(&mut self, name: &str, size: usize, typeflag: u8, link: &str) {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[148..156].copy_from_slice(b"        ");
        h[156] = typeflag;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        self.out.write_all(&h).unwrap();
    }
    fn file(&mut self, name: &str, data: &[u8]) {
        self.header(name, data.len(), b'0', "");
        self.out.write_all(data).unwrap();
        let pad = (512 - data.len() % 512) % 512;
        self.out.write_all(&vec![0u8; pad]).unwrap();
    }
    fn symlink(&mut self, name: &str, target: &str) {
        self.header(name, 0, b'2', target);
    }
    fn finish(mut self) {
        self.out.write_all(&[0u8; 1024]).unwrap();
    }
}

fn sha256_hex(data: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(data)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}
