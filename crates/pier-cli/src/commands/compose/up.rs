//! `up` and `create`: converge each service's containers to its config
//! (create the missing, recreate the changed, remove the surplus), in
//! dependency order, waiting for `depends_on` conditions.

use std::time::Duration;

use serde_json::Value;

use super::convert::{self, Instance};
use super::state::Container;
use super::{graph, labels, Compose};
use crate::cli::{ComposeCreateArgs, UpArgs};
use crate::client::{encode, Query};
use crate::commands::{CmdError, CmdResult};

/// How `converge` treats existing containers.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub no_start: bool,
    pub scale: Vec<(String, u32)>,
    pub timeout: Option<i64>,
}

pub fn parse_scale(flags: &[String]) -> Result<Vec<(String, u32)>, CmdError> {
    flags
        .iter()
        .map(|f| {
            let (s, n) = f.split_once('=').ok_or_else(|| {
                CmdError::new(
                    1,
                    format!("invalid scale option {f:?}: expected SERVICE=NUM"),
                )
            })?;
            let n: u32 = n
                .parse()
                .map_err(|_| CmdError::new(1, format!("invalid scale option {f:?}")))?;
            Ok((s.to_string(), n))
        })
        .collect()
}

impl Compose {
    fn replicas(&self, plan: &Plan, service: &str) -> u32 {
        if let Some((_, n)) = plan.scale.iter().find(|(s, _)| s == service) {
            return *n;
        }
        self.service(service).map(|s| s.replicas()).unwrap_or(1)
    }

    /// `links:` as docker compose sends them (`HostConfig.Links`): every
    /// container of a linked service under the link's alias, under
    /// `service-N` and under `project-service-N`, N being the number of the
    /// container being created.
    async fn links(
        &self,
        svc: &pier_compose::Service,
        number: u32,
    ) -> Result<Vec<String>, CmdError> {
        if svc.links.is_empty() {
            return Ok(Vec::new());
        }
        let all = self.containers(true, false).await?;
        let mut out = Vec::new();
        for raw in &svc.links {
            let (target, alias) = raw.split_once(':').unwrap_or((raw, raw));
            for c in all.iter().filter(|c| c.service == target) {
                let name = c.name.trim_start_matches('/');
                out.push(format!("{name}:{alias}"));
                out.push(format!("{name}:{target}-{number}"));
                out.push(format!("{name}:{}-{target}-{number}", self.project.name));
            }
        }
        Ok(out)
    }

    /// Creates container `number` of `service` (networks beyond the first
    /// connected, secrets injected), not started.
    pub async fn create_container(
        &self,
        service: &str,
        inst: &Instance,
    ) -> Result<String, CmdError> {
        let svc = self.service(service)?;
        let (mut body, inject) =
            convert::create_body(&self.project, svc, inst).map_err(|e| CmdError::new(1, e))?;
        let links = self.links(svc, inst.number).await?;
        if !links.is_empty() {
            body["HostConfig"]["Links"] = Value::from(links);
        }
        let q = Query::new().add("name", &inst.name);
        let resp = self
            .client
            .post_json(&q.path("/containers/create"), &body)
            .await?;
        let v = crate::client::parse_json(&resp)?;
        let id = v["Id"].as_str().unwrap_or_default().to_string();
        if svc.network_mode.is_none() {
            for (key, n) in convert::service_networks(svc).into_iter().skip(1) {
                let Some(net) = self.project.networks.get(&key) else {
                    continue;
                };
                let body = serde_json::json!({
                    "Container": id,
                    "EndpointConfig": convert::endpoint(svc, inst, &n),
                });
                self.client
                    .post_json(&format!("/networks/{}/connect", encode(&net.name)), &body)
                    .await?;
            }
        }
        if !inject.is_empty() {
            let tar = convert::inject_tar(&inject).map_err(|e| CmdError::new(1, e))?;
            self.client
                .send(
                    hyper::Method::PUT,
                    &format!("/containers/{}/archive?path=%2F", encode(&id)),
                    crate::client::full(tar),
                    Some("application/x-tar"),
                )
                .await?;
        }
        Ok(id)
    }

    pub async fn start_container(&self, id: &str, name: &str) -> CmdResult {
        self.progress("Container", name, "Starting");
        match self
            .client
            .post(&format!("/containers/{}/start", encode(id)))
            .await
        {
            Ok(_) => {}
            // 304: already running.
            Err(e) if e.status() == Some(304) => {}
            Err(e) => return Err(e.into()),
        }
        self.progress("Container", name, "Started");
        Ok(())
    }

