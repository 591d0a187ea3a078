#!/usr/bin/env bash
# The demo: installs what is missing, builds, and runs the agent on the bundled pedestrian video
# with the default model, publishing summaries over mutual TLS to a local mosquitto that a
# subscriber (mosquitto_sub, also over TLS) prints.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/setup.sh
cargo build --release --locked --quiet
AISLE=./target/release/aisle
DEMO=.deps/demo
PKI=$DEMO/pki
PORT=${AISLE_DEMO_PORT:-18883}

echo "demo: people detected in .deps/data/vtest.avi (one JSON line per second of video):" >&2
$AISLE detect .deps/data/vtest.avi --every 10
$AISLE check-config firmware-config/demo.toml

echo "demo: store analytics on the same video, replayed on its own clock (summaries every 10 s of video, alerts):" >&2
$AISLE replay --config firmware-config/vtest-store.toml --input .deps/data/vtest.avi

echo "demo: the agent live, publishing to a local broker on 127.0.0.1:$PORT over mutual TLS" >&2
mkdir -p "$DEMO"
cat > "$DEMO/mosquitto.conf" <<CONF
per_listener_settings false
user $(id -un)
persistence false
log_dest none
allow_anonymous true
listener $PORT 127.0.0.1
cafile $ROOT/$PKI/ca.crt
certfile $ROOT/$PKI/server.crt
keyfile $ROOT/$PKI/server.key
require_certificate true
CONF
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
/usr/sbin/mosquitto -c "$DEMO/mosquitto.conf" & pids+=($!)
sleep 0.5
TLS=(--cafile "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key")
mosquitto_sub -h localhost -p "$PORT" "${TLS[@]}" -q 1 -v -t 'aisle/#' > "$DEMO/received.txt" & pids+=($!)
sleep 0.5
AISLE_MQTT__PORT=$PORT AISLE_CAMERAS__0__EVERY=2 $AISLE run --config firmware-config/demo.toml
sleep 1
echo "demo: what mosquitto_sub received over TLS (topic, then the JSON payload):" >&2
cat "$DEMO/received.txt"
echo "demo: $(grep -c '/summary/' "$DEMO/received.txt") summaries, $(grep -c '/alert ' "$DEMO/received.txt" || true) alerts, $(grep -c '/health ' "$DEMO/received.txt" || true) health events received" >&2
