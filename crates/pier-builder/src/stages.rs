//! The stage graph: global ARGs, `FROM image [AS name]` stages, which
//! stage the target is, and which stages it needs (through `FROM <stage>`
//! and `COPY --from=<stage|index>`). Only those are built.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{BuildError, Result};
use crate::parser::{Dockerfile, Instruction};
use crate::shell::Lexer;

#[derive(Debug, Clone)]
pub struct Stage {
    pub index: usize,
    /// `AS name`, lowercased.
    pub name: Option<String>,
    /// The FROM instruction.
    pub from: Instruction,
    /// The base as written after global-ARG expansion.
    pub base: String,
    pub platform: Option<String>,
    /// Instructions after FROM.
    pub steps: Vec<Instruction>,
}

impl Stage {
    /// BuildKit's display name (`builder`, or `stage-0`).
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

#[derive(Debug, Clone)]
pub struct StageGraph {
    /// ARGs before the first FROM: name → expanded default.
    pub global_args: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
}

/// Splits `name[=value]` ARG words.
pub fn arg_decls(
    lexer: &Lexer,
    inst: &Instruction,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    for raw in crate::shell::split_raw(&inst.args, lexer.escape) {
        let (name, value) = match raw.split_once('=') {
            Some((n, v)) => {
                let v = lexer
                    .word(v, lookup)
                    .map_err(|e| BuildError::parse(inst.line, e))?;
                (n.to_string(), Some(v))
            }
            None => (raw.clone(), None),
        };
        if name.is_empty() {
            return Err(BuildError::parse(inst.line, "ARG names can not be blank"));
        }
        out.push((name, value));
    }
    if out.is_empty() {
        return Err(BuildError::parse(
            inst.line,
            "ARG requires exactly one argument",
        ));
    }
    Ok(out)
}

impl StageGraph {
    pub fn new(df: &Dockerfile, build_args: &BTreeMap<String, Option<String>>) -> Result<Self> {
        let lexer = Lexer::new(df.escape);
        let mut global_args: Vec<(String, Option<String>)> = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for inst in &df.instructions {
            if inst.cmd == "from" {
                let lookup = |n: &str| -> Option<String> {
                    let declared = global_args.iter().rev().find(|(k, _)| k == n)?;
                    match build_args.get(n) {
                        Some(Some(v)) => Some(v.clone()),
                        _ => declared.1.clone(),
                    }
                };
                let words = crate::shell::split_raw(&inst.args, df.escape);
                let (image, name) = match words.as_slice() {
                    [image] => (image.clone(), None),
                    [image, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                        (image.clone(), Some(name.to_ascii_lowercase()))
                    }
                    _ => {
                        return Err(BuildError::parse(
                            inst.line,
                            "FROM requires either one or three arguments",
                        ))
                    }
                };
                let base = lexer
                    .word(&image, &lookup)
                    .map_err(|e| BuildError::parse(inst.line, e))?;
                if base.is_empty() {
                    return Err(BuildError::Invalid(format!(
                        "base name ({image}) should not be blank"
                    )));
                }
                if let Some(n) = &name {
                    let valid = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                        && n.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
                    if !valid {
                        return Err(BuildError::parse(
                            inst.line,
                            format!("invalid name for build stage: {n:?}, name can't start with a number or contain symbols"),
                        ));
                    }
                    if stages.iter().any(|s| s.name.as_deref() == Some(n)) {
                        return Err(BuildError::parse(
                            inst.line,
                            format!("duplicate name {n:?}"),
                        ));
                    }
                }
                let platform = match inst.flag("platform") {
                    Some(p) => Some(
                        lexer
                            .word(&p, &lookup)
                            .map_err(|e| BuildError::parse(inst.line, e))?,
                    ),
                    None => None,
                };
                stages.push(Stage {
                    index: stages.len(),
                    name,
                    from: inst.clone(),
                    base,
                    platform,
                    steps: Vec::new(),
                });
            } else if let Some(stage) = stages.last_mut() {
                stage.steps.push(inst.clone());
            } else if inst.cmd == "arg" {
                let lookup = |n: &str| -> Option<String> {
                    global_args
                        .iter()
                        .rev()
                        .find(|(k, _)| k == n)
                        .and_then(|(_, v)| v.clone())
                };
                let decls = arg_decls(&lexer, inst, &lookup)?;
                global_args.extend(decls);
            } else {
                return Err(BuildError::parse(
                    inst.line,
                    "no build stage in current context",
                ));
            }
        }
        if stages.is_empty() {
            return Err(BuildError::Invalid(
                "no build stage in current context".into(),
            ));
        }
        Ok(StageGraph {
            global_args,
            stages,
        })
    }

