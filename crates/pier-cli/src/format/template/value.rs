//! Values seen by templates, printed and compared the way Go's `text/template`
//! and `fmt` treat the Go values docker feeds its templates.

use std::fmt::Write as _;
use std::rc::Rc;

pub use super::decode::{go_time_field, json_alias, parse_json, zero_field};

/// A method taking arguments, e.g. `{{.Label "com.example"}}`.
pub type Method = Rc<dyn Fn(&[Value]) -> Result<Value, String>>;

/// Whether an object behaves like a Go map or a Go struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjKind {
    /// A Go map: a missing key is `<no value>`; prints as `map[k:v ...]` with
    /// sorted keys; `range` and `json` visit keys in sorted order.
    Map,
    /// A Go struct: a missing field is an error; prints as `{v1 v2 ...}`;
    /// `json` keeps field order.
    Struct,
}

/// An ordered object (JSON object, formatter context or header).
#[derive(Clone)]
pub struct Object {
    pub kind: ObjKind,
    /// Go type name used in error messages (`*formatter.ContainerContext`).
    pub type_name: String,
    pub fields: Vec<(String, Value)>,
    pub methods: Vec<(String, Method)>,
    /// Fields Go's `json:",omitempty"` leaves out when empty.
    pub omit_empty: &'static [&'static str],
    /// Go `json:"name"` tags: (field, JSON key) where they differ.
    pub json_names: &'static [(&'static str, &'static str)],
    /// docker's formatter contexts marshal themselves with `json.Marshal`,
    /// which escapes `<`, `>` and `&`.
    pub escape_html: bool,
}

impl Object {
    pub fn new(kind: ObjKind, type_name: impl Into<String>) -> Self {
        Self {
            kind,
            type_name: type_name.into(),
            fields: Vec::new(),
            methods: Vec::new(),
            omit_empty: &[],
            json_names: &[],
            escape_html: false,
        }
    }

    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.fields.push((key.into(), value.into()));
        self
    }

    pub fn method(mut self, name: &str, m: Method) -> Self {
        self.methods.push((name.to_string(), m));
        self
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_method(&self, key: &str) -> Option<&Method> {
        self.methods.iter().find(|(k, _)| k == key).map(|(_, m)| m)
    }

    /// Entries in the order Go would visit them (sorted for maps).
    pub fn ordered(&self) -> Vec<&(String, Value)> {
        let mut v: Vec<&(String, Value)> = self.fields.iter().collect();
        if self.kind == ObjKind::Map {
            v.sort_by(|a, b| a.0.cmp(&b.0));
        }
        v
    }
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("kind", &self.kind)
            .field("fields", &self.fields)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub enum Value {
    /// Go's invalid `reflect.Value` (a missing map key): prints `<no value>`.
    Invalid,
    /// A nil pointer or interface (JSON `null`): prints `<nil>`.
    Nil,
    /// A nil slice of docker's Go types: prints `[]`, marshals as `null`.
    NilList,
    /// A nil map of docker's Go types: prints `map[]`, marshals as `null`.
    NilMap,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Rc<Vec<Value>>),
    Obj(Rc<Object>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::List(Rc::new(v))
    }
}
impl From<Object> for Value {
    fn from(o: Object) -> Self {
        Value::Obj(Rc::new(o))
    }
}

impl Value {
    /// Test helper: a `serde_json::Value` as a template value (keys sorted).
    #[cfg(test)]
    pub fn from_json(v: &serde_json::Value) -> Value {
        parse_json(&serde_json::to_vec(v).unwrap_or_default()).unwrap_or(Value::Nil)
    }

    /// Go's `isTrue`.
    pub fn truth(&self) -> bool {
        match self {
            Value::Invalid | Value::Nil | Value::NilList | Value::NilMap => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Obj(o) => o.kind == ObjKind::Struct || !o.fields.is_empty(),
        }
    }

    /// A short type description for error messages.
    pub fn type_name(&self) -> &str {
        match self {
            Value::Invalid => "<nil>",
            Value::Nil => "<nil>",
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

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `fmt.Sprint(v)` / `%v`.
    pub fn to_go_string(&self) -> String {
        let mut s = String::new();
        self.write_go(&mut s);
        s
    }

    fn write_go(&self, out: &mut String) {
        match self {
            Value::Invalid => out.push_str("<no value>"),
            Value::Nil => out.push_str("<nil>"),
            Value::NilList => out.push_str("[]"),
            Value::NilMap => out.push_str("map[]"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&go_float(*f)),
            Value::Str(s) => out.push_str(s),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_go(out);
                }
                out.push(']');
            }
            Value::Obj(o) => match o.kind {
                ObjKind::Map => {
                    out.push_str("map[");
                    for (i, (k, v)) in o.ordered().into_iter().enumerate() {
                        if i > 0 {
                            out.push(' ');
                        }
                        out.push_str(k);
                        out.push(':');
                        v.write_go(out);
                    }
                    out.push(']');
                }
                ObjKind::Struct => {
                    out.push('{');
                    for (i, (k, v)) in o.fields.iter().enumerate() {
                        if i > 0 {
                            out.push(' ');
                        }
                        match go_time_field(k, v) {
                            Some(t) => t.write_go(out),
                            None if matches!(v, Value::Nil) => {
                                zero_field(k).unwrap_or(Value::Nil).write_go(out)
                            }
                            None => v.write_go(out),
                        }
                    }
                    out.push('}');
                }
            },
        }
    }

