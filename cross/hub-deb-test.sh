#!/usr/bin/env bash
# hub-deb-test.sh DEB ARCH [install]: the aisle-hub package holds what a hub host needs, for the
# right machine (control fields, conffile, files, ELF machine, the unit's sandbox score), and with
# `install` (amd64, needs root) installs it for real, edits its config and fills its state,
# upgrades to a rebuilt newer version, checks both survived and the installed binary reads its
# config, then removes (state kept) and purges (state gone).
set -euo pipefail
DEB=$1
ARCH=$2
fail() { printf 'hub-deb-test: %s: %s\n' "$(basename "$DEB")" "$*" >&2; dpkg --purge aisle-hub >/dev/null 2>&1 || true; exit 1; }
[ "$(dpkg-deb -f "$DEB" Package)" = aisle-hub ] || fail "Package is not aisle-hub"
[ "$(dpkg-deb -f "$DEB" Architecture)" = "$ARCH" ] || fail "Architecture is not $ARCH"
files=$(dpkg-deb -c "$DEB" | awk '{print $6}')
for f in ./usr/bin/aisle-hub ./etc/aisle-hub/hub.toml ./lib/systemd/system/aisle-hub.service \
  ./usr/share/doc/aisle-hub/hub.md ./usr/share/doc/aisle-hub/hub-alerts-phone.png \
  ./usr/share/man/man1/aisle-hub.1.gz ./usr/share/man/man1/aisle-hub-serve.1.gz \
  ./usr/share/bash-completion/completions/aisle-hub ./usr/share/zsh/vendor-completions/_aisle-hub \
  ./usr/share/fish/vendor_completions.d/aisle-hub.fish; do
  grep -qx "$f" <<<"$files" || fail "missing $f"
done
if grep -q '^\./var/' <<<"$files"; then fail "state under /var must not be packaged"; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -e "$DEB" "$work/DEBIAN"
grep -qx /etc/aisle-hub/hub.toml "$work/DEBIAN/conffiles" || fail "hub.toml is not a conffile"
dpkg-deb -x "$DEB" "$work/root"
want=$([ "$ARCH" = arm64 ] && echo 183 || echo 62)
machine=$(python3 -c 'import sys; b=open(sys.argv[1],"rb").read(20); print(int.from_bytes(b[18:20],"little"))' "$work/root/usr/bin/aisle-hub")
[ "$machine" = "$want" ] || fail "usr/bin/aisle-hub is ELF machine $machine, not $want ($ARCH)"
exposure=$(systemd-analyze security --offline=yes "$work/root/lib/systemd/system/aisle-hub.service" 2>&1 \
  | sed -n 's/.*Overall exposure level for aisle-hub.service: \([0-9.]*\).*/\1/p')
python3 -c "import sys; sys.exit(0 if float('$exposure') <= 2.0 else 1)" || fail "unit exposure $exposure > 2.0"
printf 'hub-deb-test: %s ok: %s, unit exposure %s\n' "$(basename "$DEB")" "$(du -h "$DEB" | cut -f1)" "$exposure"
[ "${3:-}" = install ] || exit 0

dpkg-deb -R "$DEB" "$work/pkg"
sed -i 's/^Version: \(.*\)$/Version: \1+1/' "$work/pkg/DEBIAN/control"
dpkg-deb --root-owner-group --build "$work/pkg" "$work/newer.deb" >/dev/null
dpkg -i "$DEB" >/dev/null
getent passwd aisle-hub >/dev/null || fail "no aisle-hub user"
[ "$(stat -c '%a %U:%G' /etc/aisle-hub/hub.toml)" = "640 root:aisle-hub" ] || fail "hub.toml is $(stat -c '%a %U:%G' /etc/aisle-hub/hub.toml)"
echo '# edited by the operator' >> /etc/aisle-hub/hub.toml
mkdir -p /var/lib/aisle-hub/bundles
echo kept > /var/lib/aisle-hub/bundles/marker
dpkg -i --force-confold "$work/newer.deb" >/dev/null
grep -q 'edited by the operator' /etc/aisle-hub/hub.toml || fail "upgrade lost the config edit"
[ "$(cat /var/lib/aisle-hub/bundles/marker)" = kept ] || fail "upgrade lost the state"
[ "$(dpkg-query -W -f='${Version}' aisle-hub)" != "$(dpkg-deb -f "$DEB" Version)" ] || fail "not upgraded"
# The installed binary reads the sample config and names what the operator must still provide.
out=$(/usr/bin/aisle-hub check-config --config /etc/aisle-hub/hub.toml 2>&1) && fail "the sample config passed: $out"
grep -q 'mqtt.ca_file: /etc/aisle-hub/ca.crt does not exist' <<<"$out" || fail "check-config said: $out"
dpkg --remove aisle-hub >/dev/null
[ -f /var/lib/aisle-hub/bundles/marker ] || fail "remove deleted the state"
dpkg --purge aisle-hub >/dev/null
[ ! -e /var/lib/aisle-hub ] || fail "purge kept /var/lib/aisle-hub"
[ ! -e /etc/aisle-hub/hub.toml ] || fail "purge kept the config"
echo "hub-deb-test: install, upgrade (config and state kept), remove (state kept), purge: ok"
