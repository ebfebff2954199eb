//! Building one stage: its FROM, ONBUILD triggers of the base, and its
//! steps, reporting events under fixed step numbers (so stages can run in
//! parallel threads).

use std::collections::{BTreeMap, BTreeSet};

use crate::dispatch::{cfg, strings};
use crate::error::{BuildError, Result};
use crate::executor::{at_line, BuildOptions, Builder, Event, State, StepInfo};
use crate::parser::{parse, Instruction};
use crate::shell::Lexer;
use crate::stages::StageGraph;

/// A built stage: its final state and the build args it declared.
pub(crate) type StageResult = Result<(State, BTreeSet<String>)>;

/// What every stage of one build shares.
pub(crate) struct StageRun<'a> {
    pub graph: &'a StageGraph,
    pub lexer: &'a Lexer,
    pub opts: &'a BuildOptions,
    pub build_args: &'a BTreeMap<String, Option<String>>,
    pub total: usize,
    pub multi: bool,
    pub epoch: Option<i64>,
    pub sink: &'a (dyn Fn(usize, Event) + Sync),
}

impl Builder {
    /// Builds stage `si`; `first` is the step number of its FROM. Returns
    /// the final state and the build args the stage declared.
    pub(crate) fn run_stage(
        &self,
        run: &StageRun<'_>,
        si: usize,
        first: usize,
        results: &BTreeMap<usize, State>,
    ) -> StageResult {
        let graph = run.graph;
        let stage = &graph.stages[si];
        let stage_steps = 1 + stage.steps.len();
        let info = |number: usize, k: usize, inst: &Instruction| StepInfo {
            number,
            total: run.total,
            stage: stage.display_name(),
            multi_stage: run.multi,
            stage_step: k,
            stage_steps,
            text: inst.original.clone(),
            line: inst.line,
        };
        let sink = run.sink;
        sink(first, Event::Step(info(first, 1, &stage.from)));
        let mut pull_out = |b: Vec<u8>| sink(first, Event::Output(b));
        let mut st = match self.base_state(graph, si, results, run.opts, &mut pull_out) {
            Ok(st) => st,
            Err(e) => {
                sink(first, Event::Failed);
                return Err(e);
            }
        };
        st.epoch = run.epoch;
        sink(first, Event::Done(st.image.clone().unwrap_or_default()));
        let mut consumed = BTreeSet::new();
        // Global ARG values seen by the stage when it re-declares them.
        let global: BTreeMap<String, Option<String>> = graph
            .global_args
            .iter()
            .map(|(k, v)| {
                let val = match run.build_args.get(k) {
                    Some(Some(b)) => Some(b.clone()),
                    _ => v.clone(),
                };
                consumed.insert(k.clone());
                (k.clone(), val)
            })
            .collect();
        let mut exec = |number: usize, inst: &Instruction, st: &mut State| -> Result<()> {
            let mut ev = |e: Event| sink(number, e);
            let r = self
                .step(
                    run.lexer,
                    inst,
                    st,
                    run.opts,
                    run.build_args,
                    &global,
                    &mut consumed,
                    results,
                    graph,
                    si,
                    &mut ev,
                )
                .map_err(|e| at_line(inst, e));
            if r.is_err() {
                sink(number, Event::Failed);
            }
            r
        };
        let triggers = strings(st.config.pointer("/config/OnBuild"));
        if !triggers.is_empty() {
            sink(
                first,
                Event::Output(
                    format!(
                        "# Executing {} build trigger{}\n",
                        triggers.len(),
                        if triggers.len() == 1 { "" } else { "s" }
                    )
                    .into_bytes(),
                ),
            );
            cfg(&mut st.config).remove("OnBuild");
            let parsed = parse(&triggers.join("\n")).map_err(|e| {
                BuildError::Invalid(format!("ONBUILD trigger of {}: {e}", stage.base))
            })?;
            for mut t in parsed.instructions {
                t.line = stage.from.line;
                exec(first, &t, &mut st)?;
            }
        }
        for (k, inst) in stage.steps.iter().enumerate() {
            let number = first + 1 + k;
            sink(number, Event::Step(info(number, k + 2, inst)));
            exec(number, inst, &mut st)?;
        }
        Ok((st, consumed))
    }
}
