use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    BoxBuilder, Capability, LinuxCapabilities, LinuxDeviceCgroup, LinuxDeviceType, LinuxNamespace,
    LinuxNamespaceType, LinuxResources, Mount, Process, Root, Spec, User,
};

use crate::{write_atomic, RuntimeError};

/// Docker's default `/dev/shm` size (64 MiB).
pub const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;

/// Paths Docker masks in a non-privileged container.
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only in a non-privileged container.
pub const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's 14 default capabilities.
pub fn default_capabilities() -> HashSet<Capability> {
    [
        Capability::Chown,
        Capability::DacOverride,
        Capability::Fsetid,
        Capability::Fowner,
        Capability::Mknod,
        Capability::NetRaw,
        Capability::Setgid,
        Capability::Setuid,
        Capability::Setfcap,
        Capability::Setpcap,
        Capability::NetBindService,
        Capability::SysChroot,
        Capability::Kill,
        Capability::AuditWrite,
    ]
    .into_iter()
    .collect()
}

/// The container's network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// A new network namespace with only `lo` (the shim brings it up).
    #[default]
    None,
    /// The host's network namespace (no `network` namespace in the spec).
    Host,
    /// Join an existing namespace (`--network container:<id>`), e.g.
    /// `/proc/<pid>/ns/net` of the other container's init.
    Join(PathBuf),
}

/// An extra mount (volumes, binds, tmpfs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Host path for binds; the fs source (e.g. "tmpfs") otherwise.
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub destination: PathBuf,
    /// Filesystem type; "bind" for bind mounts.
    pub typ: String,
    /// Extra mount options; for binds "rbind" and "rprivate" are added.
    pub options: Vec<String>,
    pub readonly: bool,
}

impl MountSpec {
    /// A recursive, private bind mount (Docker's `-v /src:/dst[:ro]`).
    pub fn bind(
        source: impl Into<PathBuf>,
        destination: impl Into<PathBuf>,
        readonly: bool,
    ) -> Self {
        MountSpec {
            source: source.into(),
            destination: destination.into(),
            typ: "bind".into(),
            options: Vec::new(),
            readonly,
        }
    }
}

/// What pierd knows about a container that the OCI spec needs. Plain data;
/// construct with `SpecInput { id, args, .., ..Default::default() }` so new
/// fields (privileged, capabilities, seccomp, limits) can be added later
/// without breaking callers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecInput {
    /// Container ID; the cgroup is `/pier/<id>`.
    pub id: String,
    /// `process.args` (entrypoint + cmd), non-empty.
    pub args: Vec<String>,
    /// `process.env`, `KEY=value`.
    pub env: Vec<String>,
    /// `process.cwd`; empty = "/". The shim creates it if missing.
    pub cwd: String,
    pub hostname: String,
    /// Empty = none.
    pub domainname: String,
    /// `process.terminal`.
    pub tty: bool,
    /// Initial pty size `(rows, cols)` when `tty`.
    pub console_size: Option<(u16, u16)>,
    pub network: NetworkMode,
    /// `root.readonly` (`--read-only`).
    pub readonly_rootfs: bool,
    /// Host files bind-mounted at /etc/hostname, /etc/hosts, /etc/resolv.conf
    /// (an empty path skips that mount).
    pub hostname_path: PathBuf,
    pub hosts_path: PathBuf,
    pub resolv_conf_path: PathBuf,
    /// Volumes and binds, mounted after the defaults (sorted by depth). An
    /// extra mount at the same destination as a default replaces it.
    pub extra_mounts: Vec<MountSpec>,
    /// `/dev/shm` size in bytes; `None` = 64 MiB.
    pub shm_size: Option<u64>,
    /// Resource limits and ulimits (`crate::limits`).
    pub limits: crate::limits::Limits,
    /// Capabilities, seccomp, devices, privileged (`crate::security`).
    pub security: crate::security::SecurityConfig,
    /// `--init`: the host path of `pier-init`, bind-mounted read-only at
    /// [`INIT_PATH`] and run as PID 1 in front of `args`.
    pub init: Option<PathBuf>,
    /// `--group-add` (names or numbers): the shim resolves names against the
    /// image's /etc/group; carried in the [`GROUP_ADD_ANNOTATION`].
    pub group_add: Vec<String>,
}

/// Spec annotation carrying `--group-add` to the shim, comma-separated.
pub const GROUP_ADD_ANNOTATION: &str = "org.pier.group-add";

