//! `docker import --change` / `docker commit --change`: Dockerfile-like
//! lines applied to an image's runtime config, as moby's
//! `BuildFromConfig` does for the instructions it allows.

use std::collections::HashMap;

use pier_api::models::{HealthConfig, ImageConfig};

use crate::error::{ImageError, Result};

const VALID: [&str; 11] = [
    "cmd",
    "entrypoint",
    "healthcheck",
    "env",
    "expose",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

fn err(msg: impl Into<String>) -> ImageError {
    ImageError::InvalidArgument(msg.into())
}

/// Applies `changes` to `config`.
pub fn apply_changes(mut config: ImageConfig, changes: &[String]) -> Result<ImageConfig> {
    let mut cmd_set = false;
    for line in changes.iter().flat_map(|c| c.lines()) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let instr = word.to_ascii_lowercase();
        let rest = rest.trim();
        if !VALID.contains(&instr.as_str()) {
            return Err(err(format!("{instr} is not a valid change command")));
        }
        let env = env_map(&config);
        match instr.as_str() {
            "cmd" => {
                config.cmd = Some(command(rest, &instr)?);
                cmd_set = true;
            }
            "entrypoint" => {
                config.entrypoint = Some(command(rest, &instr)?);
                // As in a Dockerfile: a new ENTRYPOINT drops an inherited CMD.
                if !cmd_set {
                    config.cmd = None;
                }
            }
            "env" => {
                for (k, v) in pairs(rest, &env, "ENV")? {
                    let list = config.env.get_or_insert_with(Vec::new);
                    let entry = format!("{k}={v}");
                    match list
                        .iter_mut()
                        .find(|e| e.split('=').next() == Some(k.as_str()))
                    {
                        Some(existing) => *existing = entry,
                        None => list.push(entry),
                    }
                }
            }
            "label" => {
                for (k, v) in pairs(rest, &env, "LABEL")? {
                    config.labels.get_or_insert_with(HashMap::new).insert(k, v);
                }
            }
            "expose" => {
                let ports = config.exposed_ports.get_or_insert_with(Vec::new);
                for word in words(rest, &env)? {
                    for p in expand_ports(&word)? {
                        if !ports.contains(&p) {
                            ports.push(p);
                        }
                    }
                }
            }
            "volume" => {
                let list = match json_array(rest) {
                    Some(v) => v,
                    None => words(rest, &env)?,
                };
                if list.is_empty() {
                    return Err(err("VOLUME specified can not be an empty string"));
                }
                let vols = config.volumes.get_or_insert_with(Vec::new);
                for v in list {
                    if v.trim().is_empty() {
                        return Err(err("VOLUME specified can not be an empty string"));
                    }
                    if !vols.contains(&v) {
                        vols.push(v);
                    }
                }
            }
            "workdir" => {
                let dir = single(rest, &env, "WORKDIR")?;
                let base = config.working_dir.clone().unwrap_or_default();
                config.working_dir = Some(join_workdir(&base, &dir));
            }
            "user" => config.user = Some(single(rest, &env, "USER")?),
            "stopsignal" => config.stop_signal = Some(single(rest, &env, "STOPSIGNAL")?),
            "onbuild" => {
                let trigger = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                match trigger.as_str() {
                    "" => return Err(err("ONBUILD requires at least one argument")),
                    "ONBUILD" => {
                        return Err(err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"))
                    }
                    "FROM" | "MAINTAINER" => {
                        return Err(err(format!(
                            "{trigger} isn't allowed as an ONBUILD trigger"
                        )))
                    }
                    _ => config
                        .on_build
                        .get_or_insert_with(Vec::new)
                        .push(rest.to_string()),
                }
            }
            "healthcheck" => config.healthcheck = Some(healthcheck(rest)?),
            _ => {}
        }
    }
    Ok(config)
}

fn env_map(config: &ImageConfig) -> HashMap<String, String> {
    config
        .env
        .iter()
        .flatten()
        .filter_map(|e| {
            e.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(s).ok()
}

/// Exec form (`["a","b"]`) as is, shell form through `/bin/sh -c`.
fn command(rest: &str, instr: &str) -> Result<Vec<String>> {
    if let Some(v) = json_array(rest) {
        return Ok(v);
    }
    if rest.is_empty() {
        return Err(err(format!(
            "{} requires at least one argument",
            instr.to_ascii_uppercase()
        )));
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.to_string()])
}

fn single(rest: &str, env: &HashMap<String, String>, instr: &str) -> Result<String> {
    let w = words(rest, env)?;
    match w.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(err(format!("{instr} requires exactly one argument"))),
        _ => Ok(w.join(" ")),
    }
}

/// `k=v k2="v 2"`, or the legacy `k v with spaces`.
fn pairs(rest: &str, env: &HashMap<String, String>, instr: &str) -> Result<Vec<(String, String)>> {
    let first = rest.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| err(format!("{instr} must have two arguments")))?;
        let v = words(v.trim(), env)?.join(" ");
        return Ok(vec![(k.to_string(), v)]);
    }
    let mut out = Vec::new();
    for w in words(rest, env)? {
        let (k, v) = w.split_once('=').ok_or_else(|| {
            err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            ))
        })?;
        if k.is_empty() {
            return Err(err(format!("{instr} names can not be blank")));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// Shell-like words: quotes group, `\` escapes, `$VAR`/`${VAR}` expand
/// (not inside single quotes).
fn words(s: &str, env: &HashMap<String, String>) -> Result<Vec<String>> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                i += 1;
            }
            '\'' => {
                in_word = true;
                let end = chars[i + 1..]
                    .iter()
                    .position(|x| *x == '\'')
                    .ok_or_else(|| {
                        err("unexpected end of statement while looking for matching single-quote")
                    })?;
                cur.extend(&chars[i + 1..i + 1 + end]);
                i += end + 2;
            }
            '"' => {
                in_word = true;
                i += 1;
                loop {
                    let Some(&d) = chars.get(i) else {
                        return Err(err(
                            "unexpected end of statement while looking for matching double-quote",
                        ));
                    };
                    match d {
                        '"' => {
                            i += 1;
                            break;
                        }
                        '\\' if matches!(chars.get(i + 1), Some('"' | '\\' | '$')) => {
                            cur.push(chars[i + 1]);
                            i += 2;
                        }
                        '$' => i = expand(&chars, i, env, &mut cur),
                        other => {
                            cur.push(other);
                            i += 1;
                        }
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(&n) = chars.get(i + 1) {
                    cur.push(n);
                }
                i += 2;
            }
            '$' => {
                in_word = true;
                i = expand(&chars, i, env, &mut cur);
            }
            other => {
                in_word = true;
                cur.push(other);
                i += 1;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Expands the variable at `chars[i] == '$'`; returns the index after it.
fn expand(chars: &[char], i: usize, env: &HashMap<String, String>, out: &mut String) -> usize {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if chars.get(i + 1) == Some(&'{') {
        let Some(close) = chars[i + 2..].iter().position(|c| *c == '}') else {
            out.push('$');
            return i + 1;
        };
        let inner: String = chars[i + 2..i + 2 + close].iter().collect();
        let (name, op) = match inner.find(":-").or_else(|| inner.find(":+")) {
            Some(p) => (&inner[..p], Some((&inner[p..p + 2], &inner[p + 2..]))),
            None => (inner.as_str(), None),
        };
        let val = env.get(name).filter(|v| !v.is_empty());
        match op {
            Some((":-", word)) => out.push_str(val.map(String::as_str).unwrap_or(word)),
            Some((_, word)) => out.push_str(if val.is_some() { word } else { "" }),
            None => out.push_str(env.get(name).map(String::as_str).unwrap_or("")),
        }
        return i + 3 + close;
    }
    let len = chars[i + 1..].iter().take_while(|c| is_name(**c)).count();
    if len == 0 {
        out.push('$');
        return i + 1;
    }
    let name: String = chars[i + 1..i + 1 + len].iter().collect();
    out.push_str(env.get(&name).map(String::as_str).unwrap_or(""));
    i + 1 + len
}

fn expand_ports(word: &str) -> Result<Vec<String>> {
    let (ports, proto) = word.split_once('/').unwrap_or((word, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(err(format!("invalid proto: {proto}")));
    }
    let bad = || err(format!("invalid containerPort: {ports}"));
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = ports.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

fn join_workdir(base: &str, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!("{}/{dir}", if base.is_empty() { "/" } else { base })
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn duration_ns(v: &str, flag: &str) -> Result<i64> {
    let bad = || err(format!("invalid value for {flag}: {v}"));
    let mut total = 0f64;
    let mut rest = v;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let num: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += num * mult;
        rest = &rest[u..];
    }
    Ok(total as i64)
}

fn healthcheck(rest: &str) -> Result<HealthConfig> {
    if rest.eq_ignore_ascii_case("none") {
        return Ok(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        });
    }
    let mut hc = HealthConfig::default();
    let mut rest = rest;
    while let Some(opt) = rest.strip_prefix("--") {
        let (flag, after) = opt.split_once(char::is_whitespace).unwrap_or((opt, ""));
        let (name, value) = flag
            .split_once('=')
            .ok_or_else(|| err(format!("missing value for --{flag}")))?;
        match name {
            "interval" => hc.interval = Some(duration_ns(value, name)?),
            "timeout" => hc.timeout = Some(duration_ns(value, name)?),
            "start-period" => hc.start_period = Some(duration_ns(value, name)?),
            "start-interval" => hc.start_interval = Some(duration_ns(value, name)?),
            "retries" => {
                hc.retries = Some(
                    value
                        .parse()
                        .map_err(|_| err(format!("invalid value for retries: {value}")))?,
                )
            }
            other => return Err(err(format!("unknown flag: {other}"))),
        }
        rest = after.trim_start();
    }
    let (word, cmd) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if !word.eq_ignore_ascii_case("cmd") {
        return Err(err(format!(
            "Unknown type {word:?} in HEALTHCHECK (try CMD)"
        )));
    }
    let cmd = cmd.trim();
    hc.test = Some(match json_array(cmd) {
        Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
        None => vec!["CMD-SHELL".into(), cmd.to_string()],
    });
    Ok(hc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(lines: &[&str]) -> Result<ImageConfig> {
        apply_changes(
            ImageConfig::default(),
            &lines.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    }

    #[test]
    fn typical_changes() {
        let c = apply(&[
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "ENV PATH=/bin FOO=\"a b\"",
            "ENV BAR $FOO!",
            "WORKDIR /app",
            "WORKDIR sub/..//x",
            "USER nobody",
            "LABEL a=1 \"b c\"=2",
            "EXPOSE 80 53/udp 8000-8001",
            "VOLUME /data /logs",
            "STOPSIGNAL SIGTERM",
            "ENTRYPOINT /bin/init",
            "HEALTHCHECK --interval=5s --retries=3 CMD true",
        ])
        .unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["sh", "-c", "echo hi"]);
        assert_eq!(c.env.unwrap(), vec!["PATH=/bin", "FOO=a b", "BAR=a b!"]);
        assert_eq!(c.working_dir.unwrap(), "/app/x");
        assert_eq!(c.user.unwrap(), "nobody");
        let labels = c.labels.unwrap();
        assert_eq!(labels["a"], "1");
        assert_eq!(labels["b c"], "2");
        assert_eq!(
            c.exposed_ports.unwrap(),
            vec!["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]
        );
        assert_eq!(c.volumes.unwrap(), vec!["/data", "/logs"]);
        assert_eq!(c.stop_signal.unwrap(), "SIGTERM");
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh", "-c", "/bin/init"]);
        let hc = c.healthcheck.unwrap();
        assert_eq!(hc.test.unwrap(), vec!["CMD-SHELL", "true"]);
        assert_eq!(hc.interval, Some(5_000_000_000));
        assert_eq!(hc.retries, Some(3));
    }

    #[test]
    fn entrypoint_resets_inherited_cmd() {
        let base = ImageConfig {
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        };
        let c = apply_changes(base, &["ENTRYPOINT [\"/x\"]".into()]).unwrap();
        assert_eq!(c.cmd, None);
    }

    #[test]
    fn rejects_build_only_instructions() {
        let e = apply(&["RUN echo"]).unwrap_err();
        assert_eq!(e.to_string(), "run is not a valid change command");
        assert_eq!(e.status_code(), 400);
        assert!(apply(&["EXPOSE abc"]).is_err());
        assert!(apply(&["ENV \"unterminated"]).is_err());
    }
}
