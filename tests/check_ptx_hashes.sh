#!/usr/bin/env bash
# Compiles a tuning space with `flashjit kernels ARGS...` (which fails on ptxas errors, spills or warnings)
# and compares the SHA-256 of every kernel's PTX with the list committed in HASHES: a change of the lowering
# that is meant to keep the kernels as they are keeps their PTX byte-identical.
# Usage: check_ptx_hashes.sh FLASHJIT HASHES ARGS...
# With FLASHJIT_UPDATE_PTX_HASHES=1 the list is written instead of compared (for a change that is meant to
# change kernels: name them, and show their GPU A/B, in the commit).
set -euo pipefail
flashjit=$1 hashes=$2
shift 2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$flashjit" kernels --no-gpu "$@" --ptx-dir "$dir/ptx"
(cd "$dir/ptx" && sha256sum -- *.ptx | LC_ALL=C sort -k 2) > "$dir/hashes"
if [ "${FLASHJIT_UPDATE_PTX_HASHES:-0}" = 1 ]; then
  cp "$dir/hashes" "$hashes"
  echo "wrote $(wc -l < "$hashes") hashes to $hashes"
  exit 0
fi
if ! diff -u "$hashes" "$dir/hashes" > "$dir/diff"; then
  echo "PTX differs from $hashes (- committed, + now):"
  cat "$dir/diff"
  echo "$(grep -c '^+[0-9a-f]' "$dir/diff" || true) kernels changed or added, $(grep -c '^-[0-9a-f]' "$dir/diff" || true) changed or gone"
  exit 1
fi
echo "PTX of $(wc -l < "$hashes") kernels identical to $hashes"
