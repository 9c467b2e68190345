#!/usr/bin/env bash
# Build machine half of the products check, tile kernels lowered by flash-distribute and flash-lower-to-gpu
# to PTX, with a manifest.json of their launch facts for check_products.py:
# - backward_products.mlir.in: the backward pass's five products (S = Q·Kᵀ, dP = dO·Vᵀ, dV = Pᵀ·dO,
#   dK = dSᵀ·Q, dQ = dS·K) over one block of M queries and N keys, for each (chip, dtype, M, N, head_dim,
#   warps) below;
# - streamed_products.mlir.in: the backward's main loop without its element-wise work (a block per N keys,
#   Q and dO streamed in blocks of M through flash-assign-streams' ring, dK and dV accumulated), for each
#   (chip, dtype, M, N, head_dim, warps, queries, keys, stages) below.
#   usage: tests/gpu/products/make_kernels.sh BUILD_DIR OUT_DIR
set -euo pipefail
build=$(realpath "$1")
out=$(realpath -m "$2")
mkdir -p "$out"
opt=$build/bin/flashjit-opt
cd "$(dirname "$0")"
echo "[" > "$out/manifest.json"
first=1
# chip dtype M N head_dim warps (on sm_90a, M = N = 16 x warps: each warpgroup computes 64 rows of a product)
while read -r chip dtype m n d warps; do
  name=products_${chip}_${dtype}_m${m}_n${n}_d${d}_w${warps}
  sed -e "s/@CHIP@/$chip/g" -e "s/@T@/$dtype/g" -e "s/@M@/$m/g" -e "s/@N@/$n/g" -e "s/@D@/$d/g" -e "s/@WARPS@/$warps/g" \
    backward_products.mlir.in > "$out/$name.mlir"
  "$opt" "$out/$name.mlir" -flash-distribute -flash-lower-to-gpu -o "$out/$name.gpu.mlir"
  "$opt" "$out/$name.gpu.mlir" -convert-scf-to-cf -convert-arith-to-llvm -convert-cf-to-llvm \
    -reconcile-unrealized-casts -flash-emit-ptx="output=$out/$name.ptx" -o /dev/null
  shared=$(grep -o 'flash.shared_memory = [0-9]*' "$out/$name.gpu.mlir" | grep -o '[0-9]*$')
  [ $first -eq 1 ] || echo "," >> "$out/manifest.json"
  first=0
  printf '{"name": "%s", "kernel": "backward_products", "chip": "%s", "dtype": "%s", "m": %d, "n": %d, "head_dim": %d, "threads": %d, "blocks": 1, "shared_bytes": %d}' \
    "$name" "$chip" "$dtype" "$m" "$n" "$d" $((32 * warps)) "$shared" >> "$out/manifest.json"
done <<'CASES'
sm_80 bf16 64 64 64 4
sm_80 f16 64 64 128 4
sm_80 bf16 64 64 128 4
sm_80 f16 64 64 64 2
sm_80 bf16 128 64 64 4
sm_80 f16 192 64 64 4
sm_90a bf16 64 64 64 4
sm_90a f16 64 64 128 4
sm_90a bf16 64 64 128 4
sm_90a bf16 128 128 128 8
sm_90a f16 128 128 64 8
CASES
# chip dtype M N head_dim warps queries keys stages (keys a multiple of N; queries need not be one of M;
# M and N multiples of 16 rows per warp; on sm_90a N = 16 x warps, and M too or 64, when the warpgroups
# split dQ's columns)
while read -r chip dtype m n d warps sq sk stages; do
  name=streamed_${chip}_${dtype}_m${m}_n${n}_d${d}_w${warps}_q${sq}_k${sk}_s${stages}
  sed -e "s/@CHIP@/$chip/g" -e "s/@T@/$dtype/g" -e "s/@M@/$m/g" -e "s/@N@/$n/g" -e "s/@D@/$d/g" \
    -e "s/@WARPS@/$warps/g" -e "s/@SQ@/$sq/g" -e "s/@SK@/$sk/g" -e "s/@BLOCKS@/$((sk / n))/g" -e "s/@STAGES@/$stages/g" \
    streamed_products.mlir.in > "$out/$name.mlir"
  "$opt" "$out/$name.mlir" -flash-assign-streams -flash-distribute -flash-lower-to-gpu -o "$out/$name.gpu.mlir"
  "$opt" "$out/$name.gpu.mlir" -convert-scf-to-cf -convert-arith-to-llvm -convert-cf-to-llvm \
    -reconcile-unrealized-casts -flash-emit-ptx="output=$out/$name.ptx" -o /dev/null
  shared=$(grep -o 'flash.shared_memory = [0-9]*' "$out/$name.gpu.mlir" | grep -o '[0-9]*$')
  printf ',{"name": "%s", "kernel": "streamed_products", "chip": "%s", "dtype": "%s", "m": %d, "n": %d, "head_dim": %d, "threads": %d, "queries": %d, "keys": %d, "blocks": %d, "shared_bytes": %d}' \
    "$name" "$chip" "$dtype" "$m" "$n" "$d" $((32 * warps)) "$sq" "$sk" $((sk / n)) "$shared" >> "$out/manifest.json"
done <<'CASES'
sm_80 bf16 64 64 64 4 1000 256 2
sm_80 f16 64 64 64 4 129 128 3
sm_90a bf16 64 64 64 4 1000 512 2
sm_90a f16 64 64 64 4 300 128 3
sm_90a bf16 128 128 64 8 777 256 2
sm_90a bf16 64 128 128 8 333 256 2
sm_90a f16 64 128 128 8 64 128 2
CASES
echo "]" >> "$out/manifest.json"
ls "$out"/*.ptx | wc -l
