#!/usr/bin/env bash
# The accuracy-per-millisecond frontier of the person models, fp32 and int8 (docs/models.md, "The
# frontier"): prints its table; --plot FILE.svg draws it; --check fails when the default is int8
# and scores more than 0.01 AP50 below its fp32 twin. Without the TUD-Campus footage it says so
# and skips. Needs a built binary: AISLE_BIN (default target/release/aisle).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/eval-venv.sh"
if [ -z "$EVAL_DATA" ]; then
  echo "eval-frontier: SKIPPED — no TUD-Campus data (set AISLE_EVAL_DATA to the folder holding tud-campus/)" >&2
  exit 0
fi
exec "$EVAL_PY" "$ROOT/scripts/eval_frontier.py" --aisle "${AISLE_BIN:-$ROOT/target/release/aisle}" \
  --data "$EVAL_DATA" "$@"
