//! pier-init is bind-mounted into images that may have no libc at all
//! (busybox, scratch), so it must be a static executable. Stable cargo has
//! no per-crate `-C target-feature=+crt-static`, and rustc asks for
//! `-Bdynamic -lgcc_s -lc`; so a private search dir that holds only the
//! static archives under those names makes the linker pick them, and
//! `-static` drops the interpreter.

use std::path::{Path, PathBuf};
use std::process::Command;

fn gcc_file(name: &str) -> Option<PathBuf> {
    let out = Command::new("cc")
        .arg(format!("-print-file-name={name}"))
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    p.is_absolute().then_some(p)
}

fn libc_dir() -> Option<PathBuf> {
    gcc_file("libc.a").and_then(|p| p.parent().map(Path::to_path_buf))
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ENV").as_deref() != Ok("gnu") {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let dir = out.join("static-libs");
    let _ = std::fs::create_dir_all(&dir);
    let (Some(gcc_eh), Some(libdir)) = (gcc_file("libgcc_eh.a"), libc_dir()) else {
        println!("cargo:warning=static libc/libgcc_eh not found: pier-init links dynamically");
        return;
    };
    let mut links = vec![("libgcc_s.a".to_string(), gcc_eh)];
    for lib in ["c", "m", "pthread", "dl", "rt", "util"] {
        let a = libdir.join(format!("lib{lib}.a"));
        if a.exists() {
            links.push((format!("lib{lib}.a"), a));
        }
    }
    for (name, target) in links {
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        if let Err(e) = std::os::unix::fs::symlink(&target, &link) {
            println!("cargo:warning=linking {}: {e}", link.display());
        }
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-arg-bins=-static");
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
