#!/usr/bin/env bash
# aisle's tracker side by side with the reference ByteTrack from the `trackers` package, on
# identical detections of every annotated sequence at hand: TUD-Campus and TUD-Stadtmitte (whose
# ground truth py-motmetrics ships; the default model's boxes on TUD-Campus's frames) and MOT16-02,
# MOT16-04 and Venice-2 (../shared/data/mot-lines; Venice-2's published boxes), and the truth
# degraded with fixed seeds. Prints the Markdown tables of docs/evaluation.md; with
# --check, fails when aisle trails ByteTrack (scripts/eval_tracker.py says exactly when). Needs a
# built binary: AISLE_BIN (default target/release/aisle).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/eval-venv.sh"
frames=()
[ -z "$EVAL_DATA" ] || frames=(--frames "$EVAL_DATA/img1" --data "$(dirname "$EVAL_DATA")")
exec "$EVAL_PY" "$ROOT/scripts/eval_tracker.py" "${frames[@]}" \
  --aisle "${AISLE_BIN:-$ROOT/target/release/aisle}" \
  --config "$ROOT/firmware-config/eval-mot.toml" "$@"
