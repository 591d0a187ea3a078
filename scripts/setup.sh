#!/usr/bin/env bash
# Installs everything aisle needs on a fresh Debian 12 machine with Rust and Python present:
# Debian packages, the ONNX Runtime shared library (from PyPI's onnxruntime wheel) into .deps/,
# and the demo video. Idempotent: a second run checks and returns in about a second.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEPS="$ROOT/.deps"

APT_PACKAGES=(
  pkg-config unzip openssl curl
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-libav gstreamer1.0-rtsp gstreamer1.0-tools
  mosquitto mosquitto-clients
  python3-venv
  libclang-dev
  systemd adduser
  chromium chromium-driver faketime
  postgresql
)

log() { printf 'setup: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$DEPS/cache" "$DEPS/onnxruntime" "$DEPS/data"

"$ROOT/scripts/fetch-ort.sh" manylinux_2_28_x86_64 "$DEPS/onnxruntime"

# The demo video: OpenCV's pedestrian sequence, shipped by Debian's opencv-doc. Only that one file
# is taken from the package, so the 270 MB of HTML docs are never installed.
VIDEO="$DEPS/data/vtest.avi"
if [ ! -s "$VIDEO" ]; then
  if [ -s /usr/share/doc/opencv-doc/examples/data/vtest.avi ]; then
    cp /usr/share/doc/opencv-doc/examples/data/vtest.avi "$VIDEO.tmp"
  else
    log "extracting vtest.avi from Debian's opencv-doc"
    work=$(mktemp -d)
    (cd "$work" && apt-get download opencv-doc >/dev/null 2>&1 || { as_root apt-get update -qq && apt-get download opencv-doc >/dev/null; })
    dpkg-deb --fsys-tarfile "$work"/opencv-doc_*.deb | tar -xO ./usr/share/doc/opencv-doc/examples/data/vtest.avi > "$VIDEO.tmp"
    rm -rf "$work"
  fi
  mv "$VIDEO.tmp" "$VIDEO"
fi

# The shelf generator's Python (numpy, pillow, pinned): the tests render the held-out cells and
# the shelf video with it (models/shelf/).
SHELF_VENV="$DEPS/shelf-venv"
if ! cmp -s "$ROOT/models/shelf/requirements.txt" "$SHELF_VENV/requirements.txt" 2>/dev/null; then
  log "creating the shelf generator's Python environment in $SHELF_VENV"
  rm -rf "$SHELF_VENV"
  /usr/bin/python3 -m venv "$SHELF_VENV"
  "$SHELF_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/models/shelf/requirements.txt"
  cp "$ROOT/models/shelf/requirements.txt" "$SHELF_VENV/requirements.txt"
fi

# The demo broker's PKI: a private CA, a certificate for a broker on localhost, and one client
# certificate (the demo uses mutual TLS, as stores should). Made once; valid for ten years.
PKI="$DEPS/demo/pki"
if [ ! -s "$PKI/client.crt" ]; then
  log "generating the demo broker's certificates in $PKI"
  mkdir -p "$PKI"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=aisle demo CA" -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
  for name in server client; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "/CN=aisle demo $name" -keyout "$PKI/$name.key" -out "$PKI/$name.csr" 2>/dev/null
  done
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$PKI/server.ext"
  printf 'extendedKeyUsage=clientAuth\n' > "$PKI/client.ext"
  openssl x509 -req -in "$PKI/server.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$PKI/server.ext" -out "$PKI/server.crt" 2>/dev/null
  openssl x509 -req -in "$PKI/client.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$PKI/client.ext" -out "$PKI/client.crt" 2>/dev/null
  rm -f "$PKI"/*.csr "$PKI"/*.ext
  chmod 600 "$PKI"/*.key
fi

log "ready: $(cat "$DEPS/onnxruntime/VERSION" | tr -d '\n') onnxruntime, $(du -h "$VIDEO" | cut -f1) demo video"
