#!/usr/bin/env bash
# aisle's tracker side by side with the reference ByteTrack (and OC-SORT, BoT-SORT) from the
# `trackers` package, on identical detections of the TUD-Campus and TUD-Stadtmitte ground truth
# that py-motmetrics ships: the default model's boxes on the TUD-Campus frames (from ../shared/data)
# and the truth degraded with fixed seeds. Prints the Markdown tables of docs/evaluation.md; with
# --check, fails when aisle trails ByteTrack (scripts/eval_tracker.py says exactly when). Needs a
# built binary: AISLE_BIN (default target/release/aisle).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/eval-venv.sh"
frames=()
[ -z "$EVAL_DATA" ] || frames=(--frames "$EVAL_DATA/img1")
exec "$EVAL_PY" "$ROOT/scripts/eval_tracker.py" "${frames[@]}" \
  --aisle "${AISLE_BIN:-$ROOT/target/release/aisle}" \
  --config "$ROOT/firmware-config/eval-mot.toml" "$@"
