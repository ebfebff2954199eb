//! `pier top` and `pier stats` (docker's table, columns and percent math).

use serde_json::Value;

use crate::cli::{StatsArgs, TopArgs};
use crate::client::{encode, Query};
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::format::tabwriter::TabWriter;
use crate::format::template::{ObjKind, Object, Value as TValue};
use crate::format::{self, Format, FormatError};
use crate::output;
use pier_api::human::{go_g, human_size_precision};

pub async fn top(ctx: &Ctx, a: TopArgs) -> CmdResult {
    ctx.require_min(&a.args, 1)?;
    let q = Query::new().add_if(a.args.len() > 1, "ps_args", a.args[1..].join(" "));
    let v = ctx
        .client
        .get_json(&q.path(&format!("/containers/{}/top", encode(&a.args[0]))))
        .await?;
    let mut text = String::new();
    let titles: Vec<&str> = v["Titles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    text.push_str(&titles.join("\t"));
    text.push('\n');
    for p in v["Processes"].as_array().into_iter().flatten() {
        let row: Vec<&str> = p
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        text.push_str(&row.join("\t"));
        text.push('\n');
    }
    let tw = TabWriter {
        minwidth: 20,
        padding: 3,
    };
    output::out(&tw.format(&text));
    Ok(())
}

/// go-units `BytesSize`: binary units, `%.4g`.
fn bytes_size(v: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut v = v;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", go_g(v, 4), UNITS[i])
}

fn u(v: &Value) -> f64 {
    v.as_u64().unwrap_or(0) as f64
}

/// One row of docker's stats table, computed like docker's CLI.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Row {
    /// The container as `stats` was asked for it (a name given on the
    /// command line, else the full ID): `{{.Container}}`.
    pub container: String,
    pub id: String,
    pub name: String,
    pub cpu: f64,
    pub mem: f64,
    pub limit: f64,
    pub mem_pct: f64,
    pub net: (f64, f64),
    pub block: (f64, f64),
    pub pids: u64,
}

pub fn row_from(v: &Value) -> Row {
    let cpu = &v["cpu_stats"];
    let pre = &v["precpu_stats"];
    let cpu_delta = u(&cpu["cpu_usage"]["total_usage"]) - u(&pre["cpu_usage"]["total_usage"]);
    let sys_delta = u(&cpu["system_cpu_usage"]) - u(&pre["system_cpu_usage"]);
    let mut online = u(&cpu["online_cpus"]);
    if online == 0.0 {
        online = cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(0.0, |a| a.len() as f64);
    }
    let cpu_pct = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let m = &v["memory_stats"];
    let usage = u(&m["usage"]);
    let cache = m["stats"]
        .get("total_inactive_file")
        .or_else(|| m["stats"].get("inactive_file"))
        .map(u)
        .unwrap_or(0.0);
    let mem = if cache < usage { usage - cache } else { usage };
    let limit = u(&m["limit"]);
    let mem_pct = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let mut net = (0.0, 0.0);
    if let Some(n) = v["networks"].as_object() {
        for i in n.values() {
            net.0 += u(&i["rx_bytes"]);
            net.1 += u(&i["tx_bytes"]);
        }
    }
    let mut block = (0.0, 0.0);
    for b in v["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match b["op"].as_str().map(|s| s.to_ascii_lowercase()) {
            Some(op) if op.starts_with('r') => block.0 += u(&b["value"]),
            Some(op) if op.starts_with('w') => block.1 += u(&b["value"]),
            _ => {}
        }
    }
    Row {
        container: String::new(),
        id: v["id"].as_str().unwrap_or_default().to_string(),
        name: v["name"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        cpu: cpu_pct,
        mem,
        limit,
        mem_pct,
        net,
        block,
        pids: v["pids_stats"]["current"].as_u64().unwrap_or(0),
    }
}

impl Row {
    fn field(&self, key: &str, no_trunc: bool) -> String {
        match key {
            "Container" if !self.container.is_empty() => self.container.clone(),
            "Container" | "ID" => {
                if no_trunc {
                    self.id.clone()
                } else {
                    self.id.chars().take(12).collect()
                }
            }
            "Name" if self.name.is_empty() => "--".into(),
            "Name" => self.name.clone(),
            "CPUPerc" => format!("{:.2}%", self.cpu),
            "MemUsage" => format!("{} / {}", bytes_size(self.mem), bytes_size(self.limit)),
            "MemPerc" => format!("{:.2}%", self.mem_pct),
            "NetIO" => format!(
                "{} / {}",
                human_size_precision(self.net.0, 3),
                human_size_precision(self.net.1, 3)
            ),
            "BlockIO" => format!(
                "{} / {}",
                human_size_precision(self.block.0, 3),
                human_size_precision(self.block.1, 3)
            ),
            "PIDs" => self.pids.to_string(),
            _ => String::new(),
        }
    }
}

