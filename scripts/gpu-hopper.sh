#!/usr/bin/env bash
# GPU machine (an H100): the Hopper path (sm_90a: wgmma) from .bundle/flashjit-gpu.tar.xz. Runs the GPU
# check with FLASHJIT_CHIP=sm_90a (--quick: three sequence-length pairs per spec instead of eleven; every
# configuration of the sm_90a tuning space on tail shapes (tma, and a producer warpgroup on 8 warps), and
# every wgmma one again with other knob settings; timings at the grid point next to nothing else), then
# `flashjit bench` of three wgmma configurations with several knob settings against the sm_90 (mma.sync)
# kernel, at seqlen 4096 and 16384.
# Writes $OUT (or gpu-out/): gpu-report-sm90a.json, gpu-check-sm90a.log. Arguments go to flashjit-gpu-check
# (default --quick --no-timings: the tuning-space timings, the longest part, would not fit in 10 minutes
# next to the knobs' cases). CHECK=0: only the benchmarks; BENCH=0: only the check.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu-unpack.sh   # out, work, bin; a cold kernel cache
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--quick --no-timings)
status=0
if [ "${CHECK:-1}" != 0 ]; then # CHECK=0: only the benchmarks
  FLASHJIT_CHIP=sm_90a "$bin/flashjit-gpu-check" --report "$out/gpu-report-sm90a.json" "${args[@]}" \
    > "$out/gpu-check-sm90a.log" 2>&1
  status=$?
  grep -E "^FAIL" "$out/gpu-check-sm90a.log" | head -20
  tail -n 1 "$out/gpu-check-sm90a.log"
fi
[ "${BENCH:-1}" = 0 ] && exit $status # BENCH=0: only the check
for headDim in 64 128; do
  for causal in none bottom_right; do
    for seqlen in 4096 16384; do
      shape="--seqlen-q $seqlen --seqlen-k $seqlen --batch $((16384 / seqlen)) --heads $((2048 / headDim))"
      echo -n "d$headDim $causal s$seqlen: sm_90 128x64 w4 s2"
      FLASHJIT_CHIP=sm_90 "$bin/flashjit" bench --head-dim "$headDim" --causal $causal --block-m 128 --block-n 64 --warps 4 \
        --stages 2 $shape | grep -oE " [0-9.]+ TFLOP/s" | tr -d '\n'
      wide="--block-m 128 --block-n 128 --warps 8 --stages 2" narrow="--block-m 64 --block-n 128 --warps 4 --stages 2"
      wider="--block-m 128 --block-n 192 --warps 8 --stages 2"
      for config in "$wide --tma" "$wide --tma --warp-specialized" "$wide --tma --warp-specialized --wg-overlap" \
                    "$wider --tma --warp-specialized --wg-overlap" "$narrow --tma"; do
        echo -n "; sm_90a ${config//--/}"
        FLASHJIT_CHIP=sm_90a "$bin/flashjit" bench --head-dim "$headDim" --causal $causal $config $shape |
          grep -oE " [0-9.]+ TFLOP/s" | tr -d '\n'
      done
      echo
    done
  done
done
exit $status
