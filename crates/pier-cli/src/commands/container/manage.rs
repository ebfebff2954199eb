//! `pier restart`, `rename`, `pause`, `unpause`, `port`.

use futures_util::future::join_all;

use crate::cli::{ContainersArgs, PortArgs, RenameArgs, StopArgs};
use crate::client::{encode, Query};
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::output;

pub async fn restart(ctx: &Ctx, a: StopArgs) -> CmdResult {
    ctx.require_min(&a.containers, 1)?;
    if a.time.is_some() && a.timeout.is_some() {
        return Err(CmdError::new(
            1,
            "conflicting options: cannot specify both --timeout and --time",
        ));
    }
    let timeout = a.timeout.or(a.time);
    let mut errs = Vec::new();
    for c in &a.containers {
        let path = Query::new()
            .add_if(
                a.signal.is_some(),
                "signal",
                a.signal.clone().unwrap_or_default(),
            )
            .add_if(timeout.is_some(), "t", timeout.unwrap_or(0).to_string())
            .path(&format!("/containers/{}/restart", encode(c)));
        match ctx.client.post(&path).await {
            Ok(_) => output::outln(c),
            Err(e) => errs.push(e.to_string()),
        }
    }
    CmdError::join(errs)
}

pub async fn rename(ctx: &Ctx, a: RenameArgs) -> CmdResult {
    ctx.require_exact(&a.args, 2)?;
    let (old, new) = (a.args[0].trim(), a.args[1].trim());
    if old.is_empty() || new.is_empty() {
        return Err(CmdError::new(
            1,
            "Error: Neither old nor new names may be empty",
        ));
    }
    let path = Query::new()
        .add("name", new)
        .path(&format!("/containers/{}/rename", encode(old)));
    if let Err(e) = ctx.client.post(&path).await {
        output::errln(&e.to_string());
        return Err(CmdError::new(
            1,
            format!("Error: failed to rename container named {old}"),
        ));
    }
    Ok(())
}

/// `pause` / `unpause`: in parallel, names printed in order.
pub async fn pause(ctx: &Ctx, a: ContainersArgs, verb: &str) -> CmdResult {
    ctx.require_min(&a.containers, 1)?;
    let client = &ctx.client;
    let results = join_all(a.containers.iter().map(|c| {
        let path = format!("/containers/{}/{verb}", encode(c));
        async move { client.post(&path).await }
    }))
    .await;
    let mut errs = Vec::new();
    for (c, r) in a.containers.iter().zip(results) {
        match r {
            Ok(_) => output::outln(c),
            Err(e) => errs.push(e.to_string()),
        }
    }
    CmdError::join(errs)
}

fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Go's `sortorder.NaturalLess`: digit runs compare as numbers.
fn natural_less(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let nx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let ny = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (sx, sy) = (&x[..nx], &y[..ny]);
                let tx = std::str::from_utf8(sx)
                    .unwrap_or("0")
                    .trim_start_matches('0');
                let ty = std::str::from_utf8(sy)
                    .unwrap_or("0")
                    .trim_start_matches('0');
                let o = tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty));
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
                x = &x[nx..];
                y = &y[ny..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

pub async fn port(ctx: &Ctx, a: PortArgs) -> CmdResult {
    if a.args.is_empty() || a.args.len() > 2 {
        return Err(CmdError::new(
            1,
            format!(
                "{}: '{}' requires at least 1 and at most 2 arguments\n\nUsage:  {}\n\nRun '{} --help' for more information",
                crate::commands::BIN,
                ctx.command_path(),
                ctx.usage(),
                ctx.command_path()
            ),
        ));
    }
    let name = &a.args[0];
    let c = ctx
        .client
        .get_json(&format!("/containers/{}/json", encode(name)))
        .await?;
    let ports = c
        .pointer("/NetworkSettings/Ports")
        .and_then(|p| p.as_object())
        .cloned()
        .unwrap_or_default();
    let frontend = |f: &serde_json::Value| {
        join_host_port(
            f.get("HostIp").and_then(|v| v.as_str()).unwrap_or_default(),
            f.get("HostPort")
                .and_then(|v| v.as_str())
                .unwrap_or_default(),
        )
    };
    let mut out: Vec<String> = Vec::new();
    if let Some(spec) = a.args.get(1) {
        let (port, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
        let proto = if proto.is_empty() { "tcp" } else { proto };
        if port.parse::<u16>().is_err() {
            return Err(CmdError::new(
                1,
                format!("Error: invalid port ({port}): strconv.ParseUint: parsing {port:?}: invalid syntax"),
            ));
        }
        let fronts = ports
            .get(&format!("{port}/{proto}"))
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        if fronts.is_empty() {
            return Err(CmdError::new(
                1,
                format!("Error: No public port '{spec}' published for {name}"),
            ));
        }
        out.extend(fronts.iter().map(frontend));
    } else {
        for (from, fronts) in &ports {
            for f in fronts.as_array().into_iter().flatten() {
                out.push(format!("{from} -> {}", frontend(f)));
            }
        }
    }
    if !out.is_empty() {
        out.sort_by(|a, b| natural_less(a, b));
        output::outln(&out.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec![
            "80/tcp -> 0.0.0.0:8080",
            "443/tcp -> 0.0.0.0:8443",
            "8080/tcp -> [::]:1",
        ];
        v.sort_by(|a, b| natural_less(a, b));
        assert_eq!(
            v,
            [
                "80/tcp -> 0.0.0.0:8080",
                "443/tcp -> 0.0.0.0:8443",
                "8080/tcp -> [::]:1"
            ]
        );
    }
}
