#!/usr/bin/env bash
# GPU machine: autotuning and benchmarks from .bundle/flashjit-gpu.tar.xz (scripts/gpu-pack.sh). Writes to
# $OUT (or gpu-out/): tune.txt (one spec tuned from a cold cache, then again from a second process),
# bench-grid.json/.txt (flashjit bench --grid), compare-torch.json/.png/.txt (benchmarks/compare_torch.py:
# flashjit against torch SDPA's FlashAttention-2 and cuDNN backends in one process).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-out}
mkdir -p "$out"
work=$(mktemp -d /tmp/flashjit-bench.XXXXXX)
tar -C "$work" -xJf .bundle/flashjit-gpu.tar.xz || { echo "gpu-bench: cannot unpack the bundle"; exit 1; }
bin=$work/flashjit/bin
export FLASHJIT_CACHE_DIR=$work/cache   # cold: every kernel compiled, every spec tuned in this run
export CUDA_CACHE_DISABLE=1
failed=0
{
  echo "=== flashjit tune (cold cache)"
  start=$(date +%s%N)
  "$bin/flashjit" tune --head-dim 128 --seqlen-q 4096 --seqlen-k 4096 --batch 4 || failed=$((failed + 1))
  echo "process wall time: $((($(date +%s%N) - start) / 1000000)) ms"
  echo "=== flashjit tune again (a second process: the stored result, no tuning)"
  start=$(date +%s%N)
  "$bin/flashjit" tune --head-dim 128 --seqlen-q 4096 --seqlen-k 4096 --batch 4 || failed=$((failed + 1))
  echo "process wall time: $((($(date +%s%N) - start) / 1000000)) ms"
} > "$out/tune.txt" 2>&1
cat "$out/tune.txt"
"$bin/flashjit" bench --grid -o "$out/bench-grid.json" > "$out/bench-grid.txt" 2>&1 || failed=$((failed + 1))
cat "$out/bench-grid.txt"
python3 benchmarks/compare_torch.py --lib "$(ls "$work"/flashjit/lib/libflashjit.so*)" --out "$out" \
  > "$out/compare-torch.txt" 2>&1 || failed=$((failed + 1))
cat "$out/compare-torch.txt"
echo "gpu-bench: $failed steps failed"
exit $failed
