//! `pier network create|ls|inspect|rm|connect|disconnect|prune`: docker's
//! flags, tables, `--format` and messages.

mod list;
mod manage;

use clap::{Args, Subcommand};

use crate::client::Client;
use crate::commands::{CmdResult, Ctx};

#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Create a network
    Create(CreateArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long, value_name = "strings")]
    pub alias: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_name = "strings")]
    pub driver_opt: Vec<String>,
    /// Highest gw-priority provides the default gateway. Accepts positive and negative values.
    #[arg(long = "gw-priority", value_name = "int")]
    pub gw_priority: Option<i64>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long, value_name = "ip")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long, value_name = "ip")]
    pub ip6: Option<String>,
    /// Add link to another container
    #[arg(long, value_name = "list")]
    pub link: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip", value_name = "strings")]
    pub link_local_ip: Vec<String>,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address", value_name = "map")]
    pub aux_address: Vec<String>,
    /// The network from which to copy the configuration
    #[arg(long = "config-from", value_name = "string")]
    pub config_from: Option<String>,
    /// Create a configuration only network
    #[arg(long = "config-only")]
    pub config_only: bool,
    /// Driver to manage the Network
    #[arg(short = 'd', long, value_name = "string", default_value = "bridge")]
    pub driver: String,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long, value_name = "strings")]
    pub gateway: Vec<String>,
    /// Create swarm routing-mesh network
    #[arg(long)]
    pub ingress: bool,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_name = "strings")]
    pub ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", value_name = "string", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt", value_name = "map")]
    pub ipam_opt: Vec<String>,
    /// Enable or disable IPv4 address assignment
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ipv4: Option<bool>,
    /// Enable or disable IPv6 address assignment
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ipv6: Option<bool>,
    /// Set metadata on a network
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Control the network's scope
    #[arg(long, value_name = "string")]
    pub scope: Option<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_name = "strings")]
    pub subnet: Vec<String>,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template:
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    pub verbose: bool,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template:
    /// 'table':            Print output in table format with column headers (default)
    /// 'table TEMPLATE':   Print output in table format using the given Go template
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    pub args: Vec<String>,
}

/// docker's usage lines for `network` commands.
pub fn use_line(path: &[&str]) -> Option<&'static str> {
    Some(match path {
        ["network"] => "COMMAND",
        ["network", "connect"] => "[OPTIONS] NETWORK CONTAINER",
        ["network", "create"] => "[OPTIONS] NETWORK",
        ["network", "disconnect"] => "[OPTIONS] NETWORK CONTAINER",
        ["network", "inspect"] => "[OPTIONS] NETWORK [NETWORK...]",
        ["network", "ls"] => "[OPTIONS]",
        ["network", "prune"] => "[OPTIONS]",
        ["network", "rm"] => "NETWORK [NETWORK...]",
        _ => return None,
    })
}

/// Runs one `network` subcommand; `None` prints the group's help.
pub async fn run(client: &Client, cmd: NetworkCmd, debug: bool) -> CmdResult {
    let c = |name: &'static str| Ctx {
        client: client.clone(),
        path: vec!["network", name],
        debug,
    };
    match cmd {
        NetworkCmd::Connect(a) => manage::connect(&c("connect"), a).await,
        NetworkCmd::Create(a) => manage::create(&c("create"), a).await,
        NetworkCmd::Disconnect(a) => manage::disconnect(&c("disconnect"), a).await,
        NetworkCmd::Inspect(a) => {
            let x = c("inspect");
            x.require_min(&a.args, 1)?;
            crate::commands::system::inspect::inspect(
                &x,
                &a.args,
                a.format.as_deref(),
                crate::commands::system::inspect::Kind::Network,
                false,
            )
            .await
        }
        NetworkCmd::Ls(a) => list::run(&c("ls"), a).await,
        NetworkCmd::Prune(a) => manage::prune(&c("prune"), a).await,
        NetworkCmd::Rm(a) => manage::rm(&c("rm"), a).await,
    }
}
