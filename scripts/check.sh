#!/usr/bin/env bash
# Exactly what CI runs: the same script. Run it before you push.
set -euo pipefail
exec bash "$(dirname "$0")/../.ci/run"
