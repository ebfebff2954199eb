//! Docker's seccomp profiles as an OCI `LinuxSeccomp`: the built-in default
//! (`data/seccomp-default.json`, a port of moby's `profiles/seccomp/default.json`)
//! and user profiles in moby's format (`--security-opt seccomp=<file>`, which
//! the docker CLI sends as the file's JSON). Conditional rules are resolved
//! here, for the container's capabilities, the host's architecture and
//! kernel, exactly as moby's `setupSeccomp` does.

use std::collections::HashSet;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};
use serde::Deserialize;

use crate::options::OptionError;

const DEFAULT_PROFILE: &str = include_str!("../data/seccomp-default.json");

/// A rule with its conditions, common to both profile formats.
#[derive(Debug, Clone, Default)]
struct Rule {
    names: Vec<String>,
    action: LinuxSeccompAction,
    errno: Option<u32>,
    args: Vec<LinuxSeccompArg>,
    caps: Vec<String>,
    not_caps: Vec<String>,
    arches: Vec<String>,
    not_arches: Vec<String>,
    min_kernel: Option<(u32, u32)>,
}

/// What a rule's conditions are tested against.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The container's capabilities (bounding set), `CAP_*` names.
    pub caps: &'a HashSet<String>,
    /// Go's GOARCH name of the host (`amd64`, `arm64`, ...).
    pub goarch: &'a str,
    /// The running kernel's `(major, minor)`.
    pub kernel: (u32, u32),
}

impl Rule {
    fn applies(&self, t: &Target) -> bool {
        let has = |c: &String| t.caps.contains(c);
        if !self.caps.is_empty() && !self.caps.iter().all(has) {
            return false;
        }
        if !self.not_caps.is_empty() && self.not_caps.iter().any(has) {
            return false;
        }
        if !self.arches.is_empty() && !self.arches.iter().any(|a| a == t.goarch) {
            return false;
        }
        if self.not_arches.iter().any(|a| a == t.goarch) {
            return false;
        }
        self.min_kernel.is_none_or(|k| t.kernel >= k)
    }

    fn to_oci(&self) -> LinuxSyscall {
        let mut s = LinuxSyscall::default();
        s.set_names(self.names.clone())
            .set_action(self.action)
            .set_errno_ret(self.errno)
            .set_args(if self.args.is_empty() {
                None
            } else {
                Some(self.args.clone())
            });
        s
    }
}

fn parse_kernel(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split('.');
    let major = it.next()?.trim().parse().ok()?;
    let minor = it
        .next()
        .map(|m| {
            m.chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
        })
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    Some((major, minor))
}

/// The running kernel's `(major, minor)`, `(0, 0)` if unreadable.
pub fn host_kernel() -> (u32, u32) {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .and_then(|s| parse_kernel(&s))
        .unwrap_or((0, 0))
}

/// Go's name for the architecture Pier was built for.
pub fn host_goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "mips64" => "mips64",
        other => other,
    }
}

// --- Pier's compact form of the default profile -------------------------

#[derive(Deserialize)]
struct CompactArg {
    index: usize,
    value: u64,
    #[serde(default)]
    value_two: Option<u64>,
    op: String,
}

#[derive(Deserialize)]
struct CompactRule {
    action: String,
    #[serde(default)]
    errno: Option<u32>,
    names: Vec<String>,
    #[serde(default)]
    args: Vec<CompactArg>,
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    not_caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    not_arches: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

#[derive(Deserialize)]
struct CompactProfile {
    default_errno: u32,
    arch_map: std::collections::HashMap<String, Vec<Arch>>,
    rules: Vec<CompactRule>,
}

fn compact_op(op: &str) -> Option<LinuxSeccompOperator> {
    Some(match op {
        "ne" => LinuxSeccompOperator::ScmpCmpNe,
        "lt" => LinuxSeccompOperator::ScmpCmpLt,
        "le" => LinuxSeccompOperator::ScmpCmpLe,
        "eq" => LinuxSeccompOperator::ScmpCmpEq,
        "ge" => LinuxSeccompOperator::ScmpCmpGe,
        "gt" => LinuxSeccompOperator::ScmpCmpGt,
        "masked_eq" => LinuxSeccompOperator::ScmpCmpMaskedEq,
        _ => return None,
    })
}

fn arg(
    index: usize,
    value: u64,
    value_two: Option<u64>,
    op: LinuxSeccompOperator,
) -> LinuxSeccompArg {
    let b = LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op);
    let b = match value_two {
        Some(v) => b.value_two(v),
        None => b,
    };
    // Every field is set: building cannot fail.
    b.build().unwrap_or_default()
}

