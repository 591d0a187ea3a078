#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, then formatting, lints, the
# nokhwa build, unit and integration tests against the real GStreamer, ONNX Runtime and model,
# and the benchmarks in quick mode (figures printed, nothing asserted).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/setup.sh
echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy (default and nokhwa features)" >&2
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --all-targets --features nokhwa -- -D warnings
echo "== cargo test" >&2
cargo test --locked --all-targets
echo "== benches (quick mode)" >&2
cargo bench --locked --bench preprocess --bench decode --bench analytics --bench outbox -- --warm-up-time 0.5 --measurement-time 1 --noplot 2>&1 | grep -E '^[a-z].*|time:|thrpt:'
echo "== end-to-end benchmark (quick mode): pipeline vs bare ONNX Runtime" >&2
cargo bench --locked --bench e2e -- --frames 100 --threads 2
