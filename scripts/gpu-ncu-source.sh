#!/usr/bin/env bash
# GPU machine: where one kernel's warps stall, instruction by instruction, in the SASS the driver's JIT made
# (not ptxas's offline schedule). Nsight Compute samples warp stalls per instruction (SourceCounters);
# the source page is written as CSV, one per configuration, into $OUT/ncu-source.tar.gz, with each
# report's top stalled instructions printed. Environment variables of flashjit pass through.
#   usage: [FLASHJIT_CHIP=sm_90a] scripts/gpu-ncu-source.sh HEAD_DIM SEQLEN none|bottom_right NAME="flags" ...
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu-unpack.sh   # out, work, bin; a cold kernel cache
source scripts/gpu-grid-point.sh   # headDim, seqlen, causal, batch, heads; shifts them off
dir=$work/ncu-source
mkdir -p "$dir"
for named in "$@"; do
  name=${named%%=*} cfg=${named#*=}
  rm -rf "$FLASHJIT_CACHE_DIR"
  ncu --clock-control none --section SourceCounters --section WarpStateStats --import-source no \
    -k regex:attention_fwd --launch-skip 3 --launch-count 1 -f -o "$dir/$name" \
    "$bin/flashjit" bench --head-dim "$headDim" --causal "$causal" $cfg --chip "${FLASHJIT_CHIP:-sm_90}" \
    --batch $batch --heads $heads --seqlen-q $seqlen --seqlen-k $seqlen --warmup 3 --repeats 1 > "$dir/$name.log" 2>&1
  ncu -i "$dir/$name.ncu-rep" --page source --csv --print-source sass > "$dir/$name.csv" 2>&1
  ncu -i "$dir/$name.ncu-rep" --page details --section WarpStateStats > "$dir/$name.stalls.txt" 2>&1
  echo "=== $name ($cfg): $(grep -oE '[0-9.]+ TFLOP/s' "$dir/$name.log" | head -1)"
  head -3 "$dir/$name.csv" | cut -c1-400
done
tar -czf "$out/ncu-source.tar.gz" -C "$work" ncu-source
