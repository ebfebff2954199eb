#!/usr/bin/env bash
# Runs every test: formatting and lints, unit tests of each crate, and the
# end-to-end tests under tests/ that start their own pierd on temp roots and
# drive it with `pier` and the real docker CLI. Installs what it needs.
source "$(dirname "$0")/lib.sh"
require_root
ensure_apt_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
ensure_rust
ensure_docker_cli
cd "$PIER_REPO"

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

log "building binaries"
cargo build --workspace --bins

log "building the busybox:latest test image"
"$PIER_REPO/scripts/build-busybox-image.sh" target/images/busybox.tar

log "running the tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast "$@"
else
    cargo test --workspace --no-fail-fast "$@"
fi
