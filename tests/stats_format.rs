//! `stats --format`: Go templates, `table ...` and `json`, printed by
//! `pier` exactly as the real docker CLI prints them against the same
//! daemon (the fields that do not change between two samples compared
//! as text, the others by shape).
mod common;
use common::*;

fn both(d: &Daemon, args: &[&str]) -> (String, String) {
    let mut a = vec!["stats", "--no-stream"];
    a.extend_from_slice(args);
    (stdout(&d.pier(&a)), stdout(&d.docker(&a)))
}

#[test]
fn stats_format_templates_table_and_json() {
    let d = Daemon::start();
    let id = ok(d.docker(&["run", "-d", "--name", "s1", "busybox", "sleep", "1000"]));
    ok(d.docker(&["run", "-d", "--name", "s2", "busybox", "sleep", "1000"]));

    let stable = "{{.Name}} {{.Container}} {{.ID}} {{.PIDs}}";
    let (p, k) = both(&d, &["--format", stable, "s1", "s2"]);
    assert_eq!(p, k);
    assert_eq!(
        p,
        format!("s1 s1 {} 1\n", &id[..12]) + &p[p.find('\n').unwrap() + 1..]
    );
    // Without arguments {{.Container}} is the short ID, as docker prints it.
    let (p, k) = both(&d, &["--format", "{{.Container}} {{.Name}}"]);
    let mut p: Vec<&str> = p.lines().collect();
    let mut k: Vec<&str> = k.lines().collect();
    p.sort();
    k.sort();
    assert_eq!(p, k);
    assert!(p.contains(&format!("{} s1", &id[..12]).as_str()), "{p:?}");

    let (p, k) = both(
        &d,
        &[
            "--format",
            "table {{.Name}}\t{{.Container}}\t{{.PIDs}}",
            "s1",
        ],
    );
    assert_eq!(p, k);
    assert_eq!(p, "NAME      CONTAINER   PIDS\ns1        s1          1\n");
    let (p, k) = both(
        &d,
        &[
            "--format",
            "table {{.ID}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}",
            "s1",
        ],
    );
    assert_eq!(p.lines().next(), k.lines().next());
    assert!(
        p.starts_with("CONTAINER ID   CPU %     MEM USAGE / LIMIT   MEM %     NET I/O"),
        "{p}"
    );
    let row: Vec<&str> = p.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[0], &id[..12]);
    assert!(row[1].ends_with('%') && row[5].ends_with('%'), "{row:?}");
    assert_eq!(row[3], "/");

    // json: one object per container with docker's keys.
    let (p, k) = both(&d, &["--format", "json", "s1"]);
    let pj: serde_json::Value = serde_json::from_str(p.trim()).unwrap();
    let kj: serde_json::Value = serde_json::from_str(k.trim()).unwrap();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&pj), keys(&kj));
    assert_eq!(
        keys(&pj),
        [
            "BlockIO",
            "CPUPerc",
            "Container",
            "ID",
            "MemPerc",
            "MemUsage",
            "Name",
            "NetIO",
            "PIDs"
        ]
    );
    for f in ["Container", "ID", "Name", "PIDs"] {
        assert_eq!(pj[f], kj[f], "{f}");
    }
    // The key order too: text before the first changing value.
    assert_eq!(
        &p[..p.find("\"CPUPerc\"").unwrap()],
        &k[..k.find("\"CPUPerc\"").unwrap()]
    );
    // Template functions and a bad template.
    let (p, k) = both(&d, &["--format", "{{upper .Name}}:{{json .PIDs}}", "s1"]);
    assert_eq!((p.as_str(), k.as_str()), ("S1:\"1\"\n", "S1:\"1\"\n"));
    let o = d.pier(&["stats", "--no-stream", "--format", "{{.Nope", "s1"]);
    assert_ne!(o.status.code(), Some(0));
}
