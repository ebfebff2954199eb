//! Service images: built from `build:` (through the engine's build API,
//! with pier's own `build` command), pulled, pushed, and their IDs.

use clap::Parser;

use super::Compose;
use crate::cli::{BuildArgs, PullArgs, PushArgs, ServicesArgs};
use crate::client::encode;
use crate::commands::{image, CmdError, CmdResult, Ctx};

/// Lets the compose verbs run pier's own image commands with a docker-style
/// argument list instead of copying their request code.
#[derive(Parser)]
struct BuildArgv {
    #[command(flatten)]
    a: BuildArgs,
}

#[derive(Parser)]
struct PullArgv {
    #[command(flatten)]
    a: PullArgs,
}

#[derive(Parser)]
struct PushArgv {
    #[command(flatten)]
    a: PushArgs,
}

fn parse_err(e: clap::Error) -> CmdError {
    CmdError::new(1, e.to_string())
}

impl Compose {
    fn ctx(&self, verb: &'static str) -> Ctx {
        Ctx {
            client: self.client.clone(),
            path: vec![verb],
            debug: false,
        }
    }

    /// The image's ID, or `None` when the engine does not have it.
    pub async fn image_id(&self, name: &str) -> Result<Option<String>, CmdError> {
        match self
            .client
            .get_json(&format!("/images/{}/json", encode(name)))
            .await
        {
            Ok(v) => Ok(v["Id"].as_str().map(str::to_string)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn build_service(&self, name: &str) -> CmdResult {
        let svc = self.service(name)?;
        let Some(b) = &svc.build else {
            return Ok(());
        };
        let tag = super::labels::image_name(&self.project, svc);
        let mut argv: Vec<String> = vec!["build".into(), "--progress".into(), "plain".into()];
        argv.extend(["-t".into(), tag]);
        for t in &b.tags {
            argv.extend(["-t".into(), t.clone()]);
        }
        let ctx_dir = std::path::Path::new(&b.context);
        let mut inline_tmp = None;
        if let Some(text) = &b.dockerfile_inline {
            let f = std::env::temp_dir().join(format!(
                "pier-compose-{}-{name}.Dockerfile",
                std::process::id()
            ));
            std::fs::write(&f, text).map_err(|e| CmdError::new(1, e.to_string()))?;
            argv.extend(["-f".into(), f.to_string_lossy().into_owned()]);
            inline_tmp = Some(f);
        } else if let Some(df) = &b.dockerfile {
            argv.extend(["-f".into(), ctx_dir.join(df).to_string_lossy().into_owned()]);
        }
        for (k, v) in &b.args {
            match v {
                Some(v) => argv.extend(["--build-arg".into(), format!("{k}={v}")]),
                None => argv.extend(["--build-arg".into(), k.clone()]),
            }
        }
        if let Some(t) = &b.target {
            argv.extend(["--target".into(), t.clone()]);
        }
        for (k, v) in &b.labels {
            argv.extend(["--label".into(), format!("{k}={v}")]);
        }
        if let Some(n) = &b.network {
            argv.extend(["--network".into(), n.clone()]);
        }
        for h in &b.extra_hosts {
            argv.extend(["--add-host".into(), h.clone()]);
        }
        if b.no_cache {
            argv.push("--no-cache".into());
        }
        if b.pull {
            argv.push("--pull".into());
        }
        argv.push(b.context.clone());
        let parsed = BuildArgv::try_parse_from(&argv).map_err(parse_err)?;
        let r = image::build::run(&self.ctx("build"), parsed.a).await;
        if let Some(f) = inline_tmp {
            let _ = std::fs::remove_file(f);
        }
        r.map_err(|e| {
            CmdError::new(
                e.code,
                format!(
                    "failed to solve: {}",
                    e.message.trim_start_matches("failed to solve: ")
                ),
            )
        })
    }

    pub async fn pull_image(&self, image: &str, quiet: bool) -> CmdResult {
        let mut argv = vec!["pull".to_string()];
        if quiet {
            argv.push("-q".into());
        }
        argv.push(image.to_string());
        let parsed = PullArgv::try_parse_from(&argv).map_err(parse_err)?;
        image::pull::run(&self.ctx("pull"), parsed.a).await
    }

    /// Makes sure every service in `services` has its image: build when
    /// asked (`--build`) or when missing and buildable, pull when missing.
    pub async fn ensure_images(
        &self,
        services: &[String],
        build: bool,
        no_build: bool,
        pull: Option<&str>,
    ) -> CmdResult {
        // Services sharing an image need one lookup.
        let mut present: Vec<String> = Vec::new();
        for name in services {
            let svc = self.service(name)?;
            let image = super::labels::image_name(&self.project, svc);
            let policy = pull
                .map(str::to_string)
                .or_else(|| svc.pull_policy.clone())
                .unwrap_or_else(|| "missing".into());
            if svc.build.is_some() && !no_build && (build || policy == "build") {
                self.build_service(name).await?;
                continue;
            }
            if policy == "always" && svc.image.is_some() {
                self.pull_image(&image, true).await?;
                continue;
            }
            if present.contains(&image) {
                continue;
            }
            if self.image_id(&image).await?.is_some() {
                present.push(image);
                continue;
            }
            if svc.build.is_some() && !no_build {
                self.build_service(name).await?;
            } else if policy != "never" && svc.image.is_some() {
                self.pull_image(&image, true).await?;
            } else {
                return Err(CmdError::new(
                    1,
                    format!("Error response from daemon: No such image: {image}"),
                ));
            }
        }
        Ok(())
    }
}

pub async fn build_cmd(c: &Compose, a: ServicesArgs) -> CmdResult {
    for s in c.select(&a.services)? {
        c.build_service(&s).await?;
    }
    Ok(())
}

pub async fn pull_cmd(c: &Compose, a: ServicesArgs) -> CmdResult {
    for s in c.select(&a.services)? {
        let svc = c.service(&s)?;
        let Some(image) = &svc.image else { continue };
        c.progress("Image", image, "Pulling");
        c.pull_image(image, true).await?;
        c.progress("Image", image, "Pulled");
    }
    Ok(())
}

pub async fn push_cmd(c: &Compose, a: ServicesArgs) -> CmdResult {
    for s in c.select(&a.services)? {
        let svc = c.service(&s)?;
        if svc.build.is_none() {
            continue;
        }
        let image = super::labels::image_name(&c.project, svc);
        let mut argv = vec!["push".to_string()];
        if a.quiet {
            argv.push("-q".into());
        }
        argv.push(image);
        let parsed = PushArgv::try_parse_from(&argv).map_err(parse_err)?;
        image::push::run(&c.ctx("push"), parsed.a).await?;
    }
    Ok(())
}
