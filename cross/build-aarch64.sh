#!/usr/bin/env bash
# Builds aisle for aarch64-unknown-linux-gnu (ARM store gateways) on this x86-64 Debian 12
# machine, installing what it needs itself:
# - Debian multiarch (arm64): the cross gcc, the arm64 GStreamer libraries and plugins (to link
#   against, and to run the result under qemu), and Debian's rustc-web 1.96 with its arm64
#   standard library (rustup cannot fetch a target's std here: no network but the registries);
# - qemu-user-static 10.x from bookworm-backports (bookworm's 7.2 crashes inside ONNX Runtime);
# - the aarch64 ONNX Runtime library from PyPI's onnxruntime wheel.
# The binary lands in target/cross/aarch64-unknown-linux-gnu/release/aisle; the ARM ORT library in
# .deps/cross/onnxruntime-arm64/. Idempotent.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CROSS="$ROOT/.deps/cross"
TARGET=aarch64-unknown-linux-gnu
log() { printf 'cross: %s\n' "$*" >&2; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

scripts/setup.sh

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  log "adding the arm64 architecture"
  dpkg --add-architecture arm64
  apt-get update -qq
fi
BACKPORTS=/etc/apt/sources.list.d/aisle-bookworm-backports.sources
if [ ! -f "$BACKPORTS" ]; then
  log "adding bookworm-backports (for qemu-user-static 10.x)"
  cat > "$BACKPORTS" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
fi
PACKAGES=(
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross rustc-web libstd-rust-web-dev:arm64
  libgstreamer1.0-dev:arm64 libgstreamer-plugins-base1.0-0:arm64 liborc-0.4-dev:arm64
  gstreamer1.0-plugins-base:arm64 gstreamer1.0-plugins-good:arm64 gstreamer1.0-libav:arm64
)
missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! qemu-aarch64-static --version 2>/dev/null | grep -q "version 1[0-9]"; then
  log "installing qemu-user-static from bookworm-backports"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-user-static >/dev/null
fi

# libgstreamer-plugins-base1.0-dev is not multiarch-installable beside the amd64 one the native
# build needs: take its arm64 pkg-config files from the .deb, pointing at the arm64 runtime
# libraries through unversioned links of our own.
SHIM="$CROSS/gst-arm64"
if [ ! -f "$SHIM/pkgconfig/gstreamer-video-1.0.pc" ]; then
  log "arm64 pkg-config files for gst-plugins-base"
  work=$(mktemp -d)
  (cd "$work" && apt-get download libgstreamer-plugins-base1.0-dev:arm64 >/dev/null)
  dpkg-deb -x "$work"/libgstreamer-plugins-base1.0-dev_*_arm64.deb "$work/x"
  mkdir -p "$SHIM/pkgconfig" "$SHIM/lib"
  for pc in "$work"/x/usr/lib/aarch64-linux-gnu/pkgconfig/*.pc; do
    sed "s|^libdir=.*|libdir=$SHIM/lib|" "$pc" > "$SHIM/pkgconfig/$(basename "$pc")"
  done
  for so in "$work"/x/usr/lib/aarch64-linux-gnu/*.so; do
    ln -sf "/usr/lib/aarch64-linux-gnu/$(readlink "$so")" "$SHIM/lib/$(basename "$so")"
  done
  rm -rf "$work"
fi

scripts/fetch-ort.sh manylinux_2_28_aarch64 "$CROSS/onnxruntime-arm64"

# Debian's rustc-web installs as /usr/bin/rustc; rustup's proxy stays first on PATH for native builds.
RUSTC_WEB=/usr/bin/rustc
log "building $TARGET with $("$RUSTC_WEB" --version)"
export RUSTC="$RUSTC_WEB"
export CARGO_TARGET_DIR="$ROOT/target/cross"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_LIBDIR="$SHIM/pkgconfig:/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig"
cargo build --locked --release --target "$TARGET" --bin aisle
BIN="$CARGO_TARGET_DIR/$TARGET/release/aisle"
log "built $BIN ($(du -h "$BIN" | cut -f1))"
# The fleet hub, for hub hosts on ARM servers: its own package (cross/package-hub-deb.sh).
cargo build --locked --release --target "$TARGET" -p aisle-hub --bin aisle-hub
log "built $CARGO_TARGET_DIR/$TARGET/release/aisle-hub ($(du -h "$CARGO_TARGET_DIR/$TARGET/release/aisle-hub" | cut -f1))"
