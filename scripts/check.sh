#!/usr/bin/env bash
# Exactly what CI runs (.ci/run calls this). Run it before you push.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== fmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests (the README's test command)"
cargo test --workspace
echo "== docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
echo "== demo smoke run"
cargo run --release --locked -q -- demo matmul --parties 3
