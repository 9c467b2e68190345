#!/usr/bin/env bash
# GPU machine: persistent blocks against one block per tile, interleaved (ROUNDS rounds, default 3), for
# the Hopper path's FlashAttention-3 configurations, on the papers' grid (16k tokens, hidden 2048, bf16) at
# each seqlen of $SEQLENS (default "1024 2048 4096 16384"), causal off and on. One line per configuration,
# causal mode and seqlen: the TFLOP/s of each round, one block per tile, then persistent.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu-unpack.sh   # out, work, bin; a cold kernel cache
W="--tma --warp-specialized --wg-overlap"
for cfg in "128 --block-m 128 --block-n 128 --warps 8 --stages 2 $W" "128 --block-m 128 --block-n 192 --warps 8 --stages 2 $W" \
           "64 --block-m 192 --block-n 128 --warps 12 --stages 2 $W"; do
  set -- $cfg
  d=$1
  shift
  for causal in ${CAUSAL:-none bottom_right}; do
    for s in ${SEQLENS:-1024 2048 4096 16384}; do
      shape="--seqlen-q $s --seqlen-k $s --batch $((16384 / s)) --heads $((2048 / d)) --repeats 50"
      grid="" persistent=""
      for round in $(seq "${ROUNDS:-3}"); do
        grid+=" $("$bin/flashjit" bench --head-dim "$d" "$@" --causal "$causal" $shape | grep -oE "[0-9.]+ TFLOP/s" | cut -d' ' -f1)"
        persistent+=" $("$bin/flashjit" bench --head-dim "$d" "$@" --persistent --causal "$causal" $shape | grep -oE "[0-9.]+ TFLOP/s" | cut -d' ' -f1)"
      done
      echo "d$d $* $causal s$s: grid$grid | persistent$persistent"
    done
  done
done
