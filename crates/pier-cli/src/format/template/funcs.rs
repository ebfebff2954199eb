//! Go's builtin template functions plus docker's (`json`, `join`, `split`,
//! `title`, `lower`, `upper`, `pad`, `truncate`), and docker's header variants
//! that leave column titles untouched.

use std::collections::HashMap;
use std::rc::Rc;

use super::printf::{sprint, sprintf, sprintln};
use super::value::{ObjKind, Value};

pub type Func = Rc<dyn Fn(&[Value]) -> Result<Value, String>>;
pub type Funcs = HashMap<String, Func>;

fn f(funcs: &mut Funcs, name: &str, func: impl Fn(&[Value]) -> Result<Value, String> + 'static) {
    funcs.insert(name.to_string(), Rc::new(func));
}

/// Marks an error Go reports at the call itself, without "error calling".
pub const CALL_ERR: char = '\u{2}';
/// Marks an error Go reports at one argument: `\u{1}<index>\u{1}<text>`.
pub const ARG_ERR: char = '\u{1}';

/// Go's arity check, reported at the call.
pub fn arity_error(name: &str, want: usize, got: usize) -> String {
    format!("{CALL_ERR}wrong number of args for {name}: want {want} got {got}")
}

/// Go's argument type check, reported at argument `i`.
pub fn arg_error(i: usize, msg: impl std::fmt::Display) -> String {
    format!("{ARG_ERR}{i}{ARG_ERR}{msg}")
}

/// The arity Go checks before evaluating a builtin's arguments:
/// (minimum, maximum) with `None` for variadic.
pub fn arity(name: &str) -> Option<(usize, Option<usize>)> {
    Some(match name {
        "not" | "len" | "json" | "title" | "lower" | "upper" => (1, Some(1)),
        "ne" | "lt" | "le" | "gt" | "ge" | "split" | "join" | "truncate" => (2, Some(2)),
        "pad" => (3, Some(3)),
        "and" | "or" | "index" | "slice" | "eq" | "printf" | "call" => (1, None),
        "print" | "println" | "html" | "js" | "urlquery" => (0, None),
        _ => return None,
    })
}

/// Go's message when `got` arguments do not fit `name`'s arity.
pub fn check_arity(name: &str, got: usize) -> Result<(), String> {
    match arity(name) {
        Some((min, Some(max))) if got < min || got > max => Err(format!(
            "wrong number of args for {name}: want {min} got {got}"
        )),
        Some((min, None)) if got < min => Err(format!(
            "wrong number of args for {name}: want at least {min} got {got}"
        )),
        _ => Ok(()),
    }
}

fn want(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(arity_error(name, n, args.len()));
    }
    Ok(())
}

fn string_arg(args: &[Value], i: usize) -> Result<String, String> {
    match args.get(i) {
        Some(Value::Str(s)) => Ok(s.clone()),
        Some(other) => Err(arg_error(
            i,
            format!(
                "wrong type for value; expected string; got {}",
                other.type_name()
            ),
        )),
        None => Err(arg_error(i, "missing value")),
    }
}

fn int_arg(args: &[Value], i: usize) -> Result<i64, String> {
    match args.get(i) {
        Some(Value::Int(v)) => Ok(*v),
        Some(other) => Err(arg_error(
            i,
            format!(
                "wrong type for value; expected int; got {}",
                other.type_name()
            ),
        )),
        None => Err(arg_error(i, "missing value")),
    }
}

/// Go's `strings.Title` (deprecated but what docker uses).
pub fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        };
    }
    out
}

/// Go's comparison for `eq`/`lt`/...: same basic kinds compare; ints and
/// floats compare numerically.
fn compare(a: &Value, b: &Value) -> Result<Option<std::cmp::Ordering>, String> {
    use Value::*;
    Ok(match (a, b) {
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Float(x), Float(y)) => x.partial_cmp(y),
        (Int(x), Float(y)) => (*x as f64).partial_cmp(y),
        (Float(x), Int(y)) => x.partial_cmp(&(*y as f64)),
        (Str(x), Str(y)) => Some(x.cmp(y)),
        (Bool(x), Bool(y)) => {
            if x == y {
                Some(std::cmp::Ordering::Equal)
            } else {
                None
            }
        }
        (Nil | Invalid | NilList | NilMap, Nil | Invalid | NilList | NilMap) => {
            Some(std::cmp::Ordering::Equal)
        }
        (Nil | Invalid, _) | (_, Nil | Invalid) => None,
        (List(_), _) | (_, List(_)) | (Obj(_), _) | (_, Obj(_)) => {
            return Err("non-comparable type".into())
        }
        _ => return Err("incompatible types for comparison".into()),
    })
}

