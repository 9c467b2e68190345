// flash-lower-to-gpu on a tile kernel with a grid and a stream: the backward pass's main loop without its
// element-wise work (tests/gpu/products/streamed_products.mlir.in): a thread block per block of 64 keys,
// K and V read once, Q and dO streamed in blocks of 64 queries (200: the last block partial) through the
// ring flash-assign-streams makes, dK and dV carried through the loop, each query block's dQ added into
// memory atomically (flash.atomic_add). PTX that ptxas assembles without
// spills for sm_90a (wgmma) and sm_80 (mma.sync); tests/unit/ProductsTest.cpp checks the same IR in the
// interpreter, tests/gpu/products/ on a GPU.
// RUN: sed -e s/@CHIP@/sm_90a/g -e s/@T@/bf16/g -e s/@M@/64/g -e s/@N@/64/g -e s/@D@/64/g -e s/@WARPS@/4/g \
// RUN:   -e s/@SQ@/200/g -e s/@SK@/128/g -e s/@BLOCKS@/2/g -e s/@STAGES@/3/g %S/../../gpu/products/streamed_products.mlir.in \
// RUN:   | flashjit-opt -flash-assign-streams -flash-distribute -flash-lower-to-gpu -o %t.sm_90a.mlir
// RUN: FileCheck %s < %t.sm_90a.mlir
// RUN: flashjit-opt %t.sm_90a.mlir -convert-scf-to-cf -convert-arith-to-llvm -convert-cf-to-llvm \
// RUN:   -reconcile-unrealized-casts -flash-emit-ptx="output=%t.sm_90a.ptx" -o /dev/null
// RUN: sed -e s/@CHIP@/sm_80/g -e s/@T@/bf16/g -e s/@M@/64/g -e s/@N@/64/g -e s/@D@/64/g -e s/@WARPS@/4/g \
// RUN:   -e s/@SQ@/200/g -e s/@SK@/128/g -e s/@BLOCKS@/2/g -e s/@STAGES@/2/g %S/../../gpu/products/streamed_products.mlir.in \
// RUN:   | flashjit-opt -flash-assign-streams -flash-distribute -flash-lower-to-gpu -convert-scf-to-cf \
// RUN:   -convert-arith-to-llvm -convert-cf-to-llvm -reconcile-unrealized-casts \
// RUN:   -flash-emit-ptx="output=%t.sm_80.ptx" -o /dev/null
// RUN: FileCheck %s --check-prefix=AMPERE < %t.sm_80.ptx
// RUN: %if ptxas %{ ptxas -arch=sm_90a -v %t.sm_90a.ptx -o %t.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS --implicit-check-not=warning --implicit-check-not=dvisory %}
// RUN: %if ptxas %{ ptxas -arch=sm_80 -v %t.sm_80.ptx -o %t.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS --implicit-check-not=warning --implicit-check-not=dvisory %}
// Two warpgroups over a key block of 128 (FlashAttention-3's d128 backward blocks): Sᵀ, dPᵀ, dV and dK
// have 128 rows, 64 a warpgroup; dQ has the query block's 64 rows, and each warpgroup computes 64 of its
// 128 columns (m64n64 wgmmas over the 128 keys: 8), as it adds them into dQ.
// RUN: sed -e s/@CHIP@/sm_90a/g -e s/@T@/bf16/g -e s/@M@/64/g -e s/@N@/128/g -e s/@D@/128/g -e s/@WARPS@/8/g \
// RUN:   -e s/@SQ@/200/g -e s/@SK@/256/g -e s/@BLOCKS@/2/g -e s/@STAGES@/2/g %S/../../gpu/products/streamed_products.mlir.in \
// RUN:   | flashjit-opt -flash-assign-streams -flash-distribute -flash-lower-to-gpu -convert-scf-to-cf \
// RUN:   -convert-arith-to-llvm -convert-cf-to-llvm -reconcile-unrealized-casts \
// RUN:   -flash-emit-ptx="output=%t.split.ptx" -o /dev/null
// RUN: FileCheck %s --check-prefix=SPLIT < %t.split.ptx
// RUN: %if ptxas %{ ptxas -arch=sm_90a -v %t.split.ptx -o %t.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS --implicit-check-not=warning --implicit-check-not=dvisory %}
// SPLIT-COUNT-16: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0, 0;
// SPLIT-COUNT-8: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// SPLIT-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1, 1;
// SPLIT-NOT: wgmma.mma_async
// A stream must be read after its first source's block is waited for, in a loop that prefetches once.
// RUN: sed -e s/@CHIP@/sm_80/g -e s/@T@/bf16/g -e s/@M@/64/g -e s/@N@/64/g -e s/@D@/64/g -e s/@WARPS@/4/g \
// RUN:   -e s/@SQ@/200/g -e s/@SK@/128/g -e s/@BLOCKS@/2/g -e s/@STAGES@/2/g %S/../../gpu/products/streamed_products.mlir.in \
// RUN:   | flashjit-opt -flash-assign-streams | grep -v flash.stream_prefetch \
// RUN:   | not flashjit-opt -flash-distribute -flash-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=NO-PREFETCH
// NO-PREFETCH: error: cannot lower to the GPU: scf.for: a loop that reads a stream prefetches its blocks once per iteration (one flash.stream_prefetch; run flash-assign-streams)

