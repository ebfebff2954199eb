//! Registry fixtures: Debian's `docker-registry` (distribution 2.8) on
//! 127.0.0.1 with a temp storage dir, optionally with TLS and htpasswd, and
//! a small HTTP proxy in front of it that logs requests and can corrupt a
//! blob, cut a blob download short, or demand Bearer tokens from its own
//! token endpoint.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use super::{ok, Daemon};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[derive(Default)]
pub struct RegistryConfig {
    /// (certificate, key) PEM files.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// htpasswd file (bcrypt).
    pub htpasswd: Option<PathBuf>,
}

pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl Registry {
    pub fn start() -> Registry {
        Self::start_with(RegistryConfig::default())
    }

    pub fn start_with(cfg: RegistryConfig) -> Registry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: apt-get install docker-registry (scripts/lib.sh TEST_PACKAGES)"
        );
        let dir = tempfile::Builder::new()
            .prefix("reg")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let port = free_port();
        let mut yml = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: pier-test\n",
            dir.path().join("data").display()
        );
        if let Some((cert, key)) = &cfg.tls {
            yml.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some(h) = &cfg.htpasswd {
            yml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: pier-test-realm\n    path: {}\n",
                h.display()
            ));
        }
        let config = dir.path().join("config.yml");
        std::fs::write(&config, yml).expect("write registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("registry log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("spawn docker-registry");
        let reg = Registry { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start: {}",
                reg.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        reg
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with
/// openssl: (ca cert, server cert, server key).
pub fn tls_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).expect("cert dir");
    let script = format!(
        "set -e; cd {dir}
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN={name}-ca -keyout ca.key -out ca.crt
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr
printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out server.crt",
        dir = d.display()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (d.join("ca.crt"), d.join("server.crt"), d.join("server.key"))
}

/// A bcrypt htpasswd file (apache2-utils' htpasswd).
pub fn htpasswd(dir: &Path, user: &str, password: &str) -> PathBuf {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .expect("run htpasswd (apache2-utils)");
    assert!(out.status.success(), "htpasswd failed");
    let p = dir.join("htpasswd");
    std::fs::write(&p, out.stdout).expect("write htpasswd");
    p
}

/// What the proxy does besides forwarding.
#[derive(Clone, Debug)]
pub enum ProxyMode {
    Pass,
    /// Flip one byte in the body of every blob GET larger than 4 KiB.
    CorruptBigBlobs,
    /// The first GET of a blob larger than `min` bytes stops after half of
    /// its body and the connection is closed.
    CutBlobOnce {
        min: usize,
    },
    /// Require `Authorization: Bearer` tokens from `/token`, which wants
    /// basic auth with these credentials.
    Bearer {
        user: String,
        password: String,
    },
}

#[derive(Clone, Debug)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub range: Option<String>,
    pub authorization: Option<String>,
}

pub struct Proxy {
    pub port: u16,
    pub log: Arc<Mutex<Vec<Logged>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: u16, mode: ProxyMode) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let cut_done = Arc::new(AtomicBool::new(false));
        let tokens = Arc::new(AtomicUsize::new(0));
        let (l2, s2) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (log, mode, cut_done, tokens) =
                    (l2.clone(), mode.clone(), cut_done.clone(), tokens.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, upstream, port, &mode, &log, &cut_done, &tokens);
                });
            }
        });
        Proxy { port, log, stop }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

struct Head {
    line: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<Head>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok(Some(Head {
        line: line.trim_end().to_string(),
        headers,
    }))
}

fn read_body(r: &mut impl BufRead, head: &Head) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if head
        .get("Transfer-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            if n == 0 {
                let mut end = String::new();
                r.read_line(&mut end)?;
                break;
            }
            let mut chunk = vec![0; n];
            r.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk);
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        }
    } else if let Some(n) = head
        .get("Content-Length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    }
    Ok(body)
}

fn respond(w: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let _ = w.write_all(out.as_bytes());
    let _ = w.write_all(body);
}

fn basic(user: &str, password: &str) -> String {
    // Minimal base64 so the harness needs no extra crate.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let b = input.as_bytes();
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    format!("Basic {s}")
}

