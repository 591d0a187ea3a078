#!/usr/bin/env bash
# package-deb.sh ARCH BINARY ORT_LIBRARY [OUT_DIR]: the aisle .deb for one architecture (amd64,
# arm64), built with dpkg-deb from files this checkout already has:
#   /usr/bin/aisle, /usr/lib/aisle/libonnxruntime.so, /usr/share/aisle/models/ (the default person
#   model and the shelf-cell classifier),
#   /etc/aisle/aisle.toml (conffile), /lib/systemd/system/aisle.service, docs, man pages and
#   bash/zsh/fish completions;
# maintainer scripts create the `aisle` system user (in group `video` for USB cameras). State
# (/var/lib/aisle: outbox, models, keys, calibration) is never in the package, so upgrades and
# removals keep it; only purge deletes it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ARCH=$1
BIN=$2
ORT=$3
OUT=${4:-$ROOT/target/deb}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n1)
PKG="$OUT/aisle_${VERSION}_${ARCH}"
rm -rf "$PKG"
mkdir -p "$PKG/DEBIAN" "$PKG/usr/bin" "$PKG/usr/lib/aisle" "$PKG/usr/share/aisle/models/nanodet-m-416" \
  "$PKG/usr/share/aisle/models/shelf" \
  "$PKG/usr/share/doc/aisle" "$PKG/etc/aisle" "$PKG/lib/systemd/system"

install -m 0755 "$BIN" "$PKG/usr/bin/aisle"
# Man pages and shell completions come from the binary itself, so they match its --help (an arm64
# binary runs under qemu-user, as in cross/smoke-aarch64.sh).
case "$ARCH" in
  arm64) RUN=(qemu-aarch64-static -L /) ;;
  *) RUN=() ;;
esac
mkdir -p "$PKG/usr/share/man/man1" "$PKG/usr/share/bash-completion/completions" \
  "$PKG/usr/share/zsh/vendor-completions" "$PKG/usr/share/fish/vendor_completions.d"
"${RUN[@]}" "$BIN" man --out "$PKG/usr/share/man/man1"
gzip -9n "$PKG"/usr/share/man/man1/*.1
"${RUN[@]}" "$BIN" completions bash > "$PKG/usr/share/bash-completion/completions/aisle"
"${RUN[@]}" "$BIN" completions zsh > "$PKG/usr/share/zsh/vendor-completions/_aisle"
"${RUN[@]}" "$BIN" completions fish > "$PKG/usr/share/fish/vendor_completions.d/aisle.fish"
# Line tables are for local profiling; a gateway gets the stripped binary.
case "$ARCH" in
  arm64) STRIP=aarch64-linux-gnu-strip ;;
  *) STRIP=strip ;;
esac
"$STRIP" --strip-debug "$PKG/usr/bin/aisle"
install -m 0644 "$ORT" "$PKG/usr/lib/aisle/libonnxruntime.so"
install -m 0644 "$ROOT"/models/nanodet-m-416/{manifest-int8.toml,nanodet-m-416-int8.onnx,PROVENANCE.md} \
  "$PKG/usr/share/aisle/models/nanodet-m-416/"
install -m 0644 "$ROOT"/models/shelf/{manifest.toml,shelf-cell.onnx,README.md,PROVENANCE.md} "$PKG/usr/share/aisle/models/shelf/"
install -m 0644 "$ROOT/firmware-config/aisle.toml" "$PKG/etc/aisle/aisle.toml"
install -m 0644 "$ROOT/systemd/aisle.service" "$PKG/lib/systemd/system/aisle.service"
install -m 0644 "$ROOT/README.md" "$ROOT"/docs/*.md "$ROOT/firmware-config/demo.toml" "$PKG/usr/share/doc/aisle/"

cat > "$PKG/DEBIAN/control" <<CONTROL
Package: aisle
Version: $VERSION
Architecture: $ARCH
Maintainer: aisle developers <aisle@example.com>
Section: video
Priority: optional
Depends: libc6 (>= 2.36), libgcc-s1, libgstreamer1.0-0 (>= 1.22), libgstreamer-plugins-base1.0-0 (>= 1.22), gstreamer1.0-plugins-base, gstreamer1.0-plugins-good, gstreamer1.0-libav, adduser
Recommends: ca-certificates
Installed-Size: $(du -sk "$PKG" | cut -f1)
Homepage: https://example.com/aisle
Description: edge computer-vision agent for physical stores
 Counts people per zone, measures checkout queues and raises shelf and queue
 alerts from the store's cameras, on the gateway's CPU (GStreamer + ONNX
 Runtime). Publishes only summaries (counts, durations, alerts, health) over
 MQTT with TLS, buffered durably across outages; never frames or tracks.
CONTROL
echo /etc/aisle/aisle.toml > "$PKG/DEBIAN/conffiles"

cat > "$PKG/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent passwd aisle >/dev/null; then
    adduser --system --group --home /var/lib/aisle --no-create-home --quiet aisle
  fi
  adduser --quiet aisle video >/dev/null || true
  chown root:aisle /etc/aisle /etc/aisle/aisle.toml
  chmod 0750 /etc/aisle
  chmod 0640 /etc/aisle/aisle.toml
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
    # An upgrade restarts a running agent; a first install waits for the installer's config.
    if [ -n "$2" ]; then systemctl try-restart aisle.service >/dev/null || true; fi
  fi
fi
SH
cat > "$PKG/DEBIAN/prerm" <<'SH'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop aisle.service >/dev/null || true
fi
SH
cat > "$PKG/DEBIAN/postrm" <<'SH'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  rm -rf /var/lib/aisle /var/log/aisle
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null || true; fi
SH
chmod 0755 "$PKG/DEBIAN/postinst" "$PKG/DEBIAN/prerm" "$PKG/DEBIAN/postrm"
dpkg-deb --root-owner-group -Zxz --build "$PKG" "$PKG.deb" >/dev/null
rm -rf "$PKG"
echo "$PKG.deb"