// Shared memory: K and V (8 KiB each, swizzled), then the ring of 3 slots of a Q and a dO block (16 KiB
// each), then dSᵀ staged for dQ's product, which reads it transposed (8 KiB); a 1-D grid over the key
// blocks.
// CHECK-LABEL: llvm.func @streamed_products(
// CHECK-SAME:    flash.shared_memory = 73728 : i64
// CHECK:       nvvm.read.ptx.sreg.ctaid.x
// K's and V's copies (a group each), then the ring's first two blocks, each only if the loop reads it.
// CHECK:       nvvm.cp.async.commit.group
// CHECK:       nvvm.cp.async.commit.group
// CHECK:       scf.if
// CHECK:       nvvm.cp.async.commit.group
// CHECK:       scf.if
// CHECK:       nvvm.cp.async.commit.group
// In the loop, dK and dV carried (64 registers): block j waited for (at most one newer group pending),
// made visible to wgmma and to every warp; Sᵀ = K·Qᵀ (its block's first use), then the copy of block j + 2.
// CHECK:       scf.for {{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
// CHECK-NEXT:    nvvm.cp.async.wait.group 1
// CHECK-NEXT:    nvvm.fence.proxy
// CHECK-NEXT:    nvvm.barrier0
// CHECK:         wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16
// CHECK:         nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-NEXT:    arith.cmpi
// CHECK-NEXT:    scf.if
// CHECK:         nvvm.cp.async.commit.group
// dQ's rows that lie inside it (200 queries) added element by element.
// CHECK:         arith.cmpi slt, %{{.*}}, %c200_i32{{.*}} : i32
// CHECK-NEXT:    scf.if
// CHECK:           llvm.atomicrmw fadd %{{.*}}, %{{.*}} monotonic : !llvm.ptr<1>, f32
// CHECK:       scf.yield
// After the loop, dK and dV written (8-byte stores).
// CHECK:       llvm.store {{.*}} {alignment = 8 : i64} : vector<2xf32>, !llvm.ptr<1>

// mma.sync: the ring of 2 slots waits for no newer group; the operands by ldmatrix (.trans for dO and Q
// as B MN-major).
// AMPERE-DAG: cp.async.wait_group 0;
// AMPERE-DAG: bar.sync 0;
// AMPERE-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// AMPERE-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// AMPERE-DAG: {{(red|atom)}}.global.add.f32

// PTXAS: 0 bytes spill stores, 0 bytes spill loads
