//! Doing things inside a container's network namespace.
//!
//! A thread can switch its own network namespace with `setns(2)` without
//! affecting the rest of the process, and a socket stays in the namespace it
//! was created in for its whole life, wherever it is used afterwards. So to
//! configure a container's interfaces or to open the embedded DNS listener
//! there, we spawn a short-lived OS thread, `setns()` it into the target
//! namespace, create the sockets (netlink or UDP/TCP), and hand them back to
//! the tokio runtime. Tokio's worker threads never change namespace.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use tokio::task::JoinHandle;

use crate::error::{NetError, Result};

/// Where a container's network namespace is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetnsRef {
    /// A path to a namespace file: `/proc/<pid>/ns/net`, `/run/netns/<name>`,
    /// or a bind mount made by the runtime.
    Path(PathBuf),
    /// The namespace of a running process (the container's init).
    Pid(u32),
}

impl NetnsRef {
    /// The namespace file's path.
    pub fn path(&self) -> PathBuf {
        match self {
            NetnsRef::Path(p) => p.clone(),
            NetnsRef::Pid(pid) => PathBuf::from(format!("/proc/{pid}/ns/net")),
        }
    }

    /// The namespace's identity: the inode of its nsfs file.
    pub fn inode(&self) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        let path = self.path();
        std::fs::metadata(&path)
            .map(|m| m.ino())
            .map_err(|source| NetError::Netns { path, source })
    }

    /// Whether this is the daemon's own namespace: attaching a container
    /// interface there would rename/address host interfaces.
    pub fn is_host(&self) -> bool {
        let here = NetnsRef::Path(PathBuf::from("/proc/self/ns/net"));
        matches!((self.inode(), here.inode()), (Ok(a), Ok(b)) if a == b)
    }

    /// Open the namespace file (keeps the namespace alive while open).
    pub fn open(&self) -> Result<File> {
        let path = self.path();
        File::open(&path).map_err(|source| NetError::Netns { path, source })
    }
}

impl From<&Path> for NetnsRef {
    fn from(p: &Path) -> Self {
        NetnsRef::Path(p.to_path_buf())
    }
}

/// Run `f` on a new OS thread that first joins the network namespace `ns`.
/// Awaiting does not block the runtime.
pub async fn in_netns<T, F>(ns: &NetnsRef, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let file = ns.open()?;
    let path = ns.path();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("pier-netns".into())
        .spawn(move || {
            // The thread dies right after `f`, so it never goes back to the
            // host namespace and nothing else ever runs in it.
            let res = nix::sched::setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
                .map_err(|e| NetError::Netns {
                    path: path.clone(),
                    source: e.into(),
                })
                .map(|()| f());
            let _ = tx.send(res);
        })
        .map_err(|e| NetError::io("spawning a netns thread", e))?;
    rx.await
        .map_err(|_| NetError::io("netns thread", std::io::Error::other("thread panicked")))?
}

/// An rtnetlink handle whose socket lives in namespace `ns`. The connection
/// task is aborted when the returned guard drops.
pub struct NetlinkIn {
    pub handle: rtnetlink::Handle,
    task: JoinHandle<()>,
}

impl Drop for NetlinkIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Open an rtnetlink connection inside `ns`.
pub async fn netlink_in(ns: &NetnsRef) -> Result<NetlinkIn> {
    let rt = tokio::runtime::Handle::current();
    let (conn, handle, _) = in_netns(ns, move || {
        // The socket registers with the runtime's reactor on creation.
        let _guard = rt.enter();
        rtnetlink::new_connection()
    })
    .await?
    .map_err(|e| NetError::io("opening a netlink socket in the container namespace", e))?;
    let task = tokio::spawn(conn);
    Ok(NetlinkIn { handle, task })
}

/// An rtnetlink handle in the daemon's own namespace.
pub fn netlink_host() -> Result<NetlinkIn> {
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|e| NetError::io("opening a netlink socket", e))?;
    let task = tokio::spawn(conn);
    Ok(NetlinkIn { handle, task })
}

/// A fresh network namespace held open by this process: pierd makes one
/// before the shim creates a container on a bridge network, so the veth,
/// addresses and routes are set up while libcontainer does its own work
/// (the runtime joins it through [`path`](Self::path) instead of unsharing
/// a new one). The namespace lives as long as this value or any process in
/// it, so dropping it once the container's init has joined is safe, and
/// dropping it after a failed create leaves nothing (the kernel deletes the
/// veth pair with the namespace).
#[derive(Debug)]
pub struct OwnedNetns {
    file: File,
}

impl OwnedNetns {
    /// Unshares a new network namespace on a throwaway thread (tokio's
    /// threads never change namespace) and keeps its nsfs file open.
    pub async fn create() -> Result<Self> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("pier-netns-new".into())
            .spawn(move || {
                let res = nix::sched::unshare(CloneFlags::CLONE_NEWNET)
                    .map_err(std::io::Error::from)
                    .and_then(|()| File::open("/proc/thread-self/ns/net"));
                let _ = tx.send(res);
            })
            .map_err(|e| NetError::io("spawning a netns thread", e))?;
        let file = rx
            .await
            .map_err(|_| NetError::io("netns thread", std::io::Error::other("thread panicked")))?
            .map_err(|e| NetError::io("creating a network namespace", e))?;
        Ok(OwnedNetns { file })
    }

    /// A path to the namespace that any process of the host can open while
    /// this value lives: `/proc/<our pid>/fd/<fd>`.
    pub fn path(&self) -> PathBuf {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.file.as_raw_fd()
        ))
    }

    /// This namespace as a [`NetnsRef`] (valid while this value lives).
    pub fn netns_ref(&self) -> NetnsRef {
        NetnsRef::Path(self.path())
    }
}
