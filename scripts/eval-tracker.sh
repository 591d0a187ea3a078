#!/usr/bin/env bash
# Scores aisle's tracker with the standard MOT metrics (MOTA, IDF1, ID switches) on the TUD-Campus
# and TUD-Stadtmitte ground truth that py-motmetrics ships: the truth is degraded into detections
# (box jitter, misses, false positives; fixed seeds), replayed through `aisle replay --detections
# … --emit-tracks`, and the tracks scored against the truth. Prints a Markdown table
# (docs/evaluation.md). Needs a built binary: AISLE_BIN (default target/release/aisle).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="$ROOT/.deps/eval-venv"
REQ="$ROOT/scripts/eval-requirements.txt"
if ! cmp -s "$REQ" "$VENV/requirements.txt" 2>/dev/null; then
  echo "eval-tracker: installing py-motmetrics into $VENV" >&2
  rm -rf "$VENV"
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$VENV/requirements.txt"
fi
frames=()
for d in "${AISLE_EVAL_DATA:-}" "$ROOT/../shared/data" /work/shared/data; do
  if [ -n "$d" ] && [ -d "$d/tud-campus/img1" ]; then frames=(--frames "$d/tud-campus/img1"); break; fi
done
exec "$VENV/bin/python" "$ROOT/scripts/eval_tracker.py" "${frames[@]}" \
  --aisle "${AISLE_BIN:-$ROOT/target/release/aisle}" \
  --config "$ROOT/firmware-config/eval-mot.toml" "$@"
