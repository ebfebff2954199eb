//! Parsing with only the invoked verb's clap tree.
//!
//! `Cli::command()` builds every verb's arguments (hundreds of `Arg`s, most
//! of them `run`/`create`'s) on each start, which was most of a `pier`
//! process's ~5 ms. Here the command named in argv is looked up in a table
//! and a root holding just the global flags and that one verb is built and
//! parsed. Anything else — `--help`, an unknown verb, a typo, any parse
//! error, a global flag written in an unusual form — goes through the full
//! tree exactly as before, so help texts, suggestions and error messages
//! stay the same: the small tree is only ever used for a successful parse.

use clap::{Args, Command, FromArgMatches};

use super::*;

/// Parses argv like `Cli::try_parse_from`, building as little as it can.
pub fn parse(argv: &[String]) -> Result<Cli, clap::Error> {
    if let Some(cli) = parse_small(argv) {
        #[cfg(debug_assertions)]
        check_same_as_full(argv, &cli);
        return Ok(cli);
    }
    Cli::try_parse_from(argv)
}

fn parse_small(argv: &[String]) -> Option<Cli> {
    let root = small_command(argv)?;
    let mut matches = root.try_get_matches_from(argv).ok()?;
    Cli::from_arg_matches_mut(&mut matches).ok()
}

/// Debug builds (all tests) check that the small tree parsed argv exactly as
/// the full one does.
#[cfg(debug_assertions)]
fn check_same_as_full(argv: &[String], small: &Cli) {
    let full = Cli::try_parse_from(argv);
    assert_eq!(
        format!("{full:?}"),
        format!("{:?}", Ok::<&Cli, clap::Error>(small)),
        "the small clap tree parsed {argv:?} differently"
    );
}

/// The root with the global flags and only the verb named in argv, or None
/// when argv is not a plain `pier [global flags] VERB ...`.
pub(super) fn small_command(argv: &[String]) -> Option<Command> {
    let mut words = argv.iter().skip(1).map(String::as_str);
    let verb = loop {
        let word = words.next()?;
        if !word.starts_with('-') {
            break word;
        }
        if GLOBAL_VALUE_FLAGS.contains(&word) {
            words.next()?;
        } else if !is_plain_global_flag(word) {
            return None;
        }
    };
    let sub = match verb {
        "container" => group(("container", "Container"), words.next()?, container_verb)?,
        "image" => group(("image", "Image"), words.next()?, image_verb)?,
        "system" => group(("system", "System"), words.next()?, system_verb)?,
        _ => top_level_verb(verb)?,
    };
    Some(root().subcommand(sub))
}

/// Global flags (other than value flags followed by their value) that
/// [`small_command`] understands; anything else takes the full tree.
fn is_plain_global_flag(word: &str) -> bool {
    const BOOL_FLAGS: &[&str] = &["--tls", "--tlsverify", "-D", "--debug"];
    if BOOL_FLAGS.contains(&word) {
        return true;
    }
    // `--host=unix:///x`: a long value flag with its value attached.
    word.split_once('=')
        .is_some_and(|(flag, _)| flag.starts_with("--") && GLOBAL_VALUE_FLAGS.contains(&flag))
}

/// The root command as `#[derive(Parser)] Cli` makes it, minus the verbs.
fn root() -> Command {
    let root = Command::new("pier")
        .about("A self-sufficient runtime for containers")
        .disable_version_flag(true)
        .disable_help_subcommand(true)
        .subcommand_required(false)
        // The derive's (empty) group for Cli's own fields.
        .group(
            clap::ArgGroup::new("Cli")
                .multiple(true)
                .args(None::<clap::Id>),
        );
    GlobalArgs::augment_args(root)
}

/// A group's name and the derive's name for its variant.
type GroupNames = (&'static str, &'static str);
/// Finds a verb of a group by name or alias.
type VerbTable = fn(&str) -> Option<Command>;

/// A group (`container`, `image`, …) holding only `verb`, as the derive
/// makes it for a `Group { #[command(subcommand)] cmd: Option<…> }` variant
/// (with an empty arg group named after the variant).
fn group((name, variant): GroupNames, verb: &str, find: VerbTable) -> Option<Command> {
    if verb.starts_with('-') {
        return None;
    }
    let group = clap::ArgGroup::new(variant)
        .multiple(true)
        .args(None::<clap::Id>);
    Some(Command::new(name).group(group).subcommand(find(verb)?))
}

