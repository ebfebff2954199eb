//! `pier cp`, `diff`, `export`, `commit`.

use std::io::{Read, Write};
use std::path::Path;

use hyper::Method;

use crate::cli::{CommitArgs, CpArgs, DiffArgs, ExportArgs};
use crate::client::{encode, read_all, reader_body, Query};
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::output;

/// `container:path` or a local path (`-` = a tar on stdin/stdout).
enum Loc {
    Container(String, String),
    Local(String),
}

fn split_loc(s: &str) -> Loc {
    // A colon before any slash names a container (docker's rule; a local
    // path with a colon must start with / or ./).
    if s.starts_with('/') || s.starts_with('.') {
        return Loc::Local(s.to_string());
    }
    match s.split_once(':') {
        Some((c, p)) if !c.is_empty() && !c.contains('/') => {
            Loc::Container(c.to_string(), p.to_string())
        }
        _ => Loc::Local(s.to_string()),
    }
}

fn decode_stat(v: Option<&hyper::header::HeaderValue>) -> Option<serde_json::Value> {
    let s = v?.to_str().ok()?;
    let bytes = base64_decode(s)?;
    serde_json::from_slice(&bytes).ok()
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let clean: Vec<u8> = s.bytes().filter(|b| *b != b'=').collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    Some(out)
}

fn is_dir_mode(stat: &serde_json::Value) -> bool {
    stat["mode"].as_u64().is_some_and(|m| m & (1 << 31) != 0)
}

async fn copy_from_container(ctx: &Ctx, container: &str, path: &str, dest: &str) -> CmdResult {
    let url = Query::new()
        .add("path", path)
        .path(&format!("/containers/{}/archive", encode(container)));
    let resp = ctx.client.get(&url).await?;
    let stat = decode_stat(resp.headers().get("x-docker-container-path-stat")).unwrap_or_default();
    let body = read_all(resp).await?;
    if dest == "-" {
        output::out_bytes(&body);
        return Ok(());
    }
    let base = stat["name"].as_str().unwrap_or(".").to_string();
    rebase_extract(&body, &base, is_dir_mode(&stat), Path::new(dest))
}

/// Extracts with the top-level entry renamed when the destination is new.
fn rebase_extract(body: &[u8], base: &str, src_is_dir: bool, dest: &Path) -> CmdResult {
    let dest_is_dir = dest.is_dir();
    if dest_is_dir {
        // Into an existing dir: as named (`dir/.`: its contents).
        let keep = if base == "." { "" } else { base };
        return unpack_renamed(body, base, keep, dest);
    }
    if src_is_dir && dest.exists() {
        return Err(CmdError::new(1, "cannot copy a directory to a file"));
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(CmdError::new(
            1,
            format!("no such directory: {}", parent.display()),
        ));
    }
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    unpack_renamed(body, base, &name, parent)
}

/// Unpacks entries `base/rest` as `new/rest` under `root`.
fn unpack_renamed(body: &[u8], base: &str, new: &str, root: &Path) -> CmdResult {
    let mut a = tar::Archive::new(body);
    let entries = a
        .entries()
        .map_err(|e| CmdError::new(1, format!("reading the archive: {e}")))?;
    for e in entries {
        let mut e = e.map_err(|e| CmdError::new(1, format!("reading the archive: {e}")))?;
        let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let rest = if raw == base || raw == format!("{base}/") {
            ""
        } else if let Some(r) = raw.strip_prefix(&format!("{base}/")) {
            r
        } else {
            raw.as_str()
        };
        let target = match (new.is_empty(), rest.is_empty()) {
            (true, true) => continue,
            (true, false) => rest.to_string(),
            (false, true) => new.to_string(),
            (false, false) => format!("{new}/{rest}"),
        };
        let target = target.trim_end_matches('/');
        if target.split('/').any(|c| c == "..") {
            return Err(CmdError::new(1, format!("invalid path in archive: {raw}")));
        }
        let out = root.join(target);
        if e.header().entry_type().is_dir() {
            std::fs::create_dir_all(&out)
                .map_err(|er| CmdError::new(1, format!("{}: {er}", out.display())))?;
            continue;
        }
        if let Some(p) = out.parent() {
            let _ = std::fs::create_dir_all(p);
        }
        e.unpack(&out)
            .map_err(|er| CmdError::new(1, format!("{}: {er}", out.display())))?;
    }
    Ok(())
}

