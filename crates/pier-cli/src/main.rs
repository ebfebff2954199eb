#![recursion_limit = "256"]
//! `pier`: a docker-compatible command line for the Engine API.

mod attach;
mod cli;
mod client;
mod commands;
mod config;
mod format;
mod help;
mod help_flags;
mod output;
mod reference;
mod tls;
mod tty;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::CommandFactory;

use cli::{BuilderCmd, Cli, Cmd, ContainerCmd, ImageCmd, SystemCmd};
use commands::{container, image, system, CmdError, CmdResult, Ctx, BIN};

fn main() {
    // A bug must not leave the user's terminal in raw mode.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tty::restore();
        default_hook(info);
    }));
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let code = match real_main(&argv) {
        Ok(()) => 0,
        Err(e) => {
            if !e.message.is_empty() {
                output::errln(&e.message);
            }
            e.code
        }
    };
    tty::exit(code);
}

fn real_main(argv: &[String]) -> Result<(), CmdError> {
    let cli = match cli::fast::parse(argv) {
        Ok(c) => c,
        Err(e) => return Err(clap_error(e, argv)),
    };
    if cli.global.version {
        output::outln(&format!(
            "Pier version {}, build {}",
            env!("CARGO_PKG_VERSION"),
            option_env!("PIER_GIT_COMMIT").unwrap_or("unknown")
        ));
        return Ok(());
    }
    if let Some(dir) = &cli.global.config {
        config::set_dir(dir);
    }
    let Some(cmd) = cli.cmd else {
        print_help(&[]);
        return Ok(());
    };
    let tls = tls::TlsOptions {
        tls: cli.global.tls,
        verify: cli.global.tlsverify,
        ca: cli.global.tlscacert.clone(),
        cert: cli.global.tlscert.clone(),
        key: cli.global.tlskey.clone(),
    }
    .resolve();
    if cli.global.host.len() > 1 {
        return Err(client::ClientError::TooManyHosts.into());
    }
    let client = client::Client::new(cli.global.host.first().map(String::as_str), &tls)
        .map_err(CmdError::from)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CmdError::new(1, e.to_string()))?;
    rt.block_on(dispatch(client, cmd, cli.global.debug))
}

