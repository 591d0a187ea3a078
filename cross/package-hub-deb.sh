#!/usr/bin/env bash
# package-hub-deb.sh ARCH BINARY [OUT_DIR]: the aisle-hub .deb for one architecture (amd64,
# arm64), built with dpkg-deb: /usr/bin/aisle-hub, /etc/aisle-hub/hub.toml (conffile, a sample
# that names every file it needs), /lib/systemd/system/aisle-hub.service, hub.md, man pages and
# bash/zsh/fish completions. The maintainer scripts create the `aisle-hub` system user; the
# service is enabled by the installer once the config names real certificates and a database
# (a first install starts nothing; an upgrade restarts a running hub). State
# (/var/lib/aisle-hub: rollout bundles) is never packaged; only purge deletes it. The database is
# the operator's: purge never touches it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ARCH=$1
BIN=$2
OUT=${3:-$ROOT/target/deb}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/hub/Cargo.toml" | head -n1)
PKG="$OUT/aisle-hub_${VERSION}_${ARCH}"
rm -rf "$PKG"
mkdir -p "$PKG/DEBIAN" "$PKG/usr/bin" "$PKG/usr/share/doc/aisle-hub" "$PKG/etc/aisle-hub" \
  "$PKG/lib/systemd/system" "$PKG/usr/share/man/man1" "$PKG/usr/share/bash-completion/completions" \
  "$PKG/usr/share/zsh/vendor-completions" "$PKG/usr/share/fish/vendor_completions.d"
install -m 0755 "$BIN" "$PKG/usr/bin/aisle-hub"
case "$ARCH" in
  arm64) RUN=(qemu-aarch64-static -L /) STRIP=aarch64-linux-gnu-strip ;;
  *) RUN=() STRIP=strip ;;
esac
"${RUN[@]}" "$BIN" man --out "$PKG/usr/share/man/man1"
gzip -9n "$PKG"/usr/share/man/man1/*.1
"${RUN[@]}" "$BIN" completions bash > "$PKG/usr/share/bash-completion/completions/aisle-hub"
"${RUN[@]}" "$BIN" completions zsh > "$PKG/usr/share/zsh/vendor-completions/_aisle-hub"
"${RUN[@]}" "$BIN" completions fish > "$PKG/usr/share/fish/vendor_completions.d/aisle-hub.fish"
"$STRIP" --strip-debug "$PKG/usr/bin/aisle-hub"
install -m 0644 "$ROOT/hub/dist/hub.toml" "$PKG/etc/aisle-hub/hub.toml"
install -m 0644 "$ROOT/systemd/aisle-hub.service" "$PKG/lib/systemd/system/aisle-hub.service"
install -m 0644 "$ROOT/docs/hub.md" "$ROOT"/docs/hub-*.png "$PKG/usr/share/doc/aisle-hub/"

cat > "$PKG/DEBIAN/control" <<CONTROL
Package: aisle-hub
Version: $VERSION
Architecture: $ARCH
Maintainer: aisle developers <aisle@example.com>
Section: net
Priority: optional
Depends: libc6 (>= 2.36), libgcc-s1, adduser
Recommends: ca-certificates, postgresql (>= 15)
Installed-Size: $(du -sk "$PKG" | cut -f1)
Homepage: https://example.com/aisle
Description: fleet hub for the aisle store vision agents
 Stores every gateway's summaries, alerts, health and update steps once in
 PostgreSQL from an MQTT 5 shared subscription; serves the store and fleet
 pages over HTTPS, sends alert notifications to chat webhooks, raises an
 alert for a silent gateway, and rolls signed models out in waves.
CONTROL
echo /etc/aisle-hub/hub.toml > "$PKG/DEBIAN/conffiles"

cat > "$PKG/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent passwd aisle-hub >/dev/null; then
    adduser --system --group --home /var/lib/aisle-hub --no-create-home --quiet aisle-hub
  fi
  chown root:aisle-hub /etc/aisle-hub /etc/aisle-hub/hub.toml
  chmod 0750 /etc/aisle-hub
  chmod 0640 /etc/aisle-hub/hub.toml
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
    if [ -n "$2" ]; then systemctl try-restart aisle-hub.service >/dev/null || true; fi
  fi
fi
SH
cat > "$PKG/DEBIAN/prerm" <<'SH'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop aisle-hub.service >/dev/null || true
fi
SH
cat > "$PKG/DEBIAN/postrm" <<'SH'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  rm -rf /var/lib/aisle-hub
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null || true; fi
SH
chmod 0755 "$PKG/DEBIAN/postinst" "$PKG/DEBIAN/prerm" "$PKG/DEBIAN/postrm"
dpkg-deb --root-owner-group -Zxz --build "$PKG" "$PKG.deb" >/dev/null
rm -rf "$PKG"
echo "$PKG.deb"
