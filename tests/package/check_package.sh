#!/usr/bin/env bash
# Installs flashjit from a build folder into a temporary prefix, builds tests/package (the README's example
# program) against the installed package, and runs it: on a GPU it must PASS; without one it must say so
# in one line and exit with status 2.
#   check_package.sh BUILD_DIR [OUTPUT_BINARY]
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/flashjit-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/flashjit/flashjit.h"
test -f "$work/prefix/lib/cmake/flashjit/flashjitConfig.cmake"
cmake -S "$here" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCUDAToolkit_ROOT="${CUDA_HOME:-/usr/local/cuda}" >/dev/null
cmake --build "$work/build" >/dev/null
if [ $# -ge 2 ]; then cp "$work/build/flashjit-example" "$2"; fi
status=0
output=$("$work/build/flashjit-example" 2>&1) || status=$?
echo "$output"
case $status in
  0) grep -q ": PASS$" <<<"$output" ;;
  2) grep -q "^example: no CUDA driver\|^example: the CUDA driver" <<<"$output" ;;
  *) exit 1 ;;
esac
