//! Lexer for Go's `text/template` syntax.

use super::TemplateError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Text(String),
    /// `{{`; the trim marker has already been applied to the preceding text.
    Open,
    /// `}}`
    Close,
    Space,
    /// `.A.B` (empty vec = `.`)
    Field(Vec<String>),
    /// `$x.A.B` (name includes the `$`)
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    Eof,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
}

pub fn lex(src: &str) -> Result<Vec<Token>, TemplateError> {
    let mut out: Vec<Token> = Vec::new();
    let b = src.as_bytes();
    let mut i = 0;
    let mut trim_next_text = false;
    while i < b.len() {
        // Text up to the next "{{".
        let start = i;
        let open = src[i..].find("{{").map(|o| i + o);
        let end = open.unwrap_or(b.len());
        let mut text = &src[start..end];
        if trim_next_text {
            text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            trim_next_text = false;
        }
        let Some(open) = open else {
            if !text.is_empty() {
                out.push(Token {
                    tok: Tok::Text(text.to_string()),
                    pos: start,
                });
            }
            break;
        };
        // "{{- " trims the text before it.
        let mut j = open + 2;
        if b.get(j) == Some(&b'-') && b.get(j + 1).is_some_and(|c| is_space(*c)) {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            // The marker and the space after it.
            j += 2;
        }
        if !text.is_empty() {
            out.push(Token {
                tok: Tok::Text(text.to_string()),
                pos: start,
            });
        }
        // Comments: {{/* ... */}}
        let mut k = j;
        while k < b.len() && is_space(b[k]) && j != open + 2 {
            k += 1;
        }
        if src[k..].starts_with("/*") {
            let close = src[k + 2..]
                .find("*/")
                .map(|o| k + 2 + o)
                .ok_or_else(|| TemplateError::parse(line_of(src, open), "unclosed comment"))?;
            let mut m = close + 2;
            if src[m..].starts_with(" -}}") {
                trim_next_text = true;
                m += 4;
            } else if src[m..].starts_with("}}") {
                m += 2;
            } else {
                return Err(TemplateError::parse(
                    line_of(src, open),
                    "comment ends before closing delimiter",
                ));
            }
            i = m;
            continue;
        }
        out.push(Token {
            tok: Tok::Open,
            pos: open,
        });
        i = lex_action(src, j, &mut out, &mut trim_next_text)?;
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: b.len(),
    });
    Ok(out)
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

pub fn line_of(src: &str, pos: usize) -> usize {
    src[..pos.min(src.len())].matches('\n').count() + 1
}

/// Lexes inside `{{ }}` starting at `i`; returns the index after `}}`.
fn lex_action(
    src: &str,
    mut i: usize,
    out: &mut Vec<Token>,
    trim_next: &mut bool,
) -> Result<usize, TemplateError> {
    let b = src.as_bytes();
    let mut paren_depth = 0i32;
    loop {
        if i >= b.len() {
            return Err(TemplateError::parse(line_of(src, i), "unclosed action"));
        }
        let c = b[i];
        // Closing delimiter, possibly with a trim marker.
        if is_space(c) {
            let mut k = i;
            while k < b.len() && is_space(b[k]) {
                k += 1;
            }
            if src[k..].starts_with("-}}") && k > i {
                *trim_next = true;
                out.push(Token {
                    tok: Tok::Close,
                    pos: k,
                });
                return Ok(k + 3);
            }
            out.push(Token {
                tok: Tok::Space,
                pos: i,
            });
            i = k;
            continue;
        }
        if src[i..].starts_with("}}") {
            if paren_depth > 0 {
                return Err(TemplateError::parse(line_of(src, i), "unclosed left paren"));
            }
            out.push(Token {
                tok: Tok::Close,
                pos: i,
            });
            return Ok(i + 2);
        }
        let pos = i;
        match c {
            b'|' => {
                out.push(Token {
                    tok: Tok::Pipe,
                    pos,
                });
                i += 1;
            }
            b'(' => {
                paren_depth += 1;
                out.push(Token {
                    tok: Tok::LParen,
                    pos,
                });
                i += 1;
            }
            b')' => {
                paren_depth -= 1;
                if paren_depth < 0 {
                    return Err(TemplateError::parse(
                        line_of(src, i),
                        "unexpected right paren",
                    ));
                }
                out.push(Token {
                    tok: Tok::RParen,
                    pos,
                });
                i += 1;
            }
            b',' => {
                out.push(Token {
                    tok: Tok::Comma,
                    pos,
                });
                i += 1;
            }
            b':' => {
                if b.get(i + 1) != Some(&b'=') {
                    return Err(TemplateError::parse(line_of(src, i), "expected :="));
                }
                out.push(Token {
                    tok: Tok::Declare,
                    pos,
                });
                i += 2;
            }
            b'=' => {
                out.push(Token {
                    tok: Tok::Assign,
                    pos,
                });
                i += 1;
            }
            b'"' => {
                let (s, n) = lex_quoted(src, i)?;
                out.push(Token {
                    tok: Tok::Str(s),
                    pos,
                });
                i = n;
            }
            b'`' => {
                let end = src[i + 1..].find('`').map(|o| i + 1 + o).ok_or_else(|| {
                    TemplateError::parse(line_of(src, i), "unterminated raw quoted string")
                })?;
                out.push(Token {
                    tok: Tok::Str(src[i + 1..end].to_string()),
                    pos,
                });
                i = end + 1;
            }
            b'\'' => {
                let (s, n) = lex_char(src, i)?;
                out.push(Token {
                    tok: Tok::Int(s as i64),
                    pos,
                });
                i = n;
            }
            b'.' if !b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                let (fields, n) = lex_fields(src, i);
                out.push(Token {
                    tok: Tok::Field(fields),
                    pos,
                });
                i = n;
            }
            b'$' => {
                let mut k = i + 1;
                while k < b.len() && is_alnum(b[k]) {
                    k += 1;
                }
                let name = src[i..k].to_string();
                let (fields, n) =
                    if b.get(k) == Some(&b'.') && b.get(k + 1).is_some_and(|d| is_alnum(*d)) {
                        lex_fields(src, k)
                    } else {
                        (Vec::new(), k)
                    };
                out.push(Token {
                    tok: Tok::Var(name, fields),
                    pos,
                });
                i = n;
            }
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                let mut k = i + 1;
                while k < b.len()
                    && (b[k].is_ascii_alphanumeric()
                        || b[k] == b'.'
                        || b[k] == b'_'
                        || ((b[k] == b'+' || b[k] == b'-')
                            && matches!(b[k - 1], b'e' | b'E' | b'p' | b'P')))
                {
                    k += 1;
                }
                let text = &src[i..k];
                out.push(Token {
                    tok: parse_number(text).ok_or_else(|| {
                        TemplateError::parse(
                            line_of(src, i),
                            format!("bad number syntax: {text:?}"),
                        )
                    })?,
                    pos,
                });
                i = k;
            }
            c if is_alnum(c) => {
                let mut k = i;
                while k < b.len() && is_alnum(b[k]) {
                    k += 1;
                }
                out.push(Token {
                    tok: Tok::Ident(src[i..k].to_string()),
                    pos,
                });
                i = k;
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(TemplateError::parse(
                    line_of(src, i),
                    format!("unexpected {ch:?} in command"),
                ));
            }
        }
    }
}

