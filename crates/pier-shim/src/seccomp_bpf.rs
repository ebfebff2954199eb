//! Seccomp profiles compiled to BPF once per host and cached.
//!
//! Compiling Docker's default profile with libseccomp takes ~20 ms (adding
//! ~400 rules, then generating the program), which libcontainer 0.7 pays
//! inside every container's init. The program only depends on the profile,
//! the libseccomp version and the kernel, so the shim compiles it once, keeps
//! it under the exec root (`X/seccomp/`), and the container's executor loads
//! the finished program with one `seccomp(2)` call.
//!
//! Our own translation also fixes a libcontainer 0.7 bug: it passes
//! `SCMP_CMP_MASKED_EQ`'s `value` as the datum and `valueTwo` as the mask,
//! the reverse of runc and of the OCI spec, so Docker's
//! `clone` rule (`flags & CLONE_NEW* == 0`) became `flags & 0 == 0` and let
//! containers create user namespaces. Here `value` is the mask and
//! `valueTwo` the datum, as runc passes them.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
    ScmpVersion,
};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

/// Starts every cache file, followed by the key's length (u64 LE), the key
/// and the program.
const MAGIC: &[u8; 8] = b"PIERBPF1";
/// BPF_MAXINSNS: the kernel refuses longer programs.
const MAX_INSNS: usize = 4096;
/// One `struct sock_filter`.
const INSN: usize = 8;
/// `SECCOMP_SET_MODE_FILTER` for seccomp(2).
const SET_MODE_FILTER: libc::c_ulong = 1;

/// A compiled filter: the `struct sock_filter` array, as the kernel takes it.
#[derive(Clone)]
pub struct BpfProgram {
    insns: Vec<libc::sock_filter>,
    /// seccomp(2) flags from the profile's `flags`.
    flags: libc::c_ulong,
}

impl BpfProgram {
    fn from_bytes(b: &[u8]) -> Option<BpfProgram> {
        if b.is_empty() || !b.len().is_multiple_of(INSN) || b.len() / INSN > MAX_INSNS {
            return None;
        }
        let insns = b
            .chunks_exact(INSN)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Some(BpfProgram { insns, flags: 0 })
    }

    /// Installs the filter on the calling thread. Needs no_new_privs or
    /// CAP_SYS_ADMIN, as any seccomp filter does.
    pub fn install(&self) -> std::io::Result<()> {
        let prog = libc::sock_fprog {
            // from_bytes keeps the length within BPF_MAXINSNS.
            len: self.insns.len() as libc::c_ushort,
            filter: self.insns.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at `insns`, which outlives the call; the
        // kernel copies the program.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.insns.len()
    }
}

/// Whether a profile can run as a precompiled program: not with
/// SCMP_ACT_NOTIFY, which needs a listener fd handed back at load.
pub fn precompilable(s: &LinuxSeccomp) -> bool {
    s.default_action() != LinuxSeccompAction::ScmpActNotify
        && !s
            .syscalls()
            .iter()
            .flatten()
            .any(|c| c.action() == LinuxSeccompAction::ScmpActNotify)
}

/// The profile's `flags` as seccomp(2) takes them.
fn load_flags(s: &LinuxSeccomp) -> libc::c_ulong {
    use oci_spec::runtime::LinuxSeccompFilterFlag as F;
    s.flags()
        .iter()
        .flatten()
        .map(|f| match f {
            F::SeccompFilterFlagTsync => 1,
            F::SeccompFilterFlagLog => 2,
            F::SeccompFilterFlagSpecAllow => 4,
            F::SeccompFilterFlagWaitKillableRecv => 32,
        })
        .fold(0, |a, b| a | b)
}

/// X/seccomp, next to libcontainer's state root X/runtime.
pub fn cache_dir(runtime_root: &Path) -> PathBuf {
    runtime_root
        .parent()
        .unwrap_or(runtime_root)
        .join("seccomp")
}

/// The compiled program for `s`, from the cache in `dir` or compiled (and
/// then cached). A cache that cannot be written only costs speed.
pub fn load_or_compile(dir: &Path, s: &LinuxSeccomp) -> Result<BpfProgram, String> {
    let key = cache_key(s)?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let path = dir.join(format!("{:016x}.bpf", h.finish()));
    let flags = load_flags(s);
    if let Some(p) = std::fs::read(&path)
        .ok()
        .and_then(|b| parse_entry(&b, &key))
    {
        return Ok(BpfProgram { flags, ..p });
    }
    let _ = std::fs::create_dir_all(dir);
    // A unique temp name: shims of several containers may compile the
    // same profile at once; the rename makes one of them win whole.
    let tmp = dir.join(format!(".{:016x}.{}.tmp", h.finish(), std::process::id()));
    let bytes = match OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&tmp)
    {
        Ok(mut f) => {
            let r = write_entry(&mut f, &key, s);
            let r = r.and_then(|prog| {
                std::fs::rename(&tmp, &path)
                    .map_err(|e| format!("caching the seccomp filter: {e}"))?;
                Ok(prog)
            });
            if r.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            match r {
                Ok(prog) => prog,
                Err(e) => {
                    crate::slog!("{e}");
                    compile_to_memory(s)?
                }
            }
        }
        Err(_) => compile_to_memory(s)?,
    };
    BpfProgram::from_bytes(&bytes)
        .map(|p| BpfProgram { flags, ..p })
        .ok_or_else(|| "libseccomp produced a program the kernel would refuse".to_string())
}

