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
TEST_PACKAGES=(skopeo umoci runc python3-docker docker-registry apache2-utils zstd curl openssl)

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
    if ! command -v docker >/dev/null 2>&1; then
        ensure_apt_packages docker.io
    fi
}

require_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "Pier needs root (namespaces, overlayfs, cgroups): run this script as root." >&2
        exit 1
    fi
}
