#!/usr/bin/env bash
# Installs the `onnx` wheel (pinned) into a virtual environment in the cache and writes its
# backend node test cases for onnx/tests/node_conformance.rs. Prints the data folder.
# Cache: $UMBRA_CACHE (default ~/.cache/umbra). Needs PyPI; nothing is written in the repo.
set -euo pipefail
ONNX_VERSION=1.23.2
cache="${UMBRA_CACHE:-$HOME/.cache/umbra}"
venv="$cache/onnx-venv-$ONNX_VERSION"
data="$cache/onnx-node-$ONNX_VERSION"
if [ ! -f "$data/VERSION" ]; then
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install -q "onnx==$ONNX_VERSION" numpy >&2
    fi
    "$venv/bin/python" "$(dirname "$0")/onnx_node_tests.py" "$data.tmp" >&2
    rm -rf "$data" && mv "$data.tmp" "$data"
fi
echo "$data"
