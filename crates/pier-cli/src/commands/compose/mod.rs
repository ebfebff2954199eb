//! `pier compose`: multi-container projects from compose files, driven
//! through the Engine API only, as docker compose v2 does. The loader
//! (`pier-compose`) turns files into a normalised [`Project`]; the modules
//! here turn that into networks, volumes and containers carrying docker
//! compose's labels, so `docker compose` and `pier compose` see each
//! other's projects.

mod attached;
mod convert;
#[cfg(test)]
mod convert_tests;
mod graph;
mod images;
mod info;
mod labels;
mod lifecycle;
mod oneoff;
mod project;
mod resources;
mod state;
mod up;

use pier_compose::Project;

use crate::cli::{ComposeArgs, ComposeCmd};
use crate::client::Client;
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::output;

/// A loaded project and the client that acts on it.
pub struct Compose {
    pub client: Client,
    pub project: Project,
    pub ansi: bool,
}

impl Compose {
    /// `Container demo-web-1  Started`-style progress lines, on stderr as
    /// docker compose writes them.
    pub fn progress(&self, kind: &str, name: &str, status: &str) {
        output::errln(&format!(" {kind} {name}  {status}"));
    }

    /// Selected services (all when none named), unknown names refused with
    /// compose's message.
    pub fn select(&self, names: &[String]) -> Result<Vec<String>, CmdError> {
        if names.is_empty() {
            return Ok(self.project.services.keys().cloned().collect());
        }
        for n in names {
            if !self.project.services.contains_key(n)
                && !self.project.disabled_services.contains_key(n)
            {
                return Err(CmdError::new(1, format!("no such service: {n}")));
            }
        }
        Ok(names.to_vec())
    }

    pub fn service(&self, name: &str) -> Result<&pier_compose::Service, CmdError> {
        self.project
            .services
            .get(name)
            .or_else(|| self.project.disabled_services.get(name))
            .ok_or_else(|| CmdError::new(1, format!("no such service: {name}")))
    }
}

pub async fn run(ctx: &Ctx, mut a: ComposeArgs) -> CmdResult {
    let Some(cmd) = a.cmd.take() else {
        crate::output::out(&crate::help::render(
            &<crate::cli::Cli as clap::CommandFactory>::command(),
            &["compose"],
        ));
        return Ok(());
    };
    let ansi = match a.ansi.as_str() {
        "never" => false,
        "always" => true,
        _ => crate::tty::stdout_is_terminal(),
    };
    // Commands that do not need a compose file.
    match cmd {
        ComposeCmd::Version(v) => return info::version(v),
        ComposeCmd::Ls(l) => return info::ls(&ctx.client, l).await,
        _ => {}
    }
    let loaded = project::load(&a)?;
    let c = Compose {
        client: ctx.client.clone(),
        project: loaded,
        ansi,
    };
    match cmd {
        ComposeCmd::Version(_) | ComposeCmd::Ls(_) => Ok(()),
        ComposeCmd::Config(x) => info::config(&c, x),
        ComposeCmd::Up(x) => up::up(&c, x).await,
        ComposeCmd::Create(x) => up::create(&c, x).await,
        ComposeCmd::Down(x) => lifecycle::down(&c, x).await,
        ComposeCmd::Ps(x) => info::ps(&c, x).await,
        ComposeCmd::Logs(x) => attached::logs(&c, x).await,
        ComposeCmd::Build(x) => images::build_cmd(&c, x).await,
        ComposeCmd::Pull(x) => images::pull_cmd(&c, x).await,
        ComposeCmd::Push(x) => images::push_cmd(&c, x).await,
        ComposeCmd::Start(x) => lifecycle::start(&c, x).await,
        ComposeCmd::Stop(x) => lifecycle::stop(&c, x).await,
        ComposeCmd::Restart(x) => lifecycle::restart(&c, x).await,
        ComposeCmd::Kill(x) => lifecycle::kill(&c, x).await,
        ComposeCmd::Rm(x) => lifecycle::rm(&c, x).await,
        ComposeCmd::Pause(x) => lifecycle::pause(&c, x, true).await,
        ComposeCmd::Unpause(x) => lifecycle::pause(&c, x, false).await,
        ComposeCmd::Exec(x) => oneoff::exec(ctx, &c, x).await,
        ComposeCmd::Run(x) => oneoff::run(ctx, &c, x).await,
        ComposeCmd::Top(x) => info::top(&c, x).await,
        ComposeCmd::Images(x) => info::images(&c, x).await,
        ComposeCmd::Port(x) => info::port(&c, x).await,
    }
}
