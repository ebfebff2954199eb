//! `${VAR}` interpolation, with compose's operators, on every string value
//! of a parsed file (keys are left alone).

use indexmap::IndexMap;

use crate::error::ComposeError;
use crate::yaml::{Node, Value};

/// Variables for interpolation and what happened while using them.
pub struct Vars<'a> {
    pub env: &'a IndexMap<String, String>,
    /// Names used while unset and without a default (compose warns once).
    pub unset: Vec<String>,
}

impl<'a> Vars<'a> {
    pub fn new(env: &'a IndexMap<String, String>) -> Vars<'a> {
        Vars {
            env,
            unset: Vec::new(),
        }
    }

    pub fn warnings(&self) -> Vec<String> {
        self.unset
            .iter()
            .map(|name| {
                format!("The \"{name}\" variable is not set. Defaulting to a blank string.")
            })
            .collect()
    }
}

/// Interpolates every string in `node` in place.
pub fn interpolate_node(node: &mut Node, path: &str, vars: &mut Vars) -> Result<(), ComposeError> {
    match &mut node.value {
        Value::Str(text) if text.contains('$') => {
            let replaced = interpolate(text, vars)
                .map_err(|message| ComposeError::at(&node.file, node.line, path, message))?;
            *text = replaced;
        }
        Value::Seq(items) => {
            for item in items {
                interpolate_node(item, path, vars)?;
            }
        }
        Value::Map(map) => {
            for (key, value) in map.iter_mut() {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                interpolate_node(value, &child, vars)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Interpolates one string. The error is compose's message.
pub fn interpolate(text: &str, vars: &mut Vars) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let start = i + 2;
                let end = matching_brace(&chars, start)
                    .ok_or_else(|| format!("invalid interpolation format for {text:?}"))?;
                let inner: String = chars[start..end].iter().collect();
                out.push_str(&braced(&inner, text, vars)?);
                i = end + 1;
            }
            Some(next) if next.is_ascii_alphabetic() || *next == '_' => {
                let mut end = i + 1;
                while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_')
                {
                    end += 1;
                }
                let name: String = chars[i + 1..end].iter().collect();
                out.push_str(&lookup_or_blank(&name, vars));
                i = end;
            }
            _ => {
                return Err(format!(
                    "invalid interpolation format for {text:?}: you may need to escape any $ with another $"
                ))
            }
        }
    }
    Ok(out)
}

/// Index of the `}` closing a `${` whose body starts at `start`.
fn matching_brace(chars: &[char], start: usize) -> Option<usize> {
    let mut depth = 1;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '$' if chars.get(i + 1) == Some(&'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            '$' if chars.get(i + 1) == Some(&'$') => {
                i += 2;
                continue;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn lookup_or_blank(name: &str, vars: &mut Vars) -> String {
    match vars.env.get(name) {
        Some(value) => value.clone(),
        None => {
            if !vars.unset.iter().any(|n| n == name) {
                vars.unset.push(name.to_string());
            }
            String::new()
        }
    }
}

fn braced(inner: &str, whole: &str, vars: &mut Vars) -> Result<String, String> {
    let name_end = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(inner.len());
    let name = &inner[..name_end];
    let valid_name = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid_name {
        return Err(format!("invalid interpolation format for {whole:?}"));
    }
    let rest = &inner[name_end..];
    if rest.is_empty() {
        return Ok(lookup_or_blank(name, vars));
    }
    let (op, arg) = ["-", ":-", "?", ":?", "+", ":+"]
        .iter()
        .filter_map(|op| rest.strip_prefix(op).map(|arg| (*op, arg)))
        .max_by_key(|(op, _)| op.len())
        .ok_or_else(|| format!("invalid interpolation format for {whole:?}"))?;
    let value = vars.env.get(name).cloned();
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    // The argument is interpolated only when it is used, so a nested
    // `${A:-${B:?}}` fails only when A is unset.
    match op {
        "-" | ":-" => {
            let use_default = if op == "-" { !set } else { !non_empty };
            if use_default {
                interpolate(arg, vars)
            } else {
                Ok(value.unwrap_or_default())
            }
        }
        "?" | ":?" => {
            let missing = if op == "?" { !set } else { !non_empty };
            if missing {
                let message = interpolate(arg, vars)?;
                if message.is_empty() {
                    Err(format!("required variable {name} is missing a value"))
                } else {
                    Err(format!(
                        "required variable {name} is missing a value: {message}"
                    ))
                }
            } else {
                Ok(value.unwrap_or_default())
            }
        }
        _ => {
            let use_alt = if op == "+" { set } else { non_empty };
            if use_alt {
                interpolate(arg, vars)
            } else {
                Ok(String::new())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form() {
        let env: IndexMap<String, String> = [("SET", "v"), ("EMPTY", ""), ("PORT", "8080")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let ok = [
            ("${SET}", "v"),
            ("$SET", "v"),
            ("$SET-x", "v-x"),
            ("a${SET}b", "avb"),
            ("${UNSET:-d}", "d"),
            ("${EMPTY:-d}", "d"),
            ("${EMPTY-d}", ""),
            ("${UNSET-d}", "d"),
            ("${SET:-d}", "v"),
            ("${SET:?e}", "v"),
            ("${EMPTY?e}", ""),
            ("${SET:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${EMPTY+alt}", "alt"),
            ("${UNSET+alt}", ""),
            ("${UNSET:-${PORT}}", "8080"),
            ("${UNSET:-${ALSO:-deep}}", "deep"),
            ("${UNSET:-a-b:c}", "a-b:c"),
            ("$$SET", "$SET"),
            ("$${SET}", "${SET}"),
            ("cost: 5$$", "cost: 5$"),
            ("${UNSET}", ""),
            ("${SET:-${UNSET:?never}}", "v"),
        ];
        for (input, want) in ok {
            let mut vars = Vars::new(&env);
            assert_eq!(
                interpolate(input, &mut vars).as_deref(),
                Ok(want),
                "{input}"
            );
        }
        let errors = [
            (
                "${UNSET:?need X}",
                "required variable UNSET is missing a value: need X",
            ),
            (
                "${EMPTY:?need X}",
                "required variable EMPTY is missing a value: need X",
            ),
            (
                "${UNSET?gone}",
                "required variable UNSET is missing a value: gone",
            ),
            ("${UNSET:?}", "required variable UNSET is missing a value"),
            ("${SET", "invalid interpolation format"),
            ("${}", "invalid interpolation format"),
            ("a $ b", "invalid interpolation format"),
            ("${SET!x}", "invalid interpolation format"),
        ];
        for (input, want) in errors {
            let mut vars = Vars::new(&env);
            let err = interpolate(input, &mut vars).unwrap_err();
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    #[test]
    fn unset_variables_warn_once() {
        let env = IndexMap::new();
        let mut vars = Vars::new(&env);
        assert_eq!(interpolate("${A}$A${B:-x}", &mut vars).as_deref(), Ok("x"));
        assert_eq!(
            vars.warnings(),
            vec!["The \"A\" variable is not set. Defaulting to a blank string.".to_string()]
        );
    }
}
