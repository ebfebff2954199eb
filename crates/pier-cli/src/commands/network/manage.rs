//! `network create`, `rm`, `connect`, `disconnect`, `prune`.

use serde_json::{json, Map, Value};

use super::{ConnectArgs, CreateArgs, DisconnectArgs, PruneArgs, RmArgs};
use crate::client::{encode, parse_json, Query};
use crate::commands::{filters_json, CmdError, CmdResult, Ctx};
use crate::output;

/// `k=v` pairs (a bare `k` maps to "") as a JSON object.
fn kv_map(items: &[String]) -> Value {
    let mut m = Map::new();
    for i in items {
        let (k, v) = i.split_once('=').unwrap_or((i.as_str(), ""));
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
    Value::Object(m)
}

/// docker's `consolidateIpam` for the common case: one pool per `--subnet`,
/// the n-th `--gateway` and `--ip-range` with the n-th subnet.
fn ipam_config(a: &CreateArgs) -> Result<Vec<Value>, CmdError> {
    if a.subnet.is_empty() && (!a.gateway.is_empty() || !a.ip_range.is_empty()) {
        return Err(CmdError::new(
            1,
            "every ip-range or gateway must have a corresponding subnet",
        ));
    }
    if a.gateway.len() > a.subnet.len() || a.ip_range.len() > a.subnet.len() {
        return Err(CmdError::new(
            1,
            "every ip-range or gateway must have a corresponding subnet",
        ));
    }
    Ok(a.subnet
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut c = Map::new();
            c.insert("Subnet".into(), json!(s));
            if let Some(r) = a.ip_range.get(i) {
                c.insert("IPRange".into(), json!(r));
            }
            if let Some(g) = a.gateway.get(i) {
                c.insert("Gateway".into(), json!(g));
            }
            if !a.aux_address.is_empty() && i == 0 {
                c.insert("AuxiliaryAddresses".into(), kv_map(&a.aux_address));
            }
            Value::Object(c)
        })
        .collect())
}

pub async fn create(ctx: &Ctx, a: CreateArgs) -> CmdResult {
    ctx.require_exact(&a.args, 1)?;
    let mut body = json!({
        "Name": a.args[0],
        "Driver": a.driver,
        "Options": kv_map(&a.opt),
        "IPAM": {
            "Driver": a.ipam_driver,
            "Config": ipam_config(&a)?,
            "Options": kv_map(&a.ipam_opt),
        },
        "Internal": a.internal,
        "Attachable": a.attachable,
        "Ingress": a.ingress,
        "Scope": a.scope.clone().unwrap_or_default(),
        "ConfigOnly": a.config_only,
        "Labels": kv_map(&a.label),
    });
    if let Some(v) = a.ipv4 {
        body["EnableIPv4"] = json!(v);
    }
    if let Some(v) = a.ipv6 {
        body["EnableIPv6"] = json!(v);
    }
    if let Some(from) = &a.config_from {
        body["ConfigFrom"] = json!({ "Network": from });
    }
    let resp = ctx.client.post_json("/networks/create", &body).await?;
    let v = parse_json(&resp)?;
    output::outln(v.get("Id").and_then(Value::as_str).unwrap_or_default());
    Ok(())
}

pub async fn rm(ctx: &Ctx, a: RmArgs) -> CmdResult {
    ctx.require_min(&a.args, 1)?;
    let mut failed = false;
    for name in &a.args {
        match ctx
            .client
            .delete(&format!("/networks/{}", encode(name)))
            .await
        {
            Ok(_) => output::outln(name),
            Err(e) if a.force && e.is_not_found() => {}
            Err(e) => {
                output::errln(&e.to_string());
                failed = true;
            }
        }
    }
    if failed {
        return Err(CmdError::status(1));
    }
    Ok(())
}

pub async fn connect(ctx: &Ctx, a: ConnectArgs) -> CmdResult {
    ctx.require_exact(&a.args, 2)?;
    let mut ipam = Map::new();
    if let Some(ip) = &a.ip {
        ipam.insert("IPv4Address".into(), json!(ip));
    }
    if let Some(ip) = &a.ip6 {
        ipam.insert("IPv6Address".into(), json!(ip));
    }
    if !a.link_local_ip.is_empty() {
        ipam.insert("LinkLocalIPs".into(), json!(a.link_local_ip));
    }
    let opt = |v: &[String]| (!v.is_empty()).then(|| json!(v));
    let body = json!({
        "Container": a.args[1],
        "EndpointConfig": {
            "IPAMConfig": if ipam.is_empty() { Value::Null } else { Value::Object(ipam) },
            "Links": opt(&a.link),
            "Aliases": opt(&a.alias),
            "DriverOpts": if a.driver_opt.is_empty() { Value::Null } else { kv_map(&a.driver_opt) },
            "GwPriority": a.gw_priority.unwrap_or(0),
        },
    });
    ctx.client
        .post_json(&format!("/networks/{}/connect", encode(&a.args[0])), &body)
        .await?;
    Ok(())
}

pub async fn disconnect(ctx: &Ctx, a: DisconnectArgs) -> CmdResult {
    ctx.require_exact(&a.args, 2)?;
    let body = json!({ "Container": a.args[1], "Force": a.force });
    ctx.client
        .post_json(
            &format!("/networks/{}/disconnect", encode(&a.args[0])),
            &body,
        )
        .await?;
    Ok(())
}

const PRUNE_WARNING: &str = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ";

pub async fn prune(ctx: &Ctx, a: PruneArgs) -> CmdResult {
    ctx.no_args(&a.args)?;
    if !a.force {
        output::out(PRUNE_WARNING);
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        if !matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Ok(());
        }
    }
    let filters = filters_json(ctx, &a.filter)?;
    let q = Query::new().add_if(
        filters.is_some(),
        "filters",
        filters.clone().unwrap_or_default(),
    );
    let resp = ctx.client.post(&q.path("/networks/prune")).await?;
    let v = parse_json(&resp)?;
    let deleted: Vec<&str> = v
        .get("NetworksDeleted")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !deleted.is_empty() {
        let mut out = String::from("Deleted Networks:\n");
        for n in deleted {
            out.push_str(n);
            out.push('\n');
        }
        output::outln(&out);
    }
    Ok(())
}
