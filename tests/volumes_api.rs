//! Volumes as clients see them: `Mounts` in inspect and `ps`, the volume
//! commands of both CLIs, docker-py, API errors and `system df`.

mod common;

use common::volumes::volume_names;
use common::{ok, stderr, Daemon};

#[test]
fn inspect_ps_and_list_show_mounts_like_docker() {
    let d = Daemon::start();
    let host = d.dir.path().join("h");
    std::fs::create_dir_all(&host).unwrap();
    let h = host.to_str().unwrap();
    ok(d.docker(&[
        "create",
        "--name",
        "m",
        "-v",
        "named:/n",
        "-v",
        &format!("{h}:/b:ro"),
        "--mount",
        "type=tmpfs,target=/t",
        "busybox",
        "true",
    ]));
    let mounts: serde_json::Value =
        serde_json::from_str(&ok(d.docker(&["inspect", "-f", "{{json .Mounts}}", "m"]))).unwrap();
    let by_dest = |dest: &str| {
        mounts
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["Destination"] == dest)
            .cloned()
            .unwrap()
    };
    let n = by_dest("/n");
    assert_eq!(n["Type"], "volume");
    assert_eq!(n["Name"], "named");
    assert_eq!(n["Driver"], "local");
    assert_eq!(n["Mode"], "z");
    assert_eq!(n["RW"], true);
    assert_eq!(
        n["Source"],
        d.data_root.join("volumes/named/_data").to_str().unwrap()
    );
    let b = by_dest("/b");
    assert_eq!(b["Type"], "bind");
    assert_eq!(b["Source"], h);
    assert_eq!(b["Mode"], "ro");
    assert_eq!(b["RW"], false);
    assert_eq!(b["Propagation"], "rprivate");
    assert!(b.get("Name").is_none() && b.get("Driver").is_none());
    assert_eq!(by_dest("/t")["Type"], "tmpfs");
    let ps = ok(d.docker(&["ps", "-a", "--format", "{{.Mounts}}"]));
    let mut names: Vec<&str> = ps.split(',').collect();
    names.sort();
    assert_eq!(names.len(), 3, "{ps}");
    assert!(names.contains(&"named"), "{ps}");
    for filter in ["volume=named", "volume=/b", &format!("volume={h}")] {
        assert_eq!(
            ok(d.docker(&["ps", "-aq", "--filter", filter])).len(),
            12,
            "{filter}"
        );
    }
    assert_eq!(ok(d.docker(&["ps", "-aq", "--filter", "volume=other"])), "");

    // volume ls / inspect / filters through both CLIs.
    ok(d.pier(&["volume", "create", "--label", "env=prod", "labelled"]));
    let table = ok(d.pier(&["volume", "ls"]));
    assert_eq!(
        table,
        "DRIVER    VOLUME NAME\nlocal     labelled\nlocal     named"
    );
    assert_eq!(ok(d.docker(&["volume", "ls"])), table);
    assert_eq!(
        ok(d.pier(&["volume", "ls", "-q", "--filter", "label=env=prod"])),
        "labelled"
    );
    assert_eq!(
        ok(d.docker(&["volume", "ls", "-q", "--filter", "dangling=true"])),
        "labelled"
    );
    assert_eq!(
        ok(d.pier(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}} {{.Scope}} {{.Labels}}",
            "-f",
            "name=lab"
        ])),
        "labelled local env=prod"
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(d.pier(&["volume", "inspect", "labelled"]))).unwrap();
    assert_eq!(v[0]["Name"], "labelled");
    assert_eq!(v[0]["Scope"], "local");
    assert_eq!(v[0]["Labels"]["env"], "prod");
    assert!(v[0]["CreatedAt"].as_str().unwrap().ends_with('Z'));
    // null when created without labels/options (by a container, or by
    // docker 28's `volume create`, which omits empty maps), {} when the
    // request carries empty ones, the anonymous label otherwise.
    let named: serde_json::Value =
        serde_json::from_str(&ok(d.docker(&["volume", "inspect", "named"]))).unwrap();
    assert!(
        named[0]["Labels"].is_null() && named[0]["Options"].is_null(),
        "{named}"
    );
    ok(d.docker(&["volume", "create", "plain"]));
    ok(d.pier(&["volume", "create", "plain2"]));
    for name in ["plain", "plain2"] {
        let plain: serde_json::Value =
            serde_json::from_str(&ok(d.docker(&["volume", "inspect", name]))).unwrap();
        assert!(
            plain[0]["Labels"].is_null() && plain[0]["Options"].is_null(),
            "{plain}"
        );
        ok(d.docker(&["volume", "rm", name]));
    }
    let r = d
        .raw_request(
            "POST",
            "/v1.51/volumes/create",
            Some(br#"{"Name":"given","Labels":{},"DriverOpts":{}}"#),
        )
        .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["Labels"], serde_json::json!({}));
    assert_eq!(r.json()["Options"], serde_json::json!({}));
    ok(d.docker(&["volume", "rm", "given"]));
    let anon = ok(d.docker(&["create", "-v", "/a", "busybox"]));
    let anon_name = ok(d.docker(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", &anon]));
    let a: serde_json::Value =
        serde_json::from_str(&ok(d.docker(&["volume", "inspect", &anon_name]))).unwrap();
    assert_eq!(
        a[0]["Labels"],
        serde_json::json!({"com.docker.volume.anonymous": ""})
    );
    ok(d.docker(&["rm", "-v", &anon]));
    let out = d.pier(&["volume", "inspect", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("get nosuch: no such volume"));

    // system df -v lists volume sizes.
    ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "named:/n",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/n/z bs=1000 count=3 2>/dev/null",
    ]));
    let df = ok(d.docker(&["system", "df", "-v"]));
    let line = df
        .lines()
        .find(|l| l.starts_with("named "))
        .unwrap_or_else(|| panic!("{df}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols, ["named", "1", "3kB"], "{df}");
}

/// The API as docker-py drives it: create with labels and options, list
/// with filters, volumes of a container, 409 on removal while in use,
/// prune; plus filter errors and the `system/df` shape.
#[test]
fn docker_py_and_raw_api() {
    let d = Daemon::start();
    let script = r#"
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
v = c.volumes.create(name="pyvol", labels={"team": "a"})
assert v.attrs["Labels"] == {"team": "a"}, v.attrs
assert v.attrs["Scope"] == "local" and v.attrs["Driver"] == "local"
t = c.volumes.create(name="pytmp", driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
assert t.attrs["Options"]["type"] == "tmpfs"
assert [x.name for x in c.volumes.list(filters={"label": "team=a"})] == ["pyvol"]
ctr = c.containers.run("busybox", "sh -c 'echo py > /v/f'", volumes={"pyvol": {"bind": "/v", "mode": "rw"}}, detach=True)
assert ctr.wait()["StatusCode"] == 0
ctr.reload()
assert ctr.attrs["Mounts"][0]["Name"] == "pyvol", ctr.attrs["Mounts"]
try:
    c.volumes.get("pyvol").remove()
    raise SystemExit("removal of an in-use volume succeeded")
except docker.errors.APIError as e:
    assert e.status_code == 409, e
    assert "volume is in use" in str(e), e
out = c.containers.run("busybox", "cat /v/f", volumes=["pyvol:/v:ro"], remove=True)
assert out == b"py\n", out
ctr.remove()
c.volumes.get("pyvol").remove()
try:
    c.volumes.get("pyvol")
    raise SystemExit("removed volume still found")
except docker.errors.NotFound:
    pass
rep = c.volumes.prune(filters={"all": "true"})
assert rep["VolumesDeleted"] is None or rep["VolumesDeleted"] == [], rep
print("ok")
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(d.host())
        .output()
        .unwrap();
    assert_eq!(
        common::stdout(&out).trim(),
        "ok",
        "{}",
        common::stderr(&out)
    );
    // The tmpfs-backed volume has options: prune never takes it.
    assert_eq!(volume_names(&d), ["pytmp"]);

    let r = d
        .raw_request(
            "GET",
            "/v1.51/volumes?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
            None,
        )
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "invalid filter 'bogus'");
    let r = d
        .raw_request("POST", "/v1.51/volumes/create", Some(br#"{"Name":"a/b"}"#))
        .unwrap();
    assert_eq!(r.status, 400);
    ok(d.docker(&["volume", "create", "sized"]));
    ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "sized:/s",
        "busybox",
        "sh",
        "-c",
        "printf 12345 > /s/f",
    ]));
    let df = d
        .raw_request("GET", "/v1.51/system/df", None)
        .unwrap()
        .json();
    let vols = df["Volumes"].as_array().unwrap();
    let sized = vols.iter().find(|v| v["Name"] == "sized").unwrap();
    assert_eq!(sized["UsageData"]["Size"], 5);
    assert_eq!(sized["UsageData"]["RefCount"], 0);
    assert!(
        vols.iter().all(|v| v["Name"] != "pytmp"),
        "volumes with options are not sized"
    );
}