/// Where `--init` puts the init in the container (Docker's path).
pub const INIT_PATH: &str = "/sbin/docker-init";

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest))
        .set_typ(Some(typ.to_string()))
        .set_source(Some(PathBuf::from(source)))
        .set_options(Some(strings(options)));
    m
}

fn bind_mount(source: &Path, dest: &str, readonly: bool) -> Mount {
    let mut opts = vec!["rbind".to_string(), "rprivate".to_string()];
    if readonly {
        opts.push("ro".into());
    }
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest))
        .set_typ(Some("bind".into()))
        .set_source(Some(source.to_path_buf()))
        .set_options(Some(opts));
    m
}

fn device_rule(allow: bool, major_minor: Option<(i64, i64)>) -> LinuxDeviceCgroup {
    let mut d = LinuxDeviceCgroup::default();
    d.set_allow(allow).set_access(Some("rwm".into()));
    match major_minor {
        Some((maj, min)) => {
            d.set_typ(Some(LinuxDeviceType::C))
                .set_major(Some(maj))
                .set_minor(Some(min));
        }
        None => {
            d.set_typ(None);
        }
    }
    d
}

/// Docker's device cgroup rules for a non-privileged container: deny all,
/// then allow /dev/zero, null, urandom, random, tty, console, and deny fuse.
/// (libcgroups adds the runtime's own allow-list: pts, ptmx, tun, mknod.)
fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    vec![
        device_rule(false, None),
        device_rule(true, Some((1, 5))),
        device_rule(true, Some((1, 3))),
        device_rule(true, Some((1, 9))),
        device_rule(true, Some((1, 8))),
        device_rule(true, Some((5, 0))),
        device_rule(true, Some((5, 1))),
        device_rule(false, Some((10, 229))),
    ]
}

fn namespace(typ: LinuxNamespaceType) -> LinuxNamespace {
    let mut ns = LinuxNamespace::default();
    ns.set_typ(typ).set_path(None);
    ns
}

fn is_propagation(o: &str) -> bool {
    matches!(
        o,
        "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
    )
}

fn depth(p: &Path) -> usize {
    p.components().count()
}

