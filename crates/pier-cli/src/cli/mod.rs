//! Command-line definitions (clap derive), named and shaped like docker's
//! cobra commands, plus docker's usage lines for error messages.
//!
//! Positional arguments are collected loosely and counted by the commands
//! themselves so the messages are docker's ("requires at least 1 argument").

mod args;
mod build_args;
mod compose_args;
pub mod fast;
mod ops_args;

use clap::{Args, Parser, Subcommand};

pub use args::*;
pub use build_args::*;
pub use compose_args::*;
pub use ops_args::*;

#[derive(Debug, Parser)]
#[command(
    name = "pier",
    about = "A self-sufficient runtime for containers",
    disable_version_flag = true,
    disable_help_subcommand = true,
    subcommand_required = false
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

/// The flags before the command (`pier -H unix:///x ps`). Their own struct so
/// that [`fast::parse`] can build the root command without every verb.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", value_name = "list")]
    pub host: Vec<String>,
    /// Use TLS; implied by --tlsverify
    #[arg(long)]
    pub tls: bool,
    /// Use TLS and verify the remote
    #[arg(long)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA
    #[arg(long, value_name = "string")]
    pub tlscacert: Option<std::path::PathBuf>,
    /// Path to TLS certificate file
    #[arg(long, value_name = "string")]
    pub tlscert: Option<std::path::PathBuf>,
    /// Path to TLS key file
    #[arg(long, value_name = "string")]
    pub tlskey: Option<std::path::PathBuf>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Set the logging level ("debug", "info", "warn", "error", "fatal")
    #[arg(short = 'l', long = "log-level", value_name = "string")]
    pub log_level: Option<String>,
    /// Location of client config files
    #[arg(long, value_name = "string")]
    pub config: Option<String>,
    /// Name of the context to use to connect to the daemon
    #[arg(short = 'c', long, value_name = "string")]
    pub context: Option<String>,
    /// Print version information and quit
    #[arg(short = 'v', long)]
    pub version: bool,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitArgs),
    /// Return low-level information on Docker objects
    Inspect(InspectArgs),
    /// List images
    Images(ImagesArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Show the Docker version information
    Version(VersionArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(crate::commands::container::update::UpdateArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Authenticate to a registry
    #[command(
        long_about = "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified."
    )]
    Login(LoginArgs),
    /// Log out from a registry
    #[command(
        long_about = "Log out from a registry.\nIf no server is specified, the default is defined by the daemon."
    )]
    Logout(LogoutArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Manage builds
    Builder {
        #[command(subcommand)]
        cmd: Option<BuilderCmd>,
    },
    /// Help about the command
    #[command(hide = true)]
    Help { args: Vec<String> },
    /// Manage containers
    Container {
        #[command(subcommand)]
        cmd: Option<ContainerCmd>,
    },
    /// Manage images
    Image {
        #[command(subcommand)]
        cmd: Option<ImageCmd>,
    },
    /// Manage Docker (system-wide commands)
    System {
        #[command(subcommand)]
        cmd: Option<SystemCmd>,
    },
    /// Manage networks
    Network {
        #[command(subcommand)]
        cmd: Option<crate::commands::network::NetworkCmd>,
    },
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        cmd: Option<crate::commands::volume::VolumeCmd>,
    },
    /// Docker Compose
    Compose(ComposeArgs),
}