fn handle(
    mut client: TcpStream,
    upstream: u16,
    own_port: u16,
    mode: &ProxyMode,
    log: &Mutex<Vec<Logged>>,
    cut_done: &AtomicBool,
    tokens: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let Some(head) = read_head(&mut reader)? else {
        return Ok(());
    };
    let body = read_body(&mut reader, &head)?;
    let mut parts = head.line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let record = |status: u16| {
        log.lock().unwrap().push(Logged {
            method: method.clone(),
            path: path.clone(),
            status,
            range: head.get("Range").map(str::to_string),
            authorization: head.get("Authorization").map(str::to_string),
        });
    };
    if let ProxyMode::Bearer { user, password } = mode {
        if path.starts_with("/token") {
            if head.get("Authorization") == Some(basic(user, password).as_str()) {
                let n = tokens.fetch_add(1, Ordering::SeqCst);
                record(200);
                respond(
                    &mut client,
                    "200 OK",
                    &[("Content-Type", "application/json".into())],
                    format!("{{\"token\":\"tok-{n}\",\"expires_in\":300}}").as_bytes(),
                );
            } else {
                record(401);
                respond(
                    &mut client,
                    "401 Unauthorized",
                    &[],
                    br#"{"details":"incorrect username or password"}"#,
                );
            }
            return Ok(());
        }
        let ok = head
            .get("Authorization")
            .is_some_and(|a| a.starts_with("Bearer tok-"));
        if !ok {
            record(401);
            let scope = path
                .strip_prefix("/v2/")
                .and_then(|p| {
                    ["/manifests/", "/blobs/", "/tags/"]
                        .iter()
                        .find_map(|m| p.split_once(m).map(|(n, _)| n.to_string()))
                })
                .map(|n| format!(",scope=\"repository:{n}:pull\""))
                .unwrap_or_default();
            respond(
                &mut client,
                "401 Unauthorized",
                &[
                    ("Content-Type", "application/json".into()),
                    (
                        "WWW-Authenticate",
                        format!("Bearer realm=\"http://127.0.0.1:{own_port}/token\",service=\"pier-test\"{scope}"),
                    ),
                ],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#,
            );
            return Ok(());
        }
    }
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    let mut req = format!("{}\r\n", head.line);
    for (k, v) in &head.headers {
        if k.eq_ignore_ascii_case("connection")
            || k.eq_ignore_ascii_case("content-length")
            || k.eq_ignore_ascii_case("transfer-encoding")
            || (matches!(mode, ProxyMode::Bearer { .. }) && k.eq_ignore_ascii_case("authorization"))
        {
            continue;
        }
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    up.write_all(req.as_bytes())?;
    up.write_all(&body)?;
    let mut up_reader = BufReader::new(up);
    let Some(resp_head) = read_head(&mut up_reader)? else {
        return Ok(());
    };
    let mut resp_body = Vec::new();
    if method != "HEAD" {
        up_reader.read_to_end(&mut resp_body)?;
    }
    let status: u16 = resp_head
        .line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    record(status);
    let is_blob_get =
        method == "GET" && path.contains("/blobs/sha256:") && (status == 200 || status == 206);
    let mut out = format!("{}\r\n", resp_head.line);
    for (k, v) in &resp_head.headers {
        if k.eq_ignore_ascii_case("connection") || k.eq_ignore_ascii_case("transfer-encoding") {
            continue;
        }
        if method != "HEAD" && k.eq_ignore_ascii_case("content-length") {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if method != "HEAD" {
        out.push_str(&format!("Content-Length: {}\r\n", resp_body.len()));
    }
    out.push_str("Connection: close\r\n\r\n");
    client.write_all(out.as_bytes())?;
    match mode {
        ProxyMode::CorruptBigBlobs if is_blob_get && resp_body.len() > 4096 => {
            let mid = resp_body.len() / 2;
            resp_body[mid] ^= 0xff;
            client.write_all(&resp_body)?;
        }
        ProxyMode::CutBlobOnce { min }
            if is_blob_get && resp_body.len() > *min && !cut_done.swap(true, Ordering::SeqCst) =>
        {
            client.write_all(&resp_body[..resp_body.len() / 2])?;
            client.flush()?;
            std::thread::sleep(Duration::from_millis(300));
            let _ = client.shutdown(std::net::Shutdown::Both);
        }
        _ => client.write_all(&resp_body)?,
    }
    Ok(())
}

pub fn image_id(d: &Daemon, name: &str) -> String {
    ok(d.pier(&["image", "inspect", "--format", "{{.Id}}", name]))
}

/// `pier` with its own docker config dir (credentials).
pub fn pier_as(d: &Daemon, config: &Path, args: &[&str]) -> Output {
    d.pier_cmd()
        .env("DOCKER_CONFIG", config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run pier")
}
