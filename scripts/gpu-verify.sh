#!/usr/bin/env bash
# GPU machine (an H100): the Hopper path's correctness in one run under the 10-minute limit, from
# .bundle/flashjit-gpu.tar.xz: compute-sanitizer over its shapes (scripts/gpu-sanitize.sh, ~35 s), then the GPU
# check with FLASHJIT_CHIP=sm_90a (scripts/gpu-hopper.sh's quick check without timings; the whole run took 519 s
# for 724 cases on the H100), stopped at $LIMIT seconds of the run (default 585). Writes to $OUT (or gpu-out/):
# sanitize.log, gpu-report-sm90a.json and gpu-check-sm90a.log. Exit status: non-zero if either failed or ran out of time.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-out}
mkdir -p "$out"
(
  source scripts/gpu-unpack.sh
  bash scripts/gpu-sanitize.sh "$bin/flashjit" "$out/sanitize.log"
)
sanitizer=$?
OUT=$out BENCH=0 timeout $((${LIMIT:-585} - SECONDS)) bash scripts/gpu-hopper.sh
check=$?
echo "compute-sanitizer: status $sanitizer; GPU check: status $check (124: out of time) after $SECONDS s"
[ $sanitizer -eq 0 ] && [ $check -eq 0 ]