/// `pier system df [-v]` prints what the docker CLI prints for the same
/// daemon (the volume section lists sizes and links).
#[test]
fn system_df_matches_docker() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "--name",
        "dfc",
        "-v",
        "dfvol:/d",
        "busybox",
        "sh",
        "-c",
        "printf 1234567 > /d/x",
    ]));
    ok(d.docker(&["volume", "create", "unused"]));
    for args in [
        vec!["system", "df"],
        vec!["system", "df", "-v"],
        vec![
            "system",
            "df",
            "--format",
            "{{.Type}}: {{.Size}} {{.Reclaimable}}",
        ],
    ] {
        // Columns like CREATED tick with the clock: compare until a pair
        // of runs falls within the same second.
        let same = common::eventually(std::time::Duration::from_secs(10), || {
            ok(d.docker(&args)) == ok(d.pier(&args))
        });
        assert!(
            same,
            "{args:?}:\n{}\n---\n{}",
            ok(d.docker(&args)),
            ok(d.pier(&args))
        );
    }
    let v = ok(d.pier(&["system", "df", "-v"]));
    assert!(v.contains("Local Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\ndfvol         1         7B\nunused        0         0B\n"), "{v}");
    let s = ok(d.pier(&["system", "df"]));
    assert!(
        s.contains("Local Volumes   2         1         7B        0B (0%)"),
        "{s}"
    );
}
