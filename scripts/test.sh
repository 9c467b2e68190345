#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds, then one CTest run covering the lit tests
# (dialect, tools), the GoogleTest unit tests and the check that libflashjit is self-contained.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
ctest --test-dir "${FLASHJIT_BUILD_DIR:-build}" --output-on-failure
