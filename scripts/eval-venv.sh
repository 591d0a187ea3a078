# Sourced by the evaluation scripts: EVAL_PY, a Python with py-motmetrics, the reference trackers
# and matplotlib at the versions pinned in scripts/eval-requirements.txt (installed into
# .deps/eval-venv from PyPI when the pins change), and EVAL_FRAMES, the TUD-Campus frames when the
# team's data folder is at hand (empty otherwise). Needs ROOT (the checkout).
EVAL_VENV="$ROOT/.deps/eval-venv"
EVAL_REQ="$ROOT/scripts/eval-requirements.txt"
if ! cmp -s "$EVAL_REQ" "$EVAL_VENV/requirements.txt" 2>/dev/null; then
  echo "eval: installing py-motmetrics and trackers into $EVAL_VENV" >&2
  rm -rf "$EVAL_VENV"
  /usr/bin/python3 -m venv "$EVAL_VENV"
  "$EVAL_VENV/bin/pip" install -q --disable-pip-version-check -r "$EVAL_REQ"
  cp "$EVAL_REQ" "$EVAL_VENV/requirements.txt"
fi
EVAL_PY="$EVAL_VENV/bin/python"
EVAL_DATA=""
for d in "${AISLE_EVAL_DATA:-}" "$ROOT/../shared/data" /work/shared/data; do
  if [ -n "$d" ] && [ -f "$d/tud-campus/gt/gt.txt" ]; then EVAL_DATA="$d/tud-campus"; break; fi
done