/// `.A.B.C` starting at the first dot; returns the names and the end index.
fn lex_fields(src: &str, mut i: usize) -> (Vec<String>, usize) {
    let b = src.as_bytes();
    let mut fields = Vec::new();
    while i < b.len() && b[i] == b'.' {
        let mut k = i + 1;
        while k < b.len() && is_alnum(b[k]) {
            k += 1;
        }
        if k == i + 1 {
            // A lone dot.
            if fields.is_empty() {
                return (fields, k);
            }
            break;
        }
        fields.push(src[i + 1..k].to_string());
        i = k;
    }
    (fields, i)
}

fn parse_number(text: &str) -> Option<Tok> {
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(bn) = lower.strip_prefix("0b") {
        i64::from_str_radix(bn, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.chars().all(|c| c.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else {
        lower.parse::<i64>().ok()
    };
    if let Some(v) = int {
        return Some(Tok::Int(if neg { -v } else { v }));
    }
    let f: f64 = lower.parse().ok()?;
    Some(Tok::Float(if neg { -f } else { f }))
}

fn lex_quoted(src: &str, start: usize) -> Result<(String, usize), TemplateError> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + off + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..n)
                            .filter_map(|_| chars.next().map(|(_, h)| h))
                            .collect();
                        let v = u32::from_str_radix(&hex, 16).map_err(|_| {
                            TemplateError::parse(
                                line_of(src, start),
                                "invalid escape in quoted string",
                            )
                        })?;
                        out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            if let Some((_, d)) = chars.next() {
                                v = v * 8 + d.to_digit(8).unwrap_or(0);
                            }
                        }
                        out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    }
                    _ => {
                        return Err(TemplateError::parse(
                            line_of(src, start),
                            "invalid syntax in quoted string",
                        ))
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err(TemplateError::parse(
        line_of(src, start),
        "unterminated quoted string",
    ))
}

fn lex_char(src: &str, start: usize) -> Result<(char, usize), TemplateError> {
    let rest = &src[start + 1..];
    let mut chars = rest.char_indices();
    let (_, c) = chars.next().ok_or_else(|| {
        TemplateError::parse(line_of(src, start), "unterminated character constant")
    })?;
    let c = if c == '\\' {
        match chars.next().map(|(_, e)| e) {
            Some('n') => '\n',
            Some('t') => '\t',
            Some('\\') => '\\',
            Some('\'') => '\'',
            _ => {
                return Err(TemplateError::parse(
                    line_of(src, start),
                    "bad character constant",
                ))
            }
        }
    } else {
        c
    };
    match chars.next() {
        Some((off, '\'')) => Ok((c, start + 1 + off + 1)),
        _ => Err(TemplateError::parse(
            line_of(src, start),
            "unterminated character constant",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn fields_and_text() {
        assert_eq!(
            toks("a{{.A.B}}b"),
            vec![
                Tok::Text("a".into()),
                Tok::Open,
                Tok::Field(vec!["A".into(), "B".into()]),
                Tok::Close,
                Tok::Text("b".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn trim_markers_and_comments() {
        assert_eq!(
            toks("a  {{- .X -}}  b{{/* c */}}"),
            vec![
                Tok::Text("a".into()),
                Tok::Open,
                Tok::Field(vec!["X".into()]),
                Tok::Close,
                Tok::Text("b".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn literals() {
        assert_eq!(
            toks(r#"{{pad "x\t" 1 -2 $v.A 'a' 1.5}}"#),
            vec![
                Tok::Open,
                Tok::Ident("pad".into()),
                Tok::Space,
                Tok::Str("x\t".into()),
                Tok::Space,
                Tok::Int(1),
                Tok::Space,
                Tok::Int(-2),
                Tok::Space,
                Tok::Var("$v".into(), vec!["A".into()]),
                Tok::Space,
                Tok::Int(97),
                Tok::Space,
                Tok::Float(1.5),
                Tok::Close,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn errors() {
        assert!(lex("{{.A").is_err());
        assert!(lex("{{\"abc}}").is_err());
    }
}
