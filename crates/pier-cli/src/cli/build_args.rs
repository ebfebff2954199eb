//! Flags of `pier build` / `image build` and `builder prune`.

use clap::Args;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    #[arg(short = 'f', long = "file", value_name = "string")]
    pub file: Option<String>,
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag", value_name = "list")]
    pub tags: Vec<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "list")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long, value_name = "string")]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "list")]
    pub labels: Vec<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, value_name = "string")]
    pub network: Option<String>,
    /// Add a custom host-to-IP mapping ("host:ip")
    #[arg(long = "add-host", value_name = "list")]
    pub add_hosts: Vec<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the image ID to the file
    #[arg(long, value_name = "string")]
    pub iidfile: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]" or "id=x,env=VAR")
    #[arg(long = "secret", value_name = "stringArray")]
    pub secrets: Vec<String>,
    /// Set type of progress output ("auto", "plain", "tty", "quiet", "rawjson")
    #[arg(long, value_name = "string", default_value = "auto")]
    pub progress: String,
    /// Remove intermediate containers after a successful build
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    #[arg(allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    pub args: Vec<String>,
}
