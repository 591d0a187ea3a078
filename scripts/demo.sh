#!/usr/bin/env bash
# The demo: installs what is missing, builds, and runs the agent on the bundled pedestrian video
# with the default model, publishing summaries over mutual TLS to a local mosquitto that a
# subscriber (mosquitto_sub, also over TLS) prints and the fleet hub (aisle-hub, with a local
# PostgreSQL) stores and shows on its pages. Interactive runs keep the hub up until Enter.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/setup.sh
cargo build --release --locked --quiet -p aisle -p aisle-hub
AISLE=./target/release/aisle
HUB=./target/release/aisle-hub
DEMO=.deps/demo
PKI=$DEMO/pki
PORT=${AISLE_DEMO_PORT:-18883}
PG_PORT=${AISLE_DEMO_PG_PORT:-15432}
WEB_PORT=${AISLE_DEMO_WEB_PORT:-18443}

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
max_queued_messages 100000
CONF
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  scripts/pg-local.sh stop "$DEMO/pg"
}
trap cleanup EXIT
/usr/sbin/mosquitto -c "$DEMO/mosquitto.conf" & pids+=($!)
sleep 0.5
TLS=(--cafile "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key")

echo "demo: the fleet hub: PostgreSQL on 127.0.0.1:$PG_PORT, pages on https://localhost:$WEB_PORT/" >&2
rm -rf "$DEMO/pg"
PG_URL=$(scripts/pg-local.sh start "$DEMO/pg" "$PG_PORT")
cat > "$DEMO/hub.toml" <<CONF
[mqtt]
host = "localhost"
port = $PORT
ca_file = "$ROOT/$PKI/ca.crt"
client_cert = "$ROOT/$PKI/client.crt"
client_key = "$ROOT/$PKI/client.key"
client_id = "demo-hub-1"

[database]
url = "$PG_URL"

[web]
listen = "127.0.0.1:$WEB_PORT"
cert_file = "$ROOT/$PKI/server.crt"
key_file = "$ROOT/$PKI/server.key"
CONF
[ -s "$DEMO/hub-password" ] || openssl rand -hex 8 > "$DEMO/hub-password"
HUB_PASSWORD=$(cat "$DEMO/hub-password")
$HUB user-add --config "$DEMO/hub.toml" demo --role fleet-admin <<< "$HUB_PASSWORD" >/dev/null
RUST_LOG=warn $HUB serve --config "$DEMO/hub.toml" & pids+=($!)
sleep 1
mosquitto_sub -h localhost -p "$PORT" "${TLS[@]}" -q 1 -v -t 'aisle/#' > "$DEMO/received.txt" & pids+=($!)
sleep 0.5
# Paced in real time like a camera, so summaries come every 10 s and the kiosk's queue rule has
# time to fire; a camera never ends, so the agent is stopped (SIGINT, a clean stop that sends the
# last partial summary) after the video's 80 s.
echo "demo: the agent watches the video as a live camera for 85 s" >&2
AISLE_MQTT__PORT=$PORT AISLE_CAMERAS__0__EVERY=2 \
  AISLE_CAMERAS__0__URI="pipeline:filesrc location=$ROOT/.deps/data/vtest.avi ! decodebin ! identity sync=true" \
  timeout --signal=INT 85 $AISLE run --config firmware-config/demo.toml || [ $? -eq 124 ]
sleep 1
echo "demo: what mosquitto_sub received over TLS (topic, then the JSON payload):" >&2
cat "$DEMO/received.txt"
echo "demo: $(grep -c '/summary/' "$DEMO/received.txt") summaries, $(grep -c '/alert ' "$DEMO/received.txt" || true) alerts, $(grep -c '/health ' "$DEMO/received.txt" || true) health events received" >&2
sleep 1
echo "demo: what the hub stored: $(psql "$PG_URL" -Atc "SELECT count(*) FROM events") events, $(psql "$PG_URL" -Atc "SELECT count(*) FROM alerts") alerts, gateways: $(psql "$PG_URL" -Atc "SELECT string_agg(device_id || ' ' || CASE WHEN online THEN 'online' ELSE 'offline' END, ', ') FROM devices")" >&2
JAR=$DEMO/cookies
curl -s --cacert "$PKI/ca.crt" -c "$JAR" -o /dev/null -d name=demo --data-urlencode "password=$HUB_PASSWORD" "https://localhost:$WEB_PORT/login"
page=$(curl -s --cacert "$PKI/ca.crt" -b "$JAR" "https://localhost:$WEB_PORT/alerts")
echo "demo: the hub's alerts page lists $(grep -o 'class="sev [a-z]*"' <<< "$page" | wc -l) alerts (open and ended) for demo-store" >&2
echo "demo: open https://localhost:$WEB_PORT/ (certificate from $PKI/ca.crt) and log in as demo / $HUB_PASSWORD" >&2
if [ -t 0 ]; then
  read -r -p "demo: press Enter to stop the broker, the hub and PostgreSQL " _
fi
