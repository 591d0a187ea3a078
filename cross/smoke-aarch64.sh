#!/usr/bin/env bash
# The aarch64 build's smoke test: `aisle detect` on a clip of the demo video under qemu-user (10.x) with the
# arm64 GStreamer and ONNX Runtime libraries must find the same people as the x86-64 build:
# same frames, same number of detections, scores within 0.02 and boxes within 2 px. Then the shelf
# classifier must read held-out cells exactly as on x86-64.
# Run cross/build-aarch64.sh first (CI does).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ARM_BIN=target/cross/aarch64-unknown-linux-gnu/release/aisle
ARM_ORT=.deps/cross/onnxruntime-arm64/libonnxruntime.so
X86_BIN=${X86_BIN:-target/release/aisle}
[ -x "$X86_BIN" ] || cargo build --locked --release --bin aisle
OUT=target/cross/smoke
mkdir -p "$OUT"
# A short clip: the first 4 s of the demo video as MJPEG (emulated MPEG-4 decoding of the whole
# video would take minutes under qemu).
CLIP="$OUT/clip.avi"
if [ ! -s "$CLIP" ]; then
  gst-launch-1.0 -q filesrc location=.deps/data/vtest.avi ! decodebin ! videoconvert \
    ! video/x-raw,format=I420 ! identity eos-after=40 ! jpegenc quality=95 ! avimux \
    ! filesink location="$CLIP"
fi
ARGS=(detect "$CLIP" --every 10 --threads 2 --score 0.35)

# Each person model the package may run: the default (int8) and its fp32 twin. fp32 must match
# x86-64 closely (scores within 0.02, boxes within 2 px). int8 kernels differ by instruction set
# (x86-64 VNNI, aarch64 dot product) and round differently by up to a step of the output's scale:
# scores within 0.03 and boxes within 4 px, and a box may be found on one side only when it
# scores within 0.05 of the threshold. Wall time under qemu is printed, not a silicon figure: TCG
# emulates float vector code far more slowly than integer code.
for model in manifest-int8.toml manifest.toml; do
  tag=${model%.toml}
  "$X86_BIN" "${ARGS[@]}" --model "models/nanodet-m-416/$model" > "$OUT/x86_64-$tag.jsonl"
  # The arm64 plugin scanner is an ARM binary the kernel cannot run here: scan in-process, into a
  # registry of its own.
  start=$(date +%s.%N)
  GST_REGISTRY_FORK=no GST_REGISTRY="$ROOT/$OUT/gst-registry-arm64.bin" \
    qemu-aarch64-static -L / "$ARM_BIN" "${ARGS[@]}" --ort-library "$ARM_ORT" \
    --model "models/nanodet-m-416/$model" \
    > "$OUT/aarch64-$tag.jsonl" 2> "$OUT/aarch64-$tag.stderr" || { cat "$OUT/aarch64-$tag.stderr" >&2; exit 1; }
  seconds=$(echo "$(date +%s.%N) - $start" | bc)
  python3 - "$OUT/x86_64-$tag.jsonl" "$OUT/aarch64-$tag.jsonl" "$tag" "$seconds" <<'PY'
import json, sys
x86 = [json.loads(l) for l in open(sys.argv[1])]
arm = [json.loads(l) for l in open(sys.argv[2])]
tag, seconds = sys.argv[3], float(sys.argv[4])
int8 = "int8" in tag
score_tol, box_tol, edge = (0.03, 4.0, 0.05) if int8 else (0.02, 2.0, 0.0)
threshold = 0.35
assert len(x86) == len(arm) and x86, f"{len(x86)} x86 lines, {len(arm)} arm lines"
worst_score = worst_box = 0.0
people = 0
def gap(p, q):
    return max(abs(u - v) for u, v in zip(p["box"], q["box"]))
for a, b in zip(x86, arm):
    assert a["frame"] == b["frame"], (a["frame"], b["frame"])
    for mine, theirs in ((a["detections"], b["detections"]), (b["detections"], a["detections"])):
        for p in mine:
            q = min(theirs, key=lambda q: gap(p, q), default=None)
            if q is None or gap(p, q) > box_tol or q["label"] != p["label"]:
                assert p["score"] < threshold + edge, f"frame {a['frame']}: {p} found on one side only"
                continue
            worst_score = max(worst_score, abs(p["score"] - q["score"]))
            worst_box = max(worst_box, gap(p, q))
            people += 1
assert worst_score <= score_tol, (tag, worst_score)
print(f"smoke: {tag}: aarch64 matches x86_64 on {len(x86)} frames, {people // 2} detections; "
      f"max score diff {worst_score:.4f}, max box diff {worst_box:.2f} px; {seconds:.0f} s under qemu")
PY
done

# The shelf classifier on the same held-out cells: the same reading of every cell on both.
CELLS="$OUT/shelf-cells"
rm -rf "$CELLS"
.deps/shelf-venv/bin/python models/shelf/synth.py --split test --n 120 --out "$CELLS"
"$X86_BIN" shelf eval --cells "$CELLS" > "$OUT/shelf-x86_64.json"
ORT_DYLIB_PATH="$ROOT/$ARM_ORT" qemu-aarch64-static -L / "$ARM_BIN" shelf eval --cells "$CELLS" \
  --model models/shelf/manifest.toml \
  > "$OUT/shelf-aarch64.json" 2> "$OUT/shelf-aarch64.stderr" || { cat "$OUT/shelf-aarch64.stderr" >&2; exit 1; }
python3 - "$OUT/shelf-x86_64.json" "$OUT/shelf-aarch64.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["confusion"] == b["confusion"], (a["confusion"], b["confusion"])
print(f"smoke: aarch64 shelf classifier reads {b['cells']} cells as x86_64 does "
      f"(accuracy {b['accuracy']:.3f}; {b['ms_per_cell_single']:.1f} ms a cell under qemu)")
PY
