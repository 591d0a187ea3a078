#!/usr/bin/env bash
# fetch-ort.sh PLATFORM DEST: libonnxruntime.so of the pinned ONNX Runtime release for one wheel
# platform (manylinux_2_28_x86_64, manylinux_2_28_aarch64), taken from PyPI's onnxruntime wheel
# into DEST with a VERSION file. Does nothing when DEST already holds that release.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEPS="$ROOT/.deps"
# The ONNX Runtime release that ort 2.0.0-rc.15 targets.
ORT_VERSION=1.31.1
platform=$1
dest=$2

if [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$ORT_VERSION" ] && [ -f "$dest/libonnxruntime.so" ]; then
  exit 0
fi
printf 'fetch-ort: onnxruntime %s for %s from PyPI\n' "$ORT_VERSION" "$platform" >&2
wheels="$DEPS/cache/ort-$platform"
mkdir -p "$wheels" "$dest"
python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --platform "$platform" --python-version 3.11 -d "$wheels" "onnxruntime==$ORT_VERSION"
wheel=$(ls "$wheels"/onnxruntime-"$ORT_VERSION"-*.whl | head -n1)
python3 - "$wheel" "$dest" "$ORT_VERSION" <<'PY'
import os, sys, zipfile
wheel, dest, version = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    data = z.read(f"onnxruntime/capi/libonnxruntime.so.{version}")
tmp = os.path.join(dest, "libonnxruntime.so.tmp")
with open(tmp, "wb") as f:
    f.write(data)
os.replace(tmp, os.path.join(dest, "libonnxruntime.so"))
with open(os.path.join(dest, "VERSION"), "w") as f:
    f.write(version + "\n")
PY
