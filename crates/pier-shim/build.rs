//! Links the `pier-shim` binary as a non-PIE executable.
//!
//! A PIE's `.data.rel.ro` (~360 KiB here: vtables, string tables) is
//! rewritten by the dynamic loader in every process, which makes it private
//! memory of every shim. Without PIE those pages need no relocation, stay
//! clean and shared, and count only when touched: the monitor's PSS drops
//! by that much. The code itself is still compiled position-independent.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("linux") && target.contains("gnu") {
        println!("cargo:rustc-link-arg-bin=pier-shim=-no-pie");
        // rustc links with LLD, which only groups the `.text.hot.*`
        // sections (the idle monitor's whole working set) when asked to;
        // otherwise they scatter over several fault-around windows.
        println!("cargo:rustc-link-arg-bin=pier-shim=-Wl,-z,keep-text-section-prefix");
    }
}
