//! The parts of Go's `fmt` templates reach: `printf` verbs and flags, and
//! `strconv.Quote`.

use super::value::{go_float, Value};

/// Go's `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_print(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Approximates Go's `unicode.IsPrint` (letters, marks, numbers, punctuation,
/// symbols and the ASCII space).
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    // Format characters, surrogates, private use and noncharacters.
    !(matches!(u, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff | 0xfffe | 0xffff)
        || (0xf0000..=0x10ffff).contains(&u))
}

fn go_type(v: &Value) -> &str {
    match v {
        Value::Invalid | Value::Nil => "<nil>",
        Value::NilList => "[]string",
        Value::NilMap => "map[string]string",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::List(_) => "[]interface {}",
        Value::Obj(o) => &o.type_name,
    }
}

fn bad_verb(verb: char, v: &Value) -> String {
    match v {
        Value::Nil | Value::Invalid => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", go_type(v), v.to_go_string()),
    }
}

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(s: String, spec: &Spec, numeric: bool) -> String {
    let Some(w) = spec.width else { return s };
    let len = s.chars().count();
    if len >= w {
        return s;
    }
    let fill = w - len;
    if spec.minus {
        format!("{s}{}", " ".repeat(fill))
    } else if spec.zero && numeric {
        let (sign, digits) = match s.strip_prefix(['-', '+']) {
            Some(rest) => (&s[..1], rest),
            None => ("", s.as_str()),
        };
        format!("{sign}{}{digits}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

fn sign(neg: bool, spec: &Spec) -> &'static str {
    if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    }
}

fn fmt_int(i: i64, verb: char, spec: &Spec) -> String {
    let neg = i < 0;
    let u = i.unsigned_abs();
    let digits = match verb {
        'd' | 'v' => u.to_string(),
        'x' => format!("{u:x}"),
        'X' => format!("{u:X}"),
        'o' => format!("{u:o}"),
        'b' => format!("{u:b}"),
        _ => u.to_string(),
    };
    let digits = match spec.prec {
        Some(p) if digits.len() < p => format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => digits,
    };
    let prefix = if spec.sharp {
        match verb {
            'x' => "0x",
            'X' => "0X",
            'o' => "0",
            'b' => "0b",
            _ => "",
        }
    } else {
        ""
    };
    format!("{}{prefix}{digits}", sign(neg, spec))
}

fn exp_form(f: f64, prec: usize, upper: bool) -> String {
    let s = format!("{:.*e}", prec, f.abs());
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let es = if e < 0 { '-' } else { '+' };
    let out = format!("{m}e{es}{:02}", e.abs());
    if upper {
        out.to_uppercase()
    } else {
        out
    }
}

fn fmt_float(f: f64, verb: char, spec: &Spec) -> String {
    let neg = f.is_sign_negative() && f != 0.0;
    let body = match verb {
        'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), f.abs()),
        'e' | 'E' => exp_form(f, spec.prec.unwrap_or(6), verb == 'E'),
        _ => match spec.prec {
            None => go_float(f.abs()),
            Some(p) => {
                let p = p.max(1);
                let e = format!("{:.*e}", p - 1, f.abs());
                let exp: i32 = e
                    .split_once('e')
                    .and_then(|(_, x)| x.parse().ok())
                    .unwrap_or(0);
                let s = if exp < -4 || exp >= p as i32 {
                    exp_form(f, p - 1, verb == 'G')
                } else {
                    format!("{:.*}", (p as i32 - 1 - exp).max(0) as usize, f.abs())
                };
                if spec.sharp {
                    s
                } else if let Some((m, e)) = s.split_once('e') {
                    let m = if m.contains('.') {
                        m.trim_end_matches('0').trim_end_matches('.')
                    } else {
                        m
                    };
                    format!("{m}e{e}")
                } else if s.contains('.') {
                    s.trim_end_matches('0').trim_end_matches('.').to_string()
                } else {
                    s
                }
            }
        },
    };
    format!("{}{body}", sign(neg, spec))
}

fn format_one(verb: char, v: &Value, spec: &Spec) -> String {
    match verb {
        'v' => {
            let s = match v {
                Value::Int(i) => fmt_int(*i, 'd', spec),
                Value::Float(f) => fmt_float(*f, 'g', spec),
                Value::Str(s) if spec.sharp => quote(s),
                other => other.to_go_string(),
            };
            let numeric = matches!(v, Value::Int(_) | Value::Float(_));
            pad(s, spec, numeric)
        }
        's' => match v {
            Value::Str(s) => {
                let s = match spec.prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s.clone(),
                };
                pad(s, spec, false)
            }
            Value::List(_) | Value::Obj(_) | Value::NilList | Value::NilMap => {
                pad(v.to_go_string(), spec, false)
            }
            _ => bad_verb(verb, v),
        },
        'q' => match v {
            Value::Str(s) => pad(quote(s), spec, false),
            Value::Int(i) => {
                let c = char::from_u32(*i as u32).unwrap_or('\u{fffd}');
                let q = quote(&c.to_string());
                pad(
                    format!("'{}'", &q[1..q.len() - 1].replace("\\\"", "\"")),
                    spec,
                    false,
                )
            }
            _ => bad_verb(verb, v),
        },
        'd' | 'o' | 'b' => match v {
            Value::Int(i) => pad(fmt_int(*i, verb, spec), spec, true),
            _ => bad_verb(verb, v),
        },
        'x' | 'X' => match v {
            Value::Int(i) => pad(fmt_int(*i, verb, spec), spec, true),
            Value::Str(s) => {
                let hex: String = s
                    .bytes()
                    .map(|b| {
                        if verb == 'x' {
                            format!("{b:02x}")
                        } else {
                            format!("{b:02X}")
                        }
                    })
                    .collect();
                pad(hex, spec, false)
            }
            _ => bad_verb(verb, v),
        },
        'c' => match v {
            Value::Int(i) => pad(
                char::from_u32(*i as u32).unwrap_or('\u{fffd}').to_string(),
                spec,
                false,
            ),
            _ => bad_verb(verb, v),
        },
        't' => match v {
            Value::Bool(b) => pad(b.to_string(), spec, false),
            _ => bad_verb(verb, v),
        },
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => match v {
            Value::Float(f) => pad(fmt_float(*f, verb, spec), spec, true),
            _ => bad_verb(verb, v),
        },
        _ => bad_verb(verb, v),
    }
}

