#!/usr/bin/env bash
# Build machine half of a GPU run: builds, then packs libflashjit, the flashjit tool, the GPU check and the
# README's example program (built against the installed package) into .bundle/flashjit-gpu.tar.xz
# (git-ignored). Send .bundle with the checkout and run scripts/gpu-run.sh on the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
rm -rf .bundle
mkdir -p .bundle/flashjit/bin .bundle/flashjit/lib
soname=$(objdump -p build/lib/libflashjit.so | awk '/SONAME/ {print $2}')
cp -L build/lib/libflashjit.so ".bundle/flashjit/lib/$soname"
cp build/bin/flashjit build/bin/flashjit-gpu-check .bundle/flashjit/bin/
bash tests/package/check_package.sh build .bundle/flashjit/bin/flashjit-example >/dev/null
strip --strip-unneeded ".bundle/flashjit/lib/$soname" .bundle/flashjit/bin/*
tar -C .bundle -cf - flashjit | xz -T2 -6 > .bundle/flashjit-gpu.tar.xz
rm -rf .bundle/flashjit
ls -l .bundle/flashjit-gpu.tar.xz
