#!/usr/bin/env bash
# aisle's tracker side by side with the reference ByteTrack (and OC-SORT, BoT-SORT) from the
# `trackers` package, on identical detections of the TUD-Campus and TUD-Stadtmitte ground truth
# that py-motmetrics ships: the default model's boxes on the TUD-Campus frames (from ../shared/data)
# and the truth degraded with fixed seeds. Prints the Markdown tables of docs/evaluation.md; with
# --check, fails when aisle trails ByteTrack (scripts/eval_tracker.py says exactly when). Needs a
# built binary: AISLE_BIN (default target/release/aisle).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="$ROOT/.deps/eval-venv"
REQ="$ROOT/scripts/eval-requirements.txt"
if ! cmp -s "$REQ" "$VENV/requirements.txt" 2>/dev/null; then
  echo "eval-tracker: installing py-motmetrics and trackers into $VENV" >&2
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
