#!/usr/bin/env bash
# Person detection on TUD-Campus, frame by frame (`aisle eval detect`): the table of
# docs/models.md, and a regression guard on the default model's AP50 (fails when it drops more
# than 0.02 below the recorded figure). The footage is evaluation data that is not ours to
# redistribute, so it is not in the repository: it is looked for in AISLE_EVAL_DATA, then in the
# team's shared folder beside the checkout; without it the evaluation is skipped, loudly.
# Needs a built binary: AISLE_BIN (default target/release/aisle).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
data=""
for d in "${AISLE_EVAL_DATA:-}" "$ROOT/../shared/data" /work/shared/data; do
  if [ -n "$d" ] && [ -f "$d/tud-campus/gt/gt.txt" ]; then data="$d/tud-campus"; break; fi
done
if [ -z "$data" ]; then
  echo "eval-detect: SKIPPED — no TUD-Campus data (set AISLE_EVAL_DATA to the folder holding tud-campus/)" >&2
  exit 0
fi
exec /usr/bin/python3 "$ROOT/scripts/eval_detect.py" --aisle "${AISLE_BIN:-$ROOT/target/release/aisle}" \
  --data "$data" "$@"
