#!/usr/bin/env bash
set -u
# GPU machine: unpack .bundle/flashjit-gpu.tar.xz, then for each configuration given check it on every row
# (b2 h3 q700 k333, BHSD) and time it on the papers' grid (16k tokens, hidden 2048) at each seqlen of
# $SEQLENS (default 4096), causal off and on.
#   usage: [BUNDLE=...] [SEQLENS="512 4096"] scripts/gpu-experiment.sh HEAD_DIM "--block-m 128 --warps 4 --block-n 32 --stages 2" ...
# With SASS="<configuration>" it also writes that kernel's machine code (ptxas + cuobjdump) to $OUT.
cd "$(dirname "$0")/.."
source scripts/gpu-unpack.sh   # out, work, bin; a cold kernel cache
headDim=$1
shift
if [ -n "${SASS:-}" ]; then
  $bin/flashjit compile --head-dim "$headDim" --chip sm_90 $SASS -o "$work/k.ptx" > /dev/null &&
    ptxas -arch=sm_90 -v "$work/k.ptx" -o "$work/k.cubin" 2>&1 | tail -2 &&
    cuobjdump -sass "$work/k.cubin" > "$out/kernel.sass" && echo "SASS: $(wc -l < "$out/kernel.sass") lines"
fi
for cfg in "$@"; do
  for causal in none bottom_right; do
    echo "== d$headDim $causal $cfg"
    $bin/flashjit run --head-dim "$headDim" --causal $causal $cfg --batch 2 --heads 3 --seqlen-q 700 --seqlen-k 333 --layout BHSD | grep -E "PASS|FAIL|relative"
    for seqlen in ${SEQLENS:-4096}; do
      echo -n "s$seqlen: "
      $bin/flashjit bench --head-dim "$headDim" --causal $causal $cfg --seqlen-q $seqlen --seqlen-k $seqlen \
        --batch $((16384 / seqlen)) --heads $((2048 / headDim)) | grep median
    done
  done
done
