#!/usr/bin/env bash
# check-deb.sh DEB ARCH: the package holds what a gateway needs, for the right machine: control
# fields, the conffile, the files, the ELF machine of the binary and ONNX Runtime, and no
# test-only fault hooks in the binary.
set -euo pipefail
DEB=$1
ARCH=$2
fail() { printf 'check-deb: %s: %s\n' "$DEB" "$*" >&2; exit 1; }
[ "$(dpkg-deb -f "$DEB" Architecture)" = "$ARCH" ] || fail "Architecture is not $ARCH"
[ "$(dpkg-deb -f "$DEB" Package)" = aisle ] || fail "Package is not aisle"
dpkg-deb -f "$DEB" Depends | grep -q gstreamer1.0-libav || fail "Depends lacks gstreamer1.0-libav"
files=$(dpkg-deb -c "$DEB" | awk '{print $6}')
for f in ./usr/bin/aisle ./usr/lib/aisle/libonnxruntime.so \
  ./usr/share/aisle/models/nanodet-m-416/manifest-int8.toml ./usr/share/aisle/models/nanodet-m-416/nanodet-m-416-int8.onnx \
  ./usr/share/aisle/models/shelf/manifest.toml ./usr/share/aisle/models/shelf/shelf-cell.onnx \
  ./usr/share/aisle/models/shelf/PROVENANCE.md \
  ./etc/aisle/aisle.toml ./lib/systemd/system/aisle.service ./usr/share/doc/aisle/install.md \
  ./usr/share/man/man1/aisle.1.gz ./usr/share/man/man1/aisle-snapshot.1.gz \
  ./usr/share/bash-completion/completions/aisle ./usr/share/zsh/vendor-completions/_aisle \
  ./usr/share/fish/vendor_completions.d/aisle.fish; do
  grep -qx "$f" <<<"$files" || fail "missing $f"
done
if grep -q '^\./var/' <<<"$files"; then fail "state under /var must not be packaged"; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -e "$DEB" "$work/DEBIAN"
grep -qx /etc/aisle/aisle.toml "$work/DEBIAN/conffiles" || fail "aisle.toml is not a conffile"
dpkg-deb -x "$DEB" "$work/root"
want=$([ "$ARCH" = arm64 ] && echo 183 || echo 62)
for elf in usr/bin/aisle usr/lib/aisle/libonnxruntime.so; do
  machine=$(python3 -c 'import sys; b=open(sys.argv[1],"rb").read(20); print(int.from_bytes(b[18:20],"little"))' "$work/root/$elf")
  [ "$machine" = "$want" ] || fail "$elf is ELF machine $machine, not $want ($ARCH)"
done
# Fault injection is for tests only: no environment variable may crash or stall a gateway.
if grep -aq -e AISLE_OTA_CRASH_AT -e AISLE_FAULT_STALL "$work/root/usr/bin/aisle"; then
  fail "usr/bin/aisle carries the test-only fault hooks (built with --features fault-injection)"
fi
printf 'check-deb: %s ok: %s, %s installed\n' "$(basename "$DEB")" "$(du -h "$DEB" | cut -f1)" \
  "$(dpkg-deb -f "$DEB" Installed-Size) KiB"
