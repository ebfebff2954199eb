//! Parser for Go's `text/template` syntax into a small tree.

use std::collections::HashMap;

pub use super::ast::*;
use super::lex::{line_of, Tok, Token};
use super::TemplateError;

/// The parsed main template plus `define`d ones.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub root: Vec<Node>,
    pub defines: HashMap<String, Vec<Node>>,
}

enum Stop {
    Eof,
    End,
    Else,
}

pub struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
    is_func: &'a dyn Fn(&str) -> bool,
    defines: HashMap<String, Vec<Node>>,
    range_depth: usize,
}

impl<'a> Parser<'a> {
    pub fn parse(
        src: &'a str,
        toks: Vec<Token>,
        is_func: &'a dyn Fn(&str) -> bool,
    ) -> Result<Tree, TemplateError> {
        let mut p = Parser {
            src,
            toks,
            i: 0,
            is_func,
            defines: HashMap::new(),
            range_depth: 0,
        };
        let (root, end) = p.list()?;
        match end {
            Stop::Eof => {}
            Stop::End => return Err(p.err_at(p.prev_pos(), "unexpected {{end}}")),
            Stop::Else => return Err(p.err_at(p.prev_pos(), "unexpected {{else}}")),
        }
        Ok(Tree {
            root,
            defines: p.defines,
        })
    }

    fn err_at(&self, pos: usize, msg: impl Into<String>) -> TemplateError {
        TemplateError::parse(line_of(self.src, pos), msg)
    }

