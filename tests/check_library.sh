#!/usr/bin/env bash
# Checks that libflashjit is self-contained: it depends only on system libraries (no LLVM, MLIR, z3,
# zstd or CUDA), and its dynamic symbol table exports only flashjit's own API.
set -euo pipefail
lib=$1

deps=$(ldd "$lib" | awk '{print $1}')
echo "dependencies of $(basename "$lib"):"; echo "$deps" | sed 's/^/  /'
allowed='^(linux-vdso\.so\.1|/lib64/ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1)$'
bad=$(echo "$deps" | grep -Ev "$allowed" || true)
if [ -n "$bad" ]; then
  echo "FAIL: libflashjit depends on non-system libraries:"; echo "$bad"; exit 1
fi

exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | c++filt)
count=$(echo "$exported" | grep -c . || true)
foreign=$(echo "$exported" | grep -Ev '^(flashjit::|flashjit_|typeinfo for flashjit::|typeinfo name for flashjit::|vtable for flashjit::)' || true)
echo "exported symbols: $count"
if [ -n "$foreign" ]; then
  echo "FAIL: libflashjit exports symbols that are not flashjit's API:"; echo "$foreign" | head -20; exit 1
fi
if ! echo "$exported" | grep -q '^flashjit::attentionIR'; then
  echo "FAIL: flashjit::attentionIR is not exported"; exit 1
fi
echo "OK: self-contained, exports only flashjit's API"
