//! `--log-opt labels/labels-regex/env/env-regex/tag`: json-file entries
//! carry docker's `attrs`, and `logs --details` prints them.
mod common;
use common::*;

#[test]
fn log_opt_attrs_in_json_file_and_details() {
    let d = Daemon::start();
    let id = ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "a",
        "--label",
        "app=web",
        "--label",
        "other=x y",
        "-e",
        "FOO=bar",
        "-e",
        "BAZ=q",
        "--log-opt",
        "labels=app,missing",
        "--log-opt",
        "labels-regex=^oth",
        "--log-opt",
        "env=FOO,NOPE",
        "--log-opt",
        "tag={{.Name}}/{{.ID}}",
        "busybox",
        "echo",
        "hello",
    ]));
    ok(d.docker(&["wait", "a"]));
    let log = std::fs::read_to_string(
        d.data_root
            .join("containers")
            .join(&id)
            .join(format!("{id}-json.log")),
    )
    .unwrap();
    let id12 = &id[..12];
    // dockerd's field order, attrs keys sorted as Go marshals a map.
    let prefix = format!(
        "{{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"attrs\":{{\"FOO\":\"bar\",\"app\":\"web\",\"other\":\"x y\",\"tag\":\"a/{id12}\"}},\"time\":\""
    );
    assert!(log.starts_with(&prefix), "{log}");
    for cli in ["docker", "pier"] {
        let o = if cli == "docker" {
            d.docker(&["logs", "--details", "a"])
        } else {
            d.pier(&["logs", "--details", "a"])
        };
        assert_eq!(
            stdout(&o),
            format!("FOO=bar,app=web,other=x+y,tag=a%2F{id12} hello\n"),
            "{cli}"
        );
    }
    // Without attrs, --details puts just the separating space.
    ok(d.docker(&["run", "--name", "b", "busybox", "echo", "plain"]));
    assert_eq!(stdout(&d.docker(&["logs", "--details", "b"])), " plain\n");
    assert_eq!(stdout(&d.docker(&["logs", "b"])), "plain\n");
    // env-regex, and a tag with image fields.
    ok(d.docker(&[
        "run",
        "--name",
        "c",
        "-e",
        "APP_X=1",
        "-e",
        "APP_Y=2",
        "-e",
        "Z=3",
        "--log-opt",
        "env-regex=^APP_",
        "--log-opt",
        "tag={{.ImageName}} {{.DaemonName}}",
        "busybox",
        "echo",
        "r",
    ]));
    assert_eq!(
        stdout(&d.docker(&["logs", "--details", "c"])),
        "APP_X=1,APP_Y=2,tag=busybox+docker r\n"
    );
}