/// The profile as JSON plus everything else the program depends on.
fn cache_key(s: &LinuxSeccomp) -> Result<Vec<u8>, String> {
    let mut key =
        serde_json::to_vec(s).map_err(|e| format!("encoding the seccomp profile: {e}"))?;
    let v = ScmpVersion::current().map_err(|e| format!("libseccomp version: {e}"))?;
    let uname = nix::sys::utsname::uname().map_err(|e| format!("uname: {e}"))?;
    key.extend_from_slice(
        format!(
            "\nlibseccomp {}.{}.{}\nkernel {}\n",
            v.major,
            v.minor,
            v.micro,
            uname.release().to_string_lossy()
        )
        .as_bytes(),
    );
    Ok(key)
}

/// The program in a cache entry, if the entry is whole and is for `key`
/// (a hash collision or a torn file is a miss, never a wrong filter).
fn parse_entry(b: &[u8], key: &[u8]) -> Option<BpfProgram> {
    let rest = b.strip_prefix(MAGIC.as_slice())?;
    let (len, rest) = rest.split_first_chunk::<8>()?;
    let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
    if rest.len() < len || &rest[..len] != key {
        return None;
    }
    BpfProgram::from_bytes(&rest[len..])
}

/// Writes a cache entry into `f` (an empty file) and returns the program.
fn write_entry(f: &mut File, key: &[u8], s: &LinuxSeccomp) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let io = |e: std::io::Error| format!("caching the seccomp filter: {e}");
    f.write_all(MAGIC).map_err(io)?;
    f.write_all(&(key.len() as u64).to_le_bytes()).map_err(io)?;
    f.write_all(key).map_err(io)?;
    let start = f.stream_position().map_err(io)?;
    build(s)?
        .export_bpf(&*f)
        .map_err(|e| format!("exporting the seccomp filter: {e}"))?;
    f.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut prog = Vec::new();
    f.read_to_end(&mut prog).map_err(io)?;
    Ok(prog)
}

/// The program without a cache (the cache dir is not writable).
fn compile_to_memory(s: &LinuxSeccomp) -> Result<Vec<u8>, String> {
    let mut f = tempfile_in_memory()?;
    build(s)?
        .export_bpf(&f)
        .map_err(|e| format!("exporting the seccomp filter: {e}"))?;
    f.seek(SeekFrom::Start(0))
        .map_err(|e| format!("reading the seccomp filter: {e}"))?;
    let mut prog = Vec::new();
    f.read_to_end(&mut prog)
        .map_err(|e| format!("reading the seccomp filter: {e}"))?;
    Ok(prog)
}

fn tempfile_in_memory() -> Result<File, String> {
    let name = c"pier-seccomp";
    // SAFETY: a NUL-terminated name; the fd is owned by the File.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: a fresh fd nothing else owns.
    Ok(unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// The libseccomp filter for `s`, as runc builds it.
fn build(s: &LinuxSeccomp) -> Result<ScmpFilterContext, String> {
    let default = action(s.default_action(), s.default_errno_ret())?;
    let mut ctx =
        ScmpFilterContext::new(default).map_err(|e| format!("creating the filter: {e}"))?;
    for &a in s.architectures().iter().flatten() {
        ctx.add_arch(arch(a))
            .map_err(|e| format!("adding architecture {a:?}: {e}"))?;
    }
    // The program is installed by us, not by libseccomp's load.
    ctx.set_ctl_nnp(false)
        .map_err(|e| format!("SCMP_FLTATR_CTL_NNP: {e}"))?;
    for rule in s.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            // libseccomp refuses rules that repeat the default action.
            continue;
        }
        let conds: Vec<ScmpArgCompare> = rule.args().iter().flatten().map(comparison).collect();
        let mut seen = HashSet::new();
        let repeated = rule
            .args()
            .iter()
            .flatten()
            .any(|a| !seen.insert(a.index()));
        for name in rule.names() {
            // A name this libseccomp does not know is a syscall this kernel
            // cannot have either (runc skips them too).
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let added = if conds.is_empty() {
                ctx.add_rule(act, sc).map(drop)
            } else if repeated {
                // One argument compared twice: libseccomp wants one rule per
                // comparison (an OR), as runc adds them.
                conds.iter().try_for_each(|c| {
                    ctx.add_rule_conditional(act, sc, std::slice::from_ref(c))
                        .map(drop)
                })
            } else {
                ctx.add_rule_conditional(act, sc, &conds).map(drop)
            };
            added.map_err(|e| format!("adding the seccomp rule for {name}: {e}"))?;
        }
    }
    Ok(ctx)
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, String> {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(
            u16::try_from(errno).map_err(|_| format!("SCMP_ACT_TRACE with errno {errno}"))?,
        ),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => {
            return Err("SCMP_ACT_NOTIFY cannot be precompiled".into())
        }
    })
}

