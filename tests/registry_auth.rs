//! Registry authentication through pierd: TLS with a trusted (and an
//! untrusted) CA plus htpasswd basic auth, with the real docker CLI and pier;
//! the Bearer token challenge flow against a token-issuing proxy.
mod common;
use common::registry::*;
use common::*;
use std::process::Stdio;

#[test]
fn basic_auth_over_tls_with_a_trusted_certificate() {
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
    let certs_arg = certs.to_str().unwrap();
    let a = Daemon::start_with(&["--registry-certs-dir", certs_arg]);
    let remote = format!("{r}/private/busybox");
    ok(a.pier(&["tag", "busybox", &remote]));

    // The real docker CLI logs in through pierd (POST /auth).
    let bad = a.docker(&["login", &r, "-u", "alice", "-p", "nope"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("401 Unauthorized"),
        "{}",
        stderr(&bad)
    );
    let mut login = a.docker_cmd();
    login
        .args(["login", &r, "-u", "alice", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = login.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"wonderland\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        stdout(&out).contains("Login Succeeded"),
        "{} {}",
        stdout(&out),
        stderr(&out)
    );
    let out = ok(a.docker(&["push", &remote]));
    assert!(out.contains(": Pushed"), "{out}");

    // pier: no credentials → refused; after pier login → pulled.
    let b = Daemon::start_empty_with(&["--registry-certs-dir", certs_arg]);
    let cfg = work.path().join("pier-config");
    let denied = pier_as(&b, &cfg, &["pull", &remote]);
    assert!(!denied.status.success());
    assert!(
        stderr(&denied).contains(&format!(
            "pull access denied for {remote}, repository does not exist or may require 'docker login'"
        )),
        "{}",
        stderr(&denied)
    );
    let out = pier_as(&b, &cfg, &["login", "-u", "alice", "-p", "wonderland", &r]);
    assert!(stdout(&out).contains("Login Succeeded"), "{}", stderr(&out));
    let saved = std::fs::read_to_string(cfg.join("config.json")).unwrap();
    assert!(
        saved.contains(&r) && saved.contains("YWxpY2U6d29uZGVybGFuZA=="),
        "{saved}"
    );
    assert!(pier_as(&b, &cfg, &["pull", &remote]).status.success());
    assert_eq!(image_id(&b, &remote), image_id(&a, "busybox"));
    let out = pier_as(&b, &cfg, &["logout", &r]);
    assert_eq!(
        stdout(&out).trim(),
        format!("Removing login credentials for {r}")
    );
    assert!(!std::fs::read_to_string(cfg.join("config.json"))
        .unwrap()
        .contains("YWxpY2U6"));

    // A pierd that trusts another CA refuses the registry's certificate.
    let (other, _, _) = tls_cert(work.path(), "other");
    let certs2 = work.path().join("certs2.d");
    std::fs::create_dir_all(certs2.join(&r)).unwrap();
    std::fs::copy(&other, certs2.join(&r).join("ca.crt")).unwrap();
    let c = Daemon::start_empty_with(&["--registry-certs-dir", certs2.to_str().unwrap()]);
    let refused = pier_as(&c, &cfg, &["login", "-u", "alice", "-p", "wonderland", &r]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("certificate"),
        "{}",
        stderr(&refused)
    );
    let refused = pier_as(&c, &cfg, &["pull", &remote]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("certificate"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn bearer_token_flow() {
    let reg = Registry::start();
    let proxy = Proxy::start(
        reg.port,
        ProxyMode::Bearer {
            user: "bob".into(),
            password: "builder".into(),
        },
    );
    let p = proxy.addr();
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path().join("cfg");
    let a = Daemon::start();
    let remote = format!("{p}/bob/busybox");
    ok(a.pier(&["tag", "busybox", &remote]));
    let bad = pier_as(&a, &cfg, &["login", "-u", "bob", "-p", "wrong", &p]);
    assert!(!bad.status.success());
    let good = pier_as(&a, &cfg, &["login", "-u", "bob", "-p", "builder", &p]);
    assert!(
        stdout(&good).contains("Login Succeeded"),
        "{}",
        stderr(&good)
    );
    let out = pier_as(&a, &cfg, &["push", &remote]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The token was asked for with the push scope, using basic auth.
    let token_reqs: Vec<Logged> = proxy
        .requests()
        .into_iter()
        .filter(|l| l.path.starts_with("/token"))
        .collect();
    assert!(
        token_reqs.iter().any(|l| l.status == 200
            && l.path.contains("service=pier-test")
            && l.path
                .contains("scope=repository%3Abob%2Fbusybox%3Apull%2Cpush")),
        "{token_reqs:?}"
    );
    assert!(proxy.requests().iter().any(|l| l.method == "PUT"
        && l.path.contains("/manifests/latest")
        && l.status == 201
        && l.authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer tok-"))));

    let b = Daemon::start_empty();
    let anon = b.pier(&["pull", &remote]);
    assert!(!anon.status.success());
    assert!(
        stderr(&anon).contains("pull access denied for"),
        "{}",
        stderr(&anon)
    );
    assert!(pier_as(&b, &cfg, &["pull", &remote]).status.success());
    assert_eq!(image_id(&b, &remote), image_id(&a, "busybox"));
}
