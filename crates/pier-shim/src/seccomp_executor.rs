//! The executor that installs a container's seccomp filter, for the
//! container's init and for every exec'd process.
//!
//! Init: libcontainer 0.7 compiles the profile with libseccomp inside every
//! container's init (~20 ms) and gets `SCMP_CMP_MASKED_EQ` backwards (see
//! [`crate::seccomp_bpf`]). The shim hands libcontainer a spec without the
//! profile instead, and this executor installs the precompiled, cached
//! program as the init's last step before `execve`.
//!
//! Exec: Docker applies a container's seccomp profile to every `docker exec`
//! (runc's setns init installs it), but libcontainer 0.7's tenant builder
//! rebuilds `linux` for the exec from namespaces and the cgroup only, so the
//! filter would be lost.
//!
//! Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, which the
//! process normally lacks. So it is started with CAP_SYS_ADMIN and
//! CAP_SETPCAP added to its sets ([`SeccompExecutor::widen`]); the executor
//! installs the filter, then narrows every set (bounding, inheritable,
//! ambient, effective, permitted) to the process' real capabilities before
//! `execve`. runc orders it the same way: filter first, then the capability
//! drop, then `execve`.

use std::collections::HashSet;

use caps::CapSet;
use libcontainer::capabilities::CapabilityExt;
use libcontainer::workload::default::get_executor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::{Capability, LinuxCapabilities, LinuxSeccomp, Spec};

use crate::seccomp_bpf::{self, BpfProgram};

/// Capabilities the process needs between its start and the filter.
const HELPERS: [Capability; 2] = [Capability::SysAdmin, Capability::Setpcap];

/// What gets installed.
#[derive(Clone)]
pub enum Filter {
    /// The common case: a program from the cache.
    Compiled(BpfProgram),
    /// A profile with filter flags or SCMP_ACT_NOTIFY: libcontainer's
    /// compiler, which handles those.
    Profile(LinuxSeccomp),
}

impl Filter {
    /// The filter for `profile`, precompiled into the cache next to
    /// `runtime_root` when it can be.
    pub fn for_profile(
        runtime_root: &std::path::Path,
        profile: LinuxSeccomp,
    ) -> Result<Filter, String> {
        if seccomp_bpf::precompilable(&profile) {
            let dir = seccomp_bpf::cache_dir(runtime_root);
            seccomp_bpf::load_or_compile(&dir, &profile).map(Filter::Compiled)
        } else {
            Ok(Filter::Profile(profile))
        }
    }

    fn install(&self) -> Result<(), String> {
        match self {
            Filter::Compiled(p) => p.install().map_err(|e| e.to_string()),
            // A profile with SCMP_ACT_NOTIFY would hand back a listener fd;
            // Docker's profiles have none, and nobody would serve it.
            Filter::Profile(s) => libcontainer::seccomp::initialize_seccomp(s)
                .map(drop)
                .map_err(|e| e.to_string()),
        }
    }
}

#[derive(Clone)]
pub struct SeccompExecutor {
    filter: Filter,
    /// What the process must end up with (None: no capabilities).
    caps: Option<LinuxCapabilities>,
    /// no_new_privs is set: the filter needs no capability.
    no_new_privs: bool,
}

impl SeccompExecutor {
    pub fn new(filter: Filter, caps: Option<LinuxCapabilities>, no_new_privs: bool) -> Self {
        SeccompExecutor {
            filter,
            caps,
            no_new_privs,
        }
    }

    /// The capability sets to start the process with: `caps` plus what
    /// installing the filter takes.
    pub fn widen(&self) -> Option<LinuxCapabilities> {
        if self.no_new_privs {
            return self.caps.clone();
        }
        let mut c = self.caps.clone().unwrap_or_default();
        let add = |s: &Option<HashSet<Capability>>| {
            let mut s = s.clone().unwrap_or_default();
            s.extend(HELPERS);
            Some(s)
        };
        let (b, e, p) = (add(c.bounding()), add(c.effective()), add(c.permitted()));
        c.set_bounding(b).set_effective(e).set_permitted(p);
        Some(c)
    }

    fn narrow(&self) -> Result<(), String> {
        if self.no_new_privs {
            return Ok(());
        }
        let want = |s: Option<&HashSet<Capability>>| -> caps::CapsHashSet {
            s.map(|s| s.iter().map(|c| c.to_cap()).collect())
                .unwrap_or_default()
        };
        let c = self.caps.as_ref();
        let bounding = want(c.and_then(|c| c.bounding().as_ref()));
        for cap in caps::all() {
            if !bounding.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap)
                    .map_err(|e| format!("dropping {cap} from the bounding set: {e}"))?;
            }
        }
        let sets = [
            (
                CapSet::Inheritable,
                c.and_then(|c| c.inheritable().as_ref()),
            ),
            (CapSet::Ambient, c.and_then(|c| c.ambient().as_ref())),
            (CapSet::Effective, c.and_then(|c| c.effective().as_ref())),
            (CapSet::Permitted, c.and_then(|c| c.permitted().as_ref())),
        ];
        for (set, caps) in sets {
            caps::set(None, set, &want(caps))
                .map_err(|e| format!("setting the {set:?} capabilities: {e}"))?;
        }
        Ok(())
    }
}

impl Executor for SeccompExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        self.filter
            .install()
            .map_err(|e| ExecutorError::Other(format!("installing the seccomp filter: {e}")))?;
        self.narrow().map_err(ExecutorError::Other)?;
        get_executor().exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        get_executor().validate(spec)
    }
}
