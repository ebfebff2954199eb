//! A Go `text/template` engine: what docker's `--format` strings are written
//! in. Values print the way Go's `fmt` prints docker's Go values (`[a b]`,
//! `map[k:v]`, `<no value>`, `<nil>`), `range` over maps is key-sorted, and
//! methods take arguments (`{{.Label "k"}}`), which gtmpl 0.7 cannot do.

mod ast;
mod decode;
mod exec;
mod fields;
pub mod funcs;
mod lex;
mod parse;
pub mod printf;
pub mod value;

use std::rc::Rc;

pub use funcs::{Func, Funcs};
pub use value::{Method, ObjKind, Object, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template: {name}:{line}: {msg}")]
    Parse {
        name: String,
        line: usize,
        msg: String,
    },
    #[error("template: {name}:{line}:{col}: executing \"{name}\" at <{node}>: {msg}")]
    Exec {
        name: String,
        line: usize,
        col: usize,
        node: String,
        msg: String,
    },
}

impl TemplateError {
    pub(crate) fn parse(line: usize, msg: impl Into<String>) -> Self {
        TemplateError::Parse {
            name: String::new(),
            line,
            msg: msg.into(),
        }
    }

    fn named(self, n: &str) -> Self {
        match self {
            TemplateError::Parse { line, msg, .. } => TemplateError::Parse {
                name: n.to_string(),
                line,
                msg,
            },
            e => e,
        }
    }
}

/// A parsed template.
pub struct Template {
    name: String,
    src: String,
    tree: parse::Tree,
    funcs: Funcs,
}

impl Template {
    /// `templates.Parse`: an unnamed template with docker's basic functions.
    pub fn parse(src: &str) -> Result<Self, TemplateError> {
        Self::parse_with("", src, funcs::basic())
    }

    /// A named template with the given functions.
    pub fn parse_with(name: &str, src: &str, funcs: Funcs) -> Result<Self, TemplateError> {
        let toks = lex::lex(src).map_err(|e| e.named(name))?;
        let is_func = |n: &str| funcs.contains_key(n);
        let tree = parse::Parser::parse(src, toks, &is_func).map_err(|e| e.named(name))?;
        Ok(Self {
            name: name.to_string(),
            src: src.to_string(),
            tree,
            funcs,
        })
    }

    pub fn execute(&self, data: &Value) -> Result<String, TemplateError> {
        self.execute_with(data, &self.funcs)
    }

    /// Executes with another function set (docker's header functions).
    pub fn execute_with(&self, data: &Value, funcs: &Funcs) -> Result<String, TemplateError> {
        let mut e = exec::Exec::new(&self.name, &self.src, &self.tree, funcs);
        let r = e.run(data);
        r.map(|_| e.out)
    }

    /// Executes and returns whatever was produced even on error (Go writes
    /// output as it goes; docker ignores header errors).
    pub fn execute_partial(&self, data: &Value, funcs: &Funcs) -> (String, Option<TemplateError>) {
        let mut e = exec::Exec::new(&self.name, &self.src, &self.tree, funcs);
        let r = e.run(data);
        (e.out, r.err())
    }
}

