//! Builder features beyond the everyday: RUN's network (default bridge,
//! none, host, user networks), ADD from URLs, .xz archives, build secrets,
//! `--pull`.
mod common;
use common::build::{build, built, write};
use common::*;
use std::path::Path;

fn cat(d: &Daemon, image: &str, path: &str) -> String {
    ok(d.pier(&["run", "--rm", "--network", "none", image, "cat", path]))
}

#[test]
fn run_steps_use_the_default_bridge_none_host_or_a_user_network() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN ls /sys/class/net > /links.txt\n\
             RUN ip -4 addr show > /addr.txt\n\
             RUN cat /etc/hosts > /hosts.txt\n\
             RUN --network=none ls /sys/class/net > /step-none.txt\n",
        )],
    );
    built(build(&d, ctx.path(), &["-t", "net-default"]));
    // Docker's classic builder: RUN on the default bridge.
    assert_eq!(cat(&d, "net-default", "/links.txt"), "eth0\nlo");
    let addr = cat(&d, "net-default", "/addr.txt");
    assert!(addr.contains(&d.net.bridge_prefix()), "{addr}");
    let hosts = cat(&d, "net-default", "/hosts.txt");
    assert!(hosts.contains("localhost"), "{hosts}");
    assert!(hosts.contains(&d.net.bridge_prefix()), "{hosts}");
    assert_eq!(cat(&d, "net-default", "/step-none.txt"), "lo");
    // The RUN containers' endpoints are released.
    let inspect = ok(d.pier(&["network", "inspect", "bridge", "-f", "{{json .Containers}}"]));
    assert_eq!(inspect, "{}");

    // --network none for the whole build.
    built(build(
        &d,
        ctx.path(),
        &["-t", "net-none", "--network", "none"],
    ));
    assert_eq!(cat(&d, "net-none", "/links.txt"), "lo");

    // --network host: the host's links, this daemon's bridge among them.
    built(build(
        &d,
        ctx.path(),
        &["-t", "net-host", "--network", "host"],
    ));
    let links = cat(&d, "net-host", "/links.txt");
    assert!(links.lines().any(|l| l == d.net.bridge()), "{links}");

    // A user network.
    let subnet = d.net.user_subnet(1);
    ok(d.pier(&["network", "create", "--subnet", &subnet, "buildnet"]));
    built(build(
        &d,
        ctx.path(),
        &["-t", "net-user", "--network", "buildnet"],
    ));
    let prefix = subnet.trim_end_matches("0/24");
    let addr = cat(&d, "net-user", "/addr.txt");
    assert!(addr.contains(prefix), "{prefix} not in {addr}");
    // An unknown network fails the build naming it.
    let out = build(&d, ctx.path(), &["--no-cache", "--network", "nosuchnet"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nosuchnet"), "{}", stderr(&out));

    // The real docker CLI through the classic API, with networkmode=none.
    let out = d.docker(&[
        "build",
        "-q",
        "--network",
        "none",
        "-t",
        "net-docker",
        ctx.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(cat(&d, "net-docker", "/links.txt"), "lo");
    let out = d.docker(&[
        "build",
        "-q",
        "-t",
        "net-docker2",
        ctx.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(cat(&d, "net-docker2", "/links.txt"), "eth0\nlo");
}

#[test]
fn from_images_are_pulled_when_missing_and_always_with_pull() {
    use common::registry::{free_port, Registry};
    let d = Daemon::start();
    let reg = Registry::start();
    let base = format!("{}/base:1", reg.addr());
    // The registry gets a newer base than the one kept locally.
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[("Dockerfile", "FROM busybox\nRUN echo new > /marker\n")],
    );
    built(build(&d, ctx.path(), &["-t", &base]));
    ok(d.pier(&["push", &base]));
    ok(d.pier(&["tag", "busybox", &base]));

    let app = tempfile::tempdir().unwrap();
    write(
        app.path(),
        &[(
            "Dockerfile",
            &format!("FROM {base}\nRUN (cat /marker 2>/dev/null || echo old) > /seen\n"),
        )],
    );
    // Without --pull the local image is used.
    built(build(&d, app.path(), &["-t", "app"]));
    assert_eq!(cat(&d, "app", "/seen"), "old");
    // --pull takes the registry's.
    let progress = built(build(&d, app.path(), &["-t", "app", "--pull"]));
    assert!(progress.contains("Pulling from base"), "{progress}");
    assert_eq!(cat(&d, "app", "/seen"), "new");

    // A missing base image is pulled (docker CLI, classic API).
    ok(d.pier(&["rmi", "-f", &base, "app"]));
    let out = d.docker(&["build", "-t", "app2", app.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("Status: Downloaded newer image for {base}")),
        "{}",
        stdout(&out)
    );
    assert_eq!(cat(&d, "app2", "/seen"), "new");
    // COPY --from an image that is not here pulls it too.
    ok(d.pier(&["rmi", "-f", &base]));
    write(
        app.path(),
        &[(
            "Dockerfile",
            &format!("FROM busybox\nCOPY --from={base} /marker /copied\n"),
        )],
    );
    built(build(&d, app.path(), &["-t", "app3"]));
    assert_eq!(cat(&d, "app3", "/copied"), "new");

    // --pull with the registry unreachable fails the build, naming it.
    let gone = format!("127.0.0.1:{}/gone:1", free_port());
    ok(d.pier(&["tag", "busybox", &gone]));
    write(
        app.path(),
        &[("Dockerfile", &format!("FROM {gone}\nRUN true\n"))],
    );
    built(build(&d, app.path(), &["-t", "app4"]));
    let out = build(&d, app.path(), &["--pull"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&gone[..gone.find('/').unwrap()]), "{err}");
    assert!(err.contains("connection refused"), "{err}");
    let out = d.docker(&["build", "--pull", app.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("connection refused"),
        "{}",
        stderr(&out)
    );
}

/// A tiny HTTP/1.0 server on 127.0.0.1 serving fixed paths; counts hits.
struct Http {
    port: u16,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn serve(files: Vec<(&'static str, Vec<u8>)>) -> Http {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h2 = hits.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut line = String::new();
            let mut r = BufReader::new(s.try_clone().unwrap());
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            h2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let resp = if path == "/redirect" {
                b"HTTP/1.0 302 Found\r\nLocation: /files/hello.txt\r\nContent-Length: 0\r\n\r\n"
                    .to_vec()
            } else if let Some((_, body)) = files.iter().find(|(p, _)| *p == path) {
                let mut v = format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                v.extend_from_slice(body);
                v
            } else {
                b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
            };
            let _ = s.write_all(&resp);
        }
    });
    Http { port, hits }
}

fn sha256_hex(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    stdout(&out).split_whitespace().next().unwrap().to_string()
}

#[test]
fn add_from_urls_with_checksum_chown_chmod_and_no_extraction() {
    let d = Daemon::start();
    let src = tempfile::tempdir().unwrap();
    write(src.path(), &[("pkg/f.txt", "in archive\n")]);
    let tgz = src.path().join("a.tar.gz");
    assert!(std::process::Command::new("tar")
        .args(["-C", src.path().to_str().unwrap(), "-czf"])
        .arg(&tgz)
        .arg("pkg")
        .status()
        .unwrap()
        .success());
    let hello = b"hello from http\n".to_vec();
    let http = serve(vec![
        ("/files/hello.txt", hello.clone()),
        ("/files/a.tar.gz", std::fs::read(&tgz).unwrap()),
    ]);
    let base = format!("http://127.0.0.1:{}", http.port);
    std::fs::write(src.path().join("hello.txt"), &hello).unwrap();
    let sum = sha256_hex(&src.path().join("hello.txt"));

    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox\n\
                 ADD {base}/files/hello.txt /dl/\n\
                 ADD --checksum=sha256:{sum} {base}/files/hello.txt /named.txt\n\
                 ADD --chown=1:2 --chmod=644 {base}/redirect /owned/\n\
                 ADD {base}/files/a.tar.gz /tars/\n\
                 RUN stat -c '%a %u:%g %Y' /dl/hello.txt > /dl-stat && stat -c '%a %u:%g' /owned/redirect > /owned-stat && ls /tars > /tars-list\n"
            ),
        )],
    );
    built(build(&d, ctx.path(), &["-t", "urls"]));
    assert_eq!(cat(&d, "urls", "/dl/hello.txt"), "hello from http");
    assert_eq!(cat(&d, "urls", "/named.txt"), "hello from http");
    // 0600 as Docker gives downloads, mtime from Last-Modified.
    assert_eq!(cat(&d, "urls", "/dl-stat"), "600 0:0 1445412480");
    // The file is named after the URL's last segment (not the redirect's).
    assert_eq!(cat(&d, "urls", "/owned-stat"), "644 1:2");
    // URLs are never extracted.
    assert_eq!(cat(&d, "urls", "/tars-list"), "a.tar.gz");

    // A rebuild downloads again and hits the cache on the same content.
    let before = http.hits.load(std::sync::atomic::Ordering::SeqCst);
    let progress = built(build(&d, ctx.path(), &["-t", "urls"]));
    assert!(http.hits.load(std::sync::atomic::Ordering::SeqCst) > before);
    assert!(
        !progress.contains("DONE") || progress.matches("CACHED").count() >= 5,
        "{progress}"
    );

    // A checksum mismatch fails naming the line.
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox\nADD --checksum=sha256:{} {base}/files/hello.txt /x\n",
                "0".repeat(64)
            ),
        )],
    );
    let out = build(&d, ctx.path(), &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(err.contains(&format!("got sha256:{sum}")), "{err}");
    assert!(err.contains("line 2"), "{err}");
    // A 404 fails too, and so does the docker CLI through the classic API.
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            &format!("FROM busybox\nADD {base}/nope.txt /x\n"),
        )],
    );
    let out = d.docker(&["build", ctx.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
    // COPY refuses URLs.
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            &format!("FROM busybox\nCOPY {base}/files/hello.txt /x\n"),
        )],
    );
    let out = build(&d, ctx.path(), &[]);
    assert!(
        stderr(&out).contains("source can't be a URL for COPY"),
        "{}",
        stderr(&out)
    );
}