/// Docker's default profile for a container with `target`'s capabilities.
pub fn default_profile(target: &Target) -> LinuxSeccomp {
    // The data file is part of the crate and checked by a unit test, so a
    // parse failure is a build defect, not input.
    let p: CompactProfile =
        serde_json::from_str(DEFAULT_PROFILE).expect("data/seccomp-default.json is valid");
    let rules = p.rules.into_iter().map(|r| Rule {
        names: r.names,
        action: if r.action == "allow" {
            LinuxSeccompAction::ScmpActAllow
        } else {
            LinuxSeccompAction::ScmpActErrno
        },
        errno: r.errno,
        args: r
            .args
            .into_iter()
            .filter_map(|a| Some(arg(a.index, a.value, a.value_two, compact_op(&a.op)?)))
            .collect(),
        caps: r.caps,
        not_caps: r.not_caps,
        arches: r.arches,
        not_arches: r.not_arches,
        min_kernel: r.min_kernel.as_deref().and_then(parse_kernel),
    });
    let arches = p
        .arch_map
        .get(std::env::consts::ARCH)
        .cloned()
        .unwrap_or_default();
    assemble(
        LinuxSeccompAction::ScmpActErrno,
        Some(p.default_errno),
        arches,
        rules,
        target,
    )
}

fn assemble(
    default_action: LinuxSeccompAction,
    default_errno: Option<u32>,
    arches: Vec<Arch>,
    rules: impl Iterator<Item = Rule>,
    target: &Target,
) -> LinuxSeccomp {
    let syscalls: Vec<LinuxSyscall> = rules
        .filter(|r| r.applies(target))
        .map(|r| r.to_oci())
        .collect();
    let mut s = LinuxSeccomp::default();
    s.set_default_action(default_action)
        .set_default_errno_ret(default_errno)
        .set_architectures(if arches.is_empty() {
            None
        } else {
            Some(arches)
        })
        .set_syscalls(Some(syscalls));
    s
}

