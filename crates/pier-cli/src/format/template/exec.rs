//! Executes a parsed template against a [`Value`], with Go's semantics for
//! fields, methods, variables, `if`/`range`/`with`, `and`/`or` short-circuit
//! and `<no value>` for missing map keys.

use super::funcs::Funcs;
use super::parse::{Arg, Cmd, Control, Node, Pipe, Tree};
use super::value::{ObjKind, Value};
use super::TemplateError;

const MAX_DEPTH: usize = 1000;

enum Flow {
    Normal,
    Break,
    Continue,
}

pub struct Exec<'a> {
    pub name: &'a str,
    pub src: &'a str,
    pub tree: &'a Tree,
    pub funcs: &'a Funcs,
    pub out: String,
    vars: Vec<(String, Value)>,
    depth: usize,
}

/// An error while evaluating a node: message plus the node it happened at.
struct At {
    pos: usize,
    node: String,
    msg: String,
}

type R<T> = Result<T, At>;

fn at(arg: &Arg, msg: impl Into<String>) -> At {
    At {
        pos: arg.pos().unwrap_or(0),
        node: arg.describe(),
        msg: msg.into(),
    }
}

impl<'a> Exec<'a> {
    pub fn new(name: &'a str, src: &'a str, tree: &'a Tree, funcs: &'a Funcs) -> Self {
        Self {
            name,
            src,
            tree,
            funcs,
            out: String::new(),
            vars: Vec::new(),
            depth: 0,
        }
    }

    pub fn run(&mut self, data: &Value) -> Result<(), TemplateError> {
        self.vars.push(("$".into(), data.clone()));
        let root = &self.tree.root;
        self.walk(data, root)
            .map(|_| ())
            .map_err(|e| self.to_error(e))
    }