/// Wraps a closure as a template method.
pub fn method(f: impl Fn(&[Value]) -> Result<Value, String> + 'static) -> Method {
    Rc::new(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str, data: serde_json::Value) -> String {
        Template::parse(t)
            .unwrap()
            .execute(&Value::from_json(&data))
            .unwrap()
    }

    fn err(t: &str, data: serde_json::Value) -> String {
        match Template::parse(t) {
            Err(e) => e.to_string(),
            Ok(tp) => tp
                .execute(&Value::from_json(&data))
                .unwrap_err()
                .to_string(),
        }
    }

    #[test]
    fn fields_and_printing() {
        let d = serde_json::json!({"State": {"Running": true, "ExitCode": 137},
            "Config": {"Cmd": ["sh", "-c", "x"], "Labels": {"b": "2", "a": "1"}, "Entrypoint": null},
            "Name": "/web"});
        assert_eq!(run("{{.State.Running}}", d.clone()), "true");
        assert_eq!(run("{{.State.ExitCode}}", d.clone()), "137");
        assert_eq!(run("{{.Config.Cmd}}", d.clone()), "[sh -c x]");
        assert_eq!(run("{{.Config.Labels}}", d.clone()), "map[a:1 b:2]");
        assert_eq!(run("{{.Config.Labels.zz}}", d.clone()), "<no value>");
        assert_eq!(run("{{.Config.Entrypoint}}", d.clone()), "[]");
        assert_eq!(run("{{json .Config.Entrypoint}}", d.clone()), "null");
        assert_eq!(run("{{json .Config.Cmd}}", d.clone()), r#"["sh","-c","x"]"#);
        assert_eq!(run(r#"{{join .Config.Cmd " "}}"#, d.clone()), "sh -c x");
        assert_eq!(run(r#"{{index .Config.Labels "a"}}"#, d.clone()), "1");
        assert_eq!(run(r#"{{index .Config.Labels "q"}}"#, d.clone()), "");
        assert_eq!(run("{{.Name | printf \"%s!\"}}", d.clone()), "/web!");
        assert_eq!(run("{{ .Name | upper }}", d.clone()), "/WEB");
    }

    #[test]
    fn control_structures() {
        let d = serde_json::json!({"L": {"b": "2", "a": "1"}, "A": ["x", "y"], "E": [], "N": 0});
        assert_eq!(
            run("{{range $k, $v := .L}}{{$k}}={{$v}};{{end}}", d.clone()),
            "a=1;b=2;"
        );
        assert_eq!(run("{{range .A}}[{{.}}]{{end}}", d.clone()), "[x][y]");
        assert_eq!(
            run("{{range $i, $e := .A}}{{$i}}{{$e}}{{end}}", d.clone()),
            "0x1y"
        );
        assert_eq!(run("{{range .E}}x{{else}}empty{{end}}", d.clone()), "empty");
        assert_eq!(
            run("{{if .N}}a{{else if .A}}b{{else}}c{{end}}", d.clone()),
            "b"
        );
        assert_eq!(run("{{with .A}}{{len .}}{{end}}", d.clone()), "2");
        assert_eq!(run("{{with .E}}x{{else}}none{{end}}", d.clone()), "none");
        assert_eq!(
            run("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", d.clone()),
            "2"
        );
        assert_eq!(
            run(
                "{{range .A}}{{if eq . \"y\"}}{{break}}{{end}}{{.}}{{end}}",
                d.clone()
            ),
            "x"
        );
        assert_eq!(
            run("{{and 1 0}} {{or 0 \"b\"}} {{not .N}}", d.clone()),
            "0 b true"
        );
        assert_eq!(run("{{(index .A 1)}}", d.clone()), "y");
        assert_eq!(run("{{- \" a \" -}}  \n x", d.clone()), " a x");
        assert_eq!(
            run(
                "{{define \"t\"}}<{{.}}>{{end}}{{template \"t\" .N}}",
                d.clone()
            ),
            "<0>"
        );
        assert_eq!(run("{{println \"a\" 1}}", d.clone()), "a 1\n");
        assert_eq!(run("{{range $i := 3}}{{$i}}{{end}}", d), "012");
    }

    #[test]
    fn docker_functions() {
        let d = serde_json::json!({"S": "Hello World"});
        assert_eq!(
            run("{{lower .S}} {{upper .S}} {{title \"a b\"}}", d.clone()),
            "hello world HELLO WORLD A B"
        );
        assert_eq!(run("{{split .S \" \"}}", d.clone()), "[Hello World]");
        assert_eq!(
            run("{{truncate .S 5}}|{{truncate .S 50}}", d.clone()),
            "Hello|Hello World"
        );
        assert_eq!(
            run("{{pad .S 1 2}}|{{pad \"\" 1 2}}|", d.clone()),
            " Hello World  ||"
        );
        assert_eq!(run("{{json .}}", d), r#"{"S":"Hello World"}"#);
    }

    #[test]
    fn errors_like_go() {
        assert_eq!(
            err("{{nope}}", serde_json::json!({})),
            r#"template: :1: function "nope" not defined"#
        );
        assert_eq!(
            err("{{.A", serde_json::json!({})),
            "template: :1: unclosed action"
        );
        assert_eq!(
            err("x {{.Foo}}", serde_json::json!({"A": 1})),
            r#"template: :1:4: executing "" at <.Foo>: map has no entry for key "Foo""#
        );
        assert!(err("{{if .A}}", serde_json::json!({})).contains("unexpected EOF"));
        assert!(err("{{end}}", serde_json::json!({})).contains("unexpected {{end}}"));
    }

    #[test]
    fn call_errors_where_go_reports_them() {
        let d = serde_json::json!({"S": "x", "L": ["a"]});
        // Arity is checked before arguments are evaluated.
        assert_eq!(
            err("{{truncate .Nope}}", d.clone()),
            r#"template: :1:2: executing "" at <truncate>: wrong number of args for truncate: want 2 got 1"#
        );
        // Type errors point at the argument.
        assert_eq!(
            err(r#"{{join .S ","}}"#, d.clone()),
            r#"template: :1:7: executing "" at <.S>: wrong type for value; expected []string; got string"#
        );
        assert_eq!(
            err("{{.S 1}}", d),
            r#"template: :1:2: executing "" at <.S>: S is not a method but has arguments"#
        );
    }

    #[test]
    fn methods_with_arguments() {
        let labels = std::collections::BTreeMap::from([("com.x".to_string(), "1".to_string())]);
        let obj = Object::new(ObjKind::Struct, "*formatter.ContainerContext")
            .with("ID", "abc")
            .method(
                "Label",
                method(move |a| {
                    let k = a.first().and_then(Value::as_str).unwrap_or_default();
                    Ok(Value::from(labels.get(k).cloned().unwrap_or_default()))
                }),
            );
        let t = Template::parse(r#"{{.ID}} {{.Label "com.x"}}"#).unwrap();
        assert_eq!(t.execute(&Value::from(obj.clone())).unwrap(), "abc 1");
        let t = Template::parse("{{.Nope}}").unwrap();
        assert_eq!(
            t.execute(&Value::from(obj)).unwrap_err().to_string(),
            r#"template: :1:2: executing "" at <.Nope>: can't evaluate field Nope in type *formatter.ContainerContext"#
        );
    }
}
