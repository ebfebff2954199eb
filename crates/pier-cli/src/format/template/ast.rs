//! The template syntax tree and Go's `String()` of its nodes (used in
//! execution errors).

#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If(Control),
    Range(Control),
    With(Control),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone)]
pub struct Control {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug, Clone)]
pub struct Pipe {
    pub pos: usize,
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug, Clone)]
pub struct Cmd {
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub enum Arg {
    Field {
        pos: usize,
        names: Vec<String>,
    },
    Var {
        pos: usize,
        name: String,
        fields: Vec<String>,
    },
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Ident {
        pos: usize,
        name: String,
    },
    Pipe(Box<Pipe>),
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
}

impl Arg {
    /// Go's `Node.String()`, used in "executing ... at <...>" errors.
    pub fn describe(&self) -> String {
        match self {
            Arg::Field { names, .. } => names.iter().map(|n| format!(".{n}")).collect(),
            Arg::Var { name, fields, .. } => {
                let mut s = name.clone();
                for f in fields {
                    s.push('.');
                    s.push_str(f);
                }
                s
            }
            Arg::Dot => ".".into(),
            Arg::Nil => "nil".into(),
            Arg::Bool(b) => b.to_string(),
            Arg::Int(i) => i.to_string(),
            Arg::Float(f) => f.to_string(),
            Arg::Str(s) => format!("{s:?}"),
            Arg::Ident { name, .. } => name.clone(),
            Arg::Pipe(p) => format!("({})", p.describe()),
            Arg::Chain { node, fields, .. } => {
                let mut s = node.describe();
                for f in fields {
                    s.push('.');
                    s.push_str(f);
                }
                s
            }
        }
    }

    pub fn pos(&self) -> Option<usize> {
        match self {
            Arg::Field { pos, .. }
            | Arg::Var { pos, .. }
            | Arg::Ident { pos, .. }
            | Arg::Chain { pos, .. } => Some(*pos),
            Arg::Pipe(p) => Some(p.pos),
            _ => None,
        }
    }
}

impl Pipe {
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if !self.decl.is_empty() {
            s.push_str(&self.decl.join(", "));
            s.push_str(if self.assign { " = " } else { " := " });
        }
        let cmds: Vec<String> = self
            .cmds
            .iter()
            .map(|c| {
                c.args
                    .iter()
                    .map(Arg::describe)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        s.push_str(&cmds.join(" | "));
        s
    }
}
