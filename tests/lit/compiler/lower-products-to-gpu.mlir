// flash-lower-to-gpu on a tile kernel: the backward pass's five products (S = Q·Kᵀ, dP = dO·Vᵀ,
// dV = Pᵀ·dO, dK = dSᵀ·Q, dQ = dS·K) over one 64-row block at head_dim 128, after flash-distribute, lowered
// by the product routines the attention kernels use, on wgmma (sm_90a) and on mma.sync (the same IR for
// sm_80), to PTX that ptxas assembles without spills. tests/gpu/products/ checks its numbers on a GPU.
// RUN: flashjit-opt %s -flash-distribute -flash-lower-to-gpu | FileCheck %s
// RUN: flashjit-opt %s -flash-distribute -flash-lower-to-gpu -convert-scf-to-cf -convert-arith-to-llvm \
// RUN:   -convert-cf-to-llvm -reconcile-unrealized-casts -flash-emit-ptx="output=%t.sm_90a.ptx" -o /dev/null
// RUN: FileCheck %s --check-prefix=HOPPER < %t.sm_90a.ptx
// RUN: sed s/sm_90a/sm_80/ %s | flashjit-opt -flash-distribute -flash-lower-to-gpu -convert-scf-to-cf \
// RUN:   -convert-arith-to-llvm -convert-cf-to-llvm -reconcile-unrealized-casts \
// RUN:   -flash-emit-ptx="output=%t.sm_80.ptx" -o /dev/null
// RUN: FileCheck %s --check-prefix=AMPERE < %t.sm_80.ptx
// RUN: %if ptxas %{ ptxas -arch=sm_90a -v %t.sm_90a.ptx -o %t.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS --implicit-check-not=warning --implicit-check-not=dvisory %}
// RUN: %if ptxas %{ ptxas -arch=sm_80 -v %t.sm_80.ptx -o %t.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS --implicit-check-not=warning --implicit-check-not=dvisory %}
// mma.sync also takes products of different heights, as a backward block of 128 queries and 64 keys has
// (S, dP and dQ 128 rows, dV and dK 64: two and one 16-row groups per warp), from the GPU check's template.
// RUN: sed -e s/@CHIP@/sm_80/g -e s/@T@/bf16/g -e s/@M@/128/g -e s/@N@/64/g -e s/@D@/64/g -e s/@WARPS@/4/g \
// RUN:   %S/../../gpu/products/backward_products.mlir.in | flashjit-opt -flash-distribute -flash-lower-to-gpu \
// RUN:   -convert-scf-to-cf -convert-arith-to-llvm -convert-cf-to-llvm -reconcile-unrealized-casts \
// RUN:   -flash-emit-ptx="output=%t.heights.ptx" -o /dev/null
// RUN: %if ptxas %{ ptxas -arch=sm_80 -v %t.heights.ptx -o %t.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS --implicit-check-not=warning --implicit-check-not=dvisory %}

// One thread block, a pointer parameter per argument; shared memory for Q, K, V, dO (4 x 16 KiB) and the
// staged P and dS (2 x 8 KiB).
// CHECK-LABEL: llvm.func @backward_products(
// CHECK-SAME:    flash.parameters = ["arg0", "arg1", "arg2", "arg3", "arg4", "arg5", "arg6"]
// CHECK-SAME:    flash.shared_memory = 81920 : i64
// CHECK-SAME:    nvvm.maxntid = array<i32: 128, 1, 1>

// S and dP: A and B K-major through descriptors (64 columns wide: one wgmma per 16 of head_dim).
// HOPPER-COUNT-16: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0, 0;
// dV and dK: A (Pᵀ, dSᵀ staged in shared memory) and B MN-major: transposed descriptors.
// HOPPER-COUNT-8: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1, 1;
// dQ: A from dS's registers, B (K) MN-major.
// HOPPER-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, {{{.*}}}, {{.*}}, p, 1, 1, 1;
// HOPPER-NOT: wgmma.mma_async

// mma.sync: A K-major by ldmatrix, A MN-major (Pᵀ, dSᵀ) by ldmatrix.trans, B either way.
// AMPERE-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// AMPERE-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// AMPERE-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32

// PTXAS: 0 bytes spill stores, 0 bytes spill loads
func.func @backward_products(%q: memref<64x128xbf16>, %k: memref<64x128xbf16>, %v: memref<64x128xbf16>,
                             %do: memref<64x128xbf16>, %dq: memref<64x128xf32>, %dk: memref<64x128xf32>,
                             %dv: memref<64x128xf32>)
    attributes {flash.config = #flash.config<block_m = 64, block_n = 64, warps = 4, stages = 1, chip = "sm_90a">} {
  %c0 = arith.constant 0 : index
  %pad = arith.constant 0.0 : bf16
  %zs = arith.constant dense<0.0> : vector<64x64xf32>
  %zd = arith.constant dense<0.0> : vector<64x128xf32>
  %qt = vector.transfer_read %q[%c0, %c0], %pad : memref<64x128xbf16>, vector<64x128xbf16>
  %kt = vector.transfer_read %k[%c0, %c0], %pad : memref<64x128xbf16>, vector<64x128xbf16>
  %vt = vector.transfer_read %v[%c0, %c0], %pad : memref<64x128xbf16>, vector<64x128xbf16>
  %dot = vector.transfer_read %do[%c0, %c0], %pad : memref<64x128xbf16>, vector<64x128xbf16>
  %s = flash.mma %qt, %kt transposed, %zs : vector<64x128xbf16>, vector<64x128xbf16>, vector<64x64xf32>
  %p = arith.truncf %s : vector<64x64xf32> to vector<64x64xbf16>
  %dp = flash.mma %dot, %vt transposed, %zs : vector<64x128xbf16>, vector<64x128xbf16>, vector<64x64xf32>
  %ds = arith.truncf %dp : vector<64x64xf32> to vector<64x64xbf16>
  %dvt = flash.mma %p transposed, %dot, %zd : vector<64x64xbf16>, vector<64x128xbf16>, vector<64x128xf32>
  %dkt = flash.mma %ds transposed, %qt, %zd : vector<64x64xbf16>, vector<64x128xbf16>, vector<64x128xf32>
  %dqt = flash.mma %ds, %kt, %zd : vector<64x64xbf16>, vector<64x128xbf16>, vector<64x128xf32>
  vector.transfer_write %dqt, %dq[%c0, %c0] : vector<64x128xf32>, memref<64x128xf32>
  vector.transfer_write %dkt, %dk[%c0, %c0] : vector<64x128xf32>, memref<64x128xf32>
  vector.transfer_write %dvt, %dv[%c0, %c0] : vector<64x128xf32>, memref<64x128xf32>
  return
}