const HEADERS: [(&str, &str); 9] = [
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

const DEFAULT_FORMAT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// Renders rows with docker's formatter: Go templates over the stats
/// context, `table ...` with its headers, `json`.
pub fn render(rows: &[Row], format: &str, no_trunc: bool) -> Result<String, FormatError> {
    let values: Vec<TValue> = rows.iter().map(|r| r.context(no_trunc)).collect();
    format::render(&Format::new(format), &format::header(&HEADERS), &values)
}

impl Row {
    /// docker's stats context; fields in its JSON order (sorted).
    fn context(&self, no_trunc: bool) -> TValue {
        let mut o = Object::new(ObjKind::Struct, "*formatter.statsContext");
        for k in [
            "BlockIO",
            "CPUPerc",
            "Container",
            "ID",
            "MemPerc",
            "MemUsage",
            "Name",
            "NetIO",
            "PIDs",
        ] {
            o = o.with(k, self.field(k, no_trunc));
        }
        TValue::from(o)
    }
}

async fn names(ctx: &Ctx, a: &StatsArgs) -> Result<Vec<String>, CmdError> {
    if !a.containers.is_empty() {
        return Ok(a.containers.clone());
    }
    let q = Query::new().add_if(a.all, "all", "1");
    let v = ctx.client.get_json(&q.path("/containers/json")).await?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        // docker shows these short IDs as {{.Container}}.
        .filter_map(|c| c["Id"].as_str().map(|id| id.chars().take(12).collect()))
        .collect())
}

async fn sample(ctx: &Ctx, name: &str) -> Result<Row, CmdError> {
    let q = Query::new().add("stream", "0");
    let v = ctx
        .client
        .get_json(&q.path(&format!("/containers/{}/stats", encode(name))))
        .await?;
    Ok(Row {
        container: name.to_string(),
        ..row_from(&v)
    })
}

pub async fn stats(ctx: &Ctx, a: StatsArgs) -> CmdResult {
    let format = a
        .format
        .clone()
        .filter(|f| !f.is_empty() && f != "table")
        .unwrap_or_else(|| DEFAULT_FORMAT.to_string());
    loop {
        let list = names(ctx, &a).await?;
        let rows = futures_util::future::join_all(list.iter().map(|n| sample(ctx, n))).await;
        let mut ok = Vec::new();
        for r in rows {
            match r {
                Ok(r) => ok.push(r),
                Err(e) if !a.containers.is_empty() => return Err(e),
                Err(_) => {}
            }
        }
        let text = render(&ok, &format, a.no_trunc)?;
        if a.no_stream {
            output::out(&text);
            return Ok(());
        }
        output::out(&format!("\x1b[2J\x1b[H{text}"));
        // Each sample already spans about a second on the daemon.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn docker_math_and_table() {
        let v = json!({
            "id": "0123456789abcdef", "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000u64}, "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000u64}, "system_cpu_usage": 10_000_000_000u64},
            "memory_stats": {"usage": 10_485_760u64, "limit": 104_857_600u64, "stats": {"inactive_file": 2_097_152u64}},
            "pids_stats": {"current": 3},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 0}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096}, {"op": "write", "value": 0}]}
        });
        let r = row_from(&v);
        assert!((r.cpu - 20.0).abs() < 1e-9);
        assert_eq!(r.mem, 8_388_608.0);
        assert_eq!(r.field("MemUsage", false), "8MiB / 100MiB");
        assert_eq!(r.field("MemPerc", false), "8.00%");
        assert_eq!(r.field("NetIO", false), "1.5kB / 0B");
        assert_eq!(r.field("BlockIO", false), "4.1kB / 0B");
        let t = render(&[r], DEFAULT_FORMAT, false).unwrap();
        assert_eq!(
            t.lines().next().unwrap(),
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O      BLOCK I/O    PIDS"
        );
        assert!(t
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("0123456789ab   web       20.00%    8MiB / 100MiB       8.00%"));
        assert_eq!(
            render(&[row_from(&v)], "{{.Name}}: {{.PIDs}}", false).unwrap(),
            "web: 3\n"
        );
    }
}
