//! What the builder needs from the rest of pierd, behind its hooks:
//! * [`BuildNetwork`]: RUN steps on a network (pierd's [`Networking`]), so
//!   RUN containers join the default bridge (as with Docker's classic
//!   builder) or the user network `--network` names;
//! * [`BuildPuller`]: FROM images pulled through `POST /images/create`'s
//!   own code (missing images, and every one with `--pull`).

use std::sync::{Arc, Weak};

use pier_builder::runnet::BoxFuture;
use pier_builder::{ImagePuller, RunNetFiles, RunNetRequest, RunNetwork};
use serde_json::Value;

use crate::daemon::Daemon;
use crate::server::extract::Query;
use pier_network::{render_hosts, ConnectRequest, DnsOverrides, HostsInput, NetnsRef, Networking};

pub struct BuildNetwork(pub Arc<Networking>);

impl BuildNetwork {
    async fn connect_inner(&self, req: &RunNetRequest<'_>) -> Result<RunNetFiles, String> {
        let net = &self.0;
        let ns = NetnsRef::Pid(req.pid);
        let name = format!("build-{}", &req.id[..req.id.len().min(12)]);
        let creq = ConnectRequest {
            container_id: req.id,
            container_name: &name,
            netns: &ns,
            aliases: &[],
            ipv4: None,
            mac: None,
            ports: &[],
        };
        let ep = net
            .connect(req.network, &creq)
            .await
            .map_err(|e| e.to_string())?;
        let hosts = render_hosts(&HostsInput {
            hostname: req.hostname,
            domainname: "",
            ip: ep.map(|e| e.record.ip),
            extra_hosts: req.extra_hosts,
            links: &[],
            host_gateway: net.host_gateway(),
            ipv6_lines: true,
        })
        .map_err(|e| e.to_string())?;
        let resolv_conf = net.resolv_conf_for(
            req.id,
            &DnsOverrides {
                dns: &[],
                search: &[],
                options: &[],
            },
        );
        Ok(RunNetFiles { hosts, resolv_conf })
    }
}

impl RunNetwork for BuildNetwork {
    fn connect<'a>(&'a self, req: RunNetRequest<'a>) -> BoxFuture<'a, Result<RunNetFiles, String>> {
        Box::pin(async move {
            let res = self.connect_inner(&req).await;
            if res.is_err() {
                let _ = self.0.disconnect_all(req.id).await;
            }
            res
        })
    }

    fn release<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self.0.disconnect_all(id).await {
                tracing::warn!(id, "releasing a RUN container's network: {e}");
            }
        })
    }
}

/// Pulls through the daemon's pull handler. Weak: the daemon owns the
/// builder that holds this.
pub struct BuildPuller(pub Weak<Daemon>);

impl ImagePuller for BuildPuller {
    fn pull<'a>(
        &'a self,
        reference: &'a str,
        platform: Option<&'a str>,
        auth: &'a std::collections::BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            let mut headers = axum::http::HeaderMap::new();
            let domain = pier_image::reference::Reference::parse(reference)
                .map(|r| r.domain().to_string())
                .unwrap_or_default();
            if let Some(v) = auth
                .get(&domain)
                .and_then(|v| axum::http::HeaderValue::from_str(v).ok())
            {
                headers.insert("X-Registry-Auth", v);
            }
            let d = self.0.upgrade().ok_or("the daemon is shutting down")?;
            let raw = {
                let mut query = form_urlencoded::Serializer::new(String::new());
                query.append_pair("fromImage", reference);
                if let Some(p) = platform {
                    query.append_pair("platform", p);
                }
                query.finish()
            };
            let q = Query::parse(Some(&raw));
            let resp = super::distribution::create_from_image(d, &q, &headers)
                .await
                .map_err(|e| e.to_string())?;
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .map_err(|e| format!("pulling {reference}: {e}"))?;
            let mut lines = Vec::new();
            for l in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let v: Value = serde_json::from_slice(l).unwrap_or_default();
                if let Some(err) = v["error"].as_str() {
                    return Err(err.to_string());
                }
                // Docker's classic builder shows the pull's summary lines.
                let status = v["status"].as_str().unwrap_or_default();
                if v.get("progressDetail").is_some() || status.is_empty() {
                    continue;
                }
                match v["id"].as_str() {
                    Some(id) if status.starts_with("Pulling from") => {
                        lines.push(format!("{id}: {status}"))
                    }
                    Some(_) => {}
                    None => lines.push(status.to_string()),
                }
            }
            Ok(lines)
        })
    }
}

/// Gives the builder the daemon's networking and registry access (once).
pub fn install(d: &Arc<Daemon>) {
    if !d.builder.has_image_puller() {
        d.builder
            .set_image_puller(Arc::new(BuildPuller(Arc::downgrade(d))));
    }
    if d.builder.has_run_network() {
        return;
    }
    if let Some(net) = d.network.clone() {
        d.builder.set_run_network(Arc::new(BuildNetwork(net)));
    }
}