async fn copy_to_container(ctx: &Ctx, src: &str, container: &str, path: &str) -> CmdResult {
    let stat_url = |p: &str| {
        Query::new()
            .add("path", p)
            .path(&format!("/containers/{}/archive", encode(container)))
    };
    if src == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| CmdError::new(1, e.to_string()))?;
        ctx.client
            .send(
                Method::PUT,
                &stat_url(path),
                crate::client::full(buf),
                Some("application/x-tar"),
            )
            .await?;
        return Ok(());
    }
    let src_path = Path::new(src);
    let meta = std::fs::symlink_metadata(src_path).map_err(|_| {
        CmdError::new(
            1,
            format!("lstat {}: no such file or directory", src_path.display()),
        )
    })?;
    let contents_only = src.ends_with("/.");
    // Does the destination exist, and is it a directory?
    let dest_dir = match ctx
        .client
        .send(Method::HEAD, &stat_url(path), crate::client::empty(), None)
        .await
    {
        Ok(r) => decode_stat(r.headers().get("x-docker-container-path-stat"))
            .map(|s| is_dir_mode(&s))
            .unwrap_or(false),
        Err(e) if e.is_not_found() => false,
        Err(e) => return Err(e.into()),
    };
    let (extract_at, name) = if dest_dir {
        let name = if contents_only {
            String::new()
        } else {
            src_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        (path.to_string(), name)
    } else {
        if path.ends_with('/') {
            return Err(CmdError::new(
                1,
                format!("Error response from daemon: Could not find the file {path} in container {container}"),
            ));
        }
        let (parent, name) = match path.trim_end_matches('/').rsplit_once('/') {
            Some((p, n)) => (if p.is_empty() { "/" } else { p }, n),
            None => (".", path),
        };
        (parent.to_string(), name.to_string())
    };
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    let res = if meta.is_dir() {
        if name.is_empty() {
            tar.append_dir_all(".", src_path)
        } else {
            tar.append_dir_all(&name, src_path)
        }
    } else {
        tar.append_path_with_name(src_path, &name)
    };
    res.map_err(|e| CmdError::new(1, e.to_string()))?;
    let data = tar
        .into_inner()
        .map_err(|e| CmdError::new(1, e.to_string()))?;
    let body = reader_body(Box::new(std::io::Cursor::new(data)));
    ctx.client
        .send(
            Method::PUT,
            &stat_url(&extract_at),
            body,
            Some("application/x-tar"),
        )
        .await?;
    Ok(())
}

pub async fn cp(ctx: &Ctx, a: CpArgs) -> CmdResult {
    ctx.require_exact(&a.args, 2)?;
    match (split_loc(&a.args[0]), split_loc(&a.args[1])) {
        (Loc::Container(c, p), Loc::Local(dest)) => copy_from_container(ctx, &c, &p, &dest).await,
        (Loc::Local(src), Loc::Container(c, p)) => copy_to_container(ctx, &src, &c, &p).await,
        (Loc::Container(..), Loc::Container(..)) => Err(CmdError::new(
            1,
            "copying between containers is not supported",
        )),
        (Loc::Local(..), Loc::Local(..)) => Err(CmdError::new(
            1,
            "must specify at least one container source",
        )),
    }
}

pub async fn diff(ctx: &Ctx, a: DiffArgs) -> CmdResult {
    ctx.require_exact(&a.args, 1)?;
    let v = ctx
        .client
        .get_json(&format!("/containers/{}/changes", encode(&a.args[0])))
        .await?;
    let mut out = String::new();
    for c in v.as_array().into_iter().flatten() {
        let kind = match c["Kind"].as_u64() {
            Some(1) => "A",
            Some(2) => "D",
            _ => "C",
        };
        out.push_str(&format!("{kind} {}\n", c["Path"].as_str().unwrap_or("")));
    }
    output::out(&out);
    Ok(())
}

pub async fn export(ctx: &Ctx, a: ExportArgs) -> CmdResult {
    ctx.require_exact(&a.args, 1)?;
    if a.output.is_none() && crate::tty::stdout_is_terminal() {
        return Err(CmdError::new(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let body = ctx
        .client
        .get_bytes(&format!("/containers/{}/export", encode(&a.args[0])))
        .await?;
    match &a.output {
        Some(p) => {
            let mut f = std::fs::File::create(p)
                .map_err(|e| CmdError::new(1, format!("failed to export container: {e}")))?;
            f.write_all(&body)
                .map_err(|e| CmdError::new(1, format!("failed to export container: {e}")))?;
        }
        None => output::out_bytes(&body),
    }
    Ok(())
}

pub async fn commit(ctx: &Ctx, a: CommitArgs) -> CmdResult {
    if a.args.is_empty() || a.args.len() > 2 {
        ctx.require_min(&a.args, 1)?;
        return Err(CmdError::new(
            1,
            format!(
                "\"{}\" requires at least 1 and at most 2 arguments.",
                ctx.command_path()
            ),
        ));
    }
    let mut q = Query::new().add("container", &a.args[0]);
    if let Some(r) = a.args.get(1) {
        let (repo, tag) = match r.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
            _ => (r.clone(), String::new()),
        };
        q = q.add("repo", repo).add_if(!tag.is_empty(), "tag", tag);
    }
    for c in &a.change {
        q = q.add("changes", c);
    }
    q = q
        .add_if(
            a.message.is_some(),
            "comment",
            a.message.clone().unwrap_or_default(),
        )
        .add_if(
            a.author.is_some(),
            "author",
            a.author.clone().unwrap_or_default(),
        )
        .add("pause", if a.pause.unwrap_or(true) { "1" } else { "0" });
    let v = crate::client::parse_json(
        &ctx.client
            .post_json(&q.path("/commit"), &serde_json::json!({}))
            .await?,
    )?;
    output::outln(v["Id"].as_str().unwrap_or_default());
    Ok(())
}
