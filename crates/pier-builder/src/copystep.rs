//! The COPY/ADD step: sources from the context, another stage or an
//! image, `--chown` resolved in the image being built, cached by content.

use std::collections::BTreeMap;

use crate::cache::step_key;
use crate::copy::{checksum, CopyRequest};
use crate::dockerignore::IgnoreMatcher;
use crate::error::{BuildError, Result};
use crate::executor::{BuildOptions, Builder, Event, State};
use crate::parser::Instruction;
use crate::rootview::{resolve_chown, RootView};
use crate::shell::{split_raw, Lexer};
use crate::stages::StageGraph;

impl Builder {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn copy_step(
        &self,
        lexer: &Lexer,
        inst: &Instruction,
        st: &mut State,
        opts: &BuildOptions,
        results: &BTreeMap<usize, State>,
        graph: &StageGraph,
        si: usize,
        ev: &mut dyn FnMut(Event),
    ) -> Result<()> {
        let keyword = inst.keyword();
        let snapshot = st.clone();
        let lookup = snapshot.lookup();
        let expand = |w: &str| {
            lexer
                .word(w, &lookup)
                .map_err(|e| BuildError::parse(inst.line, e))
        };
        let raw = inst
            .json_args()
            .unwrap_or_else(|| split_raw(&inst.args, lexer.escape));
        let mut words = Vec::new();
        let mut heredocs = Vec::new();
        for w in &raw {
            if let Some(marker) = w.strip_prefix("<<") {
                let name = marker.trim_start_matches('-').trim_matches(['"', '\'']);
                if let Some(doc) = inst.heredocs.iter().find(|d| d.name == name) {
                    let content = if doc.expand {
                        expand(&doc.content)?
                    } else {
                        doc.content.clone()
                    };
                    heredocs.push((doc.name.clone(), content.into_bytes()));
                    continue;
                }
            }
            words.push(expand(w)?);
        }
        let Some(dest) = words.pop() else {
            return Err(BuildError::parse(
                inst.line,
                format!("{keyword} requires at least two arguments, but only one was provided. Destination could not be determined"),
            ));
        };
        if words.is_empty() && heredocs.is_empty() {
            return Err(BuildError::parse(
                inst.line,
                format!("{keyword} requires at least two arguments, but only one was provided. Destination could not be determined"),
            ));
        }
        let urls = words.iter().filter(|w| crate::addurl::is_url(w)).count();
        if let Some(git) = words.iter().find(|w| w.starts_with("git@")) {
            return Err(BuildError::Invalid(format!(
                "{keyword} from a git repository ({git}) is not supported by Pier's builder"
            )));
        }
        if urls > 0 && keyword == "COPY" {
            return Err(BuildError::Invalid("source can't be a URL for COPY".into()));
        }
        if urls > 0 && (urls != words.len() || inst.flag("from").is_some()) {
            return Err(BuildError::Invalid(format!(
                "{keyword}: URL sources cannot be mixed with local or --from sources in Pier's builder"
            )));
        }
        let url_checksum = match inst.flag("checksum") {
            Some(c) if urls == 0 => {
                return Err(BuildError::Invalid(format!(
                    "checksum can't be specified for non-HTTP(S) sources ({c})"
                )))
            }
            Some(c) => Some(expand(&c)?),
            None => None,
        };
        let downloads = if urls > 0 {
            Some(crate::addurl::download(
                &words,
                url_checksum.as_deref(),
                self.tmp_dir(),
            )?)
        } else {
            None
        };
        if let Some(d) = &downloads {
            words = d.names.clone();
        }
        let chmod = match inst.flag("chmod") {
            Some(m) => Some(
                u32::from_str_radix(&expand(&m)?, 8)
                    .map_err(|_| BuildError::Invalid(format!("invalid chmod parameter: {m}")))?,
            ),
            None => None,
        };
        let parents = matches!(inst.flag("parents").as_deref(), Some("" | "true"));
        let excludes = IgnoreMatcher::new(&inst.flag_all("exclude"))?;
        // URLs are never extracted (Docker's rule).
        let extract = keyword == "ADD"
            && downloads.is_none()
            && inst.flag("unpack").as_deref() != Some("false");

        // Where the sources come from.
        let from = match inst.flag("from") {
            Some(f) => Some(expand(&f)?),
            None => None,
        };
        let (source_view, from_ident) = match &from {
            None if downloads.is_some() => (None, "url".to_string()),
            None => (None, "context".to_string()),
            Some(f) => {
                let (layers, ident) = match graph.find(f, si) {
                    Some(dep) => {
                        let s = results.get(&dep).ok_or_else(|| {
                            BuildError::Invalid(format!("stage {f} was not built"))
                        })?;
                        // The content checksum covers what is copied: a
                        // rebuilt stage with the same files still hits.
                        (s.layers.clone(), "stage".to_string())
                    }
                    None => {
                        let mut pulled = |b: Vec<u8>| ev(Event::Output(b));
                        let rec = self
                            .ensure_image(
                                f,
                                false,
                                opts.platform.as_deref(),
                                &opts.registry_auth.0,
                                &mut pulled,
                            )
                            .map_err(|e| {
                                BuildError::Invalid(format!("invalid from flag value {f}: {e}"))
                            })?;
                        (self.store.layer_dirs(&rec)?, "image".to_string())
                    }
                };
                (Some(RootView::open(&layers, self.tmp_dir())?), ident)
            }
        };
        let target = RootView::open(&st.layers, self.tmp_dir())?;
        let chown = match inst.flag("chown") {
            Some(c) => Some(resolve_chown(Some(&target), &expand(&c)?)?),
            None => None,
        };
        let source_root = match (&source_view, &downloads) {
            (Some(v), _) => v.root(),
            (None, Some(d)) => d.dir.clone(),
            (None, None) => opts.context.clone(),
        };
        let req = CopyRequest {
            keyword: &keyword,
            srcs: words,
            heredocs,
            dest: dest.clone(),
            workdir: st.workdir(),
            source_root: &source_root,
            chown,
            chmod,
            parents,
            excludes,
            extract,
            target: Some(&target),
        };
        let plan = req.plan()?;
        let sum = checksum(&plan)?;
        let key = step_key(
            &st.parent_key(),
            &[
                &keyword,
                &from_ident,
                &dest,
                &format!("{chown:?}{chmod:?}{parents}"),
                &sum,
            ],
        );
        if self.hit(st, &key, opts.no_cache, ev)? {
            return Ok(());
        }
        let tar = self
            .tmp_dir()
            .join(format!("copy-{}.tar", rand::random::<u64>()));
        crate::layer::write_plan_tar(&plan, &tar, st.epoch_secs())?;
        drop(target);
        drop(source_view);
        let by = format!("/bin/sh -c #(nop) {keyword} sha256:{sum} in {dest} ");
        let res = self.finish_step(st, &key, &by, Some(tar.clone()), ev);
        let _ = std::fs::remove_file(&tar);
        res
    }
}
