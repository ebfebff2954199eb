//! Runs a build: the needed stages in order, each step committed as an
//! image (Docker's classic builder model, so `history` and the parent
//! chain look like Docker's), every step looked up in the persistent cache
//! first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use pier_image::ImageStore;
use serde_json::{json, Value};

use crate::cache::{step_key, BuildCache};
use crate::dispatch::{self, cfg, env_get};
use crate::error::{BuildError, IoContext, Result};
use crate::parser::{parse, Instruction};
use crate::rootview::RootView;
use crate::run::{ensure_init_layer, RunEnv};
use crate::shell::Lexer;
use crate::stagerun::{StageResult, StageRun};
use crate::stages::{arg_decls, StageGraph};

/// Build args that need no ARG declaration.
pub(crate) const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The extracted build context.
    pub context: PathBuf,
    /// Dockerfile text.
    pub dockerfile: String,
    /// `--build-arg`: name → value (None = take it from the environment,
    /// which the client already did; treated as unset).
    pub build_args: BTreeMap<String, Option<String>>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub labels: BTreeMap<String, String>,
    /// RUN's network: unset/"default"/"bridge" (the default bridge, as
    /// Docker's classic builder), "host", "none", or a user network.
    pub network: Option<String>,
    pub extra_hosts: Vec<String>,
    pub platform: Option<String>,
    /// `RUN --mount=type=secret` values (`pier build --secret`).
    pub secrets: crate::secrets::Secrets,
    /// Registry host → `X-Registry-Auth` value for the pulls a build makes
    /// (from the request's `X-Registry-Config`). Debug shows hosts only.
    pub registry_auth: RegistryAuth,
    /// `--pull`: always pull FROM images, even when they are here.
    pub pull: bool,
    /// Build independent stages at the same time (the classic API's
    /// stream is sequential, so pierd only sets this for `pier build`).
    pub parallel: bool,
}

/// Registry credentials for a build's pulls (Debug never prints them).
#[derive(Clone, Default)]
pub struct RegistryAuth(pub BTreeMap<String, String>);

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// Where a step is, for progress output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepInfo {
    /// 1-based over the whole build, and the total (Docker's "Step n/N").
    pub number: usize,
    pub total: usize,
    /// BuildKit's stage label (`builder`, `stage-0`).
    pub stage: String,
    pub multi_stage: bool,
    /// 1-based within the stage (FROM is 1), and the stage's count.
    pub stage_step: usize,
    pub stage_steps: usize,
    /// The instruction as written, and its Dockerfile line.
    pub text: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Step(StepInfo),
    /// The step's result came from the cache.
    Cached,
    /// A RUN container started.
    Running(String),
    /// Output of a RUN step.
    Output(Vec<u8>),
    /// The RUN container was removed.
    Removed(String),
    /// The step finished with this image.
    Done(String),
    /// The step failed (the build's error follows).
    Failed,
    Warning(String),
}

pub struct BuildOutput {
    pub image_id: String,
}

pub struct BuilderPaths {
    /// R/builder
    pub root: PathBuf,
    pub shim_path: PathBuf,
    pub runtime_root: PathBuf,
    pub shim_dir: PathBuf,
}

pub struct Builder {
    pub(crate) store: Arc<ImageStore>,
    pub(crate) cache: BuildCache,
    pub(crate) run_env: RunEnv,
    /// pierd's registry access for base images (installed once).
    pub(crate) puller: std::sync::OnceLock<Arc<dyn crate::pull::ImagePuller>>,
}

/// The state of the stage being built.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub image: Option<String>,
    pub config: Value,
    pub layers: Vec<PathBuf>,
    pub args: Vec<(String, Option<String>)>,
    pub cmd_set: bool,
    /// SOURCE_DATE_EPOCH (build arg): image and history timestamps, and
    /// the upper bound of layer mtimes.
    pub epoch: Option<i64>,
}

impl State {
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |name: &str| {
            env_get(&self.config, name).or_else(|| {
                self.args
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .and_then(|(_, v)| v.clone())
            })
        }
    }

    pub fn workdir(&self) -> String {
        self.config
            .pointer("/config/WorkingDir")
            .and_then(Value::as_str)
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
            .to_string()
    }

    pub fn epoch_secs(&self) -> Option<u64> {
        self.epoch.map(|e| e.max(0) as u64)
    }

    pub fn parent_key(&self) -> String {
        self.image.clone().unwrap_or_else(|| "scratch".into())
    }
}

pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn scratch() -> Value {
    json!({
        "architecture": host_arch(),
        "os": "linux",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [] },
        "history": [],
    })
}

/// Names the Dockerfile line in errors that do not already carry Docker's
/// exact text (parse errors name it themselves; RUN and COPY failures are
/// worded as Docker words them).
pub(crate) fn at_line(inst: &Instruction, e: BuildError) -> BuildError {
    match e {
        BuildError::Parse { .. } | BuildError::RunFailed { .. } | BuildError::Copy(_) => e,
        other => BuildError::Invalid(format!("{other} (Dockerfile line {})", inst.line)),
    }
}

impl Builder {
    pub fn open(store: Arc<ImageStore>, paths: BuilderPaths) -> Result<Builder> {
        let tmp = paths.root.join("tmp");
        if tmp.exists() {
            // Leftovers of builds a crash interrupted.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        std::fs::create_dir_all(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
        let init = paths.root.join("init");
        ensure_init_layer(&init)?;
        Ok(Builder {
            store,
            cache: BuildCache::open(&paths.root.join("cache"))?,
            run_env: RunEnv {
                shim_path: paths.shim_path,
                runtime_root: paths.runtime_root,
                shim_dir: paths.shim_dir,
                tmp,
                init_layer: init,
                network: std::sync::OnceLock::new(),
            },
            puller: std::sync::OnceLock::new(),
        })
    }

    /// Installs pierd's networking for RUN steps (first call wins).
    /// Without it, RUN steps on the default bridge use the host's network.
    pub fn set_run_network(&self, network: Arc<dyn crate::runnet::RunNetwork>) {
        let _ = self.run_env.network.set(network);
    }

    pub fn has_run_network(&self) -> bool {
        self.run_env.network.get().is_some()
    }

    /// Scratch space for contexts and layer tars (emptied at open).
    pub fn tmp_dir(&self) -> &Path {
        &self.run_env.tmp
    }

    pub fn store(&self) -> &Arc<ImageStore> {
        &self.store
    }

    /// Runs a build. Blocking: call from a blocking thread.
    /// `sink` gets every event with the number of the step it belongs to
    /// (0 for the build as a whole).
    pub fn build(
        &self,
        opts: &BuildOptions,
        sink: &(dyn Fn(usize, Event) + Sync),
    ) -> Result<BuildOutput> {
        if let Some(p) = opts.platform.as_deref().filter(|p| !p.is_empty()) {
            let want = format!("linux/{}", host_arch());
            if p != want && p != "linux" {
                return Err(BuildError::Invalid(format!(
                    "image platform {p} is not supported on this host ({want})"
                )));
            }
        }
        let df = parse(&opts.dockerfile)?;
        let mut build_args = opts.build_args.clone();
        for (k, v) in [
            ("TARGETPLATFORM", format!("linux/{}", host_arch())),
            ("TARGETOS", "linux".into()),
            ("TARGETARCH", host_arch().into()),
            ("BUILDPLATFORM", format!("linux/{}", host_arch())),
            ("BUILDOS", "linux".into()),
            ("BUILDARCH", host_arch().into()),
        ] {
            build_args.entry(k.to_string()).or_insert(Some(v));
        }
        let epoch = match build_args.get("SOURCE_DATE_EPOCH") {
            Some(Some(v)) => Some(
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| BuildError::Invalid(format!("invalid SOURCE_DATE_EPOCH: {v}")))?,
            ),
            _ => None,
        };
        let mut graph = StageGraph::new(&df, &build_args)?;
        let target = graph.target_index(opts.target.as_deref())?;
        if !opts.labels.is_empty() {
            // Docker's classic builder adds --label as a last LABEL step.
            let text: Vec<String> = opts
                .labels
                .iter()
                .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
                .collect();
            let args = text.join(" ");
            let line = graph.stages[target]
                .steps
                .last()
                .map_or(graph.stages[target].from.line, |s| s.line);
            graph.stages[target].steps.push(Instruction {
                line,
                cmd: "label".into(),
                flags: Vec::new(),
                original: format!("LABEL {args}"),
                args,
                heredocs: Vec::new(),
            });
        }
        let needed = graph.needed(target);
        let total: usize = needed
            .iter()
            .map(|&i| 1 + graph.stages[i].steps.len())
            .sum();
        let lexer = Lexer::new(df.escape);
        // Step numbers are fixed up front, so parallel stages report
        // deterministic numbers.
        let mut first_step = BTreeMap::new();
        let mut n = 0;
        for &si in &needed {
            first_step.insert(si, n + 1);
            n += 1 + graph.stages[si].steps.len();
        }
        let run = StageRun {
            graph: &graph,
            lexer: &lexer,
            opts,
            build_args: &build_args,
            total,
            multi: graph.stages.len() > 1,
            epoch,
            sink,
        };
        let mut results: BTreeMap<usize, State> = BTreeMap::new();
        let mut consumed: BTreeSet<String> = BTreeSet::new();
        let mut pending = needed.clone();
        while !pending.is_empty() {
            // Every stage whose dependencies are built can start.
            let mut wave: Vec<usize> = pending
                .iter()
                .copied()
                .filter(|&si| graph.deps(si).iter().all(|d| results.contains_key(d)))
                .collect();
            if wave.is_empty() {
                return Err(BuildError::Invalid(
                    "circular dependency between stages".into(),
                ));
            }
            if !opts.parallel {
                wave.truncate(1);
            }
            let done: &BTreeMap<usize, State> = &results;
            let outcomes: Vec<(usize, StageResult)> = if wave.len() == 1 {
                let si = wave[0];
                vec![(si, self.run_stage(&run, si, first_step[&si], done))]
            } else {
                std::thread::scope(|scope| {
                    let handles: Vec<_> = wave
                        .iter()
                        .map(|&si| {
                            let run = &run;
                            let first = first_step[&si];
                            (
                                si,
                                scope.spawn(move || self.run_stage(run, si, first, done)),
                            )
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|(si, h)| {
                            let r = h.join().unwrap_or_else(|_| {
                                Err(BuildError::Runtime("a build stage panicked".into()))
                            });
                            (si, r)
                        })
                        .collect()
                })
            };
            let mut failed = None;
            for (si, r) in outcomes {
                match r {
                    Ok((st, used)) => {
                        results.insert(si, st);
                        consumed.extend(used);
                    }
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
            pending.retain(|si| !results.contains_key(si));
        }
        let unused: Vec<&String> = opts
            .build_args
            .keys()
            .filter(|k| {
                !consumed.contains(*k)
                    && !PROXY_ARGS.contains(&k.as_str())
                    && k.as_str() != "SOURCE_DATE_EPOCH"
            })
            .collect();
        if !unused.is_empty() {
            let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            sink(
                0,
                Event::Warning(format!(
                    "[Warning] One or more build-args [{}] were not consumed\n",
                    names.join(" ")
                )),
            );
        }
        let fin = results
            .remove(&target)
            .ok_or_else(|| BuildError::Invalid("the target stage was not built".into()))?;
        let image_id = match fin.image {
            Some(id) => id,
            // `FROM scratch` alone: an empty image, as Docker makes it.
            None => self.commit(&fin, "", None)?,
        };
        Ok(BuildOutput { image_id })
    }

    pub(crate) fn base_state(
        &self,
        graph: &StageGraph,
        si: usize,
        results: &BTreeMap<usize, State>,
        opts: &BuildOptions,
        out: &mut dyn FnMut(Vec<u8>),
    ) -> Result<State> {
        let stage = &graph.stages[si];
        if let Some(dep) = graph.find(&stage.base, si) {
            let mut st = results.get(&dep).cloned().ok_or_else(|| {
                BuildError::Invalid(format!("stage {} was not built", stage.base))
            })?;
            st.args.clear();
            st.cmd_set = false;
            return Ok(st);
        }
        if let Some(p) = stage.platform.as_deref().filter(|p| !p.is_empty()) {
            let host = format!("linux/{}", host_arch());
            if p != host && p != "linux" && !p.starts_with("$") {
                return Err(BuildError::Invalid(format!(
                    "FROM --platform={p}: only {host} images can be built on this host (Dockerfile line {})",
                    stage.from.line
                )));
            }
        }
        if stage.base.eq_ignore_ascii_case("scratch") {
            return Ok(State {
                image: None,
                config: scratch(),
                layers: Vec::new(),
                args: Vec::new(),
                cmd_set: false,
                epoch: None,
            });
        }
        let platform = stage
            .platform
            .as_deref()
            .filter(|p| !p.is_empty() && !p.starts_with('$'))
            .or(opts.platform.as_deref());
        let rec =
            self.ensure_image(&stage.base, opts.pull, platform, &opts.registry_auth.0, out)?;
        Ok(State {
            config: self.store.config_json(&rec)?,
            layers: self.store.layer_dirs(&rec)?,
            image: Some(rec.id),
            args: Vec::new(),
            cmd_set: false,
            epoch: None,
        })
    }

    /// Loads an image (a cache hit) into the state.
    fn adopt(&self, st: &mut State, id: &str) -> Result<()> {
        let rec = self.store.get(id)?;
        st.config = self.store.config_json(&rec)?;
        st.layers = self.store.layer_dirs(&rec)?;
        st.image = Some(rec.id);
        Ok(())
    }

    /// A cached image for `key`, if caching is on and the image still exists.
    fn cached(&self, key: &str, no_cache: bool) -> Option<String> {
        if no_cache {
            return None;
        }
        let id = self.cache.get(key)?;
        match self.store.get(&id) {
            Ok(r) => Some(r.id),
            Err(_) => {
                self.cache.forget(key);
                None
            }
        }
    }

    /// Commits the state (+ an optional new layer) as an image.
    fn commit(&self, st: &State, created_by: &str, layer: Option<PathBuf>) -> Result<String> {
        let mut config = st.config.clone();
        let created = match st.epoch {
            Some(e) => chrono::DateTime::from_timestamp(e, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(now),
            None => now(),
        };
        if let Some(o) = config.as_object_mut() {
            o.insert("created".into(), json!(created));
            for k in [
                "container",
                "container_config",
                "docker_version",
                "id",
                "parent",
            ] {
                o.remove(k);
            }
            let mut entry = json!({ "created": created, "created_by": created_by });
            if layer.is_none() {
                entry["empty_layer"] = json!(true);
            }
            let history = o.entry("history").or_insert_with(|| json!([]));
            if let Some(h) = history.as_array_mut() {
                h.push(entry);
            }
        }
        let tars: Vec<PathBuf> = layer.into_iter().collect();
        let rec = self
            .store
            .create_image_json(config, tars, st.image.as_deref())?;
        Ok(rec.id)
    }

    /// Commits unless cached; updates the state and reports the result.
    pub(crate) fn finish_step(
        &self,
        st: &mut State,
        key: &str,
        created_by: &str,
        layer: Option<PathBuf>,
        ev: &mut dyn FnMut(Event),
    ) -> Result<()> {
        let id = self.commit(st, created_by, layer)?;
        self.cache.put(key, &id)?;
        self.adopt(st, &id)?;
        ev(Event::Done(id));
        Ok(())
    }

    pub(crate) fn hit(
        &self,
        st: &mut State,
        key: &str,
        no_cache: bool,
        ev: &mut dyn FnMut(Event),
    ) -> Result<bool> {
        match self.cached(key, no_cache) {
            Some(id) => {
                self.adopt(st, &id)?;
                ev(Event::Cached);
                ev(Event::Done(id));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn step(
        &self,
        lexer: &Lexer,
        inst: &Instruction,
        st: &mut State,
        opts: &BuildOptions,
        build_args: &BTreeMap<String, Option<String>>,
        global: &BTreeMap<String, Option<String>>,
        consumed: &mut BTreeSet<String>,
        results: &BTreeMap<usize, State>,
        graph: &StageGraph,
        si: usize,
        ev: &mut dyn FnMut(Event),
    ) -> Result<()> {
        let t0 = Instant::now();
        let parent = st.parent_key();
        match inst.cmd.as_str() {
            "arg" => {
                let decls = {
                    let lookup = st.lookup();
                    arg_decls(lexer, inst, &lookup)?
                };
                for (name, default) in decls {
                    consumed.insert(name.clone());
                    let value = match build_args.get(&name) {
                        Some(Some(v)) => Some(v.clone()),
                        _ => default.or_else(|| global.get(&name).cloned().flatten()),
                    };
                    st.args.push((name, value));
                }
                let key = step_key(&parent, &["ARG", &format!("{:?}", st.args)]);
                if !self.hit(st, &key, opts.no_cache, ev)? {
                    let by = format!("/bin/sh -c #(nop)  ARG {}", inst.args.trim());
                    self.finish_step(st, &key, &by, None, ev)?;
                }
            }
            "run" => self.run_step(lexer, inst, st, opts, ev)?,
            "copy" | "add" => {
                self.copy_step(lexer, inst, st, opts, results, graph, si, ev)?;
            }
            "workdir" => {
                let w = {
                    let lookup = st.lookup();
                    lexer
                        .word(inst.args.trim(), &lookup)
                        .map_err(|e| BuildError::parse(inst.line, e))?
                };
                let path = if w.starts_with('/') {
                    w
                } else {
                    format!("{}/{}", st.workdir().trim_end_matches('/'), w)
                };
                let path = crate::dockerignore::clean_path(&path);
                cfg(&mut st.config).insert("WorkingDir".into(), json!(path));
                let key = step_key(&parent, &["WORKDIR", &path]);
                if !self.hit(st, &key, opts.no_cache, ev)? {
                    let layer = self.workdir_layer(st, &path)?;
                    let by = format!("/bin/sh -c #(nop) WORKDIR {path}");
                    self.finish_step(st, &key, &by, layer, ev)?;
                }
            }
            _ => {
                let changed = {
                    let snapshot = st.clone();
                    let lookup = snapshot.lookup();
                    dispatch::apply_metadata(lexer, inst, &mut st.config, &lookup, &mut st.cmd_set)?
                };
                if !changed {
                    return Err(BuildError::parse(
                        inst.line,
                        format!("unknown instruction: {}", inst.keyword()),
                    ));
                }
                let conf = st.config.get("config").cloned().unwrap_or(Value::Null);
                let key = step_key(
                    &parent,
                    &[
                        &inst.keyword(),
                        &conf.to_string(),
                        &format!("{:?}", st.config.get("author")),
                    ],
                );
                if !self.hit(st, &key, opts.no_cache, ev)? {
                    let by = format!("/bin/sh -c #(nop)  {}", inst.original);
                    self.finish_step(st, &key, &by, None, ev)?;
                }
            }
        }
        tracing::debug!(line = inst.line, elapsed = ?t0.elapsed(), "{}", inst.original);
        Ok(())
    }

    /// WORKDIR creates its directory (root, 0755) when the image lacks it.
    fn workdir_layer(&self, st: &State, path: &str) -> Result<Option<PathBuf>> {
        let view = RootView::open(&st.layers, self.tmp_dir())?;
        let resolved = view.resolve(path);
        if resolved.is_dir() {
            return Ok(None);
        }
        let view_root = view.root();
        let req = crate::copy::CopyRequest {
            keyword: "WORKDIR",
            srcs: Vec::new(),
            heredocs: Vec::new(),
            dest: String::new(),
            workdir: "/".into(),
            source_root: view_root.as_path(),
            chown: None,
            chmod: None,
            parents: false,
            excludes: Default::default(),
            extract: false,
            target: Some(&view),
        };
        let rel = path.trim_start_matches('/');
        let plan = req.dirs_plan(rel);
        let tar = self
            .tmp_dir()
            .join(format!("workdir-{}.tar", rand::random::<u64>()));
        crate::layer::write_plan_tar(&plan, &tar, st.epoch_secs())?;
        Ok(Some(tar))
    }
}

/// Docker quotes label values that need it when it writes the LABEL line.
fn quote(s: &str) -> String {
    if s.is_empty()
        || s.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '\\' || c == '$')
    {
        format!(
            "\"{}\"",
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
        )
    } else {
        s.to_string()
    }
}
