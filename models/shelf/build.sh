#!/usr/bin/env bash
# Retrains the shelf-cell classifier from scratch: synthetic cells from synth.py, train.py under
# tensorflow-cpu 2.15.1 (CPU, seeded, op determinism on), exported by tf2onnx 1.16.1. About 10
# minutes on 2 cores. The rebuild must score as the committed model on the held-out split (within
# 0.005); pass --install to replace the committed model, its checksum and metrics.json.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/models/human-models.sh"
human_models_setup shelf
"$CONVERT_PY" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt"
(cd "$HERE" && "$CONVERT_PY" train.py "$WORK") 2>"$WORK/train.log"
sha=$(sha256sum "$WORK/shelf-cell.onnx" | cut -d' ' -f1)
sed -E "s/^sha256 = .*/sha256 = \"$sha\"/" "$HERE/manifest.toml" > "$WORK/manifest.toml"

"$ROOT/scripts/setup.sh"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
"$CONVERT_PY" "$HERE/synth.py" --split test --n 3000 --out "$WORK/heldout"
accuracy() { "$ROOT/target/release/aisle" shelf eval --cells "$WORK/heldout" --model "$1" | "$CONVERT_PY" -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])'; }
committed=$(accuracy "$HERE/manifest.toml")
rebuilt=$(accuracy "$WORK/manifest.toml")
echo "held-out accuracy: committed $committed, rebuilt $rebuilt"
"$CONVERT_PY" -c "import sys; sys.exit(abs($committed - $rebuilt) > 0.005)" || { echo "the rebuild does not reproduce the committed model" >&2; exit 1; }
if [ "${1:-}" = "--install" ]; then
  cp "$WORK/shelf-cell.onnx" "$WORK/manifest.toml" "$WORK/metrics.json" "$HERE/"
  echo "installed into $HERE"
fi
