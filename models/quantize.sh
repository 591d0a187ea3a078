#!/usr/bin/env bash
# Static INT8 (QDQ) versions of the person models: for each models/NAME/manifest.toml,
# NAME-int8.onnx and manifest-int8.toml beside it (models/quantize.py says how and why).
# Calibration frames: one a second of the demo video (.deps/data/vtest.avi, from Debian's
# opencv-doc), never the evaluation footage. onnxruntime's quantization tools 1.31.1, the release
# the agent runs, from PyPI into .deps/model-build/quantize-venv.
#
#   models/quantize.sh [--install] [NAME…]
#
# Without --install the results land in .deps/model-build/int8/ and must detect exactly as the
# committed int8 models on the demo video (the check every model rebuild passes); --install
# replaces the committed files.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/models/human-models.sh"
install=""
if [ "${1:-}" = "--install" ]; then install=1; shift; fi
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(nanodet-m-416 movenet-multipose centernet-mbv3)
# A model that takes several input sizes is calibrated at the largest one the docs measure.
declare -A SIDE=([movenet-multipose]=384)

VENV="$MODEL_BUILD/quantize-venv"
OUT="$MODEL_BUILD/int8"
FRAMES="$OUT/frames"
mkdir -p "$OUT"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check onnxruntime==1.31.1 \
    onnx==1.23.2 numpy==2.4.6 pillow==13.0.0 protobuf==7.36.2 flatbuffers==25.12.19 \
    ml_dtypes==0.7.0 packaging==26.4 typing_extensions==4.16.0
fi
"$ROOT/scripts/setup.sh" >/dev/null
if [ ! -s "$FRAMES/000.png" ]; then
  mkdir -p "$FRAMES"
  gst-launch-1.0 -q filesrc location="$ROOT/.deps/data/vtest.avi" ! decodebin ! videoconvert \
    ! videorate ! video/x-raw,framerate=1/1 ! videoconvert ! video/x-raw,format=RGB ! pngenc \
    ! multifilesink location="$FRAMES/%03d.png"
fi

for name in "${names[@]}"; do
  dir="$ROOT/models/$name" work="$OUT/$name"
  mkdir -p "$work"
  "$VENV/bin/python" "$ROOT/models/quantize.py" "$dir/manifest.toml" "$FRAMES" \
    "$work/$name-int8.onnx" ${SIDE[$name]:-} 2> >(grep -v -e '^\s*$' -e 'W:onnxruntime' -e 'consider.*pre-processing' >&2)
  sha=$(sha256sum "$work/$name-int8.onnx" | cut -d' ' -f1)
  {
    echo "# INT8 (static QDQ) version of $name, made by models/quantize.sh from the model and"
    echo "# manifest beside it (same input, decoder and score scale). docs/models.md measures it."
    sed -E -e '/^#/d' -e "0,/^name = .*/s//name = \"$name-int8\"/" \
      -e "s/^onnx = .*/onnx = \"$name-int8.onnx\"/" -e "s/^sha256 = .*/sha256 = \"$sha\"/" \
      "$dir/manifest.toml"
  } > "$work/manifest-int8.toml"
  if [ -n "$install" ]; then
    cp "$work/$name-int8.onnx" "$work/manifest-int8.toml" "$dir/"
    echo "installed $name-int8 into $dir"
  else
    same_detections "$dir/manifest-int8.toml" "$work/manifest-int8.toml"
  fi
done
