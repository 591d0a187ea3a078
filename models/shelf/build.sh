#!/usr/bin/env bash
# Retrains the shelf-cell classifier from scratch: synthetic cells from synth.py and real cells
# cut by the agent from the training split of the shelf photos in ../shared/data/empty-shelf
# (AISLE_SHELF_PHOTOS; CC BY 4.0, see PROVENANCE.md; never packaged), train.py under
# tensorflow-cpu 2.15.1 (CPU, seeded, op determinism on), exported by tf2onnx 1.16.1. About 15
# minutes on 2 cores. The rebuild must score as the committed model on the held-out synthetic
# cells and the held-out real photos (within 0.005); with --install it replaces the committed
# model, its checksum and metrics.json instead.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/models/human-models.sh"
human_models_setup shelf
"$CONVERT_PY" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt"
PHOTOS=${AISLE_SHELF_PHOTOS:-$ROOT/../shared/data/empty-shelf}
[ -d "$PHOTOS/images" ] || { echo "no shelf photos at $PHOTOS (set AISLE_SHELF_PHOTOS)" >&2; exit 1; }
"$ROOT/scripts/setup.sh"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
AISLE="$ROOT/target/release/aisle"

# The real training cells, cut as the agent cuts them, over several grids so that cells of every
# size and offset are seen. The held-out split is never exported.
real=()
for grid in $(cat "$HERE/grids.txt"); do
  "$AISLE" shelf eval --photos "$PHOTOS" --split train --grid "$grid" --export "$WORK/real-$grid" >/dev/null
  real+=("$WORK/real-$grid")
done
(cd "$HERE" && "$CONVERT_PY" train.py "$WORK" "${real[@]}") 2>"$WORK/train.log"
sha=$(sha256sum "$WORK/shelf-cell.onnx" | cut -d' ' -f1)
sed -E "s/^sha256 = .*/sha256 = \"$sha\"/" "$HERE/manifest.toml" > "$WORK/manifest.toml"

"$CONVERT_PY" "$HERE/synth.py" --split test --n 3000 --out "$WORK/heldout"
figure() { "$AISLE" shelf eval "$@" | "$CONVERT_PY" -c 'import json,sys; r=json.load(sys.stdin); print(r["accuracy"], r.get("image_accuracy", ""))'; }
for m in "$HERE/manifest.toml" "$WORK/manifest.toml"; do
  echo "$m: synthetic $(figure --cells "$WORK/heldout" --model "$m"); real held-out $(figure --photos "$PHOTOS" --split held-out --model "$m")"
done | tee "$WORK/compare.txt"
if [ "${1:-}" != "--install" ]; then
  "$CONVERT_PY" - "$WORK/compare.txt" <<'PY' || { echo "the rebuild does not reproduce the committed model" >&2; exit 1; }
import sys
rows = [[float(v) for v in l.split(":", 1)[1].replace(";", " ").split() if v.replace(".", "", 1).isdigit()] for l in open(sys.argv[1])]
sys.exit(any(abs(a - b) > 0.005 for a, b in zip(rows[0], rows[1])))
PY
fi
# The real held-out figures the tests guard, beside the training run's own.
"$AISLE" shelf eval --photos "$PHOTOS" --split held-out --model "$WORK/manifest.toml" > "$WORK/real-heldout.json"
"$CONVERT_PY" - "$WORK/metrics.json" "$WORK/real-heldout.json" <<'PY'
import json, sys
metrics, real = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
metrics["real_held_out"] = {k: real[k] for k in ("grid", "photos", "sources", "cells", "accuracy", "confusion",
                                                "empty_recall", "stocked_read_empty", "image_accuracy")}
json.dump(metrics, open(sys.argv[1], "w"), indent=2)
open(sys.argv[1], "a").write("\n")
PY
if [ "${1:-}" = "--install" ]; then
  cp "$WORK/shelf-cell.onnx" "$WORK/manifest.toml" "$WORK/metrics.json" "$HERE/"
  echo "installed into $HERE"
fi