/// Builds the OCI runtime spec for a non-privileged container with Docker's
/// defaults (see `docs/CONTRACTS.md`). `root.path` is "rootfs" (relative to
/// the bundle), the cgroup is `/pier/<id>`, `process.user` is root: the shim
/// resolves Docker's `User` string against the image and patches it in.
pub fn build_spec(input: &SpecInput) -> Spec {
    let caps = default_capabilities();
    let mut capabilities = LinuxCapabilities::default();
    capabilities
        .set_bounding(Some(caps.clone()))
        .set_effective(Some(caps.clone()))
        .set_permitted(Some(caps))
        .set_inheritable(None)
        .set_ambient(None);

    let mut process = Process::default();
    process
        .set_terminal(Some(input.tty))
        .set_console_size(match (input.tty, input.console_size) {
            (true, Some((rows, cols))) => {
                // Both fields are set, so building cannot fail.
                BoxBuilder::default()
                    .height(rows as u64)
                    .width(cols as u64)
                    .build()
                    .ok()
            }
            _ => None,
        })
        .set_user(User::default())
        .set_args(Some(input.args.clone()))
        .set_env(Some(input.env.clone()))
        .set_cwd(PathBuf::from(if input.cwd.is_empty() {
            "/"
        } else {
            input.cwd.as_str()
        }))
        .set_capabilities(Some(capabilities))
        .set_rlimits(None)
        .set_no_new_privileges(None)
        .set_apparmor_profile(None)
        .set_oom_score_adj(Some(0))
        .set_selinux_label(None);

    let shm_size = input.shm_size.unwrap_or(DEFAULT_SHM_SIZE);
    let shm_opt = format!("size={shm_size}");
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_opt],
        ),
    ];
    for (src, dest) in [
        (&input.resolv_conf_path, "/etc/resolv.conf"),
        (&input.hostname_path, "/etc/hostname"),
        (&input.hosts_path, "/etc/hosts"),
    ] {
        if !src.as_os_str().is_empty() {
            mounts.push(bind_mount(src, dest, input.readonly_rootfs));
        }
    }
    // Extra mounts replace defaults at the same destination, and go in
    // order of depth so a parent is mounted before its children.
    let mut extra: Vec<&MountSpec> = input.extra_mounts.iter().collect();
    extra.sort_by_key(|m| depth(&m.destination));
    mounts.retain(|m| !extra.iter().any(|e| e.destination == *m.destination()));
    for e in extra {
        let mut m = if e.typ == "bind" {
            let mut m = bind_mount(&e.source, "/", e.readonly);
            m.set_destination(e.destination.clone());
            // A propagation in the extra options replaces the default.
            if e.options.iter().any(|o| is_propagation(o)) {
                let opts = m.options().clone().unwrap_or_default();
                m.set_options(Some(opts.into_iter().filter(|o| o != "rprivate").collect()));
            }
            m
        } else {
            let mut m = Mount::default();
            let mut opts = Vec::new();
            if e.readonly {
                opts.push("ro".to_string());
            }
            m.set_destination(e.destination.clone())
                .set_typ(Some(e.typ.clone()))
                .set_source(Some(e.source.clone()))
                .set_options(Some(opts));
            m
        };
        if !e.options.is_empty() {
            let mut opts = m.options().clone().unwrap_or_default();
            opts.extend(e.options.iter().cloned());
            m.set_options(Some(opts));
        }
        mounts.push(m);
    }

    let mut namespaces = vec![namespace(LinuxNamespaceType::Mount)];
    match &input.network {
        NetworkMode::Host => {}
        NetworkMode::None => namespaces.push(namespace(LinuxNamespaceType::Network)),
        NetworkMode::Join(path) => {
            let mut ns = namespace(LinuxNamespaceType::Network);
            ns.set_path(Some(path.clone()));
            namespaces.push(ns);
        }
    }
    namespaces.extend([
        namespace(LinuxNamespaceType::Uts),
        namespace(LinuxNamespaceType::Pid),
        namespace(LinuxNamespaceType::Ipc),
        namespace(LinuxNamespaceType::Cgroup),
    ]);

    let mut resources = LinuxResources::default();
    resources.set_devices(Some(default_device_rules()));

    let mut linux = oci_spec::runtime::Linux::default();
    linux
        .set_resources(Some(resources))
        .set_cgroups_path(Some(PathBuf::from(format!("/pier/{}", input.id))))
        .set_namespaces(Some(namespaces))
        .set_devices(None)
        .set_masked_paths(Some(strings(DEFAULT_MASKED_PATHS)))
        .set_readonly_paths(Some(strings(DEFAULT_READONLY_PATHS)))
        .set_sysctl(None)
        .set_rootfs_propagation(None)
        .set_seccomp(None);

    let mut root = Root::default();
    root.set_path(PathBuf::from("rootfs"))
        .set_readonly(Some(input.readonly_rootfs));

    let mut args = input.args.clone();
    if let Some(init) = &input.init {
        mounts.push(bind_mount(init, INIT_PATH, true));
        args.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
        process.set_args(Some(args));
    }

    let mut spec = Spec::default();
    spec.set_version(oci_spec::runtime::VERSION.to_string())
        .set_root(Some(root))
        .set_mounts(Some(mounts))
        .set_process(Some(process))
        .set_hostname(if input.hostname.is_empty() {
            None
        } else {
            Some(input.hostname.clone())
        })
        .set_domainname(if input.domainname.is_empty() {
            None
        } else {
            Some(input.domainname.clone())
        })
        .set_annotations(None)
        .set_hooks(None)
        .set_linux(Some(linux));
    if !input.group_add.is_empty() {
        let mut a = std::collections::HashMap::new();
        a.insert(GROUP_ADD_ANNOTATION.to_string(), input.group_add.join(","));
        spec.set_annotations(Some(a));
    }
    crate::limits::apply(&input.limits, &mut spec);
    crate::security::apply(&input.security, &mut spec);
    spec
}

