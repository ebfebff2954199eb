//! RUN steps' networking. The builder does not know pierd's network
//! manager; pierd installs a [`RunNetwork`] that connects a RUN
//! container's namespace to a network (the default `bridge`, as Docker's
//! classic builder does, or a user network) and releases it afterwards.

use std::future::Future;
use std::pin::Pin;

use crate::error::{BuildError, Result};

/// A boxed future, so the trait stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a RUN container is connected with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunNet {
    /// The host's network namespace.
    Host,
    /// Its own namespace with only `lo`.
    None,
    /// Its own namespace on this network (`bridge` or a user network).
    Network(String),
}

impl RunNet {
    /// The build's network (`pier build --network`, `/build?networkmode=`):
    /// unset, `default` and `bridge` are the default bridge, as with
    /// Docker's classic builder.
    pub fn for_build(mode: Option<&str>) -> Result<RunNet> {
        match mode.unwrap_or("") {
            "" | "default" | "bridge" => Ok(RunNet::Network("bridge".into())),
            "host" => Ok(RunNet::Host),
            "none" => Ok(RunNet::None),
            m if m.starts_with("container:") => Err(BuildError::Invalid(format!(
                "network mode {m:?} is not supported by the builder"
            ))),
            name => Ok(RunNet::Network(name.to_string())),
        }
    }

    /// `RUN --network=default|none|host` (BuildKit's values) over the
    /// build's network.
    pub fn for_step(flag: Option<&str>, build: &RunNet) -> Result<RunNet> {
        match flag {
            None | Some("default") => Ok(build.clone()),
            Some("none") => Ok(RunNet::None),
            Some("host") => Ok(RunNet::Host),
            Some(other) => Err(BuildError::Invalid(format!(
                "unsupported network mode {other:?} for RUN --network (use default, none or host)"
            ))),
        }
    }

    /// The part of a step's cache key.
    pub fn key(&self) -> String {
        match self {
            RunNet::Host => "host".into(),
            RunNet::None => "none".into(),
            RunNet::Network(n) => n.clone(),
        }
    }
}

/// One RUN container to connect.
pub struct RunNetRequest<'a> {
    /// The container's ID (endpoints are recorded under it).
    pub id: &'a str,
    /// Its init's pid (host pid namespace): the namespace to connect.
    pub pid: u32,
    pub network: &'a str,
    pub hostname: &'a str,
    /// `--add-host` values.
    pub extra_hosts: &'a [String],
}

/// The files a connected RUN container gets.
pub struct RunNetFiles {
    pub hosts: String,
    pub resolv_conf: String,
}

pub trait RunNetwork: Send + Sync {
    /// Connects the container; on error nothing stays connected.
    fn connect<'a>(
        &'a self,
        req: RunNetRequest<'a>,
    ) -> BoxFuture<'a, std::result::Result<RunNetFiles, String>>;
    /// Releases every endpoint of the container.
    fn release<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_and_step_modes() {
        let bridge = RunNet::Network("bridge".into());
        assert_eq!(RunNet::for_build(None).unwrap(), bridge);
        assert_eq!(RunNet::for_build(Some("default")).unwrap(), bridge);
        assert_eq!(RunNet::for_build(Some("host")).unwrap(), RunNet::Host);
        assert_eq!(
            RunNet::for_build(Some("mynet")).unwrap(),
            RunNet::Network("mynet".into())
        );
        assert!(RunNet::for_build(Some("container:x")).is_err());
        let user = RunNet::Network("mynet".into());
        assert_eq!(RunNet::for_step(Some("default"), &user).unwrap(), user);
        assert_eq!(RunNet::for_step(Some("none"), &user).unwrap(), RunNet::None);
        assert!(RunNet::for_step(Some("bridge"), &user).is_err());
    }
}
