#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, then formatting, lints, the
# dependency audit, the nokhwa build, unit and integration tests against the real GStreamer, ONNX
# Runtime, model and mosquitto, the parsers fuzzed, the benchmarks, the tracker side by side with ByteTrack (asserted), the aarch64 cross
# build with its qemu smoke test, and the .deb packages (contents, and a real install/upgrade).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/setup.sh
echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy (default and nokhwa features)" >&2
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo clippy --locked --all-targets --features fault-injection -- -D warnings
cargo clippy --locked --all-targets --features nokhwa -- -D warnings
echo "== dependency audit: cargo deny (advisories from the dated RustSec copy, licences, bans, sources)" >&2
scripts/audit.sh 2>&1 | grep -E '^(error|advisories|bans|licenses|sources|audit:)|ID:|reason'
echo "== cargo test" >&2
cargo test --locked --all-targets --features fault-injection
echo "== the fleet hub against mosquitto and PostgreSQL (hub/tests)" >&2
cargo test --locked -p aisle-hub --all-targets
echo "== fuzzing every parser of outside input, 30 s a target (tests/fuzz.rs)" >&2
AISLE_FUZZ_SECONDS=30 cargo test --locked --features fault-injection --test fuzz -- --nocapture 2>&1 | grep -E 'inputs in|test result|panicked'
echo "== benches (quick mode)" >&2
cargo bench --locked --bench preprocess --bench decode --bench analytics --bench outbox --bench shelf -- --warm-up-time 0.5 --measurement-time 1 --noplot 2>&1 | grep -E '^[a-z].*|time:|thrpt:'
echo "== end-to-end benchmark (quick mode): pipeline vs bare ONNX Runtime" >&2
cargo bench --locked --bench e2e -- --frames 100 --threads 2 --seconds 15
cargo build --locked --release --bin aisle
cargo build --locked --release -p aisle-hub --bin aisle-hub
echo "== tracker side by side with ByteTrack on TUD-Campus, TUD-Stadtmitte, MOT16-02, MOT16-04 and Venice-2 (fails if aisle's best trails ByteTrack's best by > 0.01 MOTA/IDF1, or tracked occupancy is no better than counting boxes)" >&2
scripts/eval-tracker.sh --check
echo "== person detection on TUD-Campus (aisle eval detect; fails if the default's AP50 drops > 0.02)" >&2
scripts/eval-detect.sh --aspects --check docs/models.md
echo "== the person models' accuracy-per-millisecond frontier, fp32 and int8 (fails if the int8 default loses > 0.01 AP50 to fp32)" >&2
scripts/eval-frontier.sh --check --rounds 1
echo "== simulated store days over seeds (aisle simulate/eval; reported, not asserted)" >&2
scripts/eval-sim.sh
echo "== aarch64: cross build, and the qemu smoke test against the x86-64 build" >&2
cross/build-aarch64.sh
cross/smoke-aarch64.sh
ARM_BIN=target/cross/aarch64-unknown-linux-gnu/release/aisle
echo "== packages: build, check contents, install/upgrade/purge on this machine" >&2
amd64=$(cross/package-deb.sh amd64 target/release/aisle .deps/onnxruntime/libonnxruntime.so)
arm64=$(cross/package-deb.sh arm64 "$ARM_BIN" .deps/cross/onnxruntime-arm64/libonnxruntime.so)
cross/check-deb.sh "$amd64" amd64
cross/check-deb.sh "$arm64" arm64
cross/upgrade-test.sh "$amd64"
hub_amd64=$(cross/package-hub-deb.sh amd64 target/release/aisle-hub)
hub_arm64=$(cross/package-hub-deb.sh arm64 target/cross/aarch64-unknown-linux-gnu/release/aisle-hub)
cross/hub-deb-test.sh "$hub_arm64" arm64
cross/hub-deb-test.sh "$hub_amd64" amd64 install
echo "aarch64 binary: $(du -h "$ARM_BIN" | cut -f1) ($(aarch64-linux-gnu-strip --strip-debug -o /tmp/aisle-arm64-stripped "$ARM_BIN" && du -h /tmp/aisle-arm64-stripped | cut -f1) stripped)" >&2
systemd-analyze security --offline=yes systemd/aisle.service 2>&1 | grep 'Overall exposure' >&2