    /// `json.Marshal` with HTML escaping off (docker's `json` function).
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        self.write_json(&mut s, false);
        s
    }

    fn write_json(&self, out: &mut String, html: bool) {
        match self {
            Value::Invalid | Value::Nil | Value::NilList | Value::NilMap => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&json_float(*f)),
            Value::Str(s) => write_json_str(out, s, html),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out, html);
                }
                out.push(']');
            }
            Value::Obj(o) => {
                let html = html || o.escape_html;
                out.push('{');
                let mut first = true;
                for (k, v) in o.ordered() {
                    if o.omit_empty.contains(&k.as_str()) && !v.truth() {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    let key = o
                        .json_names
                        .iter()
                        .find(|(f, _)| f == k)
                        .map(|(_, j)| *j)
                        .unwrap_or(k);
                    write_json_str(out, key, html);
                    out.push(':');
                    v.write_json(out, html);
                }
                out.push('}');
            }
        }
    }
}

pub(super) fn looks_like_go_field(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Go's JSON string encoding: `SetEscapeHTML(false)` unless `html`, which
/// escapes `<`, `>`, `&` as `json.Marshal` does.
fn write_json_str(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '<' if html => out.push_str("\\u003c"),
            '>' if html => out.push_str("\\u003e"),
            '&' if html => out.push_str("\\u0026"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Splits Rust's shortest round-trip digits into (negative, digits, decimal exponent)
/// such that value = 0.d1d2d3... × 10^exp10.
fn shortest_digits(f: f64) -> (bool, String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    (f.is_sign_negative() && f != 0.0, digits, exp + 1)
}

/// `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return "0".into();
    }
    let (neg, digits, dp) = shortest_digits(f);
    let exp = dp - 1;
    let sign = if neg { "-" } else { "" };
    // strconv's 'g' with shortest precision decides with a precision of 6.
    if !(-4..6).contains(&exp) {
        return format!("{sign}{}", sci(&digits, exp));
    }
    format!("{sign}{}", fixed(&digits, dp))
}

/// encoding/json float formatting.
fn json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    if f == 0.0 {
        return "0".into();
    }
    let abs = f.abs();
    let (neg, digits, dp) = shortest_digits(f);
    let sign = if neg { "-" } else { "" };
    if !(1e-6..1e21).contains(&abs) {
        let exp = dp - 1;
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.clone()
        };
        let es = if exp < 0 { "-" } else { "+" };
        return format!("{sign}{m}e{es}{}", exp.abs());
    }
    format!("{sign}{}", fixed(&digits, dp))
}

fn sci(digits: &str, exp: i32) -> String {
    let m = if digits.len() > 1 {
        format!("{}.{}", &digits[..1], &digits[1..])
    } else {
        digits.to_string()
    };
    let es = if exp < 0 { '-' } else { '+' };
    format!("{m}e{es}{:02}", exp.abs())
}

fn fixed(digits: &str, dp: i32) -> String {
    let n = digits.len() as i32;
    if dp <= 0 {
        format!("0.{}{}", "0".repeat((-dp) as usize), digits)
    } else if dp >= n {
        format!("{}{}", digits, "0".repeat((dp - n) as usize))
    } else {
        format!("{}.{}", &digits[..dp as usize], &digits[dp as usize..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_printing() {
        let v = parse_json(br#"{"Cmd":["sh","-c","echo hi"],"Labels":{"b":"2","a":"1"},"State":{"Running":true,"Pid":42},"Nil":null}"#).unwrap();
        let Value::Obj(o) = &v else { panic!() };
        assert_eq!(o.get("Cmd").unwrap().to_go_string(), "[sh -c echo hi]");
        assert_eq!(o.get("Labels").unwrap().to_go_string(), "map[a:1 b:2]");
        assert_eq!(o.get("State").unwrap().to_go_string(), "{true 42}");
        assert_eq!(o.get("Nil").unwrap().to_go_string(), "<nil>");
        assert_eq!(o.get("Labels").unwrap().to_json(), r#"{"a":"1","b":"2"}"#);
        assert_eq!(
            o.get("State").unwrap().to_json(),
            r#"{"Running":true,"Pid":42}"#
        );
    }

    #[test]
    fn ordered_parse_keeps_daemon_order() {
        let v = parse_json(
            br#"{"Id":"x","Config":{"Labels":{"z":"1","a":"2"},"Cmd":null},"Args":[1,2.5]}"#,
        )
        .unwrap();
        assert_eq!(
            v.to_json(),
            r#"{"Id":"x","Config":{"Labels":{"a":"2","z":"1"},"Cmd":null},"Args":[1,2.5]}"#
        );
        let Value::Obj(o) = &v else { panic!() };
        assert_eq!(o.kind, ObjKind::Struct);
        assert!(parse_json(b"{").is_err());
        let v = parse_json(br#"{"HostConfig":{"LogConfig":{"Type":"json-file","Config":{"max-size":"1m"}}},"Config":{"Image":"x"}}"#).unwrap();
        let t = super::super::Template::parse("{{.HostConfig.LogConfig.Config}} {{.Config.Image}}")
            .unwrap();
        assert_eq!(t.execute(&v).unwrap(), "map[max-size:1m] x");
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(0.5), "0.5");
    }

    #[test]
    fn json_strings_unescaped_html() {
        assert_eq!(Value::from("<a&b>").to_json(), r#""<a&b>""#);
        assert_eq!(Value::from("a\"b\n").to_json(), r#""a\"b\n""#);
    }
}