// --- moby's profile format (user profiles) --------------------------------

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MobyFilter {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MobyArg {
    index: usize,
    value: u64,
    #[serde(default)]
    value_two: Option<u64>,
    op: LinuxSeccompOperator,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MobySyscall {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    action: LinuxSeccompAction,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<MobyArg>>,
    #[serde(default)]
    includes: Option<MobyFilter>,
    #[serde(default)]
    excludes: Option<MobyFilter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MobyArchMap {
    architecture: Arch,
    #[serde(default)]
    sub_architectures: Option<Vec<Arch>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MobyProfile {
    default_action: LinuxSeccompAction,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Option<Vec<Arch>>,
    #[serde(default)]
    arch_map: Option<Vec<MobyArchMap>>,
    #[serde(default)]
    syscalls: Option<Vec<MobySyscall>>,
}

fn native_arch() -> Option<Arch> {
    Some(match std::env::consts::ARCH {
        "x86_64" => Arch::ScmpArchX86_64,
        "aarch64" => Arch::ScmpArchAarch64,
        "s390x" => Arch::ScmpArchS390x,
        "riscv64" => Arch::ScmpArchRiscv64,
        _ => return None,
    })
}

/// A user profile in moby's JSON format, resolved for `target`. Errors carry
/// Docker's texts.
pub fn parse_moby_profile(json: &str, target: &Target) -> Result<LinuxSeccomp, OptionError> {
    let p: MobyProfile = serde_json::from_str(json)
        .map_err(|e| OptionError(format!("decoding seccomp profile failed: {e}")))?;
    if p.architectures.as_ref().is_some_and(|a| !a.is_empty())
        && p.arch_map.as_ref().is_some_and(|a| !a.is_empty())
    {
        return Err(OptionError(
            "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'".into(),
        ));
    }
    let arches = match (p.architectures, p.arch_map) {
        (Some(a), _) if !a.is_empty() => a,
        (_, Some(map)) => {
            let native = native_arch();
            map.into_iter()
                .find(|m| Some(m.architecture) == native)
                .map(|m| {
                    let mut v = vec![m.architecture];
                    v.extend(m.sub_architectures.unwrap_or_default());
                    v
                })
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let mut rules = Vec::new();
    for s in p.syscalls.unwrap_or_default() {
        let mut names = s.names;
        if let Some(n) = s.name.filter(|n| !n.is_empty()) {
            if !names.is_empty() {
                return Err(OptionError(
                    "use either 'name' or 'names' in the seccomp profile, not both".into(),
                ));
            }
            names.push(n);
        }
        let inc = s.includes.unwrap_or_default();
        let exc = s.excludes.unwrap_or_default();
        rules.push(Rule {
            names,
            action: s.action,
            errno: s.errno_ret,
            args: s
                .args
                .unwrap_or_default()
                .into_iter()
                .map(|a| arg(a.index, a.value, a.value_two, a.op))
                .collect(),
            caps: inc.caps,
            not_caps: exc.caps,
            arches: inc.arches,
            not_arches: exc.arches,
            min_kernel: inc.min_kernel.as_deref().and_then(parse_kernel),
        });
    }
    Ok(assemble(
        p.default_action,
        p.default_errno_ret,
        arches,
        rules.into_iter(),
        target,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(v: &[&str]) -> HashSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn names(s: &LinuxSeccomp) -> Vec<String> {
        s.syscalls()
            .iter()
            .flatten()
            .filter(|r| r.action() == LinuxSeccompAction::ScmpActAllow)
            .flat_map(|r| r.names().clone())
            .collect()
    }

    #[test]
    fn default_profile_for_default_caps() {
        let c = caps(&["CAP_CHOWN", "CAP_SYS_CHROOT"]);
        let t = Target {
            caps: &c,
            goarch: "amd64",
            kernel: (6, 1),
        };
        let p = default_profile(&t);
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        let n = names(&p);
        for want in [
            "read",
            "write",
            "execve",
            "arch_prctl",
            "chroot",
            "ptrace",
            "clone",
        ] {
            assert!(n.contains(&want.to_string()), "{want}");
        }
        for not in [
            "mount",
            "unshare",
            "reboot",
            "bpf",
            "open_by_handle_at",
            "cacheflush",
        ] {
            assert!(!n.contains(&not.to_string()), "{not}");
        }
        // clone is only allowed without namespace flags; clone3 gets ENOSYS.
        let all = p.syscalls().clone().unwrap();
        let clone = all
            .iter()
            .find(|r| r.names() == &["clone".to_string()])
            .unwrap();
        assert_eq!(clone.args().as_ref().unwrap()[0].value(), 2114060288);
        assert_eq!(clone.args().as_ref().unwrap()[0].index(), 0);
        let clone3 = all
            .iter()
            .find(|r| r.names() == &["clone3".to_string()])
            .unwrap();
        assert_eq!(clone3.errno_ret(), Some(38));
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(p.architectures().as_ref().unwrap().len(), 3);
        }
    }

    #[test]
    fn sys_admin_and_old_kernel() {
        let c = caps(&["CAP_SYS_ADMIN"]);
        let t = Target {
            caps: &c,
            goarch: "arm64",
            kernel: (4, 4),
        };
        let p = default_profile(&t);
        let n = names(&p);
        assert!(n.contains(&"mount".to_string()));
        assert!(n.contains(&"cacheflush".to_string()));
        assert!(!n.contains(&"arch_prctl".to_string()));
        assert!(!n.contains(&"ptrace".to_string()), "min_kernel 4.8");
        assert!(p
            .syscalls()
            .iter()
            .flatten()
            .all(|r| r.names() != &["clone3".to_string()]
                || r.action() == LinuxSeccompAction::ScmpActAllow));
    }

    #[test]
    fn moby_profile_is_parsed() {
        let json = r#"{
          "defaultAction": "SCMP_ACT_ALLOW",
          "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                      {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": null}],
          "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_FOWNER"]}},
            {"name": "socket", "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]}
          ]}"#;
        let c = caps(&["CAP_FOWNER"]);
        let t = Target {
            caps: &c,
            goarch: "amd64",
            kernel: (6, 1),
        };
        let p = parse_moby_profile(json, &t).unwrap();
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActAllow);
        let s = p.syscalls().clone().unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].errno_ret(), Some(13));
        assert_eq!(s[1].names(), &["socket".to_string()]);
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(
                p.architectures().clone().unwrap(),
                vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86]
            );
        }
        let e = parse_moby_profile("{not json", &t).unwrap_err();
        assert!(e.0.starts_with("decoding seccomp profile failed"), "{e}");
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(parse_kernel("6.18.44-fc-v782\n"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert!((4, 10) >= (4, 8));
    }
}
