//! `pier login` / `pier logout`: credentials are checked by the daemon
//! (`POST /auth`) and stored like the docker CLI stores them
//! (config.json `auths`, or the configured credential helper).

use std::io::{BufRead, IsTerminal, Write};

use pier_registry::config_file::{default_dir, server_key, ConfigFile};
use pier_registry::Credentials;

use crate::cli::{LoginArgs, LogoutArgs};
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::output;

/// `SERVER` as typed → the domain references use (`docker.io` for the hub).
fn domain_of(server: Option<&String>) -> String {
    let Some(s) = server else {
        return "docker.io".into();
    };
    let host = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s)
        .split('/')
        .next()
        .unwrap_or_default();
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

fn prompt(label: &str) -> Result<String, CmdError> {
    output::out(label);
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CmdError::new(1, e.to_string()))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub async fn login(ctx: &Ctx, a: LoginArgs) -> CmdResult {
    ctx.require_max(&a.args, 1)?;
    if a.password.is_some() {
        output::errln("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        if a.password_stdin {
            return Err(CmdError::new(
                1,
                "--password and --password-stdin are mutually exclusive",
            ));
        }
    }
    let mut password = a.password.clone().unwrap_or_default();
    if a.password_stdin {
        if a.username.as_deref().unwrap_or_default().is_empty() {
            return Err(CmdError::new(
                1,
                "Must provide --username with --password-stdin",
            ));
        }
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| CmdError::new(1, e.to_string()))?;
        password = s.trim_end_matches(['\r', '\n']).to_string();
    }
    let domain = domain_of(a.args.first());
    let key = server_key(&domain);
    let mut username = a.username.clone().unwrap_or_default();
    if username.is_empty() || password.is_empty() {
        if !std::io::stdin().is_terminal() {
            return Err(CmdError::new(
                1,
                "Error: Cannot perform an interactive login from a non TTY device",
            ));
        }
        if username.is_empty() {
            username = prompt("Username: ")?;
        }
        if password.is_empty() {
            password = prompt("Password: ")?;
        }
    }
    if username.is_empty() {
        return Err(CmdError::new(1, "Error: Non-null Username Required"));
    }
    let creds = Credentials {
        server_address: key.clone(),
        ..Credentials::basic(&username, &password)
    };
    let body = serde_json::json!({
        "username": creds.username,
        "password": creds.password,
        "serveraddress": key,
    });
    let answer = ctx.client.post_json("/auth", &body).await?;
    let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
    let mut stored = creds;
    if let Some(t) = v.get("IdentityToken").and_then(|t| t.as_str()) {
        if !t.is_empty() {
            stored.identity_token = t.to_string();
            stored.password.clear();
        }
    }
    let mut cfg = ConfigFile::load(&default_dir()).map_err(|e| CmdError::new(1, e.to_string()))?;
    cfg.store(&domain, &stored)
        .map_err(|e| CmdError::new(1, format!("Error saving credentials: {e}")))?;
    let helper = std::fs::read_to_string(cfg.path())
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .is_some_and(|v| v.get("credsStore").is_some() || v.get("credHelpers").is_some());
    if !helper {
        output::errln(&format!(
            "\nWARNING! Your credentials are stored unencrypted in '{}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n",
            cfg.path().display()
        ));
    }
    output::outln("Login Succeeded");
    Ok(())
}

pub async fn logout(ctx: &Ctx, a: LogoutArgs) -> CmdResult {
    ctx.require_max(&a.args, 1)?;
    let domain = domain_of(a.args.first());
    let key = server_key(&domain);
    let mut cfg = ConfigFile::load(&default_dir()).map_err(|e| CmdError::new(1, e.to_string()))?;
    let logged_in = cfg.get(&domain).ok().flatten().is_some();
    if !logged_in {
        output::outln(&format!("Not logged in to {key}"));
        return Ok(());
    }
    output::outln(&format!("Removing login credentials for {key}"));
    cfg.erase(&domain)
        .map_err(|e| CmdError::new(1, format!("WARNING: could not erase credentials: {e}")))?;
    Ok(())
}
