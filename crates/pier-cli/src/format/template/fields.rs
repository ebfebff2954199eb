//! Which fields of its data a template can read: lets a caller build only
//! those (`pier ps` with 1000 rows needs 7 of a container's 16 fields for
//! the default table).

use std::collections::BTreeSet;

use super::ast::{Arg, Node, Pipe};
use super::Template;

impl Template {
    /// The first name of every field chain the template reads (`.ID`,
    /// `$.Names`, `.Label "x"`), or `None` when it can reach the data as a
    /// whole (`.`, `$`, `{{template}}`), so that nothing may be left out.
    /// Names read from other values (inside `with`/`range`) are included
    /// too: a superset is harmless.
    pub fn field_names(&self) -> Option<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        nodes(&self.tree.root, &mut out)?;
        for body in self.tree.defines.values() {
            nodes(body, &mut out)?;
        }
        Some(out)
    }
}

fn nodes(list: &[Node], out: &mut BTreeSet<String>) -> Option<()> {
    for n in list {
        match n {
            Node::Text(_) | Node::Break | Node::Continue => {}
            Node::Action(p) => pipe(p, out)?,
            Node::If(c) | Node::Range(c) | Node::With(c) => {
                pipe(&c.pipe, out)?;
                nodes(&c.list, out)?;
                if let Some(e) = &c.else_list {
                    nodes(e, out)?;
                }
            }
            Node::Template { .. } => return None,
        }
    }
    Some(())
}

fn pipe(p: &Pipe, out: &mut BTreeSet<String>) -> Option<()> {
    for c in &p.cmds {
        for a in &c.args {
            arg(a, out)?;
        }
    }
    Some(())
}

fn arg(a: &Arg, out: &mut BTreeSet<String>) -> Option<()> {
    match a {
        Arg::Dot => return None,
        Arg::Field { names, .. } => out.extend(names.first().cloned()),
        Arg::Var { name, fields, .. } => match fields.first() {
            Some(f) => {
                out.insert(f.clone());
            }
            None if name == "$" => return None,
            None => {}
        },
        Arg::Chain { node, fields, .. } => {
            arg(node, out)?;
            out.extend(fields.first().cloned());
        }
        Arg::Pipe(p) => pipe(p, out)?,
        Arg::Nil | Arg::Bool(_) | Arg::Int(_) | Arg::Float(_) | Arg::Str(_) | Arg::Ident { .. } => {
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: &str) -> Option<Vec<String>> {
        Template::parse(src)
            .unwrap()
            .field_names()
            .map(|s| s.into_iter().collect())
    }

    #[test]
    fn fields_read_by_templates() {
        assert_eq!(
            names("{{.ID}}\t{{.Names}} {{.Label \"a\"}}"),
            Some(vec!["ID".into(), "Label".into(), "Names".into()])
        );
        assert_eq!(
            names("{{if .Ports}}{{$.Image | printf \"%s\"}}{{else}}{{(.Size)}}{{end}}"),
            Some(vec!["Image".into(), "Ports".into(), "Size".into()])
        );
        assert_eq!(names("{{json .}}"), None);
        assert_eq!(names("{{.ID}} {{.}}"), None);
        assert_eq!(names("{{with $}}{{.ID}}{{end}}"), None);
        assert_eq!(
            names("{{define \"x\"}}{{.ID}}{{end}}{{template \"x\" .}}"),
            None
        );
        assert_eq!(names("plain"), Some(vec![]));
    }
}