    pub async fn stop_container(&self, c: &Container, timeout: Option<i64>) -> CmdResult {
        self.progress("Container", &c.name, "Stopping");
        let q = Query::new().add_if(timeout.is_some(), "t", timeout.unwrap_or(0).to_string());
        match self
            .client
            .post(&q.path(&format!("/containers/{}/stop", encode(&c.id))))
            .await
        {
            Ok(_) => {}
            Err(e) if e.status() == Some(304) || e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        self.progress("Container", &c.name, "Stopped");
        Ok(())
    }

    pub async fn remove_container(&self, c: &Container, volumes: bool) -> CmdResult {
        self.progress("Container", &c.name, "Removing");
        let q = Query::new().add("force", "1").add_if(volumes, "v", "1");
        match self
            .client
            .delete(&q.path(&format!("/containers/{}", encode(&c.id))))
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        self.progress("Container", &c.name, "Removed");
        Ok(())
    }

    fn instance(
        &self,
        service: &str,
        number: u32,
        hash: &str,
        image_id: Option<String>,
    ) -> Result<Instance, CmdError> {
        let svc = self.service(service)?;
        Ok(Instance {
            number,
            name: labels::container_name(&self.project, svc, number),
            oneoff: false,
            image_id,
            config_hash: hash.to_string(),
            publish_ports: true,
            ..Instance::default()
        })
    }

    /// Brings one service to its desired containers; returns the IDs that
    /// should run (started unless `plan.no_start`).
    /// `existing` is the service's containers from the project listing
    /// taken once by `converge`; `image_id` the service image's ID.
    pub async fn converge_service(
        &self,
        service: &str,
        plan: &Plan,
        mut existing: Vec<Container>,
        image_id: Option<String>,
    ) -> Result<Vec<Container>, CmdError> {
        let svc = self.service(service)?;
        let hash = labels::config_hash(&self.project, svc);
        let want = self.replicas(plan, service);
        existing.sort_by_key(|c| c.number);
        // Scale down: the highest numbers go first.
        let mut keep = Vec::new();
        for (i, c) in existing.into_iter().enumerate() {
            if (i as u32) < want {
                keep.push(c);
            } else {
                if c.running() {
                    self.stop_container(&c, plan.timeout).await?;
                }
                self.remove_container(&c, false).await?;
            }
        }
        let mut out = Vec::new();
        let mut used: Vec<u32> = keep.iter().map(|c| c.number).collect();
        for c in keep {
            let changed = c.label(labels::CONFIG_HASH) != Some(hash.as_str())
                || (image_id.is_some()
                    && c.label(labels::IMAGE).is_some()
                    && c.label(labels::IMAGE) != image_id.as_deref())
                || (image_id.is_some()
                    && c.label(labels::IMAGE).is_none()
                    && c.summary.get("ImageID").and_then(Value::as_str) != image_id.as_deref());
            if plan.force_recreate || (changed && !plan.no_recreate) {
                self.progress("Container", &c.name, "Recreate");
                if c.running() {
                    self.stop_container(&c, plan.timeout).await?;
                }
                self.remove_container(&c, false).await?;
                let inst = self.instance(service, c.number, &hash, image_id.clone())?;
                let id = self.create_container(service, &inst).await?;
                self.progress("Container", &inst.name, "Recreated");
                out.push(Container {
                    id,
                    name: inst.name,
                    state: "created".into(),
                    ..c
                });
            } else {
                if !c.running() {
                    self.progress("Container", &c.name, "Created");
                } else {
                    self.progress("Container", &c.name, "Running");
                }
                out.push(c);
            }
        }
        let mut next = 1;
        while (out.len() as u32) < want {
            while used.contains(&next) {
                next += 1;
            }
            used.push(next);
            let inst = self.instance(service, next, &hash, image_id.clone())?;
            self.progress("Container", &inst.name, "Creating");
            let id = self.create_container(service, &inst).await?;
            self.progress("Container", &inst.name, "Created");
            out.push(Container {
                id,
                name: inst.name.clone(),
                service: service.to_string(),
                number: next,
                oneoff: false,
                state: "created".into(),
                summary: Value::Null,
            });
        }
        out.sort_by_key(|c| c.number);
        Ok(out)
    }

    /// Waits for what `service` declares in `depends_on` (among the
    /// services being started).
    pub async fn wait_dependencies(&self, service: &str, started: &[String]) -> CmdResult {
        let svc = self.service(service)?.clone();
        for (dep, d) in &svc.depends_on {
            if !started.contains(dep)
                || d.condition == pier_compose::DependsCondition::ServiceStarted
            {
                continue;
            }
            let containers = self
                .service_containers(std::slice::from_ref(dep), true)
                .await?;
            for c in containers {
                match d.condition {
                    pier_compose::DependsCondition::ServiceStarted => {}
                    pier_compose::DependsCondition::ServiceHealthy => {
                        self.progress("Container", &c.name, "Waiting");
                        self.wait_healthy(&c).await?;
                        self.progress("Container", &c.name, "Healthy");
                    }
                    pier_compose::DependsCondition::ServiceCompletedSuccessfully => {
                        self.progress("Container", &c.name, "Waiting");
                        let code = self.wait_exited(&c).await?;
                        if code != 0 {
                            return Err(CmdError::new(
                                1,
                                format!(
                                    "service {dep:?} didn't complete successfully: exit {code}"
                                ),
                            ));
                        }
                        self.progress("Container", &c.name, "Exited");
                    }
                }
            }
        }
        Ok(())
    }

    pub async fn wait_healthy(&self, c: &Container) -> CmdResult {
        // A daemon without healthchecks never reports a status: give up
        // after a minute rather than wait forever.
        let no_status_deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.inspect(&c.id).await?;
            let status = v
                .pointer("/State/Health/Status")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let has_check = v
                .pointer("/Config/Healthcheck/Test")
                .and_then(Value::as_array)
                .is_some_and(|t| !t.is_empty() && t[0] != "NONE");
            match status.as_str() {
                "healthy" => return Ok(()),
                "unhealthy" => {
                    return Err(CmdError::new(
                        1,
                        format!(
                            "dependency failed to start: container {} is unhealthy",
                            c.name
                        ),
                    ))
                }
                "" if !has_check => {
                    return Err(CmdError::new(
                        1,
                        format!("container {} has no healthcheck configured", c.name),
                    ))
                }
                "" if std::time::Instant::now() > no_status_deadline => {
                    return Err(CmdError::new(
                        1,
                        format!("container {} reports no health status", c.name),
                    ))
                }
                _ => {}
            }
            let running = v
                .pointer("/State/Running")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !running && v.pointer("/State/Status").and_then(Value::as_str) == Some("exited") {
                return Err(CmdError::new(
                    1,
                    format!(
                        "dependency failed to start: container {} exited ({})",
                        c.name,
                        v.pointer("/State/ExitCode")
                            .and_then(Value::as_i64)
                            .unwrap_or(0)
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_exited(&self, c: &Container) -> Result<i64, CmdError> {
        loop {
            let v = self.inspect(&c.id).await?;
            if v.pointer("/State/Status").and_then(Value::as_str) == Some("exited") {
                return Ok(v
                    .pointer("/State/ExitCode")
                    .and_then(Value::as_i64)
                    .unwrap_or(0));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The shared part of `up` and `create`: images, networks, volumes,
    /// containers; starts them in dependency order unless `no_start`.
    pub async fn converge(
        &self,
        order: &[String],
        plan: &Plan,
        remove_orphans: bool,
    ) -> Result<Vec<Container>, CmdError> {
        futures_util::future::try_join(self.ensure_networks(order), self.ensure_volumes(order))
            .await?;
        let snapshot = self.containers(true, false).await?;
        let orphans: Vec<Container> = snapshot
            .iter()
            .filter(|c| {
                !self.project.services.contains_key(&c.service)
                    && !self.project.disabled_services.contains_key(&c.service)
            })
            .cloned()
            .collect();
        if !orphans.is_empty() {
            if remove_orphans {
                for o in &orphans {
                    if o.running() {
                        self.stop_container(o, plan.timeout).await?;
                    }
                    self.remove_container(o, false).await?;
                }
            } else {
                let names: Vec<&str> = orphans.iter().map(|o| o.name.as_str()).collect();
                crate::output::errln(&format!(
                    "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                    names.join(" ")
                ));
            }
        }
        // One image lookup per distinct image.
        let mut image_ids: std::collections::HashMap<String, Option<String>> =
            std::collections::HashMap::new();
        for s in order {
            let image = labels::image_name(&self.project, self.service(s)?);
            if let std::collections::hash_map::Entry::Vacant(e) = image_ids.entry(image) {
                let id = self.image_id(e.key()).await?;
                e.insert(id);
            }
        }
        // As docker compose: every container is created first (level by
        // level), then started level by level, the services of one
        // dependency level together.
        let levels = graph::levels(&self.project, order);
        let mut by_level: Vec<Vec<Vec<Container>>> = Vec::new();
        for level in &levels {
            let jobs = level.iter().map(|s| {
                let existing: Vec<Container> = snapshot
                    .iter()
                    .filter(|c| &c.service == s)
                    .cloned()
                    .collect();
                let image = self
                    .service(s)
                    .map(|svc| labels::image_name(&self.project, svc))
                    .unwrap_or_default();
                let image_id = image_ids.get(&image).cloned().flatten();
                self.converge_service(s, plan, existing, image_id)
            });
            by_level.push(futures_util::future::try_join_all(jobs).await?);
        }
        if !plan.no_start {
            for (level, containers) in levels.iter().zip(&by_level) {
                let jobs = level.iter().zip(containers).map(|(s, cs)| async move {
                    self.wait_dependencies(s, order).await?;
                    for c in cs.iter().filter(|c| !c.running()) {
                        self.start_container(&c.id, &c.name).await?;
                    }
                    Ok::<_, CmdError>(())
                });
                futures_util::future::try_join_all(jobs).await?;
            }
        }
        let all: Vec<Container> = by_level.into_iter().flatten().flatten().collect();
        Ok(all)
    }
}

pub async fn create(c: &Compose, a: ComposeCreateArgs) -> CmdResult {
    let services = c.select(&a.services)?;
    let order = graph::start_order(&c.project, &services, false)?;
    c.ensure_images(&order, a.build, a.no_build, None).await?;
    let plan = Plan {
        force_recreate: a.force_recreate,
        no_recreate: a.no_recreate,
        no_start: true,
        scale: parse_scale(&a.scale)?,
        timeout: None,
    };
    c.converge(&order, &plan, a.remove_orphans).await?;
    Ok(())
}

pub async fn up(c: &Compose, a: UpArgs) -> CmdResult {
    if a.detach && (a.abort_on_container_exit || a.exit_code_from.is_some()) {
        return Err(CmdError::new(
            1,
            "--abort-on-container-exit and --detach are incompatible",
        ));
    }
    if a.force_recreate && a.no_recreate {
        return Err(CmdError::new(
            1,
            "--force-recreate and --no-recreate are incompatible",
        ));
    }
    let services = c.select(&a.services)?;
    if let Some(s) = &a.exit_code_from {
        if !c.project.services.contains_key(s) {
            return Err(CmdError::new(1, format!("no such service: {s}")));
        }
    }
    let order = graph::start_order(&c.project, &services, a.no_deps)?;
    c.ensure_images(&order, a.build, a.no_build, a.pull.as_deref())
        .await?;
    let plan = Plan {
        force_recreate: a.force_recreate,
        no_recreate: a.no_recreate,
        no_start: a.no_start,
        scale: parse_scale(&a.scale)?,
        timeout: a.timeout,
    };
    let containers = c.converge(&order, &plan, a.remove_orphans).await?;
    if a.no_start {
        return Ok(());
    }
    if a.wait {
        return c.wait_running_or_healthy(&containers, a.wait_timeout).await;
    }
    if a.detach {
        return Ok(());
    }
    // Attached: logs of the services asked for (all when none named).
    let shown: Vec<Container> = containers
        .into_iter()
        .filter(|x| a.services.is_empty() || a.services.contains(&x.service))
        .collect();
    let abort = a.abort_on_container_exit || a.exit_code_from.is_some();
    super::attached::attach_up(
        c,
        shown,
        abort,
        a.exit_code_from.as_deref(),
        !a.no_color,
        !a.no_log_prefix,
        a.timeout,
    )
    .await
}

impl Compose {
    /// `up --wait`: every container running, and healthy when it has a
    /// healthcheck.
    async fn wait_running_or_healthy(&self, cs: &[Container], timeout: Option<u64>) -> CmdResult {
        let deadline = timeout.map(|t| std::time::Instant::now() + Duration::from_secs(t));
        for c in cs {
            // As docker compose: a service others wait on to complete
            // successfully is done when it exited 0.
            let completes = self.project.services.values().any(|s| {
                s.depends_on.get(&c.service).is_some_and(|d| {
                    d.condition == pier_compose::DependsCondition::ServiceCompletedSuccessfully
                })
            });
            loop {
                let v = self.inspect(&c.id).await?;
                let status = v
                    .pointer("/State/Status")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let health = v.pointer("/State/Health/Status").and_then(Value::as_str);
                match (status, health) {
                    ("running", None | Some("healthy")) => {
                        self.progress(
                            "Container",
                            &c.name,
                            if health.is_some() {
                                "Healthy"
                            } else {
                                "Started"
                            },
                        );
                        break;
                    }
                    (_, Some("unhealthy")) => {
                        return Err(CmdError::new(
                            1,
                            format!("container {} is unhealthy", c.name),
                        ))
                    }
                    ("exited", _)
                        if completes
                            && v.pointer("/State/ExitCode").and_then(Value::as_i64) == Some(0) =>
                    {
                        self.progress("Container", &c.name, "Exited");
                        break;
                    }
                    ("exited" | "dead", _) => {
                        return Err(CmdError::new(
                            1,
                            format!(
                                "container {} exited ({})",
                                c.name,
                                v.pointer("/State/ExitCode")
                                    .and_then(Value::as_i64)
                                    .unwrap_or(0)
                            ),
                        ))
                    }
                    _ => {}
                }
                if deadline.is_some_and(|d| std::time::Instant::now() > d) {
                    return Err(CmdError::new(1, "application not healthy after timeout"));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }
}