    fn prev_pos(&self) -> usize {
        self.toks
            .get(self.i.saturating_sub(1))
            .map(|t| t.pos)
            .unwrap_or(0)
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].tok
    }

    fn pos(&self) -> usize {
        self.toks[self.i.min(self.toks.len() - 1)].pos
    }

    fn next(&mut self) -> Token {
        let t = self.toks[self.i.min(self.toks.len() - 1)].clone();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Tok::Space) {
            self.i += 1;
        }
    }

    /// The keyword right after `{{` (if any), without consuming anything.
    fn keyword_after_open(&self) -> Option<&str> {
        let mut k = self.i + 1;
        while matches!(self.toks.get(k).map(|t| &t.tok), Some(Tok::Space)) {
            k += 1;
        }
        match self.toks.get(k).map(|t| &t.tok) {
            Some(Tok::Ident(name)) => Some(name.as_str()),
            _ => None,
        }
    }

    fn list(&mut self) -> Result<(Vec<Node>, Stop), TemplateError> {
        let mut nodes = Vec::new();
        loop {
            match self.peek().clone() {
                Tok::Eof => return Ok((nodes, Stop::Eof)),
                Tok::Text(t) => {
                    self.i += 1;
                    nodes.push(Node::Text(t));
                }
                Tok::Open => {
                    let kw = self.keyword_after_open().map(str::to_string);
                    let open_pos = self.pos();
                    match kw.as_deref() {
                        Some("end") => {
                            self.next();
                            self.skip_space();
                            self.next();
                            self.expect_close("end")?;
                            return Ok((nodes, Stop::End));
                        }
                        Some("else") => {
                            self.next();
                            self.skip_space();
                            self.next();
                            // Leave "if"/"with" after else for the caller; else expect }}.
                            return Ok((nodes, Stop::Else));
                        }
                        Some("if") | Some("range") | Some("with") => {
                            self.next();
                            self.skip_space();
                            self.next();
                            let kw = kw.unwrap_or_default();
                            nodes.push(self.control(&kw, open_pos)?);
                        }
                        Some("define") => {
                            self.next();
                            self.skip_space();
                            self.next();
                            self.skip_space();
                            let name = self.string_operand("define")?;
                            self.expect_close("define")?;
                            let (body, end) = self.list()?;
                            if !matches!(end, Stop::End) {
                                return Err(self.err_at(open_pos, "unexpected EOF"));
                            }
                            self.defines.insert(name, body);
                        }
                        Some("block") => {
                            self.next();
                            self.skip_space();
                            self.next();
                            self.skip_space();
                            let name = self.string_operand("block")?;
                            self.skip_space();
                            let pipe = self.pipeline("block", false)?;
                            let (body, end) = self.list()?;
                            if !matches!(end, Stop::End) {
                                return Err(self.err_at(open_pos, "unexpected EOF"));
                            }
                            self.defines.insert(name.clone(), body);
                            nodes.push(Node::Template {
                                pos: open_pos,
                                name,
                                pipe: Some(pipe),
                            });
                        }
                        Some("template") => {
                            self.next();
                            self.skip_space();
                            self.next();
                            self.skip_space();
                            let name = self.string_operand("template")?;
                            self.skip_space();
                            let pipe = if matches!(self.peek(), Tok::Close) {
                                self.next();
                                None
                            } else {
                                Some(self.pipeline("template", false)?)
                            };
                            nodes.push(Node::Template {
                                pos: open_pos,
                                name,
                                pipe,
                            });
                        }
                        Some(k @ ("break" | "continue")) => {
                            let k = k.to_string();
                            self.next();
                            self.skip_space();
                            self.next();
                            if self.range_depth == 0 {
                                return Err(self.err_at(
                                    open_pos,
                                    format!("{{{{{k}}}}} outside {{{{range}}}}"),
                                ));
                            }
                            self.expect_close(&k)?;
                            nodes.push(if k == "break" {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        _ => {
                            self.next();
                            self.skip_space();
                            let pipe = self.pipeline("command", true)?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
                other => {
                    return Err(self.err_at(self.pos(), format!("unexpected {other:?}")));
                }
            }
        }
    }

    fn expect_close(&mut self, ctx: &str) -> Result<(), TemplateError> {
        self.skip_space();
        match self.next().tok {
            Tok::Close => Ok(()),
            t => Err(self.err_at(
                self.prev_pos(),
                format!("unexpected {} in {ctx}", tok_desc(&t)),
            )),
        }
    }

    fn string_operand(&mut self, ctx: &str) -> Result<String, TemplateError> {
        match self.next().tok {
            Tok::Str(s) => Ok(s),
            t => Err(self.err_at(
                self.prev_pos(),
                format!("unexpected {} in {ctx} clause", tok_desc(&t)),
            )),
        }
    }

    /// After `{{if`/`{{range`/`{{with`: the pipeline, the body and the else part.
    fn control(&mut self, kw: &str, open_pos: usize) -> Result<Node, TemplateError> {
        self.skip_space();
        if kw == "range" {
            self.range_depth += 1;
        }
        let pipe = self.pipeline(kw, true)?;
        let (list, end) = self.list()?;
        if kw == "range" {
            self.range_depth -= 1;
        }
        let else_list = match end {
            Stop::Eof => return Err(self.err_at(open_pos, "unexpected EOF")),
            Stop::End => None,
            Stop::Else => {
                self.skip_space();
                // {{else if ...}} / {{else with ...}} chain into a nested control
                // sharing the outer {{end}}.
                let chained = match self.peek() {
                    Tok::Ident(k) if (k == "if" && kw == "if") || (k == "with" && kw == "with") => {
                        Some(k.clone())
                    }
                    _ => None,
                };
                if let Some(k) = chained {
                    let pos = self.pos();
                    self.next();
                    Some(vec![self.control(&k, pos)?])
                } else {
                    self.expect_close("else")?;
                    let (else_list, end) = self.list()?;
                    match end {
                        Stop::End => {}
                        Stop::Else => {
                            return Err(self.err_at(self.prev_pos(), "expected end; found {{else}}"))
                        }
                        Stop::Eof => return Err(self.err_at(open_pos, "unexpected EOF")),
                    }
                    Some(else_list)
                }
            }
        };
        let c = Control {
            pipe,
            list,
            else_list,
        };
        Ok(match kw {
            "if" => Node::If(c),
            "range" => Node::Range(c),
            _ => Node::With(c),
        })
    }

    /// Parses a pipeline up to `}}` (consumed) or `)` (not consumed, when nested).
    fn pipeline(&mut self, ctx: &str, allow_decl: bool) -> Result<Pipe, TemplateError> {
        let pos = self.pos();
        let mut decl = Vec::new();
        let mut assign = false;
        if allow_decl {
            // $x := / $x = / $i, $x :=
            let save = self.i;
            let mut names = Vec::new();
            loop {
                match self.peek().clone() {
                    Tok::Var(name, fields) if fields.is_empty() => {
                        self.next();
                        self.skip_space();
                        names.push(name);
                        match self.peek() {
                            Tok::Comma if ctx == "range" && names.len() == 1 => {
                                self.next();
                                self.skip_space();
                                continue;
                            }
                            Tok::Declare => {
                                self.next();
                                decl = names;
                            }
                            Tok::Assign => {
                                self.next();
                                decl = names;
                                assign = true;
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                }
                break;
            }
            if decl.is_empty() {
                self.i = save;
            } else {
                self.skip_space();
            }
        }
        let mut cmds = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Tok::Close => {
                    self.next();
                    break;
                }
                Tok::RParen => break,
                Tok::Eof => return Err(self.err_at(pos, "unclosed action")),
                _ => {}
            }
            cmds.push(self.command()?);
            self.skip_space();
            if matches!(self.peek(), Tok::Pipe) {
                self.next();
                self.skip_space();
                if matches!(self.peek(), Tok::Close | Tok::RParen) {
                    return Err(self.err_at(self.pos(), "missing command"));
                }
            }
        }
        if cmds.is_empty() {
            return Err(self.err_at(pos, format!("missing value for {ctx}")));
        }
        Ok(Pipe {
            pos,
            decl,
            assign,
            cmds,
        })
    }

    fn command(&mut self) -> Result<Cmd, TemplateError> {
        let pos = self.pos();
        let mut args = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Tok::Close | Tok::RParen | Tok::Pipe => break,
                Tok::Eof => return Err(self.err_at(pos, "unclosed action")),
                _ => {}
            }
            args.push(self.operand()?);
            match self.peek() {
                Tok::Space | Tok::Close | Tok::RParen | Tok::Pipe => {}
                t => {
                    let d = tok_desc(t);
                    return Err(self.err_at(self.pos(), format!("unexpected {d} in operand")));
                }
            }
        }
        if args.is_empty() {
            return Err(self.err_at(pos, "empty command"));
        }
        Ok(Cmd { args })
    }

    fn operand(&mut self) -> Result<Arg, TemplateError> {
        let term = self.term()?;
        if let Tok::Field(fields) = self.peek().clone() {
            if !fields.is_empty() {
                let pos = self.pos();
                self.next();
                return Ok(match term {
                    Arg::Field { pos, mut names } => {
                        names.extend(fields);
                        Arg::Field { pos, names }
                    }
                    Arg::Var {
                        pos,
                        name,
                        fields: mut f,
                    } => {
                        f.extend(fields);
                        Arg::Var {
                            pos,
                            name,
                            fields: f,
                        }
                    }
                    Arg::Bool(_)
                    | Arg::Str(_)
                    | Arg::Int(_)
                    | Arg::Float(_)
                    | Arg::Nil
                    | Arg::Dot => {
                        return Err(self.err_at(
                            pos,
                            format!("unexpected . after term {:?}", term.describe()),
                        ));
                    }
                    other => Arg::Chain {
                        pos,
                        node: Box::new(other),
                        fields,
                    },
                });
            }
        }
        Ok(term)
    }

    fn term(&mut self) -> Result<Arg, TemplateError> {
        let t = self.next();
        Ok(match t.tok {
            Tok::Ident(name) => match name.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ => {
                    if !(self.is_func)(&name) {
                        return Err(self.err_at(t.pos, format!("function {name:?} not defined")));
                    }
                    Arg::Ident { pos: t.pos, name }
                }
            },
            Tok::Field(names) if names.is_empty() => Arg::Dot,
            // Go positions a field chain at its second element.
            Tok::Field(names) => Arg::Field {
                pos: if names.len() > 1 {
                    t.pos + 1 + names[0].len()
                } else {
                    t.pos
                },
                names,
            },
            Tok::Var(name, fields) => Arg::Var {
                pos: if fields.is_empty() {
                    t.pos
                } else {
                    t.pos + name.len()
                },
                name,
                fields,
            },
            Tok::Str(s) => Arg::Str(s),
            Tok::Int(i) => Arg::Int(i),
            Tok::Float(f) => Arg::Float(f),
            Tok::LParen => {
                self.skip_space();
                let p = self.pipeline("parenthesized pipeline", true)?;
                match self.next().tok {
                    Tok::RParen => Arg::Pipe(Box::new(p)),
                    _ => return Err(self.err_at(t.pos, "unclosed left paren")),
                }
            }
            other => {
                return Err(
                    self.err_at(t.pos, format!("unexpected {} in command", tok_desc(&other)))
                );
            }
        })
    }
}

fn tok_desc(t: &Tok) -> String {
    match t {
        Tok::Text(s) => format!("{s:?}"),
        Tok::Open => "\"{{\"".into(),
        Tok::Close => "\"}}\"".into(),
        Tok::Space => "space".into(),
        Tok::Field(f) => format!("<.{}>", f.join(".")),
        Tok::Var(n, _) => format!("<{n}>"),
        Tok::Ident(n) => format!("<{n}>"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Int(i) => i.to_string(),
        Tok::Float(f) => f.to_string(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Eof => "EOF".into(),
    }
}
