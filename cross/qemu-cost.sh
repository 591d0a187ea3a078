#!/usr/bin/env bash
# The aarch64 column of docs/models.md's frontier: every person model (fp32 and int8, at each
# input size measured there) timed by `aisle detect` on the smoke test's 4 s clip under
# qemu-user, relative to the fp32 NanoDet. Relative wall time under TCG only: it is not a silicon
# figure (TCG emulates float vector instructions far more slowly than integer ones, so int8's
# gain is overstated), and Debian's qemu has no instruction-counting plugin. Not run by CI (about
# 10 minutes); run cross/build-aarch64.sh and cross/smoke-aarch64.sh first.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ARM_BIN=target/cross/aarch64-unknown-linux-gnu/release/aisle
ARM_ORT=.deps/cross/onnxruntime-arm64/libonnxruntime.so
OUT=target/cross/smoke
[ -s "$OUT/clip.avi" ] || { echo "qemu-cost: run cross/smoke-aarch64.sh first" >&2; exit 1; }
base=""
printf '| model | precision | input | s under qemu (8 frames, 1 thread) | relative to fp32 NanoDet |\n|---|---|---|---|---|\n'
for spec in nanodet-m-416:manifest.toml:416 nanodet-m-416:manifest-int8.toml:416 \
  movenet-multipose:manifest.toml:256 movenet-multipose:manifest-int8.toml:256 \
  movenet-multipose:manifest.toml:384 movenet-multipose:manifest-int8.toml:384 \
  centernet-mbv3:manifest.toml:512 centernet-mbv3:manifest-int8.toml:512; do
  IFS=: read -r model manifest side <<< "$spec"
  m="$OUT/cost-$model-$side-$manifest"
  sed -E -e "s#^onnx = \"(.*)\"#onnx = \"$ROOT/models/$model/\1\"#" \
    -e "s/^width = .*/width = $side/" -e "s/^height = .*/height = $side/" \
    "models/$model/$manifest" > "$m"
  start=$(date +%s.%N)
  GST_REGISTRY_FORK=no GST_REGISTRY="$ROOT/$OUT/gst-registry-arm64.bin" \
    qemu-aarch64-static -L / "$ARM_BIN" detect "$OUT/clip.avi" --every 5 --threads 1 --lanes 1 \
    --model "$m" --ort-library "$ARM_ORT" > /dev/null 2>&1
  seconds=$(echo "$(date +%s.%N) - $start" | bc)
  [ -n "$base" ] || base=$seconds
  precision=fp32
  case "$manifest" in *int8*) precision=int8 ;; esac
  printf '| %s | %s | %s | %.0f | %.2f |\n' "$model" "$precision" "$side" "$seconds" \
    "$(echo "$seconds / $base" | bc -l)"
done
