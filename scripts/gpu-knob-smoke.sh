#!/usr/bin/env bash
# GPU machine (an H100): a fast first look at the sm_90a knobs before the long check. `flashjit run` of three
# wgmma configurations with no knob, wg_overlap, tma and both, on a tail shape (GQA, BHSD) and a causal one,
# each under a 30 s timeout so that a hanging kernel shows as rc=124 instead of eating the run. Ends with
# "quick ok=1" when every run passed (scripts/gpu-hopper.sh can follow on that).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu-unpack.sh   # out, work, bin
ok=1
for knobs in "" "--wg-overlap" "--tma" "--tma --wg-overlap"; do
  for cfg in "--head-dim 128 --block-m 128 --block-n 128 --warps 8 --stages 2" \
             "--head-dim 64 --block-m 64 --block-n 128 --warps 4 --stages 2" \
             "--head-dim 128 --block-m 64 --block-n 64 --warps 4 --stages 3"; do
    for shape in "--batch 2 --heads 2 --kv-heads 1 --seqlen-q 700 --seqlen-k 333 --layout BHSD" \
                 "--batch 1 --heads 4 --seqlen-q 1024 --seqlen-k 1024 --causal bottom_right"; do
      echo "== $knobs $cfg $shape"
      FLASHJIT_CHIP=sm_90a timeout 30 "$bin/flashjit" run $knobs $cfg $shape 2>&1 | tail -3
      status=${PIPESTATUS[0]}
      [ "$status" -ne 0 ] && { echo "rc=$status"; ok=0; }
    done
  done
done
echo "quick ok=$ok"
