//! `exec` in a service container and `run` of a one-off container, both
//! handed to pier's own exec / attached start once the target is known.

use clap::Parser;

use super::convert::Instance;
use super::up::Plan;
use super::{graph, labels, Compose};
use crate::cli::{ComposeExecArgs, ComposeRunArgs, ExecArgs, StartArgs};
use crate::commands::container::{exec as cexec, start as cstart};
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::{output, tty};

#[derive(Parser)]
struct ExecArgv {
    #[command(flatten)]
    a: ExecArgs,
}

#[derive(Parser)]
struct StartArgv {
    #[command(flatten)]
    a: StartArgs,
}

fn sub_ctx(ctx: &Ctx, verb: &'static str) -> Ctx {
    Ctx {
        client: ctx.client.clone(),
        path: vec![verb],
        debug: ctx.debug,
    }
}

pub async fn exec(ctx: &Ctx, c: &Compose, a: ComposeExecArgs) -> CmdResult {
    if a.args.len() < 2 {
        return Err(CmdError::new(1, "requires at least 2 arguments"));
    }
    let service = &a.args[0];
    c.service(service)?;
    let index = if a.index == 0 { 1 } else { a.index };
    let cs = c
        .service_containers(std::slice::from_ref(service), false)
        .await?;
    let Some(x) = cs.iter().find(|x| x.number == index) else {
        return Err(CmdError::new(
            1,
            format!("service {service:?} is not running"),
        ));
    };
    // docker compose allocates a TTY unless -T, or when stdout is no terminal.
    let use_tty = !a.no_tty && tty::stdout_is_terminal() && tty::stdin_is_terminal();
    let mut argv: Vec<String> = vec!["exec".into(), "-i".into()];
    if use_tty {
        argv.push("-t".into());
    }
    if a.detach {
        argv.push("-d".into());
    }
    if a.privileged {
        argv.push("--privileged".into());
    }
    for e in &a.env {
        argv.extend(["-e".into(), e.clone()]);
    }
    if let Some(u) = &a.user {
        argv.extend(["-u".into(), u.clone()]);
    }
    if let Some(w) = &a.workdir {
        argv.extend(["-w".into(), w.clone()]);
    }
    argv.push(x.id.clone());
    argv.extend(a.args[1..].iter().cloned());
    let parsed = ExecArgv::try_parse_from(&argv).map_err(|e| CmdError::new(1, e.to_string()))?;
    cexec::exec(&sub_ctx(ctx, "exec"), parsed.a).await
}

fn random_hex() -> String {
    let mut b = [0u8; 6];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    labels::hex(&b)
}

/// Splits `--entrypoint` the way a shell would, for the simple cases.
fn split_words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

pub async fn run(ctx: &Ctx, c: &Compose, a: ComposeRunArgs) -> CmdResult {
    let Some(service) = a.args.first().cloned() else {
        return Err(CmdError::new(1, "requires at least 1 argument"));
    };
    let svc = c.service(&service)?.clone();
    // Dependencies are brought up as `up` would (without the service).
    if !a.no_deps && !svc.depends_on.is_empty() {
        let deps: Vec<String> = svc.depends_on.keys().cloned().collect();
        let order = graph::start_order(&c.project, &deps, false)?;
        c.ensure_images(&order, false, false, None).await?;
        c.converge(&order, &Plan::default(), false).await?;
        c.wait_dependencies(&service, &order).await?;
    }
    c.ensure_images(std::slice::from_ref(&service), a.build, false, None)
        .await?;
    c.ensure_networks(std::slice::from_ref(&service)).await?;
    c.ensure_volumes(std::slice::from_ref(&service)).await?;
    let use_tty = !a.no_tty && !a.detach && tty::stdin_is_terminal() && tty::stdout_is_terminal();
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}-run-{}", c.project.name, service, random_hex()));
    let image_id = c.image_id(&labels::image_name(&c.project, &svc)).await?;
    let inst = Instance {
        number: 1,
        name: name.clone(),
        oneoff: true,
        image_id,
        config_hash: labels::config_hash(&c.project, &svc),
        command: (a.args.len() > 1).then(|| a.args[1..].to_vec()),
        entrypoint: a.entrypoint.as_deref().map(split_words),
        extra_env: a.env.clone(),
        extra_labels: a
            .label
            .iter()
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        publish_ports: a.service_ports,
        extra_ports: a.publish.clone(),
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        tty: Some(use_tty),
        stdin_open: Some(!a.detach),
        auto_remove: a.rm,
    };
    let id = c.create_container(&service, &inst).await?;
    if a.detach {
        c.client
            .post(&format!("/containers/{}/start", crate::client::encode(&id)))
            .await?;
        // docker compose v2 prints the new container's ID, as `docker start` would.
        output::outln(&id);
        return Ok(());
    }
    let mut argv = vec!["start".to_string(), "-a".into(), "-i".into()];
    argv.push(id.clone());
    let parsed = StartArgv::try_parse_from(&argv).map_err(|e| CmdError::new(1, e.to_string()))?;
    cstart::run(&sub_ctx(ctx, "start"), parsed.a).await
}
