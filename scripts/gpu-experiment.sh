#!/usr/bin/env bash
set -u
# GPU machine: unpack .bundle/flashjit-gpu.tar.xz and check + time head-dim-128 configurations with two row
# groups per warp against the best one-group one (results: benchmarks/results/h100-d128-two-row-groups.txt).
cd "$(dirname "$0")/.."
source scripts/gpu-unpack.sh   # out, work, bin; a cold kernel cache
for cfg in "--block-m 128 --warps 4 --block-n 16 --stages 3" "--block-m 128 --warps 4 --block-n 16 --stages 4" "--block-m 128 --warps 4 --block-n 32 --stages 2" "--block-m 128 --warps 4 --block-n 32 --stages 3" "--block-m 128 --warps 4 --block-n 64 --stages 2" "--block-m 128 --warps 8 --block-n 64 --stages 2"; do
  for causal in none bottom_right; do
    echo "== d128 $causal $cfg"
    $bin/flashjit run --head-dim 128 --causal $causal $cfg --batch 2 --heads 3 --seqlen-q 700 --seqlen-k 333 --layout BHSD | grep -E "PASS|FAIL|relative"
    $bin/flashjit bench --head-dim 128 --causal $causal $cfg --seqlen-q 4096 --seqlen-k 4096 | grep median
  done
done
