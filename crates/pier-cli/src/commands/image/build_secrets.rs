//! `pier build --secret id=x,src=PATH | id=x,env=VAR`: the values are read
//! here and sent in Pier's secrets header (the classic `/build` API has no
//! field for them). Only over the local Unix socket: a secret never goes
//! over a TCP connection.

use pier_builder::secrets::{Secrets, SECRETS_HEADER};

use crate::commands::{CmdError, Ctx};

fn parse_one(spec: &str) -> Result<(String, Vec<u8>), String> {
    let (mut id, mut src, mut env, mut typ) = (None, None, None, None);
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))?;
        match k.trim().to_ascii_lowercase().as_str() {
            "id" => id = Some(v.to_string()),
            "src" | "source" => src = Some(v.to_string()),
            "env" => env = Some(v.to_string()),
            "type" => typ = Some(v.to_string()),
            other => return Err(format!("unexpected key '{other}' in '{field}'")),
        }
    }
    let id = id
        .or_else(|| {
            src.as_deref()
                .and_then(|s| std::path::Path::new(s).file_name())
                .map(|n| n.to_string_lossy().into_owned())
        })
        .ok_or_else(|| format!("invalid secret {spec:?}: id is required"))?;
    if typ.as_deref() == Some("env") && env.is_none() {
        env = Some(src.take().unwrap_or_else(|| id.clone()));
    }
    if let Some(var) = env {
        let v = std::env::var_os(&var)
            .ok_or_else(|| format!("secret {id}: environment variable {var} is not set"))?;
        return Ok((id, v.into_encoded_bytes()));
    }
    // Neither given: the variable named like the id if set, else the file.
    let path = match src {
        Some(s) => s,
        None => match std::env::var_os(&id) {
            Some(v) => return Ok((id, v.into_encoded_bytes())),
            None => id.clone(),
        },
    };
    let value = std::fs::read(&path).map_err(|e| format!("secret {id}: reading {path}: {e}"))?;
    Ok((id, value))
}

/// The request headers carrying `--secret` values (none without).
pub fn header(ctx: &Ctx, specs: &[String]) -> Result<Vec<(&'static str, String)>, CmdError> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    if ctx.client.unix_socket().is_none() {
        return Err(CmdError::new(
            1,
            "--secret needs the daemon's local socket (unix://): Pier does not send secrets over TCP",
        ));
    }
    let mut secrets = Secrets::default();
    for s in specs {
        let (id, value) = parse_one(s).map_err(|e| CmdError::new(1, e))?;
        secrets.insert(id, value);
    }
    Ok(vec![(SECRETS_HEADER, secrets.to_header())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_specs() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tok.txt");
        std::fs::write(&f, "s3cret").unwrap();
        let (id, v) = parse_one(&format!("id=a,src={}", f.display())).unwrap();
        assert_eq!((id.as_str(), v.as_slice()), ("a", &b"s3cret"[..]));
        let (id, _) = parse_one(&format!("src={}", f.display())).unwrap();
        assert_eq!(id, "tok.txt");
        std::env::set_var("PIER_TEST_SECRET_VAR", "fromenv");
        let (_, v) = parse_one("id=b,env=PIER_TEST_SECRET_VAR").unwrap();
        assert_eq!(v, b"fromenv");
        assert!(parse_one("id=c,env=PIER_NO_SUCH_VAR_XYZ").is_err());
        assert!(parse_one("bogus").is_err());
    }
}
