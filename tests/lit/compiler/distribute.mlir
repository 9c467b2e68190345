// flash-distribute: where each flash.mma operand lies. An earlier product converted to 16 bits and read as
// it lies stays in its registers; every other operand lies in shared memory as stored (rows contiguous):
// K-major for an A read as it lies and a B read transposed, MN-major otherwise. Set layouts are kept.
// RUN: flashjit-opt %s -flash-distribute | FileCheck %s

// CHECK-LABEL: func.func @backward_products
func.func @backward_products(%q: vector<64x128xbf16>, %k: vector<64x128xbf16>, %v: vector<64x128xbf16>,
                             %do: vector<64x128xbf16>, %zs: vector<64x64xf32>, %zd: vector<64x128xf32>)
    -> (vector<64x128xf32>, vector<64x128xf32>, vector<64x128xf32>) {
  // S = Q·Kᵀ and dP = dO·Vᵀ: A [M][K], B [N][K], both K-major.
  // CHECK: flash.mma %{{.*}}, %{{.*}} transposed, %{{.*}} layouts <a = shared_k_major, b = shared_k_major>
  %s = flash.mma %q, %k transposed, %zs : vector<64x128xbf16>, vector<64x128xbf16>, vector<64x64xf32>
  %p = arith.truncf %s : vector<64x64xf32> to vector<64x64xbf16>
  // CHECK: flash.mma %{{.*}}, %{{.*}} transposed, %{{.*}} layouts <a = shared_k_major, b = shared_k_major>
  %dp = flash.mma %do, %v transposed, %zs : vector<64x128xbf16>, vector<64x128xbf16>, vector<64x64xf32>
  %ds = arith.truncf %dp : vector<64x64xf32> to vector<64x64xbf16>
  // dV = Pᵀ·dO and dK = dSᵀ·Q: the accumulator read transposed goes to shared memory, MN-major; B [K][N]
  // is MN-major.
  // CHECK: flash.mma %{{.*}} transposed, %{{.*}}, %{{.*}} layouts <a = shared_mn_major, b = shared_mn_major>
  %dv = flash.mma %p transposed, %do, %zd : vector<64x64xbf16>, vector<64x128xbf16>, vector<64x128xf32>
  // CHECK: flash.mma %{{.*}} transposed, %{{.*}}, %{{.*}} layouts <a = shared_mn_major, b = shared_mn_major>
  %dk = flash.mma %ds transposed, %q, %zd : vector<64x64xbf16>, vector<64x128xbf16>, vector<64x128xf32>
  // dQ = dS·K: dS stays in its registers (the accumulator layout is the A layout); K MN-major.
  // CHECK: flash.mma %{{.*}}, %{{.*}}, %{{.*}} layouts <a = accumulator, b = shared_mn_major>
  %dq = flash.mma %ds, %k, %zd : vector<64x64xbf16>, vector<64x128xbf16>, vector<64x128xf32>
  return %dq, %dk, %dv : vector<64x128xf32>, vector<64x128xf32>, vector<64x128xf32>
}

// A layout already set is kept.
// CHECK-LABEL: func.func @kept
// CHECK: layouts <a = registers, b = shared_k_major>
func.func @kept(%q: vector<64x64xbf16>, %k: vector<64x64xbf16>, %z: vector<64x64xf32>) -> vector<64x64xf32> {
  %s = flash.mma %q, %k transposed, %z layouts <a = registers, b = shared_k_major>
      : vector<64x64xbf16>, vector<64x64xbf16>, vector<64x64xf32>
  return %s : vector<64x64xf32>
}
