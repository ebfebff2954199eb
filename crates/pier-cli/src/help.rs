//! `--help` laid out like docker's cobra usage template: usage line,
//! description, aliases, and pflag's aligned, wrapped option list.

use clap::{Arg, Command};

use crate::cli;
use crate::commands::BIN;

const FORMAT_HELP: &str = "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates";
const INSPECT_FORMAT_HELP: &str = "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates";

/// docker's "aliases" annotation for a canonical command path.
fn aliases(path: &[&str]) -> Option<String> {
    let verb = *path.last()?;
    let list: Vec<String> = match path {
        ["ps"] | ["container", "ls"] => vec![
            "container ls".into(),
            "container list".into(),
            "container ps".into(),
            "ps".into(),
        ],
        ["rm"] | ["container", "rm"] => vec![
            "container rm".into(),
            "container remove".into(),
            "rm".into(),
        ],
        ["images"] | ["image", "ls"] => {
            vec!["image ls".into(), "image list".into(), "images".into()]
        }
        ["rmi"] | ["image", "rm"] => vec!["image rm".into(), "image remove".into(), "rmi".into()],
        ["info"] | ["system", "info"] => vec!["system info".into(), "info".into()],
        ["events"] | ["system", "events"] => vec!["system events".into(), "events".into()],
        ["inspect"] | ["version"] | ["container", "inspect"] | ["image", "inspect"] => return None,
        ["login"] | ["logout"] => return None,
        ["load"] | ["save"] | ["import"] | ["tag"] | ["history"] | ["pull"] | ["push"] => {
            vec![format!("image {verb}"), verb.to_string()]
        }
        ["volume", "ls"] => vec!["volume ls".into(), "volume list".into()],
        ["volume", "rm"] => vec!["volume rm".into(), "volume remove".into()],
        ["volume"] | ["volume", _] => return None,
        ["network"] => return None,
        ["network", "ls"] => vec!["network ls".into(), "network list".into()],
        ["network", "rm"] => vec!["network rm".into(), "network remove".into()],
        ["network", _] => return None,
        [_] => vec![format!("container {verb}"), verb.to_string()],
        ["container", v] => vec![format!("container {v}"), v.to_string()],
        ["image", v] => vec![format!("image {v}"), v.to_string()],
        _ => return None,
    };
    Some(
        list.iter()
            .map(|a| format!("{BIN} {a}"))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// Flags whose docker default is `true` (pflag prints it).
fn default_true(path: &[&str], long: &str) -> bool {
    matches!(
        (path.last().copied(), long),
        (Some("run"), "sig-proxy")
            | (Some("attach"), "sig-proxy")
            | (Some("history"), "human")
            | (Some("pull"), "disable-content-trust")
            | (Some("push"), "disable-content-trust")
    )
}

/// pflag's `wrapN`.
fn wrap_n(i: usize, slop: usize, s: &str) -> (String, String) {
    if i + slop > s.len() {
        return (s.to_string(), String::new());
    }
    let mut end = i.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let head = &s[..end];
    let Some(w) = head.rfind([' ', '\t', '\n']).filter(|w| *w > 0) else {
        return (s.to_string(), String::new());
    };
    if let Some(nl) = head.rfind('\n').filter(|n| *n > 0 && *n < w) {
        return (s[..nl].to_string(), s[nl + 1..].to_string());
    }
    (s[..w].to_string(), s[w + 1..].to_string())
}

/// pflag's `wrap`: wraps `s` to width `w` with indent `i` after the first line.
fn wrap(mut i: usize, w: usize, s: &str) -> String {
    let mut r = String::new();
    let mut width = w.saturating_sub(i);
    if width < 24 {
        i = 16;
        width = w.saturating_sub(i);
        r.push('\n');
        r.push_str(&" ".repeat(i));
    }
    let indent = format!("\n{}", " ".repeat(i));
    if width < 24 {
        return s.replace('\n', &r);
    }
    let slop = 5;
    let width = width - slop;
    let (l, mut rest) = wrap_n(width, slop, s);
    r.push_str(&l.replace('\n', &indent));
    while !rest.is_empty() {
        let (t, next) = wrap_n(width, slop, &rest);
        r.push_str(&indent);
        r.push_str(&t.replace('\n', &indent));
        rest = next;
    }
    r
}

fn flag_line(path: &[&str], a: &Arg) -> Option<(String, String)> {
    let long = a.get_long()?;
    if a.is_hide_set() || (long == "help" && !matches!(path.last(), Some(&"run") | Some(&"create")))
    {
        return None;
    }
    let mut line = match a.get_short() {
        Some(s) => format!("  -{s}, --{long}"),
        None => format!("      --{long}"),
    };
    let takes_value = a.get_action().takes_values() && !a.is_require_equals_set();
    let varname = if takes_value {
        a.get_value_names()
            .and_then(|v| v.first())
            .map(|v| v.to_string())
            .unwrap_or_else(|| "string".into())
    } else {
        String::new()
    };
    if !varname.is_empty() {
        line.push(' ');
        line.push_str(&varname);
    }
    if path.is_empty() {
        let home = std::env::var("HOME").unwrap_or_default();
        let dir = format!("{home}/.docker");
        let text = match long {
            "config" => Some(format!("Location of client config files (default {dir:?})")),
            "context" => Some(
                "Name of the context to use to connect to the daemon (overrides DOCKER_HOST env var and default context set with \"docker context use\")".to_string(),
            ),
            "log-level" => Some(
                "Set the logging level (\"debug\", \"info\", \"warn\", \"error\", \"fatal\") (default \"info\")".to_string(),
            ),
            "tlscacert" => Some(format!("Trust certs signed only by this CA (default \"{dir}/ca.pem\")")),
            "tlscert" => Some(format!("Path to TLS certificate file (default \"{dir}/cert.pem\")")),
            "tlskey" => Some(format!("Path to TLS key file (default \"{dir}/key.pem\")")),
            _ => None,
        };
        if let Some(t) = text {
            return Some((line, t));
        }
    }
    let table = match path {
        ["volume", ..] => None,
        [.., "run"] => Some(crate::help_flags::RUN_FLAGS),
        [.., "create"] => Some(crate::help_flags::CREATE_FLAGS),
        _ => None,
    };
    if let Some(text) = table
        .and_then(|t| t.iter().find(|(n, _)| *n == long))
        .map(|(_, u)| u)
    {
        return Some((line, text.to_string()));
    }
    let mut usage = if long == "format" {
        if matches!(
            path,
            ["ps"] | ["images"] | ["history"] | [_, "ls"] | [_, "history"] | ["system", "df"]
        ) {
            FORMAT_HELP.to_string()
        } else {
            INSPECT_FORMAT_HELP.to_string()
        }
    } else {
        a.get_help().map(|h| h.to_string()).unwrap_or_default()
    };
    if let Some(d) = a.get_default_values().first().and_then(|d| d.to_str()) {
        if !d.is_empty() && d != "0" && d != "false" {
            if varname == "string" {
                usage.push_str(&format!(" (default {d:?})"));
            } else {
                usage.push_str(&format!(" (default {d})"));
            }
        }
    }
    if default_true(path, long) {
        usage.push_str(" (default true)");
    }
    Some((line, usage))
}

/// pflag's `FlagUsagesWrapped`.
fn flag_usages(path: &[&str], cmd: &Command) -> String {
    let mut args: Vec<&Arg> = cmd.get_arguments().collect();
    args.sort_by_key(|a| a.get_long().unwrap_or_default().to_string());
    let lines: Vec<(String, String)> = args.iter().filter_map(|a| flag_line(path, a)).collect();
    let maxlen = lines.iter().map(|(l, _)| l.len() + 1).max().unwrap_or(0);
    let cols = crate::tty::size(0)
        .map(|(_, w)| w as usize)
        .filter(|w| *w > 0)
        .unwrap_or(80)
        - 1;
    let mut out = String::new();
    for (l, usage) in lines {
        let spacing = " ".repeat(maxlen - l.len());
        out.push_str(&format!(
            "{l} {spacing} {}\n",
            wrap(maxlen + 2, cols, &usage)
        ));
    }
    out
}

fn find<'a>(root: &'a Command, path: &[&str]) -> Option<&'a Command> {
    let mut cmd = root;
    for p in path {
        cmd = cmd.find_subcommand(p)?;
    }
    Some(cmd)
}