/// A tar with one entry whose raw name is `name` (the tar crate refuses
/// `..` through its safe API).
fn raw_tar(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, link, data) in entries {
        let mut h = tar::Header::new_old();
        let raw = h.as_old_mut();
        raw.name[..name.len()].copy_from_slice(name.as_bytes());
        raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn add_extracts_xz_and_zstd_archives_and_refuses_breakouts() {
    let d = Daemon::start();
    let src = tempfile::tempdir().unwrap();
    write(
        src.path(),
        &[("pkg/bin/tool", "tool\n"), ("pkg/doc", "doc\n")],
    );
    let ctx = tempfile::tempdir().unwrap();
    for (flag, name) in [
        ("-cJf", "a.tar.xz"),
        ("--zstd -cf", "a.tar.zst"),
        ("-cjf", "a.tar.bz2"),
    ] {
        let mut c = std::process::Command::new("tar");
        c.args(["-C", src.path().to_str().unwrap()]);
        c.args(flag.split(' '));
        c.arg(ctx.path().join(name)).arg("pkg");
        assert!(c.status().unwrap().success(), "{name}");
    }
    // An xz file that is not a tar is copied as is.
    std::fs::write(ctx.path().join("plain.txt"), "just text\n").unwrap();
    assert!(std::process::Command::new("xz")
        .arg(ctx.path().join("plain.txt"))
        .status()
        .unwrap()
        .success());
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM busybox\nADD a.tar.xz /xz/\nADD a.tar.zst /zst/\nADD a.tar.bz2 /bz2/\nADD plain.txt.xz /raw/\n",
        )],
    );
    built(build(&d, ctx.path(), &["-t", "arch"]));
    for dir in ["xz", "zst", "bz2"] {
        assert_eq!(cat(&d, "arch", &format!("/{dir}/pkg/bin/tool")), "tool");
        assert_eq!(cat(&d, "arch", &format!("/{dir}/pkg/doc")), "doc");
    }
    let out = ok(d.pier(&["run", "--rm", "arch", "ls", "/raw"]));
    assert_eq!(out, "plain.txt.xz");

    // Breakouts: `..` entries, symlinks pointing out, writes through links.
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot.tar",
            raw_tar(&[("../../evil", tar::EntryType::Regular, "", b"x")]),
            "is outside of the destination",
        ),
        (
            "link.tar",
            raw_tar(&[("esc", tar::EntryType::Symlink, "../../../etc", b"")]),
            "invalid symlink",
        ),
        (
            "through.tar",
            raw_tar(&[
                ("l", tar::EntryType::Symlink, "/etc", b""),
                ("l/passwd", tar::EntryType::Regular, "", b"pwned"),
            ]),
            "is outside of the destination",
        ),
    ];
    for (name, bytes, want) in cases {
        std::fs::write(ctx.path().join(name), bytes).unwrap();
        write(
            ctx.path(),
            &[("Dockerfile", &format!("FROM busybox\nADD {name} /t/\n"))],
        );
        let out = build(&d, ctx.path(), &[]);
        assert!(!out.status.success(), "{name} was extracted");
        assert!(stderr(&out).contains(want), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains("line 2"), "{name}: {}", stderr(&out));
    }
}

