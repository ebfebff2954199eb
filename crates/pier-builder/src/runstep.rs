//! The RUN step: the command (exec form, shell form through SHELL, heredoc
//! scripts), build args in its environment, `--network`, `--mount`, run
//! in a throwaway container whose upper dir becomes the layer.

use serde_json::Value;

use crate::cache::step_key;
use crate::dispatch::{self, env_get, strings};
use crate::error::{BuildError, Result};
use crate::executor::{BuildOptions, Builder, Event, State, DEFAULT_PATH, PROXY_ARGS};
use crate::parser::Instruction;
use crate::shell::Lexer;

impl Builder {
    pub(crate) fn run_step(
        &self,
        lexer: &Lexer,
        inst: &Instruction,
        st: &mut State,
        opts: &BuildOptions,
        ev: &mut dyn FnMut(Event),
    ) -> Result<()> {
        let build_net = crate::runnet::RunNet::for_build(opts.network.as_deref())?;
        let net = crate::runnet::RunNet::for_step(inst.flag("network").as_deref(), &build_net)?;
        let network = net.key();
        let mounts = {
            let lookup = st.lookup();
            self.run_mounts(lexer, inst, &lookup, &st.workdir(), opts)?
        };
        // The command: heredoc scripts, shell form through SHELL, exec form.
        let args: Vec<String> = match (inst.json_args(), inst.heredocs.as_slice()) {
            (Some(v), _) => v,
            (None, [only])
                if inst
                    .args
                    .trim()
                    .trim_start_matches("<<")
                    .trim_start_matches('-')
                    .trim_matches(['"', '\''])
                    == only.name =>
            {
                let mut s = dispatch::shell_of(&st.config);
                s.push(only.content.clone());
                s
            }
            (None, docs) => {
                let mut text = inst.args.clone();
                for d in docs {
                    text.push('\n');
                    text.push_str(&d.content);
                    text.push_str(&d.name);
                }
                let mut s = dispatch::shell_of(&st.config);
                s.push(text);
                s
            }
        };
        // Build args visible to the command (ENV wins over ARG).
        let mut arg_env: Vec<String> = Vec::new();
        for (k, v) in &st.args {
            if let Some(v) = v {
                if env_get(&st.config, k).is_none()
                    && !arg_env.iter().any(|e| e.starts_with(&format!("{k}=")))
                {
                    arg_env.push(format!("{k}={v}"));
                }
            }
        }
        for p in PROXY_ARGS {
            if let Some(Some(v)) = opts.build_args.get(*p) {
                arg_env.push(format!("{p}={v}"));
            }
        }
        arg_env.sort();
        let key = step_key(
            &st.parent_key(),
            &[
                "RUN",
                &serde_json::to_string(&args).unwrap_or_default(),
                &arg_env.join("\n"),
                &network,
                &mounts.key,
            ],
        );
        if self.hit(st, &key, opts.no_cache, ev)? {
            return Ok(());
        }
        let mut env = strings(st.config.pointer("/config/Env"));
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, format!("PATH={DEFAULT_PATH}"));
        }
        env.extend(arg_env.iter().cloned());
        // Secrets as variables: in this process's environment only.
        env.extend(mounts.env.iter().cloned());
        let user = st
            .config
            .pointer("/config/User")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let step = crate::run::RunStep {
            args: args.clone(),
            env,
            cwd: st.workdir(),
            user,
            net,
            extra_hosts: &opts.extra_hosts,
            layers: &st.layers,
            mounts: mounts.specs.clone(),
            mount_points: mounts.points.clone(),
        };
        let mut started = None;
        let outcome = {
            let ev_cell = std::cell::RefCell::new(&mut *ev);
            let mut on_start = |id: &str| {
                started = Some(id.to_string());
                (ev_cell.borrow_mut())(Event::Running(id.to_string()));
            };
            let mut on_output = |b: &[u8]| (ev_cell.borrow_mut())(Event::Output(b.to_vec()));
            self.run_env.run(&step, &mut on_start, &mut on_output)?
        };
        let joined = args.join(" ");
        if outcome.exit_code != 0 {
            if let Some(id) = &started {
                ev(Event::Removed(id.clone()));
            }
            return Err(BuildError::RunFailed {
                command: joined,
                code: outcome.exit_code,
            });
        }
        let tar = self
            .tmp_dir()
            .join(format!("run-{}.tar", &outcome.id[..12]));
        crate::layer::write_diff_tar(&outcome.upper(), &tar, st.epoch_secs())?;
        let id = outcome.id.clone();
        drop(outcome);
        ev(Event::Removed(id));
        let by = if arg_env.is_empty() {
            joined
        } else {
            format!("|{} {} {joined}", arg_env.len(), arg_env.join(" "))
        };
        let res = self.finish_step(st, &key, &by, Some(tar.clone()), ev);
        let _ = std::fs::remove_file(&tar);
        res
    }
}
