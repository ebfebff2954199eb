//! `.env` / `env_file` parsing, as compose's dotenv reader does: `KEY=VALUE`
//! lines, `export ` prefixes, `#` comments, single quotes literal, double
//! quotes with escapes, and `${VAR}` in unquoted and double-quoted values.

use indexmap::IndexMap;

use crate::interpolate::{interpolate, Vars};

/// One parsed file. A line with a bare `KEY` has value `None` (taken from
/// the environment by the caller, or left out).
pub fn parse(
    text: &str,
    file: &str,
    lookup: &IndexMap<String, String>,
) -> Result<IndexMap<String, Option<String>>, String> {
    let mut out: IndexMap<String, Option<String>> = IndexMap::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let (key, rest) = match line.find('=') {
            Some(eq) => (line[..eq].trim(), Some(&line[eq + 1..])),
            None => (line.trim(), None),
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!(
                "{file}:{}: unexpected character in variable name {key:?}",
                index + 1
            ));
        }
        let Some(rest) = rest else {
            out.insert(key.to_string(), None);
            continue;
        };
        let rest = rest.trim_start();
        // Earlier lines of this file are visible to later ones, then the
        // caller's environment.
        let mut env = lookup.clone();
        for (k, v) in &out {
            if let Some(v) = v {
                env.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let value = if let Some(body) = rest.strip_prefix('\'') {
            let mut body = body.to_string();
            while !body.contains('\'') {
                match lines.next() {
                    Some((_, more)) => {
                        body.push('\n');
                        body.push_str(more);
                    }
                    None => return Err(format!("{file}:{}: unterminated quoted value", index + 1)),
                }
            }
            let end = body.find('\'').unwrap_or(body.len());
            body[..end].to_string()
        } else if let Some(body) = rest.strip_prefix('"') {
            let mut body = body.to_string();
            while closing_quote(&body).is_none() {
                match lines.next() {
                    Some((_, more)) => {
                        body.push('\n');
                        body.push_str(more);
                    }
                    None => return Err(format!("{file}:{}: unterminated quoted value", index + 1)),
                }
            }
            let end = closing_quote(&body).unwrap_or(body.len());
            let unescaped = unescape(&body[..end]);
            expand(&unescaped, &env, file, index)?
        } else {
            let value = match rest.find(" #") {
                Some(hash) => &rest[..hash],
                None => rest,
            };
            expand(value.trim_end(), &env, file, index)?
        };
        out.insert(key.to_string(), Some(value));
    }
    Ok(out)
}

fn expand(
    value: &str,
    env: &IndexMap<String, String>,
    file: &str,
    index: usize,
) -> Result<String, String> {
    let mut vars = Vars::new(env);
    interpolate(value, &mut vars).map_err(|e| format!("{file}:{}: {e}", index + 1))
}

fn closing_quote(body: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines() {
        let text = "# comment\n\nA=1\nexport B = two words \nC='lit ${A}'\nD=\"q\\n${A}\"\nE=${A}x # note\nF\nG=\nH=\"multi\nline\"\n";
        let env = IndexMap::new();
        let vars = parse(text, ".env", &env).expect("parses");
        let get = |k: &str| vars.get(k).cloned().flatten();
        assert_eq!(get("A").as_deref(), Some("1"));
        assert_eq!(get("B").as_deref(), Some("two words"));
        assert_eq!(get("C").as_deref(), Some("lit ${A}"));
        assert_eq!(get("D").as_deref(), Some("q\n1"));
        assert_eq!(get("E").as_deref(), Some("1x"));
        assert_eq!(vars.get("F"), Some(&None));
        assert_eq!(get("G").as_deref(), Some(""));
        assert_eq!(get("H").as_deref(), Some("multi\nline"));
    }

    #[test]
    fn bad_names_are_errors() {
        let env = IndexMap::new();
        let err = parse("A B=1\n", "x.env", &env).unwrap_err();
        assert!(err.starts_with("x.env:1:"), "{err}");
    }
}