fn verb<A: Args>(name: &'static str) -> Command {
    A::augment_args(Command::new(name))
}

/// Top-level verbs built exactly as their namesake in a group (`docker run`
/// is `docker container run`): looked up in that group's table.
const SAME_AS_CONTAINER: [&str; 21] = [
    "run", "create", "start", "logs", "stop", "kill", "wait", "exec", "attach", "restart",
    "rename", "update", "pause", "unpause", "port", "cp", "diff", "export", "commit", "top",
    "stats",
];
const SAME_AS_IMAGE: [&str; 8] = [
    "load", "save", "import", "tag", "history", "pull", "push", "build",
];
const SAME_AS_SYSTEM: [&str; 2] = ["info", "events"];

fn top_level_verb(name: &str) -> Option<Command> {
    if SAME_AS_CONTAINER.contains(&name) {
        return container_verb(name);
    }
    if SAME_AS_IMAGE.contains(&name) {
        return image_verb(name);
    }
    if SAME_AS_SYSTEM.contains(&name) {
        return system_verb(name);
    }
    // Named or built differently from the group's verb.
    Some(match name {
        "ps" => verb::<PsArgs>("ps"),
        "rm" => verb::<RmArgs>("rm"),
        "inspect" => verb::<InspectArgs>("inspect"),
        "images" => verb::<ImagesArgs>("images"),
        "rmi" => verb::<RmiArgs>("rmi"),
        "version" => verb::<VersionArgs>("version"),
        "compose" => verb::<ComposeArgs>("compose"),
        _ => return None,
    })
}

fn container_verb(name: &str) -> Option<Command> {
    use crate::commands::container::update::UpdateArgs;
    Some(match name {
        "ls" | "ps" | "list" => verb::<PsArgs>("ls").visible_aliases(["ps", "list"]),
        "run" => verb::<RunArgs>("run"),
        "create" => verb::<CreateArgs>("create"),
        "start" => verb::<StartArgs>("start"),
        "stop" => verb::<StopArgs>("stop"),
        "kill" => verb::<KillArgs>("kill"),
        "rm" | "remove" => verb::<RmArgs>("rm").visible_alias("remove"),
        "logs" => verb::<LogsArgs>("logs"),
        "wait" => verb::<WaitArgs>("wait"),
        "inspect" => verb::<ContainerInspectArgs>("inspect"),
        "exec" => verb::<ExecArgs>("exec"),
        "attach" => verb::<AttachArgs>("attach"),
        "restart" => verb::<StopArgs>("restart"),
        "rename" => verb::<RenameArgs>("rename"),
        "update" => verb::<UpdateArgs>("update"),
        "pause" => verb::<ContainersArgs>("pause"),
        "unpause" => verb::<ContainersArgs>("unpause"),
        "port" => verb::<PortArgs>("port"),
        "cp" => verb::<CpArgs>("cp"),
        "diff" => verb::<DiffArgs>("diff"),
        "export" => verb::<ExportArgs>("export"),
        "commit" => verb::<CommitArgs>("commit"),
        "top" => verb::<TopArgs>("top"),
        "stats" => verb::<StatsArgs>("stats"),
        "prune" => verb::<PruneArgs>("prune"),
        _ => return None,
    })
}

fn image_verb(name: &str) -> Option<Command> {
    Some(match name {
        "ls" | "list" => verb::<ImagesArgs>("ls").visible_alias("list"),
        "build" => verb::<BuildArgs>("build"),
        "load" => verb::<LoadArgs>("load"),
        "save" => verb::<SaveArgs>("save"),
        "import" => verb::<ImportArgs>("import"),
        "tag" => verb::<TagArgs>("tag"),
        "rm" | "rmi" | "remove" => verb::<RmiArgs>("rm").visible_aliases(["rmi", "remove"]),
        "history" => verb::<HistoryArgs>("history"),
        "inspect" => verb::<ImageInspectArgs>("inspect"),
        "pull" => verb::<PullArgs>("pull"),
        "prune" => verb::<PruneArgs>("prune"),
        "push" => verb::<PushArgs>("push"),
        _ => return None,
    })
}

