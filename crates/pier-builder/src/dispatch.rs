//! What metadata instructions do to the image config (`config` object of
//! the image JSON): ENV, LABEL, EXPOSE, CMD, ENTRYPOINT, VOLUME, USER,
//! WORKDIR, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, MAINTAINER.

use serde_json::{json, Map, Value};

use crate::error::{BuildError, Result};
use crate::parser::Instruction;
use crate::shell::{split_raw, Lexer, Lookup};

pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// The `config` object of an image config, created if missing.
pub fn cfg(image: &mut Value) -> &mut Map<String, Value> {
    if !image.is_object() {
        *image = json!({});
    }
    let obj = image.as_object_mut().expect("just made an object");
    let c = obj.entry("config").or_insert_with(|| json!({}));
    if !c.is_object() {
        *c = json!({});
    }
    c.as_object_mut().expect("just made an object")
}

pub fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn shell_of(image: &Value) -> Vec<String> {
    let s = strings(image.pointer("/config/Shell"));
    if s.is_empty() {
        DEFAULT_SHELL.iter().map(|s| s.to_string()).collect()
    } else {
        s
    }
}

/// Looks a variable up in the config's Env.
pub fn env_get(image: &Value, name: &str) -> Option<String> {
    strings(image.pointer("/config/Env"))
        .iter()
        .rev()
        .find_map(|kv| match kv.split_once('=') {
            Some((k, v)) if k == name => Some(v.to_string()),
            _ => None,
        })
}

pub fn env_set(image: &mut Value, name: &str, value: &str) {
    let c = cfg(image);
    let mut env = strings(c.get("Env"));
    let entry = format!("{name}={value}");
    match env
        .iter()
        .position(|kv| kv.split_once('=').map(|x| x.0) == Some(name))
    {
        Some(i) => env[i] = entry,
        None => env.push(entry),
    }
    c.insert("Env".into(), json!(env));
}

fn err(inst: &Instruction, msg: impl Into<String>) -> BuildError {
    BuildError::parse(inst.line, msg)
}

/// `k=v ...` pairs (or the legacy `k v` form) with expansion.
pub fn key_values(lexer: &Lexer, inst: &Instruction, env: Lookup) -> Result<Vec<(String, String)>> {
    let keyword = inst.keyword();
    let words = split_raw(&inst.args, lexer.escape);
    let Some(first) = words.first() else {
        return Err(err(
            inst,
            format!("{keyword} requires at least one argument"),
        ));
    };
    if !first.contains('=') {
        // Legacy `ENV key value with spaces`.
        let rest = inst.args.trim_start()[first.len()..].trim();
        if rest.is_empty() {
            return Err(err(inst, format!("{keyword} must have two arguments")));
        }
        let key = lexer.word(first, env).map_err(|e| err(inst, e))?;
        let value = lexer.word(rest, env).map_err(|e| err(inst, e))?;
        return Ok(vec![(key, value)]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(err(
                inst,
                format!("Syntax error - can't find = in {w:?}. Must be of the form: name=value"),
            ));
        };
        let key = lexer.word(k, env).map_err(|e| err(inst, e))?;
        if key.is_empty() {
            return Err(err(inst, format!("{keyword} names can not be blank")));
        }
        let value = lexer.word(v, env).map_err(|e| err(inst, e))?;
        out.push((key, value));
    }
    Ok(out)
}

/// Expanded words of an instruction (JSON form or whitespace separated).
pub fn expanded_words(lexer: &Lexer, inst: &Instruction, env: Lookup) -> Result<Vec<String>> {
    let raw = match inst.json_args() {
        Some(v) => v,
        None => split_raw(&inst.args, lexer.escape),
    };
    raw.iter()
        .map(|w| lexer.word(w, env).map_err(|e| err(inst, e)))
        .collect()
}

/// CMD/ENTRYPOINT/RUN arguments: exec form as is, shell form wrapped in SHELL.
pub fn command_args(inst: &Instruction, image: &Value) -> Vec<String> {
    match inst.json_args() {
        Some(v) => v,
        None => {
            let mut s = shell_of(image);
            s.push(inst.args.clone());
            s
        }
    }
}

/// Go's time.ParseDuration, for HEALTHCHECK flags; nanoseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Some(total as i64)
}

fn ports(words: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for w in words {
        let (p, proto) = match w.split_once('/') {
            Some((p, proto)) => (p, proto.to_ascii_lowercase()),
            None => (w.as_str(), "tcp".to_string()),
        };
        let range = match p.split_once('-') {
            Some((a, b)) => (a.parse::<u16>(), b.parse::<u16>()),
            None => (p.parse::<u16>(), p.parse::<u16>()),
        };
        match range {
            (Ok(a), Ok(b)) if a <= b => {
                for port in a..=b {
                    out.push(format!("{port}/{proto}"));
                }
            }
            _ => return Err(BuildError::Invalid(format!("invalid containerPort: {p}"))),
        }
    }
    Ok(out)
}

