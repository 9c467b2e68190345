#!/usr/bin/env bash
# GPU machine: the backward pass's five products and its streamed main loop as tile kernels
# (tests/gpu/products/), from the PTX that tests/gpu/products/make_kernels.sh wrote into .bundle/products on
# the build machine: every kernel against
# float64 over 3 seeds, then compute-sanitizer (memcheck, racecheck, synccheck) on one kernel of each path.
# Writes $OUT (or gpu-out/)/products-report.json and products-sanitize.log; non-zero exit if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-out}
kernels=${PRODUCTS:-.bundle/products}
mkdir -p "$out"
export CUDA_CACHE_DISABLE=1
python3 tests/gpu/products/check_products.py "$kernels" "$out/products-report.json"
check=$?
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
: > "$out/products-sanitize.log"
failures=0
for kernel in products_sm_90a_bf16_m128_n128_d128_w8 products_sm_80_f16_m64_n64_d64_w2 products_sm_80_bf16_m128_n64_d64_w4 \
  streamed_sm_90a_f16_m64_n64_d64_w4_q300_k128_s3 streamed_sm_80_f16_m64_n64_d64_w4_q129_k128_s3 \
  streamed_sm_90a_f16_m64_n128_d128_w8_q64_k128_s2; do
  for tool in memcheck racecheck synccheck; do
    echo "=== $tool $kernel" >> "$out/products-sanitize.log"
    "$sanitizer" --tool $tool --error-exitcode 3 python3 tests/gpu/products/check_products.py "$kernels" \
      /dev/null --seeds 1 --only "$kernel" >> "$out/products-sanitize.log" 2>&1
    status=$?
    echo "$([ $status -eq 0 ] && echo clean || echo FAILED) $tool $kernel: $(grep -h 'ERROR SUMMARY\|RACECHECK SUMMARY' "$out/products-sanitize.log" | tail -n 1)"
    [ $status -eq 0 ] || failures=$((failures + 1))
  done
done
echo "products check: status $check; compute-sanitizer: $failures failed"
[ $check -eq 0 ] && [ $failures -eq 0 ]
