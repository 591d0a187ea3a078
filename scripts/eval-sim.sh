#!/usr/bin/env bash
# How robust the simulated-store marks are (docs/evaluation.md): every scenario in
# firmware-config/scenarios/ with its own seed and seeds 1-4, simulated, replayed through the
# tracker and zones, and scored with `aisle eval`. Prints a Markdown table; asserts nothing (the
# committed seeds are asserted by tests/simulate.rs). Needs a built binary: AISLE_BIN (default
# target/release/aisle).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AISLE=${AISLE_BIN:-$ROOT/target/release/aisle}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "| scenario | seed | door in error | door out error | worst wait p90 error | occupancy MAE | alerts (true / matched / false) | marks missed |"
echo "|---|---|---|---|---|---|---|---|"
for scenario in "$ROOT"/firmware-config/scenarios/*.toml; do
  name=$(basename "$scenario" .toml)
  own=$(sed -n 's/^seed = //p' "$scenario")
  for seed in "$own" 1 2 3 4; do
    dir="$WORK/$name-$seed"
    mkdir -p "$dir"
    sed -e "s/^seed = .*/seed = $seed/" \
        -e "s#^config = .*#config = \"$ROOT/firmware-config/sim-store.toml\"#" "$scenario" > "$dir/scenario.toml"
    "$AISLE" simulate --scenario "$dir/scenario.toml" --out "$dir" 2>/dev/null
    "$AISLE" replay --config "$ROOT/firmware-config/sim-store.toml" --detections "$dir/detections.txt" \
      --fps "$(sed -n 's/^fps = //p' "$scenario")" \
      --size "$(sed -n 's/^size = \[\([0-9]*\), \([0-9]*\)\]/\1x\2/p' "$scenario")" \
      > "$dir/events.jsonl" 2>/dev/null
    "$AISLE" eval --json --truth "$dir/truth.json" --events "$dir/events.jsonl" > "$dir/report.json"
    /usr/bin/python3 - "$name" "$seed" "$dir/report.json" <<'PY'
import json, sys
name, seed, path = sys.argv[1:]
r = json.load(open(path))
pct = lambda v: "-" if v is None else f"{100 * v:.1f} %"
door = r["lines"][0] if r["lines"] else {"in_error": None, "out_error": None}
p90 = [q["wait_p90_error"] for q in r["queues"] if q["wait_p90_error"] is not None]
mae = max((o["mae"] for o in r["occupancy"]), default=0.0)
a = r["alerts"]
print(f"| {name} | {seed} | {pct(door['in_error'])} | {pct(door['out_error'])} | "
      f"{pct(max(p90) if p90 else None)} | {mae:.2f} | {a['true_alerts']} / {len(a['delays_s'])} / "
      f"{len(a['false_alerts'])} | {len(r['failures'])} |")
PY
  done
done
