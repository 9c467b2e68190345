#!/usr/bin/env bash
# GPU machine: each configuration timed without and with one more `flashjit bench` option ($FLAG, such as
# --conditional-rescale or --persistent), interleaved over ROUNDS rounds (default 3), on the papers' grid
# (16k tokens, hidden 2048, bf16) at each seqlen of $SEQLENS (default "2048 4096"), for the masks in
# $CAUSAL (default "none bottom_right"), from .bundle/flashjit-gpu.tar.xz. $BENCH_ARGS (default
# "--back-to-back --warmup 300": the sustained regime the comparison and the autotuner time) go to every
# bench. One line per configuration, mask and seqlen: the TFLOP/s of each round without the option, then
# with it, and the ratio of the medians. $WITHOUT_ENV (such as FLASHJIT_SPLIT_TAIL=0): environment
# assignments for the runs without; with it, FLAG may be empty (an A/B of the environment alone).
#   usage: FLAG=--conditional-rescale scripts/gpu-flag-ab.sh "HEAD_DIM OPTIONS..." ...
#          WITHOUT_ENV=FLASHJIT_SPLIT_TAIL=0 FLAG= scripts/gpu-flag-ab.sh "HEAD_DIM OPTIONS..." ...
#   e.g.   FLAG=--persistent scripts/gpu-flag-ab.sh "128 --block-m 128 --block-n 192 --warps 8 --tma \
#            --warp-specialized --wg-overlap"
set -uo pipefail
cd "$(dirname "$0")/.."
flag=${FLAG-}
[ -n "$flag" ] || [ -n "${WITHOUT_ENV:-}" ] || { echo "FLAG (or WITHOUT_ENV) names what to compare"; exit 2; }
source scripts/gpu-unpack.sh   # out, work, bin; a cold kernel cache
median() {
  tr ' ' '\n' | grep . | sort -g |
    awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
# TFLOP/s of one bench of head dim $d under mask $causal on $shape, with the options given.
tflops() {
  env $runEnv "$bin/flashjit" bench --head-dim "$d" "$@" --causal "$causal" $shape ${BENCH_ARGS:---back-to-back --warmup 300} |
    grep -oE "[0-9.]+ TFLOP/s" | cut -d' ' -f1
}
for cfg in "$@"; do
  set -- $cfg
  d=$1
  shift
  for causal in ${CAUSAL:-none bottom_right}; do
    for s in ${SEQLENS:-2048 4096}; do
      shape="--seqlen-q $s --seqlen-k $s --batch $((16384 / s)) --heads $((2048 / d))"
      without="" with=""
      for round in $(seq "${ROUNDS:-3}"); do
        without+=" $(runEnv=${WITHOUT_ENV:-} tflops "$@")"
        with+=" $(runEnv= tflops "$@" $flag)"
      done
      ratio=$(awk -v a="$(echo "$with" | median)" -v b="$(echo "$without" | median)" \
                'BEGIN {printf "%.3f", b ? a / b : 0}')
      echo "d$d $* $causal s$s: without$without | with$with | with/without $ratio"
    done
  done
done