/// One argument comparison. `SCMP_CMP_MASKED_EQ` takes `value` as the mask
/// and `valueTwo` as the datum, as runc passes them to libseccomp.
fn comparison(a: &oci_spec::runtime::LinuxSeccompArg) -> ScmpArgCompare {
    use LinuxSeccompOperator as Op;
    let (op, datum) = match a.op() {
        Op::ScmpCmpNe => (ScmpCompareOp::NotEqual, a.value()),
        Op::ScmpCmpLt => (ScmpCompareOp::Less, a.value()),
        Op::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, a.value()),
        Op::ScmpCmpEq => (ScmpCompareOp::Equal, a.value()),
        Op::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, a.value()),
        Op::ScmpCmpGt => (ScmpCompareOp::Greater, a.value()),
        Op::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(a.value()),
            a.value_two().unwrap_or(0),
        ),
    };
    ScmpArgCompare::new(a.index() as u32, op, datum)
}

fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSyscallBuilder};

    fn profile() -> LinuxSeccomp {
        let clone = LinuxSyscallBuilder::default()
            .names(vec!["clone".to_string()])
            .action(LinuxSeccompAction::ScmpActAllow)
            .args(vec![LinuxSeccompArgBuilder::default()
                .index(0usize)
                .value(0x7E02_0000u64)
                .value_two(0u64)
                .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
                .build()
                .unwrap()])
            .build()
            .unwrap();
        let plain = LinuxSyscallBuilder::default()
            .names(vec![
                "read".into(),
                "write".into(),
                "no_such_syscall".into(),
            ])
            .action(LinuxSeccompAction::ScmpActAllow)
            .build()
            .unwrap();
        LinuxSeccompBuilder::default()
            .default_action(LinuxSeccompAction::ScmpActErrno)
            .architectures(vec![Arch::ScmpArchX86_64])
            .syscalls(vec![clone, plain])
            .build()
            .unwrap()
    }

    #[test]
    fn cached_program_is_reused_and_equal() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_compile(dir.path(), &profile()).unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "one cache entry, no temp left");
        let b = load_or_compile(dir.path(), &profile()).unwrap();
        assert!(a.len() > 4);
        assert_eq!(a.len(), b.len());
        let direct = compile_to_memory(&profile()).unwrap();
        assert_eq!(direct.len(), a.len() * INSN);
    }

    #[test]
    fn a_torn_or_foreign_entry_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        load_or_compile(dir.path(), &profile()).unwrap();
        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let bytes = std::fs::read(&entry).unwrap();
        let key = cache_key(&profile()).unwrap();
        assert!(parse_entry(&bytes, &key).is_some());
        assert!(parse_entry(&bytes[..bytes.len() - 3], &key).is_none());
        assert!(parse_entry(&bytes, b"another profile").is_none());
        // A corrupt entry is recompiled and replaced.
        std::fs::write(&entry, b"PIERBPF1 garbage").unwrap();
        load_or_compile(dir.path(), &profile()).unwrap();
        assert!(parse_entry(&std::fs::read(&entry).unwrap(), &key).is_some());
    }

    #[test]
    fn flags_go_to_the_load_and_notify_is_not_precompiled() {
        let mut p = profile();
        assert!(precompilable(&p));
        p.set_flags(Some(vec![
            oci_spec::runtime::LinuxSeccompFilterFlag::SeccompFilterFlagLog,
            oci_spec::runtime::LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
        ]));
        assert!(precompilable(&p));
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_or_compile(dir.path(), &p).unwrap().flags, 6);
        let mut p = profile();
        p.set_default_action(LinuxSeccompAction::ScmpActNotify);
        assert!(!precompilable(&p));
    }
}