/// Every file under `path` whose bytes contain `needle` (grep: fast on
/// layers and binaries).
fn files_containing(path: &Path, needle: &str) -> Vec<String> {
    let out = std::process::Command::new("grep")
        .args(["-rlF", "--binary-files=text", "--", needle])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.code().unwrap_or(2) < 2, "grep: {}", stderr(&out));
    stdout(&out).lines().map(str::to_string).collect()
}

#[test]
fn run_secret_mounts_are_seen_only_by_their_run() {
    let d = Daemon::start();
    let secret = "topsecret-value-7f3a91";
    let sdir = tempfile::tempdir().unwrap();
    let sfile = sdir.path().join("tok");
    std::fs::write(&sfile, secret).unwrap();
    let sum = sha256_hex(&sfile);
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -c1-64 > /sum && stat -c '%a %u' /run/secrets/tok > /mode\n\
             RUN --mount=type=secret,id=tok,target=/etc/app/key,mode=0440,uid=1 stat -c '%a %u' /etc/app/key > /custom\n\
             RUN --mount=type=secret,id=tok,env=TOK sh -c 'echo ${#TOK}; ls /run/secrets 2>/dev/null | wc -l' > /env\n\
             RUN --mount=type=secret,id=absent cat /run/secrets/absent 2>/dev/null; echo ok > /optional\n\
             RUN (cat /run/secrets/tok 2>/dev/null || echo none) > /later\n",
        )],
    );
    let spec = format!("id=tok,src={}", sfile.display());
    built(build(&d, ctx.path(), &["-t", "sec", "--secret", &spec]));
    assert_eq!(cat(&d, "sec", "/sum"), sum);
    assert_eq!(cat(&d, "sec", "/mode"), "400 0");
    assert_eq!(cat(&d, "sec", "/custom"), "440 1");
    // env= gives a variable, and no file.
    assert_eq!(cat(&d, "sec", "/env"), format!("{}\n0", secret.len()));
    assert_eq!(cat(&d, "sec", "/optional"), "ok");
    assert_eq!(cat(&d, "sec", "/later"), "none");
    // No mount point is left in the image.
    for p in ["/run/secrets", "/etc/app"] {
        let out = d.pier(&["run", "--rm", "--network", "none", "sec", "ls", p]);
        assert!(!out.status.success(), "{p} is in the image");
    }
    // The value is nowhere: not in a layer, the config, history, the
    // build cache or the builder's scratch space.
    let hist = ok(d.pier(&["history", "--no-trunc", "sec"]));
    assert!(!hist.contains(secret));
    let inspect = ok(d.pier(&["image", "inspect", "sec"]));
    assert!(!inspect.contains(secret));
    let found = files_containing(&d.data_root, secret);
    // (The scan does see layer contents: the digest the RUN wrote is found.)
    assert!(!files_containing(&d.data_root, &sum).is_empty());
    assert!(found.is_empty(), "secret found in {found:?}");
    let saved = d.dir.path().join("sec.tar");
    ok(d.pier(&["save", "-o", saved.to_str().unwrap(), "sec"]));
    assert!(files_containing(&saved, secret).is_empty());

    // Another value does not change the cache key (as BuildKit).
    std::fs::write(&sfile, "another-value").unwrap();
    let progress = built(build(&d, ctx.path(), &["-t", "sec", "--secret", &spec]));
    assert_eq!(progress.matches(" CACHED").count(), 5, "{progress}");

    // A required secret that was not given fails naming it and the line.
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM busybox\nRUN --mount=type=secret,id=needed,required=true true\n",
        )],
    );
    let out = build(&d, ctx.path(), &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("secret needed: not found"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
    // A secret from the environment.
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM busybox\nRUN --mount=type=secret,id=needed,required=true wc -c < /run/secrets/needed > /n\n",
        )],
    );
    let out = d
        .pier_cmd()
        .env("PIER_BUILD_SECRET_TEST", "12345")
        .args(["build", "--progress", "plain", "-t", "envsec", "--secret"])
        .arg("id=needed,env=PIER_BUILD_SECRET_TEST")
        .arg(ctx.path())
        .output()
        .unwrap();
    built(out);
    assert_eq!(cat(&d, "envsec", "/n"), "5");
}