    fn to_error(&self, e: At) -> TemplateError {
        let before = &self.src[..e.pos.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let col = e.pos.min(self.src.len()) - before.rfind('\n').map(|p| p + 1).unwrap_or(0);
        TemplateError::Exec {
            name: self.name.to_string(),
            line,
            col,
            node: e.node,
            msg: e.msg,
        }
    }

    fn walk(&mut self, dot: &Value, nodes: &[Node]) -> R<Flow> {
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(dot, p)?;
                    if p.decl.is_empty() {
                        self.out.push_str(&v.to_go_string());
                    }
                }
                Node::If(c) | Node::With(c) => {
                    let is_with = matches!(n, Node::With(_));
                    let mark = self.vars.len();
                    let v = self.pipe(dot, &c.pipe)?;
                    let flow = if v.truth() {
                        if is_with {
                            self.walk(&v, &c.list)?
                        } else {
                            self.walk(dot, &c.list)?
                        }
                    } else if let Some(e) = &c.else_list {
                        self.walk(dot, e)?
                    } else {
                        Flow::Normal
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(c) => self.range(dot, c)?,
                Node::Template { pos, name, pipe } => {
                    let new_dot = match pipe {
                        Some(p) => self.pipe(dot, p)?,
                        None => Value::Nil,
                    };
                    let body = self.tree.defines.get(name).ok_or_else(|| At {
                        pos: *pos,
                        node: format!("{{{{template {name:?}}}}}"),
                        msg: format!("no such template {name:?}"),
                    })?;
                    if self.depth >= MAX_DEPTH {
                        return Err(At {
                            pos: *pos,
                            node: format!("{{{{template {name:?}}}}}"),
                            msg: "exceeded maximum template depth".into(),
                        });
                    }
                    let saved =
                        std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
                    self.depth += 1;
                    let r = self.walk(&new_dot, body);
                    self.depth -= 1;
                    self.vars = saved;
                    r?;
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn range(&mut self, dot: &Value, c: &Control) -> R<()> {
        let v = self.pipe_value(dot, &c.pipe)?;
        let items: Vec<(Value, Value)> = match &v {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, x)| (Value::Int(i as i64), x.clone()))
                .collect(),
            Value::Obj(o) if o.kind == ObjKind::Map => o
                .ordered()
                .into_iter()
                .map(|(k, x)| (Value::Str(k.clone()), x.clone()))
                .collect(),
            Value::Int(n) => (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect(),
            Value::Nil | Value::Invalid | Value::NilList | Value::NilMap => Vec::new(),
            other => {
                return Err(At {
                    pos: c.pipe.pos,
                    node: c.pipe.describe(),
                    msg: format!("range can't iterate over {}", other.to_go_string()),
                })
            }
        };
        if items.is_empty() {
            if let Some(e) = &c.else_list {
                let mark = self.vars.len();
                self.walk(dot, e)?;
                self.vars.truncate(mark);
            }
            return Ok(());
        }
        for (k, x) in items {
            let mark = self.vars.len();
            match c.pipe.decl.len() {
                0 => {}
                1 => self.vars.push((c.pipe.decl[0].clone(), x.clone())),
                _ => {
                    self.vars.push((c.pipe.decl[0].clone(), k));
                    self.vars.push((c.pipe.decl[1].clone(), x.clone()));
                }
            }
            let flow = self.walk(&x, &c.list)?;
            self.vars.truncate(mark);
            if matches!(flow, Flow::Break) {
                break;
            }
        }
        Ok(())
    }

    /// A pipeline's value without handling declarations (range does that).
    fn pipe_value(&mut self, dot: &Value, p: &Pipe) -> R<Value> {
        let mut val: Option<Value> = None;
        for cmd in &p.cmds {
            val = Some(self.cmd(dot, cmd, val)?);
        }
        Ok(val.unwrap_or(Value::Invalid))
    }

    fn pipe(&mut self, dot: &Value, p: &Pipe) -> R<Value> {
        let v = self.pipe_value(dot, p)?;
        for name in &p.decl {
            if p.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => {
                        return Err(At {
                            pos: p.pos,
                            node: p.describe(),
                            msg: format!("undefined variable: {name}"),
                        })
                    }
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn var(&self, arg: &Arg, name: &str) -> R<Value> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| at(arg, format!("undefined variable: {name}")))
    }

    fn cmd(&mut self, dot: &Value, cmd: &Cmd, fin: Option<Value>) -> R<Value> {
        let first = &cmd.args[0];
        let rest = &cmd.args[1..];
        match first {
            Arg::Field { names, .. } => self.field_chain(dot, dot.clone(), names, first, rest, fin),
            Arg::Chain { node, fields, .. } => {
                let base = self.arg(dot, node)?;
                self.field_chain(dot, base, fields, first, rest, fin)
            }
            Arg::Var { name, fields, .. } => {
                let v = self.var(first, name)?;
                if fields.is_empty() {
                    not_a_function(first, rest, &fin)?;
                    Ok(v)
                } else {
                    self.field_chain(dot, v, fields, first, rest, fin)
                }
            }
            Arg::Ident { name, .. } => self.call(dot, first, name, rest, fin),
            Arg::Pipe(p) => {
                not_a_function(first, rest, &fin)?;
                self.pipe(dot, p)
            }
            lit => {
                not_a_function(first, rest, &fin)?;
                self.arg(dot, lit)
            }
        }
    }

    fn arg(&mut self, dot: &Value, a: &Arg) -> R<Value> {
        Ok(match a {
            Arg::Dot => dot.clone(),
            Arg::Nil => Value::Nil,
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Int(i) => Value::Int(*i),
            Arg::Float(f) => Value::Float(*f),
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Field { names, .. } => self.field_chain(dot, dot.clone(), names, a, &[], None)?,
            Arg::Var { name, fields, .. } => {
                let v = self.var(a, name)?;
                if fields.is_empty() {
                    v
                } else {
                    self.field_chain(dot, v, fields, a, &[], None)?
                }
            }
            Arg::Chain { node, fields, .. } => {
                let base = self.arg(dot, node)?;
                self.field_chain(dot, base, fields, a, &[], None)?
            }
            Arg::Ident { name, .. } => self.call(dot, a, name, &[], None)?,
            Arg::Pipe(p) => self.pipe(dot, p)?,
        })
    }

    fn field_chain(
        &mut self,
        dot: &Value,
        mut recv: Value,
        names: &[String],
        node: &Arg,
        args: &[Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let n = names.len();
        for (i, name) in names.iter().enumerate() {
            if i + 1 < n {
                recv = self.field(dot, &recv, name, node, &[], None)?;
            } else {
                return self.field(dot, &recv, name, node, args, fin);
            }
        }
        Ok(recv)
    }

    fn field(
        &mut self,
        dot: &Value,
        recv: &Value,
        name: &str,
        node: &Arg,
        args: &[Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let has_args = !args.is_empty() || fin.is_some();
        match recv {
            Value::Obj(o) => {
                if let Some(m) = o.get_method(name) {
                    let m = m.clone();
                    let mut vals = Vec::with_capacity(args.len() + 1);
                    for a in args {
                        vals.push(self.arg(dot, a)?);
                    }
                    if let Some(f) = fin {
                        vals.push(f);
                    }
                    return m(&vals).map_err(|e| call_error(node, name, args, e));
                }
                let found = o
                    .get(name)
                    .or_else(|| super::value::json_alias(name).and_then(|a| o.get(a)));
                // A missing struct field is reported before stray arguments.
                if has_args && (found.is_some() || o.kind == ObjKind::Map) {
                    // docker's formatter contexts expose methods taking no arguments.
                    if o.type_name.starts_with('*') {
                        let got = args.len() + usize::from(fin.is_some());
                        return Err(at(
                            node,
                            format!("wrong number of args for {name}: want 0 got {got}"),
                        ));
                    }
                    return Err(at(
                        node,
                        format!("{name} is not a method but has arguments"),
                    ));
                }
                let from_daemon = o.type_name.starts_with("map[");
                let zero = || {
                    super::value::zero_field(name)
                        .filter(|_| from_daemon && o.kind == ObjKind::Struct)
                };
                match found {
                    Some(Value::Nil) if from_daemon && o.kind == ObjKind::Struct => {
                        Ok(super::value::zero_field(name).unwrap_or(Value::Nil))
                    }
                    Some(v) => {
                        Ok(super::value::go_time_field(name, v).unwrap_or_else(|| v.clone()))
                    }
                    None if o.kind == ObjKind::Map => Ok(Value::Invalid),
                    None if zero().is_some() => Ok(zero().unwrap_or(Value::Nil)),
                    None if o.type_name.starts_with("map[") => {
                        Err(at(node, format!("map has no entry for key {name:?}")))
                    }
                    None => Err(at(
                        node,
                        format!("can't evaluate field {name} in type {}", o.type_name),
                    )),
                }
            }
            Value::Invalid | Value::NilMap => Ok(Value::Invalid),
            Value::Nil => Err(at(
                node,
                format!("nil pointer evaluating interface {{}}.{name}"),
            )),
            other => Err(at(
                node,
                format!("can't evaluate field {name} in type {}", other.type_name()),
            )),
        }
    }

    fn call(
        &mut self,
        dot: &Value,
        node: &Arg,
        name: &str,
        args: &[Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        super::funcs::check_arity(name, args.len() + usize::from(fin.is_some()))
            .map_err(|e| at(node, e))?;
        // and/or evaluate lazily and return the deciding operand.
        if name == "and" || name == "or" {
            if args.is_empty() && fin.is_none() {
                return Err(at(
                    node,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut last = Value::Invalid;
            for a in args {
                last = self.arg(dot, a)?;
                if (name == "and") != last.truth() {
                    return Ok(last);
                }
            }
            if let Some(f) = fin {
                last = f;
            }
            return Ok(last);
        }
        let f = self
            .funcs
            .get(name)
            .ok_or_else(|| at(node, format!("{name:?} is not a defined function")))?
            .clone();
        let mut vals: Vec<Value> = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(dot, a)?);
        }
        if let Some(v) = fin {
            vals.push(v);
        }
        f(&vals).map_err(|e| call_error(node, name, args, e))
    }
}

/// Where and how Go reports a failed call: arity errors at the call, type
/// errors at the argument, anything else as "error calling".
fn call_error(node: &Arg, name: &str, args: &[Arg], e: String) -> At {
    use super::funcs::{ARG_ERR, CALL_ERR};
    if let Some(rest) = e.strip_prefix(CALL_ERR) {
        return at(node, rest);
    }
    if let Some(rest) = e.strip_prefix(ARG_ERR) {
        if let Some((idx, msg)) = rest.split_once(ARG_ERR) {
            let target = idx.parse::<usize>().ok().and_then(|i| args.get(i));
            return match target {
                Some(a) if a.pos().is_some() => at(a, msg),
                _ => at(node, msg),
            };
        }
    }
    at(node, format!("error calling {name}: {e}"))
}

fn not_a_function(first: &Arg, rest: &[Arg], fin: &Option<Value>) -> R<()> {
    if !rest.is_empty() || fin.is_some() {
        return Err(at(
            first,
            format!("can't give argument to non-function {}", first.describe()),
        ));
    }
    Ok(())
}
