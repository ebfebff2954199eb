//! Go's `json.Indent` and `json.Compact` over raw bytes: docker's `inspect`
//! reformats the daemon's JSON without re-encoding it, so key order, number
//! spelling and string escapes stay exactly as the daemon sent them.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid character in JSON at offset {0}")]
pub struct JsonError(pub usize);

/// `json.Indent(dst, src, prefix="", indent)`.
pub fn indent(src: &[u8], indent: &str) -> Result<Vec<u8>, JsonError> {
    reformat(src, Some(indent))
}

/// `json.Compact`.
pub fn compact(src: &[u8]) -> Result<Vec<u8>, JsonError> {
    reformat(src, None)
}

fn newline(out: &mut Vec<u8>, indent: &str, depth: usize) {
    out.push(b'\n');
    for _ in 0..depth {
        out.extend_from_slice(indent.as_bytes());
    }
}

fn reformat(src: &[u8], ind: Option<&str>) -> Result<Vec<u8>, JsonError> {
    let mut out = Vec::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    // True right after an opening bracket: an immediately following closing
    // bracket keeps the pair together (`[]`, `{}`).
    let mut need_indent = false;
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'"' => {
                if need_indent {
                    if let Some(ind) = ind {
                        newline(&mut out, ind, depth);
                    }
                    need_indent = false;
                }
                let start = i;
                i += 1;
                while i < src.len() && src[i] != b'"' {
                    if src[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= src.len() {
                    return Err(JsonError(start));
                }
                i += 1;
                out.extend_from_slice(&src[start..i]);
                continue;
            }
            b'{' | b'[' => {
                if need_indent {
                    if let Some(ind) = ind {
                        newline(&mut out, ind, depth);
                    }
                }
                out.push(c);
                depth += 1;
                need_indent = true;
            }
            b'}' | b']' => {
                if depth == 0 {
                    return Err(JsonError(i));
                }
                depth -= 1;
                if need_indent {
                    // Empty object or array.
                    need_indent = false;
                } else if let Some(ind) = ind {
                    newline(&mut out, ind, depth);
                }
                out.push(c);
            }
            b',' => {
                out.push(c);
                if let Some(ind) = ind {
                    newline(&mut out, ind, depth);
                }
            }
            b':' => {
                out.push(c);
                if ind.is_some() {
                    out.push(b' ');
                }
            }
            _ => {
                if need_indent {
                    if let Some(ind) = ind {
                        newline(&mut out, ind, depth);
                    }
                    need_indent = false;
                }
                // Literals and numbers: copy up to the next structural char.
                let start = i;
                while i < src.len()
                    && !matches!(
                        src[i],
                        b',' | b':' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'
                    )
                {
                    i += 1;
                }
                out.extend_from_slice(&src[start..i]);
                continue;
            }
        }
        i += 1;
    }
    if depth != 0 {
        return Err(JsonError(src.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_like_go() {
        let raw = br#"[{"Id":"x","Args":[],"Config":{"Cmd":["a","b"],"Labels":{}},"N":1.50,"S":"a\"b,:{"}]"#;
        let got = String::from_utf8(indent(raw, "    ").unwrap()).unwrap();
        let want = r#"[
    {
        "Id": "x",
        "Args": [],
        "Config": {
            "Cmd": [
                "a",
                "b"
            ],
            "Labels": {}
        },
        "N": 1.50,
        "S": "a\"b,:{"
    }
]"#;
        assert_eq!(got, want);
    }

    #[test]
    fn compacts_and_drops_whitespace() {
        let raw = b"[ {\"a\" : [ 1, 2 ] }\n ]";
        assert_eq!(compact(raw).unwrap(), br#"[{"a":[1,2]}]"#.to_vec());
        assert_eq!(indent(b"[]", "    ").unwrap(), b"[]".to_vec());
    }

    #[test]
    fn rejects_unbalanced() {
        assert!(indent(b"[", "  ").is_err());
        assert!(indent(b"\"abc", "  ").is_err());
    }
}
