#!/usr/bin/env bash
# GPU machine: autotuning and benchmarks from .bundle/flashjit-gpu.tar.xz (scripts/gpu-pack.sh). Writes to
# $OUT (or gpu-out/): tune.txt (one spec tuned from a cold cache, then again from a second process),
# bench-grid.json/.txt (flashjit bench --grid), compare-torch.json/.png/.txt (benchmarks/compare_torch.py:
# flashjit against torch SDPA's FlashAttention-2 and cuDNN backends in one process).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu-unpack.sh   # out, work, bin; a cold kernel cache
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