fn system_verb(name: &str) -> Option<Command> {
    use crate::commands::system::df::DfArgs;
    Some(match name {
        "info" => verb::<InfoArgs>("info"),
        "events" => verb::<EventsArgs>("events"),
        "prune" => verb::<PruneArgs>("prune"),
        "df" => verb::<DfArgs>("df"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// `Command`'s Debug text without its subcommands and display orders
    /// (which depend on how many siblings a command has) and, for verbs,
    /// the about texts (only help shows them, and help uses the full tree).
    fn shape(cmd: &Command) -> String {
        let cmd = cmd.clone().about(None).long_about(None).display_order(0);
        let text = format!("{cmd:?}");
        let (head, rest) = text.split_once("subcommands: [").unwrap();
        let tail = &rest[rest.rfind("], groups: [").unwrap()..];
        let mut out = format!("{head}{tail}");
        if let Some(i) = out.find("current_disp_ord: ") {
            let end = out[i..].find(',').unwrap() + i;
            out.replace_range(i..end, "");
        }
        out
    }

    fn argv(words: &[&str]) -> Vec<String> {
        std::iter::once("pier")
            .chain(words.iter().copied())
            .map(String::from)
            .collect()
    }

    /// Every verb in the tables is built exactly as the derive builds it.
    #[test]
    fn small_trees_match_the_full_one() {
        let full = Cli::command();
        let small_root = root().subcommand(Command::new("x"));
        assert_eq!(shape(&full), shape(&small_root));
        let mut checked = 0;
        for sub in full.get_subcommands() {
            let name = sub.get_name();
            let groups: [(GroupNames, VerbTable); 3] = [
                (("container", "Container"), container_verb),
                (("image", "Image"), image_verb),
                (("system", "System"), system_verb),
            ];
            if let Some((names, find)) = groups.iter().find(|(g, _)| g.0 == name) {
                let small = group(*names, "x", |_| Some(Command::new("x"))).unwrap();
                assert_eq!(shape(sub), shape(&small), "group {name}");
                for leaf in sub.get_subcommands() {
                    for alias in std::iter::once(leaf.get_name()).chain(leaf.get_all_aliases()) {
                        let small = find(alias).unwrap_or_else(|| panic!("{name} {alias}"));
                        assert_eq!(shape(leaf), shape(&small), "{name} {alias}");
                        checked += 1;
                    }
                }
            } else if let Some(small) = top_level_verb(name) {
                assert_eq!(shape(sub), shape(&small), "{name}");
                checked += 1;
            }
        }
        assert!(checked > 70, "{checked}");
    }

    #[test]
    fn only_plain_command_lines_take_the_small_tree() {
        for words in [
            &["create", "busybox", "true"][..],
            &["-H", "unix:///x", "ps", "-a"],
            &[
                "--host=unix:///x",
                "-D",
                "container",
                "ps",
                "--format",
                "{{.ID}}",
            ],
            &["image", "rmi", "x"],
            &["system", "df", "-v"],
        ] {
            assert!(small_command(&argv(words)).is_some(), "{words:?}");
        }
        for words in [
            &["help", "ps"][..],
            &["-Hunix:///x", "ps"],
            &["--", "ps"],
            &["container"],
            &["container", "-a"],
            &["volume", "ls"],
            &["psx"],
            &[],
        ] {
            assert!(small_command(&argv(words)).is_none(), "{words:?}");
        }
    }

    /// The same results as the full tree, success or error.
    #[test]
    fn parses_like_the_full_tree() {
        for words in [
            &["create", "--name", "x", "-e", "A=1", "busybox", "true"][..],
            &["run", "-it", "--rm", "busybox", "sh", "-c", "echo -d"],
            &["ps", "-aq", "-n", "2", "--filter", "status=exited"],
            &["container", "ls", "--no-trunc"],
            &["ps", "--bogus"],
            &["create", "--help"],
            &["ps", "-n", "abc"],
            &["image", "rm", "-f"],
        ] {
            let argv = argv(words);
            let full = Cli::try_parse_from(&argv);
            let small = parse(&argv);
            match (full, small) {
                (Ok(f), Ok(s)) => assert_eq!(format!("{f:?}"), format!("{s:?}")),
                (Err(f), Err(s)) => assert_eq!(f.to_string(), s.to_string()),
                (f, s) => panic!("{words:?}: {f:?} vs {s:?}"),
            }
        }
    }
}