fn eq(args: &[Value]) -> Result<Value, String> {
    if args.len() < 2 {
        return Err("missing argument for comparison".into());
    }
    for b in &args[1..] {
        if compare(&args[0], b)? == Some(std::cmp::Ordering::Equal) {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn ordered(
    name: &'static str,
    test: fn(std::cmp::Ordering) -> bool,
) -> impl Fn(&[Value]) -> Result<Value, String> {
    move |args: &[Value]| {
        want(name, args, 2)?;
        if matches!(args[0], Value::Bool(_)) || matches!(args[1], Value::Bool(_)) {
            return Err("invalid type for comparison".into());
        }
        match compare(&args[0], &args[1])? {
            Some(o) => Ok(Value::Bool(test(o))),
            None => Err("incompatible types for comparison".into()),
        }
    }
}

fn index(args: &[Value]) -> Result<Value, String> {
    let Some(mut item) = args.first().cloned() else {
        return Err("wrong number of args for index: want at least 1 got 0".into());
    };
    for idx in &args[1..] {
        item = match (&item, idx) {
            (Value::List(l), Value::Int(i)) => {
                if *i < 0 || *i as usize >= l.len() {
                    return Err(format!("error calling index: index out of range: {i}"));
                }
                l[*i as usize].clone()
            }
            (Value::Str(s), Value::Int(i)) => {
                let b = s.as_bytes();
                if *i < 0 || *i as usize >= b.len() {
                    return Err(format!("error calling index: index out of range: {i}"));
                }
                Value::Int(b[*i as usize] as i64)
            }
            (Value::Obj(o), Value::Str(k)) => match o.get(k) {
                Some(v) => v.clone(),
                // The zero value of the map's element type: "" for string maps.
                None if o.fields.iter().all(|(_, v)| matches!(v, Value::Str(_))) => {
                    Value::Str(String::new())
                }
                None => Value::Invalid,
            },
            (Value::NilMap, Value::Str(_)) => Value::Str(String::new()),
            (Value::Nil | Value::Invalid, _) => return Err("index of untyped nil".into()),
            (Value::Obj(_), other) => {
                return Err(format!(
                    "value has type {}; should be string",
                    other.type_name()
                ))
            }
            (Value::List(_), _) => return Err("cannot index slice/array with non-integer".into()),
            (other, _) => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice(args: &[Value]) -> Result<Value, String> {
    let Some(item) = args.first() else {
        return Err("wrong number of args for slice: want at least 1 got 0".into());
    };
    let idx: Vec<i64> = (1..args.len())
        .map(|i| int_arg(args, i))
        .collect::<Result<_, _>>()?;
    let len = match item {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    } as i64;
    let lo = idx.first().copied().unwrap_or(0);
    let hi = idx.get(1).copied().unwrap_or(len);
    if lo < 0 || hi < lo || hi > len {
        return Err(format!("index out of range: {hi}"));
    }
    Ok(match item {
        Value::Str(s) => Value::Str(
            String::from_utf8_lossy(&s.as_bytes()[lo as usize..hi as usize]).into_owned(),
        ),
        Value::List(l) => Value::from(l[lo as usize..hi as usize].to_vec()),
        _ => Value::Invalid,
    })
}

fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '\'' => o.push_str("&#39;"),
            '"' => o.push_str("&#34;"),
            '\0' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

fn js_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\'' => o.push_str("\\'"),
            '"' => o.push_str("\\\""),
            '<' => o.push_str("\\u003C"),
            '>' => o.push_str("\\u003E"),
            '&' => o.push_str("\\u0026"),
            '=' => o.push_str("\\u003D"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04X}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

fn urlquery(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                o.push(b as char)
            }
            b' ' => o.push('+'),
            b => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

/// Go's builtins plus docker's basic functions (`templates.basicFunctions`).
pub fn basic() -> Funcs {
    let mut m: Funcs = HashMap::new();
    // and/or are evaluated lazily by the executor; registered so parsing accepts them.
    f(&mut m, "and", |a| {
        Ok(a.last().cloned().unwrap_or(Value::Invalid))
    });
    f(&mut m, "or", |a| {
        Ok(a.last().cloned().unwrap_or(Value::Invalid))
    });
    f(&mut m, "not", |a| {
        want("not", a, 1)?;
        Ok(Value::Bool(!a[0].truth()))
    });
    f(&mut m, "len", |a| {
        want("len", a, 1)?;
        Ok(Value::Int(match &a[0] {
            Value::Str(s) => s.len() as i64,
            Value::List(l) => l.len() as i64,
            Value::Obj(o) if o.kind == ObjKind::Map => o.fields.len() as i64,
            Value::NilList | Value::NilMap => 0,
            other => return Err(format!("len of type {}", other.type_name())),
        }))
    });
    f(&mut m, "index", index);
    f(&mut m, "slice", slice);
    f(&mut m, "eq", eq);
    f(&mut m, "ne", |a| {
        want("ne", a, 2)?;
        Ok(Value::Bool(!eq(a)?.truth()))
    });
    f(&mut m, "lt", ordered("lt", |o| o.is_lt()));
    f(&mut m, "le", ordered("le", |o| o.is_le()));
    f(&mut m, "gt", ordered("gt", |o| o.is_gt()));
    f(&mut m, "ge", ordered("ge", |o| o.is_ge()));
    f(&mut m, "print", |a| Ok(Value::Str(sprint(a))));
    f(&mut m, "println", |a| Ok(Value::Str(sprintln(a))));
    f(&mut m, "printf", |a| {
        let Some(Value::Str(fmt)) = a.first() else {
            return Err("wrong type for value; expected string".into());
        };
        Ok(Value::Str(sprintf(fmt, &a[1..])))
    });
    f(&mut m, "html", |a| Ok(Value::Str(html_escape(&sprint(a)))));
    f(&mut m, "js", |a| Ok(Value::Str(js_escape(&sprint(a)))));
    f(&mut m, "urlquery", |a| Ok(Value::Str(urlquery(&sprint(a)))));
    f(&mut m, "call", |_| Err("call is not supported".into()));

    // docker's templates.basicFunctions
    f(&mut m, "json", |a| {
        want("json", a, 1)?;
        Ok(Value::Str(a[0].to_json()))
    });
    f(&mut m, "split", |a| {
        want("split", a, 2)?;
        let s = string_arg(a, 0)?;
        let sep = string_arg(a, 1)?;
        let parts: Vec<Value> = if sep.is_empty() {
            s.chars().map(|c| Value::Str(c.to_string())).collect()
        } else {
            s.split(sep.as_str()).map(Value::from).collect()
        };
        Ok(Value::from(parts))
    });
    f(&mut m, "join", |a| {
        want("join", a, 2)?;
        let sep = string_arg(a, 1)?;
        match &a[0] {
            Value::List(l) => {
                let parts: Vec<String> = l
                    .iter()
                    .map(|v| match v {
                        Value::Str(s) => Ok(s.clone()),
                        other => Err(arg_error(
                            0,
                            format!(
                                "wrong type for value; expected []string; got []{}",
                                other.type_name()
                            ),
                        )),
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Value::Str(parts.join(&sep)))
            }
            Value::Nil | Value::Invalid | Value::NilList => Ok(Value::Str(String::new())),
            other => Err(arg_error(
                0,
                format!(
                    "wrong type for value; expected []string; got {}",
                    other.type_name()
                ),
            )),
        }
    });
    f(&mut m, "title", |a| {
        want("title", a, 1)?;
        Ok(Value::Str(title(&string_arg(a, 0)?)))
    });
    f(&mut m, "lower", |a| {
        want("lower", a, 1)?;
        Ok(Value::Str(string_arg(a, 0)?.to_lowercase()))
    });
    f(&mut m, "upper", |a| {
        want("upper", a, 1)?;
        Ok(Value::Str(string_arg(a, 0)?.to_uppercase()))
    });
    f(&mut m, "pad", |a| {
        want("pad", a, 3)?;
        let s = string_arg(a, 0)?;
        let (pre, suf) = (int_arg(a, 1)?, int_arg(a, 2)?);
        if s.is_empty() {
            return Ok(Value::Str(s));
        }
        Ok(Value::Str(format!(
            "{}{s}{}",
            " ".repeat(pre.max(0) as usize),
            " ".repeat(suf.max(0) as usize)
        )))
    });
    f(&mut m, "truncate", |a| {
        want("truncate", a, 2)?;
        let s = string_arg(a, 0)?;
        let n = int_arg(a, 1)?.max(0) as usize;
        if s.len() < n {
            return Ok(Value::Str(s));
        }
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        Ok(Value::Str(s[..end].to_string()))
    });
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_like_go() {
        assert_eq!(title("hello world-foo_bar"), "Hello World-Foo_bar");
        assert_eq!(title("running"), "Running");
    }

    #[test]
    fn index_and_compare() {
        let l = Value::from(vec![Value::from("a"), Value::from("b")]);
        assert_eq!(index(&[l, Value::Int(1)]).unwrap().to_go_string(), "b");
        assert!(eq(&[Value::from("x"), Value::from("y"), Value::from("x")])
            .unwrap()
            .truth());
        assert!(!eq(&[Value::Int(1), Value::Int(2)]).unwrap().truth());
        assert!(eq(&[Value::Nil, Value::Nil]).unwrap().truth());
    }
}
