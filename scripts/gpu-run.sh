#!/usr/bin/env bash
# GPU machine half of a GPU run: unpacks .bundle/flashjit-gpu.tar.xz and runs the main job (flashjit
# kernels: compile, check, time), `flashjit run` and `flashjit bench`, the README's example program,
# compute-sanitizer (scripts/gpu-sanitize.sh) and flashjit-gpu-check. Writes to $OUT (or gpu-out/):
# gpu-report.json (the GPU check's JSON report), gpu-check.log and gpu-run-logs.txt (every other log).
# Arguments go to flashjit-gpu-check (--quick). Exit status: the number of failed steps.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu-unpack.sh   # out, work, bin; a cold kernel cache
logs=$work/logs
mkdir -p "$logs"
failed=0
step() { # name, log file, command...
  local name=$1 log=$2
  shift 2
  local start=$SECONDS
  "$@" > "$logs/$log" 2>&1
  local status=$?
  echo "$name: $([ $status -eq 0 ] && echo ok || echo "FAILED ($status)") in $((SECONDS - start)) s -> $log"
  [ $status -eq 0 ] || failed=$((failed + 1))
}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv \
  > "$logs/nvidia-smi.txt" 2>&1
step info info.txt "$bin/flashjit" info
step "main job" kernels.txt "$bin/flashjit" kernels
step "flashjit run" run.txt "$bin/flashjit" run --causal bottom_right --batch 2 --heads 16 --kv-heads 4 \
  --seqlen-q 3000 --seqlen-k 5000
step "flashjit run (cache hit)" run-again.txt "$bin/flashjit" run --causal bottom_right --batch 2 --heads 16 \
  --kv-heads 4 --seqlen-q 3000 --seqlen-k 5000
step "flashjit bench" bench.txt "$bin/flashjit" bench --head-dim 128 --seqlen-q 16384 --seqlen-k 16384 --batch 1
step "example" example.txt env LD_LIBRARY_PATH="$work/flashjit/lib" "$bin/flashjit-example"
step "compute-sanitizer" sanitizer.txt bash scripts/gpu-sanitize.sh "$bin/flashjit" "$logs/sanitizer.log"
step "gpu check" gpu-check.log "$bin/flashjit-gpu-check" --report "$out/gpu-report.json" "$@"
tail -n 1 "$logs/gpu-check.log"
# Few files come back from the GPU machine: the JSON report, the GPU check's log, and the other logs in one.
cp "$logs/gpu-check.log" "$out/"
for log in nvidia-smi.txt info.txt kernels.txt run.txt run-again.txt bench.txt example.txt sanitizer.txt sanitizer.log; do
  echo "=== $log"
  cat "$logs/$log"
done > "$out/gpu-run-logs.txt"
echo "gpu-run: $failed steps failed"
exit $failed