    /// A stage by name or index as `COPY --from` / `FROM` write it.
    pub fn find(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        if let Some(s) = self.stages[..before]
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(s.index);
        }
        match name.parse::<usize>() {
            Ok(i) if i < before => Some(i),
            _ => None,
        }
    }

    pub fn target_index(&self, target: Option<&str>) -> Result<usize> {
        match target.filter(|t| !t.is_empty()) {
            None => Ok(self.stages.len() - 1),
            Some(t) => self
                .stages
                .iter()
                .find(|s| s.name.as_deref() == Some(t.to_ascii_lowercase().as_str()))
                .map(|s| s.index)
                .ok_or_else(|| {
                    BuildError::Invalid(format!("failed to reach build target {t} in Dockerfile"))
                }),
        }
    }

    /// The stages stage `i` uses directly (`FROM <stage>`, `--from`).
    pub fn deps(&self, i: usize) -> Vec<usize> {
        let s = &self.stages[i];
        let mut out = Vec::new();
        if let Some(dep) = self.find(&s.base, i) {
            out.push(dep);
        }
        for step in &s.steps {
            if step.cmd == "copy" || step.cmd == "add" {
                if let Some(dep) = step.flag("from").and_then(|f| self.find(&f, i)) {
                    out.push(dep);
                }
            }
        }
        out
    }

    /// Stages `target` depends on, itself included, in build order.
    pub fn needed(&self, target: usize) -> Vec<usize> {
        let mut need = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if need.insert(i) {
                todo.extend(self.deps(i));
            }
        }
        need.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    #[test]
    fn graph_and_target() {
        let df = parse(
            "ARG BASE=busybox\nFROM ${BASE} AS one\nRUN a\nFROM busybox AS two\nRUN b\nFROM one AS three\nCOPY --from=two /x /y\nFROM busybox\nCOPY --from=0 /a /b\n",
        )
        .unwrap();
        let g = StageGraph::new(&df, &BTreeMap::new()).unwrap();
        assert_eq!(g.stages.len(), 4);
        assert_eq!(g.stages[0].base, "busybox");
        assert_eq!(g.needed(2), [0, 1, 2]);
        assert_eq!(g.needed(3), [0, 3]);
        assert_eq!(g.needed(1), [1]);
        assert_eq!(g.target_index(Some("two")).unwrap(), 1);
        assert_eq!(
            g.target_index(Some("nope")).unwrap_err().to_string(),
            "failed to reach build target nope in Dockerfile"
        );
        let mut args = BTreeMap::new();
        args.insert("BASE".to_string(), Some("other".to_string()));
        let g = StageGraph::new(&df, &args).unwrap();
        assert_eq!(g.stages[0].base, "other");
    }

    #[test]
    fn errors() {
        let df = parse("RUN x\nFROM y\n").unwrap();
        assert_eq!(
            StageGraph::new(&df, &BTreeMap::new())
                .unwrap_err()
                .to_string(),
            "dockerfile parse error on line 1: no build stage in current context"
        );
        let df = parse("FROM a b\n").unwrap();
        assert!(StageGraph::new(&df, &BTreeMap::new())
            .unwrap_err()
            .to_string()
            .contains("FROM requires either one or three arguments"));
    }
}
