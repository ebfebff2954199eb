//! Arguments of each verb, named and defaulted like docker's flags.

use clap::Args;

use crate::commands::container::opts::ContainerOpts;

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub detach: Option<bool>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: Option<bool>,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    #[command(flatten)]
    pub create: CreateFlags,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(trailing_var_arg = true, value_name = "IMAGE")]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub create: CreateFlags,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(trailing_var_arg = true, value_name = "IMAGE")]
    pub args: Vec<String>,
}

/// Flags shared by `run` and `create` that are not container config.
#[derive(Debug, Args)]
pub struct CreateFlags {
    /// Assign a name to the container
    #[arg(long, value_name = "string")]
    pub name: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing", value_name = "string")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Skip image verification
    #[arg(long = "disable-content-trust", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub disable_content_trust: Option<bool>,
    #[command(flatten)]
    pub opts: ContainerOpts,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Restore from this checkpoint
    #[arg(long, value_name = "string")]
    pub checkpoint: Option<String>,
    /// Use a custom checkpoint storage directory
    #[arg(long = "checkpoint-dir", value_name = "string")]
    pub checkpoint_dir: Option<String>,
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_negative_numbers = true, value_name = "int")]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub size: Option<bool>,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(
        short = 'n',
        long,
        default_value = "all",
        allow_hyphen_values = true,
        value_name = "string"
    )]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "string")]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(short = 't', long, allow_negative_numbers = true, value_name = "int")]
    pub timeout: Option<i64>,
    /// Seconds to wait before killing the container (deprecated: use --timeout)
    #[arg(long, hide = true, allow_negative_numbers = true)]
    pub time: Option<i64>,
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "string")]
    pub signal: Option<String>,
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(
        long = "type",
        value_name = "string",
        help = "Only inspect objects of the given type"
    )]
    pub kind: Option<String>,
    pub names: Vec<String>,
}

/// `container inspect`.
#[derive(Debug, Args)]
pub struct ContainerInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    pub names: Vec<String>,
}

/// `image inspect`.
#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    #[arg(
        long,
        value_name = "string",
        help = "Inspect a specific platform of the multi-platform image.\nIf the image or the server is not multi-platform capable, the command will error out if the platform does not match.\n'os[/arch[/variant]]': Explicit platform (eg. linux/amd64)"
    )]
    pub platform: Option<String>,
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// List multi-platform images as a tree (EXPERIMENTAL)
    #[arg(long)]
    pub tree: bool,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long, value_name = "string")]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(
        long,
        value_name = "string",
        help = "Load only the given platform variant. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")"
    )]
    pub platform: Option<String>,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long, value_name = "string")]
    pub output: Option<String>,
    #[arg(
        long,
        value_name = "string",
        help = "Save only the given platform variant. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")"
    )]
    pub platform: Option<String>,
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long, value_name = "list")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long, value_name = "string")]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    #[arg(allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    #[arg(trailing_var_arg = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(
        long,
        value_name = "strings",
        help = "Remove only the given platform variant. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")"
    )]
    pub platform: Vec<String>,
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub human: Option<bool>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(
        long,
        value_name = "string",
        help = "Show history for the given platform. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")"
    )]
    pub platform: Option<String>,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long, value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long, value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "string")]
    pub workdir: Option<String>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(trailing_var_arg = true, value_name = "CONTAINER")]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: Option<bool>,
    pub args: Vec<String>,
}

/// Verbs that take only container names (`pause`, `unpause`).
#[derive(Debug, Args)]
pub struct ContainersArgs {
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Skip image verification
    #[arg(long = "disable-content-trust", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub disable_content_trust: Option<bool>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Skip image signing
    #[arg(long = "disable-content-trust", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub disable_content_trust: Option<bool>,
    #[arg(
        long,
        value_name = "string",
        help = "Push a platform-specific manifest as a single-platform image to the registry.\nImage index won't be pushed, meaning that other manifests, including attestations won't be preserved.\n'os[/arch[/variant]]': Explicit platform (eg. linux/amd64)"
    )]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long, value_name = "string")]
    pub username: Option<String>,
    /// Password or Personal Access Token (PAT)
    #[arg(short = 'p', long, value_name = "string")]
    pub password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    pub args: Vec<String>,
}
