#!/usr/bin/env bash
# Builds a `busybox:latest` image from Debian's busybox-static, as a tar that
# both `docker load` and `pier load` accept (Docker 25+ layout: manifest.json,
# repositories, blobs/sha256, plus oci-layout and index.json).
#
#   scripts/build-busybox-image.sh [OUT_TAR]     (default target/images/busybox.tar)
#
# Reproducible: every timestamp is SOURCE_DATE_EPOCH (default 0), owners are
# numeric 0, entries sorted, so the same busybox binary gives the same image ID.
set -euo pipefail

OUT=${1:-target/images/busybox.tar}
EPOCH=${SOURCE_DATE_EPOCH:-0}
ENV_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

die() { echo "build-busybox-image: $*" >&2; exit 1; }

# The static build: the image has no libc to link against (Debian's plain
# `busybox` package is dynamically linked and would not run in the image).
need_install=false
[ -x /bin/busybox ] || need_install=true
if command -v dpkg-query >/dev/null 2>&1 &&
    ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
    need_install=true
fi
if $need_install; then
    echo "build-busybox-image: installing busybox-static" >&2
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q busybox-static >&2 ||
        { $SUDO apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q busybox-static >&2; } ||
        die "cannot install busybox-static"
fi
BUSYBOX=/bin/busybox

ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
CREATED=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/busybox-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/rootfs
OCI=$WORK/oci
mkdir -p "$ROOT" "$OCI/blobs/sha256"

# --- the root filesystem -----------------------------------------------------
( umask 022
  mkdir -p "$ROOT"/{bin,etc,home,proc,root,sys,dev,tmp,var,usr/bin,usr/sbin}
  install -m 0755 "$BUSYBOX" "$ROOT/bin/busybox"
  # Hard links, as in the official image: one inode, every applet in /bin.
  for applet in $("$BUSYBOX" --list); do
      [ "$applet" = busybox ] && continue
      ln "$ROOT/bin/busybox" "$ROOT/bin/$applet"
  done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/home:/bin/false' >"$ROOT/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' >"$ROOT/etc/group"
  chmod 0644 "$ROOT/etc/passwd" "$ROOT/etc/group"
  chmod 1777 "$ROOT/tmp"
  chmod 0700 "$ROOT/root"
)
[ -e "$ROOT/bin/sh" ] || die "busybox has no sh applet"

TAR_REPRO=(--sort=name --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner --format=gnu)
LAYER=$WORK/layer.tar
tar "${TAR_REPRO[@]}" -C "$ROOT" -cf "$LAYER" .

sha() { sha256sum "$1" | cut -d' ' -f1; }
LAYER_HEX=$(sha "$LAYER")
LAYER_SIZE=$(stat -c %s "$LAYER")
mv "$LAYER" "$OCI/blobs/sha256/$LAYER_HEX"

# --- config, manifests, index ------------------------------------------------
CONFIG=$WORK/config.json
printf '%s' \
  '{"architecture":"'"$ARCH"'",' \
  '"config":{"Env":["PATH='"$ENV_PATH"'"],"Cmd":["sh"]},' \
  '"created":"'"$CREATED"'",' \
  '"history":[' \
    '{"created":"'"$CREATED"'","created_by":"/bin/sh -c #(nop) ADD file:busybox-static in / "},' \
    '{"created":"'"$CREATED"'","created_by":"/bin/sh -c #(nop)  CMD [\"sh\"]","empty_layer":true}' \
  '],' \
  '"os":"linux",' \
  '"rootfs":{"type":"layers","diff_ids":["sha256:'"$LAYER_HEX"'"]}}' >"$CONFIG"
CONFIG_HEX=$(sha "$CONFIG")
CONFIG_SIZE=$(stat -c %s "$CONFIG")
mv "$CONFIG" "$OCI/blobs/sha256/$CONFIG_HEX"

MANIFEST=$WORK/manifest.oci.json
printf '%s' \
  '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",' \
  '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$CONFIG_HEX"'","size":'"$CONFIG_SIZE"'},' \
  '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:'"$LAYER_HEX"'","size":'"$LAYER_SIZE"'}]}' >"$MANIFEST"
MANIFEST_HEX=$(sha "$MANIFEST")
MANIFEST_SIZE=$(stat -c %s "$MANIFEST")
mv "$MANIFEST" "$OCI/blobs/sha256/$MANIFEST_HEX"

printf '%s' \
  '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[' \
  '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$MANIFEST_HEX"'","size":'"$MANIFEST_SIZE"',' \
  '"annotations":{"io.containerd.image.name":"docker.io/library/busybox:latest","org.opencontainers.image.ref.name":"latest"},' \
  '"platform":{"architecture":"'"$ARCH"'","os":"linux"}}]}' >"$OCI/index.json"
printf '%s' '[{"Config":"blobs/sha256/'"$CONFIG_HEX"'","RepoTags":["busybox:latest"],"Layers":["blobs/sha256/'"$LAYER_HEX"'"]}]' >"$OCI/manifest.json"
printf '%s' '{"busybox":{"latest":"'"$LAYER_HEX"'"}}' >"$OCI/repositories"
printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$OCI/oci-layout"

# --- the archive, replaced atomically ------------------------------------------
mkdir -p "$(dirname "$OUT")"
TMP_OUT="$OUT.tmp.$$"
tar "${TAR_REPRO[@]}" -C "$OCI" -cf "$TMP_OUT" blobs index.json manifest.json oci-layout repositories
mv -f "$TMP_OUT" "$OUT"
echo "busybox:latest sha256:$CONFIG_HEX -> $OUT"