/// Writes a spec as `config.json` crash-safely (blocking).
pub fn write_spec_atomic(spec: &Spec, path: &Path) -> Result<(), RuntimeError> {
    let bytes = serde_json::to_vec(spec).map_err(|source| RuntimeError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn input() -> SpecInput {
        SpecInput {
            id: "0123abcd".into(),
            args: vec!["sh".into(), "-c".into(), "echo hi".into()],
            env: vec!["PATH=/usr/bin:/bin".into()],
            cwd: "/work".into(),
            hostname: "0123abcd".into(),
            tty: true,
            console_size: Some((24, 80)),
            hostname_path: "/b/hostname".into(),
            hosts_path: "/b/hosts".into(),
            resolv_conf_path: "/b/resolv.conf".into(),
            ..Default::default()
        }
    }

    fn json(spec: &Spec) -> Value {
        serde_json::to_value(spec).unwrap()
    }

    #[test]
    fn docker_defaults() {
        let v = json(&build_spec(&input()));
        assert!(v["ociVersion"].as_str().unwrap().starts_with("1."));
        assert_eq!(v["root"]["path"], "rootfs");
        assert_eq!(v["root"]["readonly"], false);
        assert_eq!(v["hostname"], "0123abcd");
        let p = &v["process"];
        assert_eq!(p["terminal"], true);
        assert_eq!(p["consoleSize"]["height"], 24);
        assert_eq!(p["args"][2], "echo hi");
        assert_eq!(p["cwd"], "/work");
        assert_eq!(p["user"]["uid"], 0);
        assert!(p.get("rlimits").is_none());
        assert!(p.get("noNewPrivileges").is_none());
        for set in ["bounding", "effective", "permitted"] {
            let caps = p["capabilities"][set].as_array().unwrap();
            assert_eq!(caps.len(), 14, "{set}");
            assert!(caps.contains(&Value::from("CAP_NET_RAW")));
            assert!(caps.contains(&Value::from("CAP_AUDIT_WRITE")));
            assert!(!caps.contains(&Value::from("CAP_SYS_ADMIN")));
        }
        assert!(p["capabilities"].get("inheritable").is_none());
        assert!(p["capabilities"].get("ambient").is_none());

        let l = &v["linux"];
        assert_eq!(l["cgroupsPath"], "/pier/0123abcd");
        let ns: Vec<&str> = l["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["mount", "network", "uts", "pid", "ipc", "cgroup"]);
        assert!(l["namespaces"][1].get("path").is_none());
        assert_eq!(l["maskedPaths"].as_array().unwrap().len(), 12);
        assert_eq!(l["readonlyPaths"][3], "/proc/sys");
        let devs = l["resources"]["devices"].as_array().unwrap();
        assert_eq!(devs[0]["allow"], false);
        assert_eq!(devs[0]["access"], "rwm");
        assert_eq!(devs.len(), 8);
        assert_eq!(devs[2]["major"], 1);
        assert_eq!(devs[2]["minor"], 3);

        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm",
                "/etc/resolv.conf",
                "/etc/hostname",
                "/etc/hosts"
            ]
        );
        let shm = &v["mounts"][6]["options"];
        assert!(shm
            .as_array()
            .unwrap()
            .contains(&Value::from("size=67108864")));
        assert_eq!(v["mounts"][3]["options"][3], "ro");
        assert_eq!(v["mounts"][9]["source"], "/b/hosts");
        assert_eq!(
            v["mounts"][9]["options"],
            serde_json::json!(["rbind", "rprivate"])
        );
    }

    #[test]
    fn host_network_readonly_and_extra_mounts() {
        let mut i = input();
        i.network = NetworkMode::Host;
        i.readonly_rootfs = true;
        i.tty = false;
        i.extra_mounts = vec![
            MountSpec::bind("/srv/data/sub", "/data/sub", false),
            MountSpec::bind("/srv/data", "/data", true),
            MountSpec {
                source: "tmpfs".into(),
                destination: "/dev/shm".into(),
                typ: "tmpfs".into(),
                options: vec!["size=1m".into()],
                readonly: false,
            },
        ];
        let v = json(&build_spec(&i));
        let ns = v["linux"]["namespaces"].as_array().unwrap();
        assert!(ns.iter().all(|n| n["type"] != "network"));
        assert_eq!(v["root"]["readonly"], true);
        assert!(v["process"].get("consoleSize").is_none());
        let m = v["mounts"].as_array().unwrap();
        let dests: Vec<&str> = m
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(dests.iter().filter(|d| **d == "/dev/shm").count(), 1);
        let n = dests.len();
        assert_eq!(&dests[n - 3..], ["/data", "/data/sub", "/dev/shm"]);
        assert_eq!(
            m[n - 3]["options"],
            serde_json::json!(["rbind", "rprivate", "ro"])
        );
        assert_eq!(m[n - 1]["options"], serde_json::json!(["size=1m"]));
        // the /etc files are read-only with a read-only rootfs
        let hosts = m.iter().find(|m| m["destination"] == "/etc/hosts").unwrap();
        assert_eq!(hosts["options"][2], "ro");
    }

    #[test]
    fn bind_propagation_option_replaces_the_default() {
        let mut i = input();
        let mut m = MountSpec::bind("/srv", "/srv", false);
        m.options.push("rshared".into());
        i.extra_mounts = vec![m];
        let v = json(&build_spec(&i));
        let m = v["mounts"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(m["options"], serde_json::json!(["rbind", "rshared"]));
    }

    #[test]
    fn written_spec_loads_back() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        let spec = build_spec(&input());
        write_spec_atomic(&spec, &p).unwrap();
        let back = Spec::load(&p).unwrap();
        assert_eq!(back, spec);
    }
}
