//! `down`, `start`, `stop`, `restart`, `kill`, `rm`, `pause`, `unpause`.

use super::state::Container;
use super::{graph, labels, Compose};
use crate::cli::{ComposeKillArgs, ComposeRmArgs, DownArgs, ServicesArgs, TimeoutArgs};
use crate::client::{encode, Query};
use crate::commands::{CmdError, CmdResult};

impl Compose {
    /// Containers of `services` in reverse start order (dependents first).
    async fn stop_order(&self, services: &[String], all: bool) -> Result<Vec<Container>, CmdError> {
        let order =
            graph::start_order(&self.project, services, true).unwrap_or_else(|_| services.to_vec());
        let everything = graph::start_order(
            &self.project,
            &self.project.services.keys().cloned().collect::<Vec<_>>(),
            false,
        )
        .unwrap_or_default();
        let mut cs = self.service_containers(&order, all).await?;
        cs.sort_by_key(|c| {
            std::cmp::Reverse(
                everything
                    .iter()
                    .position(|s| *s == c.service)
                    .unwrap_or(usize::MAX),
            )
        });
        Ok(cs)
    }
}

impl Compose {
    /// Stops (and with `remove` then removes) `cs` in reverse dependency
    /// order, as compose does: dependents first, the containers of one
    /// level together. Containers of services not in the file go first.
    async fn stop_in_levels(
        &self,
        cs: &[Container],
        timeout: Option<i64>,
        remove: Option<bool>,
    ) -> CmdResult {
        let order = graph::start_order(
            &self.project,
            &self.project.services.keys().cloned().collect::<Vec<_>>(),
            false,
        )
        .unwrap_or_default();
        let mut levels = graph::levels(&self.project, &order);
        let known: Vec<&String> = levels.iter().flatten().collect();
        let unknown: Vec<String> = cs
            .iter()
            .filter(|x| !known.contains(&&x.service))
            .map(|x| x.service.clone())
            .collect();
        levels.push(unknown);
        for level in levels.iter().rev() {
            let jobs = cs
                .iter()
                .filter(|x| level.contains(&x.service))
                .map(|x| async move {
                    if x.running() {
                        self.stop_container(x, timeout).await?;
                    }
                    if let Some(volumes) = remove {
                        self.remove_container(x, volumes).await?;
                    }
                    Ok::<_, CmdError>(())
                });
            futures_util::future::try_join_all(jobs).await?;
        }
        Ok(())
    }
}

pub async fn down(c: &Compose, a: DownArgs) -> CmdResult {
    if let Some(r) = &a.rmi {
        if r != "local" && r != "all" {
            return Err(CmdError::new(1, format!("invalid value for --rmi: {r}")));
        }
    }
    let services: Vec<String> = c.project.services.keys().cloned().collect();
    let mut cs = c.stop_order(&services, true).await?;
    // Orphans and one-offs of the project go too (orphans with the flag).
    let everything = c.containers(true, true).await?;
    for x in everything {
        let known = c.project.services.contains_key(&x.service)
            || c.project.disabled_services.contains_key(&x.service);
        if cs.iter().any(|y| y.id == x.id) {
            continue;
        }
        if x.oneoff || known || a.remove_orphans {
            cs.push(x);
        }
    }
    c.stop_in_levels(&cs, a.timeout, Some(a.volumes)).await?;
    let volumes = async {
        if a.volumes {
            c.remove_volumes().await?;
        }
        Ok::<_, CmdError>(())
    };
    futures_util::future::try_join(c.remove_networks(), volumes).await?;
    if let Some(rmi) = &a.rmi {
        for s in c.project.services.values() {
            if rmi == "local" && s.image.is_some() {
                continue;
            }
            let image = labels::image_name(&c.project, s);
            c.progress("Image", &image, "Removing");
            match c
                .client
                .delete(&format!("/images/{}", encode(&image)))
                .await
            {
                Ok(_) => c.progress("Image", &image, "Removed"),
                Err(e) if e.is_not_found() => {}
                Err(e) => crate::output::errln(&e.to_string()),
            }
        }
    }
    Ok(())
}

