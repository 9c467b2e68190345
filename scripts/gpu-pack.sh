#!/usr/bin/env bash
# Build machine half of a GPU run: builds, then packs libflashjit, the flashjit tool, the GPU check and the
# README's example program (built against the installed package) into .bundle/flashjit-gpu.tar.xz
# (git-ignored; other files in .bundle/, such as a baseline's bundle, stay). Send .bundle with the checkout
# and run scripts/gpu-run.sh on the GPU machine.
#   usage: [FLASHJIT_BUILD_DIR=build] [BUNDLE=.bundle/flashjit-gpu.tar.xz] scripts/gpu-pack.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FLASHJIT_BUILD_DIR:-build}
bundle=$(realpath -m "${BUNDLE:-.bundle/flashjit-gpu.tar.xz}")
bash scripts/build.sh >/dev/null
staging=$(mktemp -d /tmp/flashjit-pack.XXXXXX)
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/flashjit/bin" "$staging/flashjit/lib" "$(dirname "$bundle")"
soname=$(objdump -p "$build/lib/libflashjit.so" | awk '/SONAME/ {print $2}')
cp -L "$build/lib/libflashjit.so" "$staging/flashjit/lib/$soname"
cp "$build/bin/flashjit" "$build/bin/flashjit-gpu-check" "$staging/flashjit/bin/"
bash tests/package/check_package.sh "$build" "$staging/flashjit/bin/flashjit-example" >/dev/null
strip --strip-unneeded "$staging/flashjit/lib/$soname" "$staging"/flashjit/bin/*
tar -C "$staging" -cf - flashjit | xz -T2 -6 > "$bundle"
ls -l "$bundle"