#[test]
fn failed_run_names_line_code_and_output_and_leaves_nothing_behind() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo first-line; echo last-words >&2; false\n",
        )],
    );
    let out = d
        .docker_cmd()
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", ctx.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "The command '/bin/sh -c echo first-line; echo last-words >&2; false' returned a non-zero code: 1"
        ),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("last-words"), "{}", stdout(&out));
    let out = build(&d, ctx.path(), &[]);
    let err = stderr(&out);
    assert!(err.contains("Dockerfile:2"), "{err}");
    assert!(err.contains("exit code: 1"), "{err}");
    assert!(err.contains("last-words"), "{err}");
    // No RUN container, bundle or shim is left.
    let tmp = d.data_root.join("builder/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("run-") || n.starts_with("secret-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(ok(d.pier(&["ps", "-aq"])), "");
    let shims = std::process::Command::new("pgrep")
        .args(["-f", &format!("{}.*run-", tmp.display())])
        .output()
        .unwrap();
    assert!(stdout(&shims).is_empty(), "{}", stdout(&shims));
    let eps = ok(d.pier(&["network", "inspect", "bridge", "-f", "{{json .Containers}}"]));
    assert_eq!(eps, "{}");
}

#[test]
fn docker_build_pulls_a_private_base_with_the_clis_credentials() {
    use common::registry::{htpasswd, tls_cert, Registry, RegistryConfig};
    let work = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_cert(work.path(), "registry");
    let hp = htpasswd(work.path(), "alice", "wonderland");
    let reg = Registry::start_with(RegistryConfig {
        tls: Some((cert, key)),
        htpasswd: Some(hp),
    });
    let r = reg.addr();
    let certs = work.path().join("certs.d");
    std::fs::create_dir_all(certs.join(&r)).unwrap();
    std::fs::copy(&ca, certs.join(&r).join("ca.crt")).unwrap();
    let d = Daemon::start_with(&["--registry-certs-dir", certs.to_str().unwrap()]);
    let base = format!("{r}/private/base:1");
    ok(d.pier(&["tag", "busybox", &base]));
    ok(d.docker(&["login", &r, "-u", "alice", "-p", "wonderland"]));
    ok(d.docker(&["push", &base]));
    ok(d.pier(&["rmi", &base]));
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[("Dockerfile", &format!("FROM {base}\nRUN echo ok > /ok\n"))],
    );
    // The CLI's X-Registry-Config carries the login to the build's pull.
    let out = d.docker(&["build", "-t", "priv", ctx.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(cat(&d, "priv", "/ok"), "ok");
    // pier build sends the same header, from the same config.json.
    let pier_build = |args: &[&str]| {
        d.pier_cmd()
            .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
            .arg("build")
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    ok(d.pier(&["rmi", "-f", &base, "priv"]));
    let out = pier_build(&["-t", "priv", ctx.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(cat(&d, "priv", "/ok"), "ok");
    // Logged out: the pull is refused.
    ok(d.docker(&["logout", &r]));
    ok(d.pier(&["rmi", "-f", &base, "priv"]));
    for cli in ["docker", "pier"] {
        let out = if cli == "docker" {
            d.docker(&["build", "--no-cache", ctx.path().to_str().unwrap()])
        } else {
            pier_build(&["--no-cache", ctx.path().to_str().unwrap()])
        };
        assert!(!out.status.success(), "{cli}");
        assert!(
            stderr(&out).contains(&format!("pull access denied for {base}")),
            "{cli}: {}",
            stderr(&out)
        );
    }
}
