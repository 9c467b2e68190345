#!/usr/bin/env bash
# Configures and builds flashjit (libflashjit, flashjit, flashjit-opt, tests) into build/.
# FLASHJIT_BUILD_DIR and CMAKE_BUILD_TYPE override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FLASHJIT_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}" >/dev/null
cmake --build "$build"
