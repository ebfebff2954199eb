//! RUN steps on a network: pierd's [`Networking`] behind the builder's
//! [`RunNetwork`] hook, so RUN containers join the default bridge (as with
//! Docker's classic builder) or the user network `--network` names.

use std::sync::Arc;

use pier_builder::runnet::BoxFuture;
use pier_builder::{RunNetFiles, RunNetRequest, RunNetwork};
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

/// Gives the builder the daemon's networking (once).
pub fn install(d: &crate::daemon::Daemon) {
    if d.builder.has_run_network() {
        return;
    }
    if let Some(net) = d.network.clone() {
        d.builder.set_run_network(Arc::new(BuildNetwork(net)));
    }
}