fn subcommand_list(cmd: &Command, names: &[&str]) -> String {
    let mut out = String::new();
    for n in names {
        if let Some(c) = cmd.find_subcommand(n) {
            let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
            out.push_str(&format!("\n  {n:<11} {about}"));
        }
    }
    out
}

/// Help text for a command path (canonical names), docker's layout.
pub fn render(root: &Command, path: &[&str]) -> String {
    let Some(cmd) = find(root, path) else {
        return String::new();
    };
    let about = cmd
        .get_long_about()
        .or(cmd.get_about())
        .map(|a| a.to_string())
        .unwrap_or_default();
    if path.is_empty() {
        let mut out = format!("Usage:  {BIN} [OPTIONS] COMMAND\n\n{about}\n\nCommon Commands:");
        out.push_str(&subcommand_list(
            cmd,
            &[
                "run", "exec", "ps", "pull", "push", "images", "login", "logout", "version", "info",
            ],
        ));
        out.push_str("\n\nManagement Commands:");
        out.push_str(&subcommand_list(
            cmd,
            &["container", "image", "network", "system", "volume"],
        ));
        out.push_str("\n\nCommands:");
        out.push_str(&subcommand_list(
            cmd,
            &[
                "attach", "create", "events", "history", "import", "inspect", "kill", "load",
                "logs", "pause", "port", "rename", "restart", "rm", "rmi", "save", "start", "stop",
                "tag", "unpause", "wait",
            ],
        ));
        out.push_str("\n\nGlobal Options:\n");
        out.push_str(flag_usages(path, cmd).trim_end());
        out.push_str(&format!(
            "\n\nRun '{BIN} COMMAND --help' for more information on a command.\n"
        ));
        return out;
    }
    if matches!(
        path,
        ["container"] | ["image"] | ["system"] | ["volume"] | ["network"]
    ) {
        let mut names: Vec<String> = cmd
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        names.sort();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let group = path.join(" ");
        return format!(
            "Usage:  {BIN} {group} COMMAND\n\n{about}\n\nCommands:{}\n\nRun '{BIN} {group} COMMAND --help' for more information on a command.\n",
            subcommand_list(cmd, &refs)
        );
    }
    let use_line = cli::use_line(path).unwrap_or_default();
    let mut out = format!("Usage:  {BIN} {} {use_line}\n\n{about}", path.join(" "));
    if let Some(a) = aliases(path) {
        out.push_str(&format!("\n\nAliases:\n  {a}"));
    }
    let flags = flag_usages(path, cmd);
    if !flags.is_empty() {
        out.push_str("\n\nOptions:\n");
        out.push_str(flags.trim_end());
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn ps_help_like_docker() {
        let root = cli::Cli::command();
        let h = render(&root, &["ps"]);
        let want_start = "Usage:  pier ps [OPTIONS]\n\nList containers\n\nAliases:\n  pier container ls, pier container list, pier container ps, pier ps\n\nOptions:\n  -a, --all             Show all containers (default shows just running)\n  -f, --filter filter   Filter output based on conditions provided\n      --format string   Format output using a custom template:\n";
        assert!(h.starts_with(want_start), "{h}");
        assert!(h.contains("  -n, --last int        Show n last created containers (includes all\n                        states) (default -1)\n"), "{h}");
        assert!(
            h.ends_with("  -s, --size            Display total file sizes\n"),
            "{h}"
        );
    }

    #[test]
    fn wrapping_like_pflag() {
        assert_eq!(wrap(24, 79, "short"), "short");
        let w = wrap(
            24,
            79,
            "Show n last created containers (includes all states) (default -1)",
        );
        assert_eq!(w, "Show n last created containers (includes all\n                        states) (default -1)");
    }
}
