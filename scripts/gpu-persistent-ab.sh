#!/usr/bin/env bash
# GPU machine: persistent blocks against one block per tile, interleaved (ROUNDS rounds, default 3), for
# the Hopper path's FlashAttention-3 configurations, on the papers' grid (16k tokens, hidden 2048, bf16) at
# each seqlen of $SEQLENS (default "1024 2048 4096 16384"), causal off and on: scripts/gpu-flag-ab.sh with
# FLAG=--persistent (one line per configuration, mask and seqlen: one block per tile, then persistent), each
# launch waited for (BENCH_ARGS="--repeats 50", as its earlier results were timed).
set -uo pipefail
cd "$(dirname "$0")/.."
W="--tma --warp-specialized --wg-overlap"
export FLAG=--persistent SEQLENS=${SEQLENS:-1024 2048 4096 16384} BENCH_ARGS=${BENCH_ARGS:---repeats 50}
exec bash scripts/gpu-flag-ab.sh \
  "128 --block-m 128 --block-n 128 --warps 8 --stages 2 $W" "128 --block-m 128 --block-n 192 --warps 8 --stages 2 $W" \
  "64 --block-m 192 --block-n 128 --warps 12 --stages 2 $W"
