//! Project networks and volumes: created with compose's labels when
//! missing, checked when external, removed by `down`.

use serde_json::json;

use super::{labels, Compose};
use crate::client::{encode, Query};
use crate::commands::CmdError;

impl Compose {
    /// Networks used by `services`, by their key in the project.
    fn used_networks(&self, services: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for s in services {
            if let Ok(svc) = self.service(s) {
                for k in svc.networks.keys() {
                    if !out.contains(k) {
                        out.push(k.clone());
                    }
                }
            }
        }
        out
    }

    /// The networks the services use, created concurrently when missing.
    pub async fn ensure_networks(&self, services: &[String]) -> Result<(), CmdError> {
        let keys = self.used_networks(services);
        futures_util::future::try_join_all(keys.into_iter().map(|k| self.ensure_network(k)))
            .await?;
        Ok(())
    }

    /// Whether the object at an inspect path exists (404: no).
    async fn exists(&self, path: &str) -> Result<bool, CmdError> {
        match self.client.get_json(path).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn ensure_network(&self, key: String) -> Result<(), CmdError> {
        let Some(n) = self.project.networks.get(&key) else {
            return Ok(());
        };
        if self
            .exists(&format!("/networks/{}", encode(&n.name)))
            .await?
        {
            return Ok(());
        }
        if n.external {
            return Err(CmdError::new(
                1,
                format!(
                    "network {} declared as external, but could not be found",
                    n.name
                ),
            ));
        }
        self.progress("Network", &n.name, "Creating");
        let mut lbl = serde_json::Map::new();
        for (k, v) in &n.labels {
            lbl.insert(k.clone(), json!(v));
        }
        lbl.insert(labels::PROJECT.into(), json!(self.project.name));
        lbl.insert(labels::NETWORK.into(), json!(key));
        lbl.insert(labels::VERSION.into(), json!(labels::COMPOSE_VERSION));
        let mut body = json!({
            "Name": n.name,
            "Driver": n.driver.clone().unwrap_or_else(|| "bridge".into()),
            "Options": n.driver_opts,
            "Internal": n.internal,
            "Attachable": n.attachable,
            "EnableIPv6": n.enable_ipv6,
            "CheckDuplicate": true,
            "Labels": lbl,
        });
        if let Some(ipam) = &n.ipam {
            body["IPAM"] = json!({
                "Driver": ipam.driver.clone().unwrap_or_else(|| "default".into()),
                "Options": ipam.options,
                "Config": ipam.config.iter().map(|p| {
                    let mut c = serde_json::Map::new();
                    if let Some(s) = &p.subnet { c.insert("Subnet".into(), json!(s)); }
                    if let Some(s) = &p.ip_range { c.insert("IPRange".into(), json!(s)); }
                    if let Some(s) = &p.gateway { c.insert("Gateway".into(), json!(s)); }
                    if !p.aux_addresses.is_empty() { c.insert("AuxiliaryAddresses".into(), json!(p.aux_addresses)); }
                    serde_json::Value::Object(c)
                }).collect::<Vec<_>>(),
            });
        }
        self.client.post_json("/networks/create", &body).await?;
        self.progress("Network", &n.name, "Created");
        Ok(())
    }

    pub async fn ensure_volumes(&self, services: &[String]) -> Result<(), CmdError> {
        let mut used: Vec<String> = Vec::new();
        for s in services {
            if let Ok(svc) = self.service(s) {
                for v in &svc.volumes {
                    if v.kind == pier_compose::VolumeType::Volume {
                        if let Some(src) = &v.source {
                            if !used.contains(src) {
                                used.push(src.clone());
                            }
                        }
                    }
                }
            }
        }
        futures_util::future::try_join_all(used.into_iter().map(|k| self.ensure_volume(k))).await?;
        Ok(())
    }

    async fn ensure_volume(&self, key: String) -> Result<(), CmdError> {
        let Some(v) = self.project.volumes.get(&key) else {
            return Ok(());
        };
        if self
            .exists(&format!("/volumes/{}", encode(&v.name)))
            .await?
        {
            return Ok(());
        }
        if v.external {
            return Err(CmdError::new(
                1,
                format!("external volume \"{}\" not found", v.name),
            ));
        }
        self.progress("Volume", &format!("\"{}\"", v.name), "Creating");
        let mut lbl = serde_json::Map::new();
        for (k, val) in &v.labels {
            lbl.insert(k.clone(), json!(val));
        }
        lbl.insert(labels::PROJECT.into(), json!(self.project.name));
        lbl.insert(labels::VOLUME.into(), json!(key));
        lbl.insert(labels::VERSION.into(), json!(labels::COMPOSE_VERSION));
        let body = json!({
            "Name": v.name,
            "Driver": v.driver.clone().unwrap_or_else(|| "local".into()),
            "DriverOpts": v.driver_opts,
            "Labels": lbl,
        });
        self.client.post_json("/volumes/create", &body).await?;
        self.progress("Volume", &format!("\"{}\"", v.name), "Created");
        Ok(())
    }

    /// Removes the project's own networks (found by label, so networks of
    /// services since removed from the file go too).
    pub async fn remove_networks(&self) -> Result<(), CmdError> {
        self.remove_labelled("Network", "/networks", "").await
    }

    /// Removes the project's named volumes (by label; external ones never
    /// carry it).
    pub async fn remove_volumes(&self) -> Result<(), CmdError> {
        self.remove_labelled("Volume", "/volumes", "/Volumes").await
    }

    /// Lists the project's objects at `path` (the array at `pointer` in the
    /// answer) and deletes them concurrently, printing compose's progress.
    async fn remove_labelled(&self, kind: &str, path: &str, pointer: &str) -> Result<(), CmdError> {
        let q = Query::new().add("filters", labels::project_filter(&self.project.name, &[]));
        let v = self.client.get_json(&q.path(path)).await?;
        let names: Vec<String> = v
            .pointer(pointer)
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .map(|n| n["Name"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        futures_util::future::try_join_all(names.into_iter().map(|name| async move {
            self.progress(kind, &name, "Removing");
            match self
                .client
                .delete(&format!("{path}/{}", encode(&name)))
                .await
            {
                Ok(_) => self.progress(kind, &name, "Removed"),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(CmdError::from(e)),
            }
            Ok(())
        }))
        .await?;
        Ok(())
    }
}
