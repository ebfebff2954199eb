//! Links `pier` as a position-dependent executable.
//!
//! As a PIE, every start relocated ~10,000 pointers in the binary's
//! read-only data (dirtying ~40 pages) before `main`: ~0.3 ms of a
//! `pier create` that otherwise takes ~2 ms of CPU, and 100 `pier create`
//! processes in a row are what `docker create` ×100 is measured by. The
//! daemon (long-running) stays a PIE; Docker's own CLI binaries are
//! position-dependent Go executables too.

fn main() {
    // `-no-pie` after rustc's own `-pie`: the last one wins.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bin=pier=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
