#!/usr/bin/env bash
# The demo: installs what is missing, builds, and runs the agent's detector on the bundled
# pedestrian video with the default model, printing what it sees.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/setup.sh
cargo build --release --locked --quiet
echo "demo: people detected in .deps/data/vtest.avi (one JSON line per second of video):" >&2
./target/release/aisle detect .deps/data/vtest.avi --every 10
./target/release/aisle check-config firmware-config/demo.toml
echo "demo: store analytics on the same video (summaries every 10 s of video, alerts):" >&2
./target/release/aisle replay --config firmware-config/vtest-store.toml --input .deps/data/vtest.avi