/// Applies a metadata instruction to `image`. Returns false if `inst` is
/// not a metadata instruction. `cmd_set` tracks whether CMD was set in this
/// stage (ENTRYPOINT resets an inherited CMD).
pub fn apply_metadata(
    lexer: &Lexer,
    inst: &Instruction,
    image: &mut Value,
    env: Lookup,
    cmd_set: &mut bool,
) -> Result<bool> {
    match inst.cmd.as_str() {
        "env" => {
            for (k, v) in key_values(lexer, inst, env)? {
                env_set(image, &k, &v);
            }
        }
        "label" => {
            let kvs = key_values(lexer, inst, env)?;
            let c = cfg(image);
            let labels = c.entry("Labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            if let Some(m) = labels.as_object_mut() {
                for (k, v) in kvs {
                    m.insert(k, json!(v));
                }
            }
        }
        "maintainer" => {
            let who = lexer
                .word(inst.args.trim(), env)
                .map_err(|e| err(inst, e))?;
            if let Some(o) = image.as_object_mut() {
                o.insert("author".into(), json!(who));
            }
        }
        "expose" => {
            let words = expanded_words(lexer, inst, env)?;
            let c = cfg(image);
            let e = c.entry("ExposedPorts").or_insert_with(|| json!({}));
            if !e.is_object() {
                *e = json!({});
            }
            if let Some(m) = e.as_object_mut() {
                for p in ports(&words)? {
                    m.insert(p, json!({}));
                }
            }
        }
        "volume" => {
            let words = expanded_words(lexer, inst, env)?;
            if words.iter().any(|w| w.trim().is_empty()) {
                return Err(err(inst, "VOLUME specified can not be an empty string"));
            }
            let c = cfg(image);
            let e = c.entry("Volumes").or_insert_with(|| json!({}));
            if !e.is_object() {
                *e = json!({});
            }
            if let Some(m) = e.as_object_mut() {
                for w in words {
                    m.insert(w, json!({}));
                }
            }
        }
        "user" => {
            let u = lexer
                .word(inst.args.trim(), env)
                .map_err(|e| err(inst, e))?;
            cfg(image).insert("User".into(), json!(u));
        }
        "stopsignal" => {
            let s = lexer
                .word(inst.args.trim(), env)
                .map_err(|e| err(inst, e))?;
            cfg(image).insert("StopSignal".into(), json!(s));
        }
        "cmd" => {
            let args = command_args(inst, image);
            cfg(image).insert("Cmd".into(), json!(args));
            *cmd_set = true;
        }
        "entrypoint" => {
            let args = command_args(inst, image);
            let c = cfg(image);
            c.insert("Entrypoint".into(), json!(args));
            if !*cmd_set {
                c.insert("Cmd".into(), Value::Null);
            }
        }
        "shell" => {
            let Some(v) = inst.json_args() else {
                return Err(err(inst, "SHELL requires the arguments to be in JSON form"));
            };
            if v.is_empty() {
                return Err(err(inst, "SHELL requires at least one argument"));
            }
            cfg(image).insert("Shell".into(), json!(v));
        }
        "onbuild" => {
            let trigger = inst.args.trim().to_string();
            let c = cfg(image);
            let mut v = strings(c.get("OnBuild"));
            v.push(trigger);
            c.insert("OnBuild".into(), json!(v));
        }
        "healthcheck" => {
            let words = split_raw(&inst.args, lexer.escape);
            let kind = words
                .first()
                .map(|w| w.to_ascii_uppercase())
                .unwrap_or_default();
            let hc = match kind.as_str() {
                "NONE" => {
                    if words.len() > 1 {
                        return Err(err(inst, "HEALTHCHECK NONE takes no arguments"));
                    }
                    json!({ "Test": ["NONE"] })
                }
                "CMD" => {
                    let rest = inst.args.trim_start()[3..].trim();
                    let test: Vec<String> = match serde_json::from_str::<Vec<String>>(rest) {
                        Ok(v) if rest.starts_with('[') => {
                            std::iter::once("CMD".to_string()).chain(v).collect()
                        }
                        _ => vec!["CMD-SHELL".into(), rest.to_string()],
                    };
                    if test.len() < 2 || test[1..].iter().all(|a| a.is_empty()) {
                        return Err(err(inst, "Missing command after HEALTHCHECK CMD"));
                    }
                    let mut hc = json!({ "Test": test });
                    for (flag, field) in [
                        ("interval", "Interval"),
                        ("timeout", "Timeout"),
                        ("start-period", "StartPeriod"),
                        ("start-interval", "StartInterval"),
                    ] {
                        if let Some(v) = inst.flag(flag) {
                            let d = parse_duration(&v).ok_or_else(|| {
                                err(inst, format!("time: invalid duration \"{v}\""))
                            })?;
                            // Zero is left out (Docker omits it); a
                            // non-zero value must be at least 1ms.
                            if d != 0 && d < 1_000_000 {
                                return Err(err(
                                    inst,
                                    format!("Interval \"{flag}\" cannot be less than 1ms"),
                                ));
                            }
                            if d != 0 {
                                hc[field] = json!(d);
                            }
                        }
                    }
                    if let Some(r) = inst.flag("retries") {
                        let n: i64 = r.parse().map_err(|_| {
                            err(
                                inst,
                                format!("strconv.ParseInt: parsing \"{r}\": invalid syntax"),
                            )
                        })?;
                        if n < 0 {
                            return Err(err(inst, format!("--retries cannot be negative ({n})")));
                        }
                        if n != 0 {
                            hc["Retries"] = json!(n);
                        }
                    }
                    hc
                }
                other => {
                    return Err(err(
                        inst,
                        format!("Unknown type {other:?} in HEALTHCHECK (try CMD)"),
                    ))
                }
            };
            cfg(image).insert("Healthcheck".into(), hc);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn run(df: &str, image: &mut Value) {
        let df = parse(df).unwrap();
        let lexer = Lexer::new(df.escape);
        let mut cmd_set = false;
        for inst in &df.instructions[1..] {
            let snapshot = image.clone();
            let env = move |n: &str| env_get(&snapshot, n);
            assert!(apply_metadata(&lexer, inst, image, &env, &mut cmd_set).unwrap());
        }
    }

    #[test]
    fn env_label_expose() {
        let mut img = json!({"config": {"Env": ["PATH=/bin"]}});
        run(
            "FROM x\nENV A=1 B=\"two words\"\nENV C $A-${B}\nLABEL \"k\"=v other=\"x y\"\nEXPOSE 80 53/udp 8000-8001\nUSER ${A}\nSTOPSIGNAL SIGINT\nVOLUME /data [\"x\"]\n",
            &mut img,
        );
        let c = &img["config"];
        assert_eq!(
            c["Env"],
            json!(["PATH=/bin", "A=1", "B=two words", "C=1-two words"])
        );
        assert_eq!(c["Labels"], json!({"k": "v", "other": "x y"}));
        assert_eq!(
            c["ExposedPorts"],
            json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
        );
        assert_eq!(c["User"], "1");
        assert_eq!(c["StopSignal"], "SIGINT");
    }

    #[test]
    fn cmd_entrypoint_shell() {
        let mut img = json!({"config": {"Cmd": ["sh"]}});
        run("FROM x\nENTRYPOINT [\"/bin/echo\"]\n", &mut img);
        assert_eq!(img["config"]["Cmd"], Value::Null);
        let mut img = json!({"config": {"Cmd": ["sh"]}});
        run(
            "FROM x\nCMD [\"a\"]\nENTRYPOINT echo hi\nSHELL [\"/bin/bash\", \"-c\"]\nCMD echo x\n",
            &mut img,
        );
        assert_eq!(
            img["config"]["Entrypoint"],
            json!(["/bin/sh", "-c", "echo hi"])
        );
        assert_eq!(img["config"]["Cmd"], json!(["/bin/bash", "-c", "echo x"]));
    }

    #[test]
    fn healthcheck() {
        let mut img = json!({});
        run(
            "FROM x\nHEALTHCHECK --interval=5s --timeout=1m30s --retries=3 CMD wget -q localhost\n",
            &mut img,
        );
        assert_eq!(
            img["config"]["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "wget -q localhost"], "Interval": 5_000_000_000i64, "Timeout": 90_000_000_000i64, "Retries": 3})
        );
        run("FROM x\nHEALTHCHECK NONE\n", &mut img);
        assert_eq!(img["config"]["Healthcheck"], json!({"Test": ["NONE"]}));
        assert_eq!(parse_duration("1h2m3.5s"), Some(3_723_500_000_000));
        assert_eq!(parse_duration("5x"), None);
        // Zero values are left out, as Docker's JSON omits them.
        run(
            "FROM x\nHEALTHCHECK --interval=0s --retries=0 CMD [\"true\"]\n",
            &mut img,
        );
        assert_eq!(
            img["config"]["Healthcheck"],
            json!({"Test": ["CMD", "true"]})
        );
    }

    #[test]
    fn healthcheck_errors() {
        let fail = |df: &str| {
            let df = parse(df).unwrap();
            let lexer = Lexer::new(df.escape);
            let mut img = json!({});
            let mut cmd_set = false;
            let env = |_: &str| None;
            apply_metadata(&lexer, &df.instructions[1], &mut img, &env, &mut cmd_set)
                .unwrap_err()
                .to_string()
        };
        let e = fail("FROM x\nHEALTHCHECK --interval=1us CMD true\n");
        assert!(
            e.contains("Interval \"interval\" cannot be less than 1ms"),
            "{e}"
        );
        let e = fail("FROM x\nHEALTHCHECK --retries=-2 CMD true\n");
        assert!(e.contains("--retries cannot be negative (-2)"), "{e}");
        let e = fail("FROM x\nHEALTHCHECK CMD []\n");
        assert!(e.contains("Missing command after HEALTHCHECK CMD"), "{e}");
    }
}