fn ctx(client: &client::Client, path: &[&'static str], debug: bool) -> Ctx {
    Ctx {
        client: client.clone(),
        path: path.to_vec(),
        debug,
    }
}

async fn dispatch(client: client::Client, cmd: Cmd, debug: bool) -> CmdResult {
    let c = |p: &[&'static str]| ctx(&client, p, debug);
    match cmd {
        Cmd::Run(a) => container::run::run(&c(&["run"]), a).await,
        Cmd::Create(a) => container::create::run(&c(&["create"]), a).await,
        Cmd::Start(a) => container::start::run(&c(&["start"]), a).await,
        Cmd::Ps(a) => container::list::run(&c(&["ps"]), a).await,
        Cmd::Logs(a) => container::logs::run(&c(&["logs"]), a).await,
        Cmd::Stop(a) => container::lifecycle::stop(&c(&["stop"]), a).await,
        Cmd::Kill(a) => container::lifecycle::kill(&c(&["kill"]), a).await,
        Cmd::Rm(a) => container::lifecycle::rm(&c(&["rm"]), a).await,
        Cmd::Wait(a) => container::lifecycle::wait(&c(&["wait"]), a).await,
        Cmd::Inspect(a) => {
            let x = c(&["inspect"]);
            x.require_min(&a.names, 1)?;
            let kind = system::inspect::parse_kind(a.kind.as_deref())?;
            system::inspect::inspect(&x, &a.names, a.format.as_deref(), kind, a.size).await
        }
        Cmd::Images(a) => image::list::run(&c(&["images"]), a, true).await,
        Cmd::Load(a) => image::transfer::load(&c(&["load"]), a).await,
        Cmd::Save(a) => image::transfer::save(&c(&["save"]), a).await,
        Cmd::Import(a) => image::transfer::import(&c(&["import"]), a).await,
        Cmd::Tag(a) => image::remove::tag(&c(&["tag"]), a).await,
        Cmd::Rmi(a) => image::remove::rmi(&c(&["rmi"]), a).await,
        Cmd::History(a) => image::history::run(&c(&["history"]), a).await,
        Cmd::Version(a) => system::version::run(&c(&["version"]), a).await,
        Cmd::Info(a) => system::info::run(&c(&["info"]), a).await,
        Cmd::Exec(a) => container::exec::exec(&c(&["exec"]), a).await,
        Cmd::Attach(a) => container::exec::attach(&c(&["attach"]), a).await,
        Cmd::Restart(a) => container::manage::restart(&c(&["restart"]), a).await,
        Cmd::Rename(a) => container::manage::rename(&c(&["rename"]), a).await,
        Cmd::Update(a) => container::update::run(&c(&["update"]), a).await,
        Cmd::Pause(a) => container::manage::pause(&c(&["pause"]), a, "pause").await,
        Cmd::Unpause(a) => container::manage::pause(&c(&["unpause"]), a, "unpause").await,
        Cmd::Port(a) => container::manage::port(&c(&["port"]), a).await,
        Cmd::Pull(a) => image::pull::run(&c(&["pull"]), a).await,
        Cmd::Push(a) => image::push::run(&c(&["push"]), a).await,
        Cmd::Login(a) => image::login::login(&c(&["login"]), a).await,
        Cmd::Logout(a) => image::login::logout(&c(&["logout"]), a).await,
        Cmd::Events(a) => system::events::run(&c(&["events"]), a).await,
        Cmd::Cp(a) => container::files::cp(&c(&["cp"]), a).await,
        Cmd::Diff(a) => container::files::diff(&c(&["diff"]), a).await,
        Cmd::Export(a) => container::files::export(&c(&["export"]), a).await,
        Cmd::Commit(a) => container::files::commit(&c(&["commit"]), a).await,
        Cmd::Top(a) => container::stats::top(&c(&["top"]), a).await,
        Cmd::Stats(a) => container::stats::stats(&c(&["stats"]), a).await,
        Cmd::Build(a) => image::build::run(&c(&["build"]), a).await,
        Cmd::Builder { cmd } => match cmd {
            None => {
                print_help(&["builder"]);
                Ok(())
            }
            Some(BuilderCmd::Prune(a)) => image::build::prune(&c(&["builder", "prune"]), a).await,
        },
        Cmd::Help { args } => {
            let mut argv = vec![BIN.to_string()];
            argv.extend(args.iter().cloned());
            let path = cli::command_path(&argv);
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            let root = Cli::command();
            let exists = refs
                .iter()
                .try_fold(&root, |cmd, p| cmd.find_subcommand(p))
                .is_some();
            if !exists {
                return Err(CmdError::new(
                    1,
                    format!("unknown help topic: {}", args.join(" ")),
                ));
            }
            print_help(&refs);
            Ok(())
        }
        Cmd::Container { cmd } => match cmd {
            None => {
                print_help(&["container"]);
                Ok(())
            }
            Some(ContainerCmd::Ls(a)) => container::list::run(&c(&["container", "ls"]), a).await,
            Some(ContainerCmd::Run(a)) => container::run::run(&c(&["container", "run"]), a).await,
            Some(ContainerCmd::Create(a)) => {
                container::create::run(&c(&["container", "create"]), a).await
            }
            Some(ContainerCmd::Start(a)) => {
                container::start::run(&c(&["container", "start"]), a).await
            }
            Some(ContainerCmd::Stop(a)) => {
                container::lifecycle::stop(&c(&["container", "stop"]), a).await
            }
            Some(ContainerCmd::Kill(a)) => {
                container::lifecycle::kill(&c(&["container", "kill"]), a).await
            }
            Some(ContainerCmd::Rm(a)) => {
                container::lifecycle::rm(&c(&["container", "rm"]), a).await
            }
            Some(ContainerCmd::Logs(a)) => {
                container::logs::run(&c(&["container", "logs"]), a).await
            }
            Some(ContainerCmd::Wait(a)) => {
                container::lifecycle::wait(&c(&["container", "wait"]), a).await
            }
            Some(ContainerCmd::Exec(a)) => {
                container::exec::exec(&c(&["container", "exec"]), a).await
            }
            Some(ContainerCmd::Attach(a)) => {
                container::exec::attach(&c(&["container", "attach"]), a).await
            }
            Some(ContainerCmd::Restart(a)) => {
                container::manage::restart(&c(&["container", "restart"]), a).await
            }
            Some(ContainerCmd::Rename(a)) => {
                container::manage::rename(&c(&["container", "rename"]), a).await
            }
            Some(ContainerCmd::Update(a)) => {
                container::update::run(&c(&["container", "update"]), a).await
            }
            Some(ContainerCmd::Pause(a)) => {
                container::manage::pause(&c(&["container", "pause"]), a, "pause").await
            }
            Some(ContainerCmd::Unpause(a)) => {
                container::manage::pause(&c(&["container", "unpause"]), a, "unpause").await
            }
            Some(ContainerCmd::Port(a)) => {
                container::manage::port(&c(&["container", "port"]), a).await
            }
            Some(ContainerCmd::Cp(a)) => container::files::cp(&c(&["container", "cp"]), a).await,
            Some(ContainerCmd::Diff(a)) => {
                container::files::diff(&c(&["container", "diff"]), a).await
            }
            Some(ContainerCmd::Export(a)) => {
                container::files::export(&c(&["container", "export"]), a).await
            }
            Some(ContainerCmd::Commit(a)) => {
                container::files::commit(&c(&["container", "commit"]), a).await
            }
            Some(ContainerCmd::Top(a)) => container::stats::top(&c(&["container", "top"]), a).await,
            Some(ContainerCmd::Stats(a)) => {
                container::stats::stats(&c(&["container", "stats"]), a).await
            }
            Some(ContainerCmd::Prune(a)) => {
                system::prune::containers(&c(&["container", "prune"]), a).await
            }
            Some(ContainerCmd::Inspect(a)) => {
                let x = c(&["container", "inspect"]);
                x.require_min(&a.names, 1)?;
                system::inspect::inspect(
                    &x,
                    &a.names,
                    a.format.as_deref(),
                    system::inspect::Kind::Container,
                    a.size,
                )
                .await
            }
        },
        Cmd::Image { cmd } => match cmd {
            None => {
                print_help(&["image"]);
                Ok(())
            }
            Some(ImageCmd::Ls(a)) => image::list::run(&c(&["image", "ls"]), a, false).await,
            Some(ImageCmd::Build(a)) => image::build::run(&c(&["image", "build"]), a).await,
            Some(ImageCmd::Load(a)) => image::transfer::load(&c(&["image", "load"]), a).await,
            Some(ImageCmd::Save(a)) => image::transfer::save(&c(&["image", "save"]), a).await,
            Some(ImageCmd::Import(a)) => image::transfer::import(&c(&["image", "import"]), a).await,
            Some(ImageCmd::Tag(a)) => image::remove::tag(&c(&["image", "tag"]), a).await,
            Some(ImageCmd::Rm(a)) => image::remove::rmi(&c(&["image", "rm"]), a).await,
            Some(ImageCmd::History(a)) => image::history::run(&c(&["image", "history"]), a).await,
            Some(ImageCmd::Pull(a)) => image::pull::run(&c(&["image", "pull"]), a).await,
            Some(ImageCmd::Prune(a)) => system::prune::images(&c(&["image", "prune"]), a).await,
            Some(ImageCmd::Push(a)) => image::push::run(&c(&["image", "push"]), a).await,
            Some(ImageCmd::Inspect(a)) => {
                let x = c(&["image", "inspect"]);
                x.require_min(&a.names, 1)?;
                system::inspect::inspect(
                    &x,
                    &a.names,
                    a.format.as_deref(),
                    system::inspect::Kind::Image,
                    false,
                )
                .await
            }
        },
        Cmd::Network { cmd: None } => {
            print_help(&["network"]);
            Ok(())
        }
        Cmd::Network { cmd: Some(cmd) } => commands::network::run(&client, cmd, debug).await,
        Cmd::System { cmd } => match cmd {
            None => {
                print_help(&["system"]);
                Ok(())
            }
            Some(SystemCmd::Info(a)) => system::info::run(&c(&["system", "info"]), a).await,
            Some(SystemCmd::Events(a)) => system::events::run(&c(&["system", "events"]), a).await,
            Some(SystemCmd::Prune(a)) => system::prune::system(&c(&["system", "prune"]), a).await,
            Some(SystemCmd::Df(a)) => system::df::run(&c(&["system", "df"]), a).await,
        },
        Cmd::Compose(a) => commands::compose::run(&c(&["compose"]), a).await,
        Cmd::Volume { cmd } => match cmd {
            None => {
                print_help(&["volume"]);
                Ok(())
            }
            Some(v) => {
                use commands::volume::VolumeCmd as V;
                let sub: &'static str = match &v {
                    V::Create(_) => "create",
                    V::Ls(_) => "ls",
                    V::Inspect(_) => "inspect",
                    V::Rm(_) => "rm",
                    V::Prune(_) => "prune",
                };
                commands::volume::dispatch(&c(&["volume", sub]), v).await
            }
        },
    }
}

fn print_help(path: &[&str]) {
    output::out(&help::render(&Cli::command(), path));
}

/// The usage line and path for docker-style flag errors.
fn path_and_usage(argv: &[String]) -> (String, String) {
    let path = cli::command_path(argv);
    let refs: Vec<&str> = path.iter().map(String::as_str).collect();
    let mut cmd_path = BIN.to_string();
    for p in &refs {
        cmd_path.push(' ');
        cmd_path.push_str(p);
    }
    let usage = match cli::use_line(&refs) {
        Some(u) => format!("{cmd_path} {u}"),
        None if refs.is_empty() => format!("{BIN} [OPTIONS] COMMAND"),
        None => cmd_path.clone(),
    };
    (cmd_path, usage)
}

fn ctx_str(e: &clap::Error, k: ContextKind) -> Option<String> {
    match e.get(k) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    }
}

