#!/usr/bin/env bash
# GPU machine: benchmarks/compare_torch.py (flashjit against torch SDPA's FlashAttention-2 and cuDNN
# backends in one process) from .bundle/flashjit-gpu.tar.xz, for the head dims in $HEAD_DIMS (default
# "64,128"; both fit a 10-minute run with autotuning: 478 s on the H100) at the seqlens in $SEQLENS (default
# 512,1024,2048,4096,8192,16384), the masks in $MASKS (default "none,causal"), $ROUNDS timing rounds a point
# (default 3; the median is reported), as a user runs it: each shape autotuned
# at its first call (FLASHJIT_TUNE=0: the default configurations), with the driver's JIT cache on so that
# a configuration compiles once for all the shapes it is timed on. Writes to $OUT (or gpu-out/):
# compare-torch-d<dims>.{txt,json,png} and tuning-d<dims>.tar.gz (the autotuner's stored results: every
# candidate's time and the winner per shape).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu-unpack.sh   # out, work, bin; a cold kernel cache
export CUDA_CACHE_DISABLE=0 CUDA_CACHE_PATH=$work/nv-cache CUDA_CACHE_MAXSIZE=4294967296
dims=${HEAD_DIMS:-64,128}
name=d${dims//,/-}
python3 benchmarks/compare_torch.py --lib "$(ls "$work"/flashjit/lib/libflashjit.so*)" --out "$work/compare" \
  --head-dims "$dims" --seqlens "${SEQLENS:-512,1024,2048,4096,8192,16384}" \
  --masks "${MASKS:-none,causal}" --rounds "${ROUNDS:-3}" > "$out/compare-torch-$name.txt" 2>&1
status=$?
cat "$out/compare-torch-$name.txt"
for ext in json png; do
  cp "$work/compare/compare-torch.$ext" "$out/compare-torch-$name.$ext" 2>/dev/null
done
[ -d "$FLASHJIT_CACHE_DIR/tuning" ] && tar -C "$FLASHJIT_CACHE_DIR" -czf "$out/tuning-$name.tar.gz" tuning
exit $status