pub async fn start(c: &Compose, a: ServicesArgs) -> CmdResult {
    let services = c.select(&a.services)?;
    let order = graph::start_order(&c.project, &services, true)?;
    let cs = c.service_containers(&order, true).await?;
    if cs.is_empty() {
        return Err(CmdError::new(
            1,
            "service \"".to_string()
                + order.first().map_or("", |s| s)
                + "\" has no container to start",
        ));
    }
    for s in &order {
        c.wait_dependencies(s, &order).await?;
        for x in cs.iter().filter(|x| &x.service == s && !x.running()) {
            c.start_container(&x.id, &x.name).await?;
        }
    }
    Ok(())
}

pub async fn stop(c: &Compose, a: TimeoutArgs) -> CmdResult {
    let services = c.select(&a.services)?;
    let services = graph::dependents(&c.project, &services);
    let cs = c.stop_order(&services, false).await?;
    c.stop_in_levels(&cs, a.timeout, None).await
}

pub async fn restart(c: &Compose, a: TimeoutArgs) -> CmdResult {
    let services = c.select(&a.services)?;
    let cs = c.service_containers(&services, true).await?;
    let jobs = cs.iter().map(|x| async move {
        c.progress("Container", &x.name, "Restarting");
        let q = Query::new().add_if(a.timeout.is_some(), "t", a.timeout.unwrap_or(0).to_string());
        c.client
            .post(&q.path(&format!("/containers/{}/restart", encode(&x.id))))
            .await?;
        c.progress("Container", &x.name, "Started");
        Ok::<_, CmdError>(())
    });
    futures_util::future::try_join_all(jobs).await?;
    Ok(())
}

pub async fn kill(c: &Compose, a: ComposeKillArgs) -> CmdResult {
    let services = c.select(&a.services)?;
    let cs = c.service_containers(&services, false).await?;
    if cs.is_empty() {
        return Err(CmdError::new(1, "no container to kill"));
    }
    let jobs = cs.iter().map(|x| async {
        c.progress("Container", &x.name, "Killing");
        let q = Query::new().add("signal", &a.signal);
        c.client
            .post(&q.path(&format!("/containers/{}/kill", encode(&x.id))))
            .await?;
        c.progress("Container", &x.name, "Killed");
        Ok::<_, CmdError>(())
    });
    futures_util::future::try_join_all(jobs).await?;
    Ok(())
}

pub async fn rm(c: &Compose, a: ComposeRmArgs) -> CmdResult {
    let services = c.select(&a.services)?;
    if a.stop {
        let cs = c.stop_order(&services, false).await?;
        c.stop_in_levels(&cs, None, None).await?;
    }
    let cs: Vec<Container> = c
        .service_containers(&services, true)
        .await?
        .into_iter()
        .filter(|x| !x.running())
        .collect();
    if cs.is_empty() {
        crate::output::errln("No stopped containers");
        return Ok(());
    }
    if !a.force {
        let names: Vec<&str> = cs.iter().map(|x| x.name.as_str()).collect();
        crate::output::errln(&format!("Going to remove {}", names.join(", ")));
        if !crate::tty::stdin_is_terminal() {
            // docker compose needs -f without a terminal to answer.
            return Err(CmdError::new(1, "Are you sure? [y/N] EOF"));
        }
        crate::output::err_bytes(b"? Are you sure? (y/N) ");
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !answer.trim().eq_ignore_ascii_case("y") {
            return Ok(());
        }
    }
    futures_util::future::try_join_all(cs.iter().map(|x| c.remove_container(x, a.volumes))).await?;
    Ok(())
}

pub async fn pause(c: &Compose, a: ServicesArgs, pause: bool) -> CmdResult {
    let services = c.select(&a.services)?;
    let verb = if pause { "pause" } else { "unpause" };
    for x in c.service_containers(&services, false).await? {
        c.progress(
            "Container",
            &x.name,
            if pause { "Pausing" } else { "Unpausing" },
        );
        c.client
            .post(&format!("/containers/{}/{verb}", encode(&x.id)))
            .await?;
        c.progress(
            "Container",
            &x.name,
            if pause { "Paused" } else { "Unpaused" },
        );
    }
    Ok(())
}