/// pflag's name for a flag in errors (`-n, --last`) and whether it is a
/// boolean flag (one that takes an optional `=true|false`).
fn describe_flag(argv: &[String], flag: &str) -> (String, bool) {
    let path = cli::command_path(argv);
    let mut cmd = Cli::command();
    for p in &path {
        match cmd.find_subcommand(p) {
            Some(s) => cmd = s.clone(),
            None => break,
        }
    }
    let long = flag.trim_start_matches('-');
    let found = cmd.get_arguments().find(|a| {
        a.get_long() == Some(long)
            || (flag.len() == 2 && a.get_short().map(|c| c.to_string()).as_deref() == Some(long))
    });
    match found {
        Some(a) => {
            let name = match (a.get_short(), a.get_long()) {
                (Some(s), Some(l)) => format!("-{s}, --{l}"),
                (None, Some(l)) => format!("--{l}"),
                _ => flag.to_string(),
            };
            let is_bool = a.is_require_equals_set();
            (name, is_bool)
        }
        None => (flag.to_string(), false),
    }
}

/// Turns clap's errors into docker's (cobra/pflag) messages and statuses.
fn clap_error(e: clap::Error, argv: &[String]) -> CmdError {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let path = cli::command_path(argv);
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            output::out(&help::render(&Cli::command(), &refs));
            return CmdError::status(0);
        }
        ErrorKind::DisplayVersion => {
            output::out(&e.render().to_string());
            return CmdError::status(0);
        }
        _ => {}
    }
    let (cmd_path, usage) = path_and_usage(argv);
    if e.kind() == ErrorKind::InvalidSubcommand {
        let bad = ctx_str(&e, ContextKind::InvalidSubcommand).unwrap_or_default();
        let group = cli::command_path(argv);
        if group.is_empty()
            || !matches!(
                group[0].as_str(),
                "container" | "image" | "system" | "volume" | "network"
            )
        {
            return CmdError::new(
                1,
                format!("{BIN}: unknown command: {BIN} {bad}\n\nRun '{BIN} --help' for more information"),
            );
        }
        return CmdError::new(
            1,
            format!(
                "{BIN}: unknown command: {BIN} {} {bad}\n\nUsage:  {BIN} {}\n\nRun '{BIN} {} --help' for more information",
                group[0], group[0], group[0]
            ),
        );
    }
    let arg = ctx_str(&e, ContextKind::InvalidArg).unwrap_or_default();
    let flag = arg.split([' ', '[']).next().unwrap_or_default().to_string();
    let (flag_desc, is_bool) = describe_flag(argv, &flag);
    let msg = match e.kind() {
        ErrorKind::UnknownArgument => {
            if let Some(long) = flag.strip_prefix("--") {
                format!("unknown flag: --{}", long.split('=').next().unwrap_or(long))
            } else {
                let c = flag.trim_start_matches('-').chars().next().unwrap_or('?');
                let token = argv
                    .iter()
                    .find(|a| a.starts_with('-') && !a.starts_with("--") && a.contains(c))
                    .cloned()
                    .unwrap_or(flag.clone());
                format!("unknown shorthand flag: '{c}' in {token}")
            }
        }
        ErrorKind::InvalidValue | ErrorKind::NoEquals | ErrorKind::TooFewValues => {
            let value = ctx_str(&e, ContextKind::InvalidValue).unwrap_or_default();
            if value.is_empty() {
                let last = argv.last().cloned().unwrap_or_default();
                if last.starts_with("--") {
                    format!("flag needs an argument: {flag}")
                } else {
                    let c = last.chars().last().unwrap_or('?');
                    format!("flag needs an argument: '{c}' in {last}")
                }
            } else if is_bool {
                format!("invalid argument {value:?} for {flag_desc:?} flag: strconv.ParseBool: parsing {value:?}: invalid syntax")
            } else {
                format!(
                    "invalid argument {value:?} for {flag_desc:?} flag: {}",
                    e.kind()
                )
            }
        }
        ErrorKind::ValueValidation => {
            let value = ctx_str(&e, ContextKind::InvalidValue).unwrap_or_default();
            let why = if is_bool {
                format!("strconv.ParseBool: parsing {value:?}: invalid syntax")
            } else if value.parse::<f64>().is_ok() {
                format!("strconv.ParseInt: parsing {value:?}: value out of range")
            } else {
                format!("strconv.ParseInt: parsing {value:?}: invalid syntax")
            };
            format!("invalid argument {value:?} for {flag_desc:?} flag: {why}")
        }
        _ => {
            let rendered = e.render().to_string();
            rendered
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_string()
        }
    };
    CmdError::new(
        125,
        format!("{msg}\n\nUsage:  {usage}\n\nRun '{cmd_path} --help' for more information"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn err(args: &[&str]) -> CmdError {
        let argv: Vec<String> = std::iter::once("pier")
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        match Cli::try_parse_from(&argv) {
            Err(e) => clap_error(e, &argv),
            Ok(_) => panic!("{args:?} parsed"),
        }
    }

    #[test]
    fn flag_errors_read_like_docker() {
        let e = err(&["ps", "--bogus"]);
        assert_eq!(e.code, 125);
        assert_eq!(
            e.message,
            "unknown flag: --bogus\n\nUsage:  pier ps [OPTIONS]\n\nRun 'pier ps --help' for more information"
        );
        let e = err(&["container", "ps", "-x"]);
        assert_eq!(
            e.message,
            "unknown shorthand flag: 'x' in -x\n\nUsage:  pier container ls [OPTIONS]\n\nRun 'pier container ls --help' for more information"
        );
        let e = err(&["run", "-p"]);
        assert!(e.message.starts_with("flag needs an argument: 'p' in -p\n\nUsage:  pier run [OPTIONS] IMAGE [COMMAND] [ARG...]"), "{}", e.message);
        let e = err(&["ps", "-n", "abc"]);
        assert!(e.message.starts_with(
            "invalid argument \"abc\" for \"-n, --last\" flag: strconv.ParseInt: parsing \"abc\": invalid syntax"
        ));
        let e = err(&["run", "--rm=maybe", "busybox"]);
        assert!(e.message.starts_with(
            "invalid argument \"maybe\" for \"--rm\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        ));
    }

    #[test]
    fn unknown_commands() {
        let e = err(&["foo"]);
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                1,
                "pier: unknown command: pier foo\n\nRun 'pier --help' for more information"
            )
        );
        let e = err(&["image", "foo"]);
        assert_eq!(
            e.message,
            "pier: unknown command: pier image foo\n\nUsage:  pier image\n\nRun 'pier image --help' for more information"
        );
    }
}