/// Go's `fmt.Sprintf` for template values.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
                   argi: &mut usize|
         -> Option<usize> {
            if chars.peek() == Some(&'*') {
                chars.next();
                let v = args.get(*argi);
                *argi += 1;
                return match v {
                    Some(Value::Int(i)) if *i >= 0 => Some(*i as usize),
                    _ => None,
                };
            }
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
                chars.next();
            }
            n
        };
        spec.width = num(&mut chars, &mut argi);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(num(&mut chars, &mut argi).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(argi) {
            Some(v) => {
                out.push_str(&format_one(verb, v, &spec));
                argi += 1;
            }
            None => out.push_str(&format!("%!{verb}(MISSING)")),
        }
    }
    if argi < args.len() {
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|v| match v {
                Value::Nil | Value::Invalid => "<nil>".to_string(),
                _ => format!("{}={}", go_type(v), v.to_go_string()),
            })
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

/// `fmt.Sprint`: spaces between operands when neither side is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&a.to_go_string());
    }
    out
}

/// `fmt.Sprintln`.
pub fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(Value::to_go_string).collect();
    let mut s = parts.join(" ");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_strconv() {
        assert_eq!(quote(r#"sh -c "echo hi""#), r#""sh -c \"echo hi\"""#);
        assert_eq!(quote("a\tb\n"), r#""a\tb\n""#);
        assert_eq!(quote("héllo…"), "\"héllo…\"");
        assert_eq!(quote("\u{1}"), r#""\x01""#);
    }

    #[test]
    fn printf_verbs() {
        let s = Value::from;
        assert_eq!(sprintf("%s-%d", &[s("a"), Value::Int(5)]), "a-5");
        assert_eq!(sprintf("%-5s|%5s|", &[s("ab"), s("cd")]), "ab   |   cd|");
        assert_eq!(sprintf("%05d", &[Value::Int(-42)]), "-0042");
        assert_eq!(sprintf("%q", &[s("x\"y")]), r#""x\"y""#);
        assert_eq!(
            sprintf("%v %v", &[Value::Bool(true), Value::Nil]),
            "true <nil>"
        );
        assert_eq!(sprintf("%.2f", &[Value::Float(1.005)]), "1.00");
        assert_eq!(sprintf("%e", &[Value::Float(1234.5)]), "1.234500e+03");
        assert_eq!(sprintf("%d", &[s("x")]), "%!d(string=x)");
        assert_eq!(sprintf("%s %s", &[s("x")]), "x %!s(MISSING)");
        assert_eq!(sprintf("%s", &[s("x"), Value::Int(1)]), "x%!(EXTRA int=1)");
        assert_eq!(sprintf("100%%", &[]), "100%");
        assert_eq!(sprintf("%x", &[Value::Int(255)]), "ff");
        assert_eq!(sprintf("%.3g", &[Value::Float(1234.5)]), "1.23e+03");
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(
            sprint(&[
                Value::Int(1),
                Value::Int(2),
                Value::from("a"),
                Value::Int(3)
            ]),
            "1 2a3"
        );
        assert_eq!(sprintln(&[Value::from("a"), Value::Int(1)]), "a 1\n");
    }
}
