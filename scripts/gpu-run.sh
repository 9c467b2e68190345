#!/usr/bin/env bash
# GPU machine half of a GPU run: unpacks .bundle/flashjit-gpu.tar.xz, runs the main job and the GPU
# correctness check, and writes the reports to $OUT (or gpu-out/). Arguments go to flashjit-gpu-check.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-out}
mkdir -p "$out"
work=$(mktemp -d /tmp/flashjit-gpu.XXXXXX)
tar -C "$work" -xJf .bundle/flashjit-gpu.tar.xz || { echo "gpu-run: cannot unpack the bundle"; exit 1; }
bin=$work/flashjit/bin
export FLASHJIT_CACHE_DIR=$work/cache   # a fresh kernel cache for this run
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv \
  > "$out/nvidia-smi.txt" 2>&1
cat "$out/nvidia-smi.txt"
chip=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1 | tr -d '.' | sed 's/^/sm_/')
"$bin/flashjit" info 2>&1 | tee "$out/info.txt"
"$bin/flashjit" kernels --chip "$chip" 2>&1 | tee "$out/kernels.txt"
"$bin/flashjit-gpu-check" --report "$out/gpu-report.json" "$@" 2>&1 | tee "$out/gpu-check.log"
exit "${PIPESTATUS[0]}"
