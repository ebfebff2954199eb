//! Log drivers and options: json-file rotation (`max-size`/`max-file`),
//! `local`, `none`, and `logs --since/--until/--details`.
mod common;
use common::*;

fn container_dir(d: &Daemon, name: &str) -> std::path::PathBuf {
    let id = ok(d.docker(&["inspect", "-f", "{{.Id}}", name]));
    let log = ok(d.docker(&["inspect", "-f", "{{.LogPath}}", name]));
    let p = std::path::PathBuf::from(log);
    assert!(p.to_string_lossy().contains(&id));
    p.parent().unwrap().to_path_buf()
}

fn log_files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("-json.log"))
        .collect();
    v.sort();
    v
}

#[test]
fn json_file_rotation_keeps_max_file() {
    let d = Daemon::start();
    let out = d.docker(&[
        "run",
        "--name",
        "r",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let dir = container_dir(&d, "r");
    let files = log_files(&dir);
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        let len = std::fs::metadata(dir.join(f)).unwrap().len();
        assert!(len <= 1000, "{f}: {len}");
    }
    // logs reads the rotated files oldest first, then the live one
    let logs = ok(d.docker(&["logs", "r"]));
    let nums: Vec<u32> = logs
        .lines()
        .map(|l| l.trim_start_matches("line").parse().unwrap())
        .collect();
    assert!(nums.len() > 20 && nums.len() < 300, "{}", nums.len());
    assert_eq!(*nums.last().unwrap(), 299);
    assert!(
        nums.windows(2).all(|w| w[1] == w[0] + 1),
        "contiguous: {nums:?}"
    );
    // --tail reaches into the rotated files
    let tail = ok(d.pier(&["logs", "--tail", "25", "r"]));
    let expect: Vec<String> = (275..300).map(|i| format!("line{i}")).collect();
    assert_eq!(tail.lines().collect::<Vec<_>>(), expect);
    let out = d.docker(&["run", "--rm", "--log-opt", "max-file=0", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("max-file cannot be less than 1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn follow_across_rotation() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "f",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=5",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; i=0; while [ $i -lt 150 ]; do echo line$i; i=$((i+1)); sleep 0.01; done",
    ]));
    let out = ok(d.docker(&["logs", "-f", "f"]));
    let expect: Vec<String> = (0..150).map(|i| format!("line{i}")).collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), expect);
    assert!(log_files(&container_dir(&d, "f")).len() > 1);
}

#[test]
fn local_and_none_drivers() {
    let d = Daemon::start();
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--name",
            "l",
            "--log-driver",
            "local",
            "busybox",
            "echo",
            "kept"
        ])),
        "kept"
    );
    assert_eq!(ok(d.docker(&["logs", "l"])), "kept");
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.HostConfig.LogConfig.Type}}", "l"])),
        "local"
    );
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--name",
            "n",
            "--log-driver",
            "none",
            "busybox",
            "echo",
            "gone"
        ])),
        "gone"
    );
    let out = d.docker(&["logs", "n"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("configured logging driver does not support reading"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn since_until_details() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "--name",
        "t",
        "busybox",
        "sh",
        "-c",
        "echo first; sleep 1.5; echo second",
    ]));
    let stamped = ok(d.docker(&["logs", "-t", "t"]));
    let times: Vec<&str> = stamped
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(times.len(), 2);
    // --since the second line's time, --until the first's
    assert_eq!(ok(d.docker(&["logs", "--since", times[1], "t"])), "second");
    assert_eq!(ok(d.docker(&["logs", "--until", times[0], "t"])), "first");
    assert_eq!(ok(d.pier(&["logs", "--since", times[1], "t"])), "second");
    // --details: attributes (none here) and a space before each line
    let out = d.docker(&["logs", "--details", "t"]);
    assert_eq!(stdout(&out), " first\n second\n");
}
