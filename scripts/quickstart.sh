#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu machine (as root) to a running container:
# installs build deps, builds Pier in release mode, installs pierd/pier/pier-shim
# into /usr/local/bin, starts pierd, loads a locally built busybox image and runs it.
source "$(dirname "$0")/lib.sh"
require_root
ensure_apt_packages "${BUILD_PACKAGES[@]}"
ensure_rust
cd "$PIER_REPO"

log "building Pier (release)"
cargo build --release --workspace --bins
install -m 0755 target/release/pierd target/release/pier target/release/pier-shim target/release/pier-init /usr/local/bin/

log "building the busybox:latest test image"
"$PIER_REPO/scripts/build-busybox-image.sh" target/images/busybox.tar

SOCK=/run/pier.sock
if ! pier -H "unix://$SOCK" version >/dev/null 2>&1; then
    log "starting pierd (log: /var/log/pierd.log)"
    nohup /usr/local/bin/pierd -H "unix://$SOCK" >>/var/log/pierd.log 2>&1 &
    for _ in $(seq 1 100); do
        pier -H "unix://$SOCK" version >/dev/null 2>&1 && break
        sleep 0.05
    done
fi

pier load -i target/images/busybox.tar
pier run --rm busybox echo hello from pier
