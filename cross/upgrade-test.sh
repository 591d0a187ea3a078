#!/usr/bin/env bash
# upgrade-test.sh DEB: installs the amd64 package on this machine for real, edits its config and
# fills its state, upgrades to a rebuilt newer version, and checks that the config and the state
# survived and the binary runs from its installed paths; then purges. Needs root.
set -euo pipefail
DEB=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
fail() { printf 'upgrade-test: %s\n' "$*" >&2; dpkg --purge aisle >/dev/null 2>&1 || true; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The "newer" package: the same contents, version +1.
dpkg-deb -R "$DEB" "$work/pkg"
sed -i 's/^Version: \(.*\)$/Version: \1+1/' "$work/pkg/DEBIAN/control"
dpkg-deb --root-owner-group --build "$work/pkg" "$work/newer.deb" >/dev/null

dpkg -i "$DEB" >/dev/null
getent passwd aisle >/dev/null || fail "no aisle user"
id -nG aisle | grep -qw video || fail "aisle is not in group video"
echo '# edited by the installer' >> /etc/aisle/aisle.toml
mkdir -p /var/lib/aisle/outbox
echo unsent > /var/lib/aisle/outbox/marker
dpkg -i --force-confold "$work/newer.deb" >/dev/null
grep -q 'edited by the installer' /etc/aisle/aisle.toml || fail "upgrade lost the config edit"
[ "$(cat /var/lib/aisle/outbox/marker)" = unsent ] || fail "upgrade lost the state"
[ "$(dpkg-query -W -f='${Version}' aisle)" != "$(dpkg-deb -f "$DEB" Version)" ] || fail "not upgraded"
# The installed binary finds its ONNX Runtime and model from /usr.
out=$(cd / && /usr/bin/aisle detect "$ROOT/.deps/data/vtest.avi" --every 400 --threads 1 2>/dev/null)
[ "$(wc -l <<<"$out")" = 2 ] || fail "installed aisle detect printed: $out"
# The installed shelf classifier is found from /usr and reads cells.
cells=$(mktemp -d)
"$ROOT/.deps/shelf-venv/bin/python" "$ROOT/models/shelf/synth.py" --split val --n 30 --out "$cells"
report=$(cd / && /usr/bin/aisle shelf eval --cells "$cells") || fail "installed aisle shelf eval failed"
grep -q '"model": "shelf-cell"' <<<"$report" || fail "installed aisle shelf eval printed: $report"
rm -rf "$cells"
dpkg --remove aisle >/dev/null
[ -f /var/lib/aisle/outbox/marker ] || fail "remove deleted the state"
dpkg --purge aisle >/dev/null
[ ! -e /var/lib/aisle ] || fail "purge kept /var/lib/aisle"
echo "upgrade-test: install, upgrade (config and state kept), remove (state kept), purge: ok"
