# Shared helpers for Pier's scripts. Sourced, not run.
set -euo pipefail

PIER_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs the Debian packages Pier needs to build and test, if any is missing.
ensure_apt_packages() {
    local missing=()
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

# Build dependencies: libcontainer links libseccomp.
BUILD_PACKAGES=(build-essential pkg-config libseccomp-dev busybox-static tar coreutils python3 util-linux iproute2 nftables)
# Peers the tests compare against or use as clients.
TEST_PACKAGES=(skopeo umoci runc python3-docker docker-registry apache2-utils zstd xz-utils bzip2 curl openssl)

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        if [ -x "$HOME/.cargo/bin/cargo" ]; then
            export PATH="$HOME/.cargo/bin:$PATH"
        else
            log "installing the Rust toolchain with rustup"
            ensure_apt_packages curl ca-certificates
            curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
            export PATH="$HOME/.cargo/bin:$PATH"
        fi
    fi
}

# The docker CLI is a test client (never a daemon). Debian ships it in docker.io.
ensure_docker_cli() {
    ensure_dockerd
}

# Debian's docker.io: the docker CLI where none is installed, and a real
# dockerd that tests start privately (own roots and socket, no bridge, no
# iptables) to check image exchange. A policy-rc.d guard keeps the package
# from starting the system's dockerd, whose docker0 bridge and iptables
# rules would get in the way of Pier's own networking.
ensure_dockerd() {
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
        local guard=/usr/sbin/policy-rc.d
        local had_guard=0
        [ -e "$guard" ] && had_guard=1
        [ "$had_guard" = 1 ] || printf '#!/bin/sh\nexit 101\n' >"$guard"
        chmod +x "$guard"
        ensure_apt_packages docker.io
        [ "$had_guard" = 1 ] || rm -f "$guard"
    fi
}

require_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "Pier needs root (namespaces, overlayfs, cgroups): run this script as root." >&2
        exit 1
    fi
}
