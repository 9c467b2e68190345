#!/usr/bin/env bash
# GPU machine: an A/B of one compiler switch given by environment ($AB_ENV, e.g. "FLASHJIT_X=1": the B
# side), interleaved (ROUNDS rounds, default 2), for the configurations in $CONFIGS (";"-separated, each
# "head_dim flashjit-bench-options"), on the papers' grid (16k tokens, hidden 2048, bf16) at each seqlen of
# $SEQLENS (default "1024 2048 4096 8192"), for each causal mode of $CAUSAL (default "none top_left").
# A and B compile into kernel caches of their own. One line per configuration, mode and seqlen: the TFLOP/s
# of each round, A then B.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu-unpack.sh   # out, work, bin; a cold kernel cache
IFS=';' read -ra configs <<< "${CONFIGS:?}"
tflops() { grep -oE "[0-9.]+ TFLOP/s" | cut -d' ' -f1; }
for cfg in "${configs[@]}"; do
  set -- $cfg
  d=$1
  shift
  for causal in ${CAUSAL:-none top_left}; do
    for s in ${SEQLENS:-1024 2048 4096 8192}; do
      shape="--seqlen-q $s --seqlen-k $s --batch $((16384 / s)) --heads $((2048 / d)) --repeats 50"
      a="" b=""
      for round in $(seq "${ROUNDS:-2}"); do
        a+=" $(FLASHJIT_CACHE_DIR=$work/cache-a "$bin/flashjit" bench --head-dim "$d" "$@" --causal "$causal" $shape | tflops)"
        b+=" $(env $AB_ENV FLASHJIT_CACHE_DIR=$work/cache-b "$bin/flashjit" bench --head-dim "$d" "$@" --causal "$causal" $shape | tflops)"
      done
      echo "d$d $* $causal s$s: A$a | B$b"
    done
  done
done | tee "$out/env-ab.txt"
