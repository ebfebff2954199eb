//! In-process API tests: a real server on a temp Unix socket, raw HTTP/1.1
//! requests, no shim needed (nothing here starts a container).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::daemon::Daemon;

struct TestServer {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    daemon: Arc<Daemon>,
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

async fn start() -> TestServer {
    let dir = tempfile::Builder::new()
        .prefix("pd")
        .tempdir_in("/tmp")
        .unwrap();
    let socket = dir.path().join("s");
    let root = dir.path().join("root");
    let run = dir.path().join("run");
    let d = Arc::new(Daemon::open(&root, &run, PathBuf::from("/nonexistent/pier-shim")).unwrap());
    let l = UnixListener::bind(&socket).unwrap();
    let app = super::app(d.clone());
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    TestServer {
        _dir: dir,
        socket,
        daemon: d,
    }
}

async fn request(socket: &Path, method: &str, path: &str, body: Option<&[u8]>) -> Resp {
    let mut s = UnixStream::connect(socket).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n");
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    if let Some(b) = body {
        s.write_all(b).await.unwrap();
    }
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 || data.len() < end + 2 + size {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// A one-file rootfs tar, imported as `t:1` with `CMD ["true"]`.
fn import_tiny_image(d: &Daemon) -> String {
    let mut tar = Vec::new();
    let mut h = [0u8; 512];
    let name = b"marker";
    let data = b"x\n";
    h[..name.len()].copy_from_slice(name);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[148..156].copy_from_slice(b"        ");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    tar.extend_from_slice(&h);
    tar.extend_from_slice(data);
    tar.resize(512 * 2, 0);
    tar.extend_from_slice(&[0u8; 1024]);
    let opts = pier_image::ImportOptions {
        reference: Some("t:1".into()),
        changes: vec![r#"CMD ["true"]"#.into()],
        ..Default::default()
    };
    d.images.import(&mut &tar[..], opts).unwrap().id
}

fn assert_docker_headers(r: &Resp) {
    assert_eq!(r.header("Api-Version"), Some("1.51"));
    assert_eq!(r.header("Ostype"), Some("linux"));
    assert_eq!(r.header("Server"), Some(pier_api::version::SERVER_HEADER));
    assert_eq!(r.header("Docker-Experimental"), Some("false"));
}

#[tokio::test]
async fn ping_and_headers() {
    let t = start().await;
    for m in ["GET", "HEAD"] {
        let r = request(&t.socket, m, "/_ping", None).await;
        assert_eq!(r.status, 200);
        assert_docker_headers(&r);
        assert_eq!(r.header("Builder-Version"), Some("1"));
        assert_eq!(r.header("Swarm"), Some("inactive"));
        assert_eq!(r.header("Pragma"), Some("no-cache"));
        if m == "GET" {
            assert_eq!(r.body, b"OK");
        }
    }
    let r = request(&t.socket, "GET", "/v1.24/_ping", None).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn version_prefix_is_stripped_and_checked() {
    let t = start().await;
    for p in ["/version", "/v1.41/version", "/v1.51/version"] {
        let r = request(&t.socket, "GET", p, None).await;
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.json()["ApiVersion"], "1.51");
        assert_eq!(r.json()["MinAPIVersion"], "1.24");
    }
    let r = request(&t.socket, "GET", "/v1.12/version", None).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.message(), "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version");
    assert_docker_headers(&r);
    let r = request(&t.socket, "GET", "/v1.99/containers/json", None).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "client version 1.99 is too new. Maximum supported API version is 1.51"
    );
    assert_docker_headers(&r);
    let r = request(&t.socket, "GET", "/v1.51/containers/json?all=1", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!([]));
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_404() {
    let t = start().await;
    for (m, p) in [
        ("GET", "/no/such/route"),
        ("PUT", "/containers/json"),
        ("GET", "/v1.51/nope"),
    ] {
        let r = request(&t.socket, m, p, None).await;
        assert_eq!(r.status, 404, "{m} {p}");
        assert_eq!(r.message(), "page not found");
        assert_docker_headers(&r);
    }
}

#[tokio::test]
async fn malformed_bodies_are_json_400() {
    let t = start().await;
    let bodies: &[&[u8]] = &[
        b"{not json",
        b"",
        b"null",
        b"[]",
        br#"{"Image": 5}"#,
        b"\xff\xfe",
    ];
    for b in bodies {
        let r = request(&t.socket, "POST", "/containers/create", Some(b)).await;
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(b));
        assert!(!r.message().is_empty());
        assert_docker_headers(&r);
    }
    let r = request(&t.socket, "GET", "/containers/json?filters=%7B", None).await;
    assert_eq!(r.status, 400);
    let r = request(&t.socket, "GET", "/containers/json?limit=abc", None).await;
    assert_eq!(r.status, 400);
    let r = request(
        &t.socket,
        "GET",
        "/containers/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.message(), "invalid filter 'bogus'");
}

#[tokio::test]
async fn unknown_objects_are_404() {
    let t = start().await;
    let r = request(&t.socket, "GET", "/v1.51/containers/x/json", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.message(), "No such container: x");
    for (m, p) in [
        ("POST", "/containers/x/start"),
        ("POST", "/containers/x/stop"),
        ("POST", "/containers/x/kill"),
        ("POST", "/containers/x/wait"),
        ("DELETE", "/containers/x"),
        ("GET", "/containers/x/logs?stdout=1"),
    ] {
        let r = request(&t.socket, m, p, None).await;
        assert_eq!(r.status, 404, "{m} {p}");
        assert_eq!(r.message(), "No such container: x");
    }
    let r = request(&t.socket, "GET", "/images/nosuch/json", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.message(), "No such image: nosuch:latest");
    let r = request(
        &t.socket,
        "POST",
        "/containers/create",
        Some(br#"{"Image":"nosuch"}"#),
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(
        r.message().starts_with("No such image: nosuch"),
        "{}",
        r.message()
    );
}

#[tokio::test]
async fn create_names_conflicts_and_lifecycle_without_start() {
    let t = start().await;
    let image_id = import_tiny_image(&t.daemon);
    let r = request(
        &t.socket,
        "POST",
        "/containers/create?name=bad/name",
        Some(br#"{"Image":"nosuch"}"#),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "Invalid container name (bad/name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    );

    let r = request(
        &t.socket,
        "POST",
        "/containers/create?name=web",
        Some(br#"{"Image":"t:1","Labels":{"a":"1"}}"#),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);
    assert_eq!(r.json()["Warnings"], serde_json::json!([]));

    let r = request(
        &t.socket,
        "POST",
        "/containers/create?name=web",
        Some(br#"{"Image":"t:1"}"#),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.message(),
        format!("Conflict. The container name \"/web\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")
    );

    let r = request(&t.socket, "GET", "/containers/web/json", None).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["Name"], "/web");
    assert_eq!(v["Path"], "true");
    assert_eq!(v["Image"], image_id);
    assert_eq!(v["Config"]["Image"], "t:1");
    assert_eq!(v["State"]["Status"], "created");
    assert_eq!(v["State"]["Running"], false);
    assert_eq!(v["State"]["StartedAt"], "0001-01-01T00:00:00Z");
    assert_eq!(v["HostConfig"]["NetworkMode"], "bridge");
    assert_eq!(v["NetworkSettings"]["IPAddress"], "");
    assert_eq!(v["GraphDriver"]["Name"], "overlay2");
    assert_eq!(v["Config"]["Hostname"], &id[..12]);

    // Not running: kill is a conflict, stop is "not modified".
    let r = request(
        &t.socket,
        "POST",
        &format!("/containers/{}/kill", &id[..8]),
        None,
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.message(), format!("Container {id} is not running"));
    let r = request(&t.socket, "POST", "/containers/web/stop", None).await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = request(&t.socket, "POST", "/containers/web/kill?signal=NOPE", None).await;
    assert_eq!(r.status, 400);

    // wait not-running on a created container answers at once.
    let r = request(&t.socket, "POST", "/containers/web/wait", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"StatusCode": 0, "Error": null})
    );
    let r = request(
        &t.socket,
        "POST",
        "/containers/web/wait?condition=bogus",
        None,
    )
    .await;
    assert_eq!(r.status, 400);

    // Listing: stopped containers need all=1; filters apply.
    let r = request(&t.socket, "GET", "/containers/json", None).await;
    assert_eq!(r.json(), serde_json::json!([]));
    let r = request(
        &t.socket,
        "GET",
        "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22a%3D1%22%5D%7D",
        None,
    )
    .await;
    let rows = r.json();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["Names"], serde_json::json!(["/web"]));
    assert_eq!(rows[0]["Command"], "true");
    assert_eq!(rows[0]["State"], "created");
    assert_eq!(rows[0]["Status"], "Created");
    let r = request(
        &t.socket,
        "GET",
        "/containers/json?all=1&filters=%7B%22name%22%3A%5B%22nomatch%22%5D%7D",
        None,
    )
    .await;
    assert_eq!(r.json(), serde_json::json!([]));

    // The image is in use.
    let r = request(&t.socket, "DELETE", &format!("/images/{image_id}"), None).await;
    assert_eq!(r.status, 409, "{}", r.message());

    let r = request(&t.socket, "DELETE", "/containers/web", None).await;
    assert_eq!(r.status, 204);
    let r = request(&t.socket, "GET", "/containers/web/json", None).await;
    assert_eq!(r.status, 404);
    // The name is free again.
    let r = request(
        &t.socket,
        "POST",
        "/containers/create?name=web",
        Some(br#"{"Image":"t:1"}"#),
    )
    .await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn no_command_is_400() {
    let t = start().await;
    import_tiny_image(&t.daemon);
    let r = request(
        &t.socket,
        "POST",
        "/containers/create",
        Some(br#"{"Image":"t:1","Entrypoint":[""]}"#),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.message(), "no command specified");
    let r = request(
        &t.socket,
        "POST",
        "/containers/create",
        Some(br#"{"Image":"t:1","Cmd":["true"],"Env":["=x"]}"#),
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn info_and_df_are_well_formed() {
    let t = start().await;
    let r = request(&t.socket, "GET", "/info", None).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["Driver"], "overlay2");
    assert_eq!(v["OSType"], "linux");
    assert_eq!(v["Swarm"]["LocalNodeState"], "inactive");
    assert!(v["NCPU"].as_i64().unwrap() >= 1);
    let r = request(&t.socket, "GET", "/system/df", None).await;
    assert_eq!(r.status, 200);
    assert!(r.json()["Images"].is_array());
}