#[derive(Debug, Subcommand)]
pub enum ContainerCmd {
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitArgs),
    /// Display detailed information on one or more containers
    Inspect(ContainerInspectArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(crate::commands::container::update::UpdateArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
}

#[derive(Debug, Subcommand)]
pub enum BuilderCmd {
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImageCmd {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(visible_aliases = ["rmi", "remove"])]
    Rm(RmiArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Display detailed information on one or more images
    Inspect(ImageInspectArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Upload an image to a registry
    Push(PushArgs),
}

#[derive(Debug, Subcommand)]
pub enum SystemCmd {
    /// Display system-wide information
    Info(InfoArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Remove unused data
    Prune(PruneArgs),
    /// Show docker disk usage
    Df(crate::commands::system::df::DfArgs),
}

/// docker's `Use` line for a command path (canonical names), without the binary name.
pub fn use_line(path: &[&str]) -> Option<&'static str> {
    Some(match path {
        ["run"] | ["container", "run"] => "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        ["create"] | ["container", "create"] => "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        ["start"] | ["container", "start"] => "[OPTIONS] CONTAINER [CONTAINER...]",
        ["ps"] | ["container", "ls"] => "[OPTIONS]",
        ["logs"] | ["container", "logs"] => "[OPTIONS] CONTAINER",
        ["stop"] | ["container", "stop"] => "[OPTIONS] CONTAINER [CONTAINER...]",
        ["kill"] | ["container", "kill"] => "[OPTIONS] CONTAINER [CONTAINER...]",
        ["rm"] | ["container", "rm"] => "[OPTIONS] CONTAINER [CONTAINER...]",
        ["wait"] | ["container", "wait"] => "CONTAINER [CONTAINER...]",
        ["inspect"] => "[OPTIONS] NAME|ID [NAME|ID...]",
        ["container", "inspect"] => "[OPTIONS] CONTAINER [CONTAINER...]",
        ["image", "inspect"] => "[OPTIONS] IMAGE [IMAGE...]",
        ["images"] | ["image", "ls"] => "[OPTIONS] [REPOSITORY[:TAG]]",
        ["load"] | ["image", "load"] => "[OPTIONS]",
        ["save"] | ["image", "save"] => "[OPTIONS] IMAGE [IMAGE...]",
        ["import"] | ["image", "import"] => "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        ["tag"] | ["image", "tag"] => "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        ["rmi"] | ["image", "rm"] => "[OPTIONS] IMAGE [IMAGE...]",
        ["history"] | ["image", "history"] => "[OPTIONS] IMAGE",
        ["version"] => "[OPTIONS]",
        ["compose"] => "[OPTIONS] COMMAND",
        ["events"] | ["system", "events"] => "[OPTIONS]",
        ["exec"] | ["container", "exec"] => "[OPTIONS] CONTAINER COMMAND [ARG...]",
        ["attach"] | ["container", "attach"] => "[OPTIONS] CONTAINER",
        ["restart"] | ["container", "restart"] => "[OPTIONS] CONTAINER [CONTAINER...]",
        ["rename"] | ["container", "rename"] => "CONTAINER NEW_NAME",
        ["pause"] | ["container", "pause"] => "CONTAINER [CONTAINER...]",
        ["unpause"] | ["container", "unpause"] => "CONTAINER [CONTAINER...]",
        ["port"] | ["container", "port"] => "CONTAINER [PRIVATE_PORT[/PROTO]]",
        ["pull"] | ["image", "pull"] => "[OPTIONS] NAME[:TAG|@DIGEST]",
        ["push"] | ["image", "push"] => "[OPTIONS] NAME[:TAG]",
        ["login"] => "[OPTIONS] [SERVER]",
        ["logout"] => "[SERVER]",
        ["build"] | ["image", "build"] => "[OPTIONS] PATH | URL | -",
        ["builder", "prune"] => "[OPTIONS]",
        ["info"] | ["system", "info"] => "[OPTIONS]",
        ["cp"] | ["container", "cp"] => "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-",
        ["diff"] | ["container", "diff"] => "CONTAINER",
        ["export"] | ["container", "export"] => "[OPTIONS] CONTAINER",
        ["commit"] | ["container", "commit"] => "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
        ["top"] | ["container", "top"] => "CONTAINER [ps OPTIONS]",
        ["stats"] | ["container", "stats"] => "[OPTIONS] [CONTAINER...]",
        ["container", "prune"] | ["image", "prune"] | ["system", "prune"] => "[OPTIONS]",
        ["system", "df"] => "[OPTIONS]",
        ["container"] | ["image"] | ["system"] | ["volume"] => "COMMAND",
        ["volume", sub] => return crate::commands::volume::use_line(sub),
        _ => return crate::commands::network::use_line(path),
    })
}

/// Maps aliases to docker's canonical command names.
pub fn canonical(group: Option<&str>, name: &str) -> String {
    match (group, name) {
        (Some("container"), "ps" | "list") => "ls".into(),
        (Some("container"), "remove") => "rm".into(),
        (Some("image"), "list") => "ls".into(),
        (Some("image"), "rmi" | "remove") => "rm".into(),
        (Some("volume"), "list") => "ls".into(),
        (Some("volume"), "remove") => "rm".into(),
        (Some("network"), "list") => "ls".into(),
        (Some("network"), "remove") => "rm".into(),
        _ => name.to_string(),
    }
}

/// Global flags that take a value (to find the command path in argv).
const GLOBAL_VALUE_FLAGS: &[&str] = &[
    "-H",
    "--host",
    "-l",
    "--log-level",
    "--config",
    "-c",
    "--context",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
];

/// The canonical command path named in `argv` (e.g. `["container", "ls"]`).
pub fn command_path(argv: &[String]) -> Vec<String> {
    let mut path: Vec<String> = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        if a.starts_with('-') {
            if GLOBAL_VALUE_FLAGS.contains(&a) && path.is_empty() {
                i += 1;
            }
            i += 1;
            if !path.is_empty() {
                // Flags of the (sub)command: keep looking for a sub-verb only after a group.
                if !matches!(
                    path[0].as_str(),
                    "container" | "image" | "system" | "volume" | "network"
                ) || path.len() > 1
                {
                    break;
                }
            }
            continue;
        }
        let group = path.first().map(String::as_str);
        path.push(canonical(group, a));
        if !matches!(a, "container" | "image" | "system" | "volume" | "network") || path.len() > 1 {
            break;
        }
        i += 1;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("pier").chain(args.iter().copied()))
    }

    #[test]
    fn definitions_are_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_stops_flag_parsing_at_the_image() {
        let Cmd::Run(r) = parse(&["run", "-it", "--rm", "busybox", "sh", "-c", "echo -d"])
            .unwrap()
            .cmd
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(r.create.opts.interactive, Some(true));
        assert_eq!(r.create.opts.tty, Some(true));
        assert_eq!(r.create.opts.rm, Some(true));
        assert_eq!(r.args, ["busybox", "sh", "-c", "echo -d"]);
        let Cmd::Run(r) = parse(&[
            "run",
            "-h",
            "box",
            "-e",
            "A=1",
            "--env=B=2",
            "busybox",
            "-d",
        ])
        .unwrap()
        .cmd
        .unwrap() else {
            panic!()
        };
        assert_eq!(r.create.opts.hostname.as_deref(), Some("box"));
        assert_eq!(r.create.opts.env, ["A=1", "B=2"]);
        assert_eq!(r.args, ["busybox", "-d"]);
        assert!(r.detach.is_none());
    }

    #[test]
    fn bool_flags_take_optional_values() {
        let Cmd::Run(r) = parse(&["run", "--rm=false", "-d", "busybox"])
            .unwrap()
            .cmd
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(r.create.opts.rm, Some(false));
        assert_eq!(r.detach, Some(true));
    }

    #[test]
    fn unknown_flags_are_errors() {
        let e = parse(&["ps", "--bogus"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
        assert!(parse(&["run", "--no-such-flag", "busybox"]).is_err());
    }

    #[test]
    fn aliases_and_paths() {
        assert!(matches!(
            parse(&["container", "ps", "-a"]).unwrap().cmd,
            Some(Cmd::Container {
                cmd: Some(ContainerCmd::Ls(_))
            })
        ));
        assert!(matches!(
            parse(&["image", "rmi", "x"]).unwrap().cmd,
            Some(Cmd::Image {
                cmd: Some(ImageCmd::Rm(_))
            })
        ));
        let argv = |s: &[&str]| -> Vec<String> {
            std::iter::once("pier")
                .chain(s.iter().copied())
                .map(String::from)
                .collect()
        };
        assert_eq!(
            command_path(&argv(&["-H", "unix:///x", "container", "ps", "--bogus"])),
            ["container", "ls"]
        );
        assert_eq!(command_path(&argv(&["run", "--bogus", "x"])), ["run"]);
        assert_eq!(command_path(&argv(&["image", "remove"])), ["image", "rm"]);
    }

    #[test]
    fn ps_flags() {
        let Cmd::Ps(p) = parse(&[
            "ps",
            "-aq",
            "-n",
            "2",
            "--filter",
            "status=exited",
            "-f",
            "label=a",
        ])
        .unwrap()
        .cmd
        .unwrap() else {
            panic!()
        };
        assert!(p.all && p.quiet);
        assert_eq!(p.last, 2);
        assert_eq!(p.filter, ["status=exited", "label=a"]);
    }
}
