// flash-lower-to-gpu: the tile-level kernel at the scheduled stage (the input below, d = 16, one warp,
// 16x16 blocks) becomes one thread's NVVM program.
// RUN: flashjit-opt %s -split-input-file -flash-schedule-tiles -flash-assign-streams -flash-lower-to-gpu \
// RUN:   -verify-diagnostics | FileCheck %s
// Configurations the interpreter runs but the GPU does not: each refused with what the GPU supports.
// RUN: flashjit ir --stage scheduled --dtype f32 --head-dim 16 --block-m 16 --block-n 16 --warps 1 \
// RUN:   | not flashjit-opt -flash-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=F32
// F32: error: cannot lower to the GPU: GPU kernels support f16 and bf16 data; f32 runs only in the interpreter
// RUN: flashjit ir --stage scheduled --head-dim 64 --block-m 192 --block-n 32 --warps 12 --chip sm_90a \
// RUN:   | not flashjit-opt -flash-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=THREE-WARPGROUPS
// THREE-WARPGROUPS: error: cannot lower to the GPU: warps = 12 (three warpgroups) needs the wgmma path: chip sm_90a, block_m = 192, block_n a multiple of 64 up to 256 and head_dim 64 or 128
// RUN: flashjit ir --stage scheduled --head-dim 16 --block-m 16 --block-n 16 --warps 1 --stages 1 \
// RUN:   | not flashjit-opt -flash-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=ONE-STAGE
// ONE-STAGE: error: cannot lower to the GPU: stages = 1 is not supported on the GPU: the K/V pipeline needs 2 to 8 buffers (one to compute on while the next block is copied)
// The schedule comes from the scheduled stage's ops, checked against what the kernel can do.
// RUN: flashjit ir --stage scheduled --head-dim 64 | sed 's/flash.stream %k, %v/flash.stream %v, %k/' \
// RUN:   | not flashjit-opt -flash-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=STREAM-ORDER
// STREAM-ORDER: error: cannot lower to the GPU: flash.stream: the key loops stream K and V, in that order
// RUN: flashjit ir --stage scheduled --head-dim 64 | sed 's/load(cp_async)/load(tma)/' \
// RUN:   | not flashjit-opt -flash-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=STREAM-TMA
// STREAM-TMA: error: cannot lower to the GPU: flash.stream load(tma) takes sm_90a's wgmma path (block_n a multiple of 64, head_dim 64 or 128)
// RUN: flashjit ir --stage scheduled --head-dim 64 | sed 's/schedule(one_per_block)/schedule(persistent)/' \
// RUN:   | not flashjit-opt -flash-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=SCHEDULE
// SCHEDULE: error: cannot lower to the GPU: schedule(persistent) needs the producer warpgroup that loads a tile's key blocks ahead: flash.stream load(tma_producer)
// The warp roles (flash.warp_specialize) and the stream's loader agree, and the roles fit the kernel.
// RUN: flashjit ir --stage scheduled --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   | sed 's/load(tma)/load(tma_producer)/' | not flashjit-opt -flash-lower-to-gpu 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NO-PRODUCER
// NO-PRODUCER: error: cannot lower to the GPU: flash.stream load(tma_producer) needs the tile loop's producer warpgroup: a flash.warp_specialize (run flash-specialize-warps)
// RUN: flashjit ir --stage scheduled --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized | sed 's/load(tma_producer)/load(tma)/' | not flashjit-opt -flash-lower-to-gpu 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NOT-LOADING
// NOT-LOADING: error: cannot lower to the GPU: flash.warp_specialize: its producer warpgroup loads the streams, which needs flash.stream load(tma_producer)
// RUN: flashjit ir --stage scheduled --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   | sed 's/\(flash.stream .*\)load(tma)\(.*\)$/\1load(tma_producer)\2\n flash.warp_specialize producer(registers = 24) consumers(warpgroups = 2, registers = 240) turns(free)/' \
// RUN:   | not flashjit-opt -flash-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=PREFETCH
// PREFETCH: error: cannot lower to the GPU: flash.stream_prefetch: a producer warpgroup loads every block (load(tma_producer)); its key loops prefetch nothing
// RUN: flashjit ir --stage scheduled --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized | sed 's/consumers(warpgroups = 2/consumers(warpgroups = 1/' \
// RUN:   | not flashjit-opt -flash-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=CONSUMERS
// CONSUMERS: error: cannot lower to the GPU: flash.warp_specialize: consumers(warpgroups = 1) must be the kernel's 8 computing warps / 4
// RUN: flashjit ir --stage scheduled --head-dim 128 --block-m 64 --warps 4 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized | sed 's/turns(free)/turns(round_robin)/' \
// RUN:   | not flashjit-opt -flash-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=TURNS
// TURNS: error: cannot lower to the GPU: flash.warp_specialize: turns(round_robin) needs two or three consumer warpgroups
// The key loop's schedule (#flash.key_loop) is checked against the path it needs.
// RUN: flashjit ir --stage scheduled --head-dim 64 | sed 's/^      }$/      } {flash.key_loop = #flash.key_loop<pipelined = true>}/' \
// RUN:   | not flashjit-opt -flash-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=KEYLOOP-PATH
// KEYLOOP-PATH: error: cannot lower to the GPU: flash.key_loop: pipelined and short_last_block take sm_90a's wgmma path
// RUN: flashjit ir --stage scheduled --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   | sed 's/short_last_block = 64/short_last_block = 128/' \
// RUN:   | not flashjit-opt -flash-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=KEYLOOP-SHORT
// KEYLOOP-SHORT: error: cannot lower to the GPU: flash.key_loop: short_last_block must be fewer keys than a block's 128
// RUN: flashjit ir --stage scheduled --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   | sed 's/short_last_block = 64/warpgroup_ends = true/' \
// RUN:   | not flashjit-opt -flash-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=KEYLOOP-ENDS
// KEYLOOP-ENDS: error: cannot lower to the GPU: flash.key_loop: warpgroup_ends needs the producer warpgroup that keeps loading for the warpgroups still computing (flash.warp_specialize)

// The kernel ABI: Q, K, V, O pointers, their (batch, head, row) strides, seqlen_q, seqlen_k, the number
// of query heads per key/value head, heads, batch, the fast divisors (magic, shift) of the query block
// count, of heads and of the query heads per K/V head, and the scale; dynamic shared memory holds stages
// (2) K/V pairs.
// CHECK:       llvm.mlir.global external @flash_shared_memory() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
// CHECK-LABEL: llvm.func @attention_fwd_d16_bf16_causal_tl(
// CHECK-SAME:    %[[Q:[^:]*]]: !llvm.ptr<1>, %[[K:[^:]*]]: !llvm.ptr<1>, %[[V:[^:]*]]: !llvm.ptr<1>, %[[O:[^:]*]]: !llvm.ptr<1>,
// CHECK-SAME:    {{(%arg[0-9]+: i64, ){11}%arg[0-9]+: i64}},
// CHECK-SAME:    %[[SQ:[^:]*]]: i32, %[[SK:[^:]*]]: i32, %[[GROUP:[^:]*]]: i32, %[[HEADS:[^:]*]]: i32, %[[BATCH:[^:]*]]: i32,
// CHECK-SAME:    %[[QBMAGIC:[^:]*]]: i32, %[[QBSHIFT:[^:]*]]: i32, %[[HMAGIC:[^:]*]]: i32, %[[HSHIFT:[^:]*]]: i32,
// CHECK-SAME:    %[[GMAGIC:[^:]*]]: i32, %[[GSHIFT:[^:]*]]: i32, %[[SCALE:[^:]*]]: f32)
// CHECK-SAME:    flash.shared_memory = 3072 : i64
// CHECK-SAME:    nvvm.kernel, nvvm.maxntid = array<i32: 32, 1, 1>, nvvm.minctasm = 1 : i32
// The grid is one-dimensional: block = (batch * heads + head) * query blocks + (query blocks - 1 - query
// block): the last query block (under a causal mask the longest) first. Its divisions are multiplications
// by the launch's magic numbers: n / d = mulhi(2n, magic) >> shift.
// Every division by a launch-time value is one: K/V heads = heads / group, the K/V head = head / group.
// CHECK:       nvvm.read.ptx.sreg.tid.x
// CHECK:       arith.mului_extended %{{.*}}, %[[GMAGIC]]
// CHECK:       %[[BLOCK:.*]] = nvvm.read.ptx.sreg.ctaid.x
// CHECK:       %[[QBLOCKS:.*]] = arith.ceildivui %[[SQ]], %{{.*}} : i32
// CHECK:       %[[TWICE:.*]] = arith.shli %[[BLOCK]], %c1
// CHECK:       %{{.*}}, %[[HIGH:.*]] = arith.mului_extended %[[TWICE]], %[[QBMAGIC]]
// CHECK:       %[[REST:.*]] = arith.shrui %[[HIGH]], %[[QBSHIFT]]
// CHECK:       %[[TWICEREST:.*]] = arith.shli %[[REST]], %c1
// CHECK:       arith.mului_extended %[[TWICEREST]], %[[HMAGIC]]
// CHECK:       arith.mului_extended %{{.*}}, %[[GMAGIC]]
// CHECK-NOT:   arith.divui {{.*}}%arg
// CHECK-NOT:   arith.remui {{.*}}%arg
// CHECK-NOT:   nvvm.read.ptx.sreg.ctaid.y
// The query tile goes through shared memory, staged in the last stage's K/V bytes (byte 1536 = 1 x 2
// tiles x 16 rows x 48 bytes), which the prologue leaves alone: 16-byte cp.async, a copy group of its own.
// CHECK:       arith.constant 1536 : i32
// CHECK:       nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg
// CHECK:       nvvm.cp.async.commit.group
// CHECK-NOT:   nvvm.cp.async.wait.group
// The pipeline's prologue copies the first key block (stages - 1 = 1 block) before the loops, so its
// latency overlaps the query's; then the older group (the query) is waited for, and one ldmatrix.x4 per
// 16x16 sub-tile loads the registers.
// CHECK:       scf.if
// CHECK:         nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg, %{{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// CHECK:       nvvm.cp.async.commit.group
// CHECK-NEXT:  nvvm.cp.async.wait.group 1
// CHECK-NEXT:  nvvm.barrier0
// CHECK:       nvvm.ldmatrix %{{.*}} {eltType = #nvvm.ld_st_matrix_elt_type<b16>, layout = #nvvm.mma_layout<row>, num = 4 : i32, shape = #nvvm.ld_st_matrix_shape<m = 8, n = 8>} : (!llvm.ptr<3>) -> !llvm.struct<(i32, i32, i32, i32)>
// CHECK-NOT:   nvvm.barrier0
// One key loop: wait for this block, one barrier, Q·Kᵀ. Diagonal and tail blocks (a branch on the block's
// start, the same for every thread) set keys past seqlen_k or after the query (top-left) to -inf; the
// query offset comes from a fresh read of the block index, so the loop does not carry it.
// CHECK:       scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args
// CHECK:         nvvm.cp.async.wait.group 0
// CHECK-NEXT:    nvvm.barrier0
// CHECK-NOT:     nvvm.cp.async.shared.global
// CHECK:         nvvm.ldmatrix %{{.*}} {eltType = #nvvm.ld_st_matrix_elt_type<b16>, layout = #nvvm.mma_layout<row>, num = 2 : i32, shape = #nvvm.ld_st_matrix_shape<m = 8, n = 8>}
// CHECK:         nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>}
// CHECK-NOT:     nvvm.cp.async.shared.global
// CHECK:         %[[DIAGONAL:.*]] = arith.cmpi sge, %{{.*}}, %{{.*}} : i32
// CHECK-NEXT:    scf.if %[[DIAGONAL]] -> (f32, f32, f32, f32, f32, f32, f32, f32) {
// CHECK:           llvm.inline_asm has_side_effects "mov.u32 $0, %ctaid.x;", "=r"
// Per row: the end of its visible keys (seqlen_k, or the row + 1 if less) less this thread's first key;
// per score one compare of that against the score's column (a constant) and a select.
// CHECK:           %[[END:.*]] = arith.minsi %[[SK]], %{{.*}} : i32
// CHECK:           %[[VISIBLE:.*]] = arith.subi %[[END]], %{{.*}} : i32
// CHECK:           %[[HIDDEN:.*]] = arith.cmpi sle, %[[VISIBLE]], %c0_i32{{.*}} : i32
// CHECK-NEXT:      arith.select %[[HIDDEN]], %{{.*}}, %{{.*}} : f32
// CHECK:           %[[HIDDEN1:.*]] = arith.cmpi sle, %[[VISIBLE]], %c1_i32{{.*}} : i32
// CHECK-NEXT:      arith.select %[[HIDDEN1]], %{{.*}}, %{{.*}} : f32
// CHECK:         } else {
// CHECK-NEXT:      scf.yield
// CHECK-NEXT:    }
// Then the copy of a later block (after the branch, so that ptxas can spread it over the softmax): one
// pointer step per 16-byte copy after the first, no clamping (rows past seqlen_k copy 0 bytes). The row
// stride (an i64 kernel argument) keeps its 64 bits through its opaque copy.
// CHECK-NEXT:    %[[NEEDED:.*]] = arith.cmpi slt, %{{.*}}, %{{.*}} : i32
// CHECK-NEXT:    scf.if %[[NEEDED]] {
// CHECK-NOT:       arith.minsi
// CHECK:           llvm.inline_asm has_side_effects "mov.b64 $0, $1;", "=l,l" %arg{{[0-9]+}} : (i64) -> i64
// CHECK:           nvvm.cp.async.shared.global
// CHECK:           llvm.inline_asm has_side_effects "mov.b64 $0, $1;"
// CHECK-NOT:       arith.minsi
// CHECK:           nvvm.cp.async.shared.global
// CHECK:         nvvm.cp.async.commit.group
// CHECK-NOT:     nvvm.barrier0
// CHECK:         nvvm.shfl.sync  bfly
// CHECK:         llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// CHECK:         llvm.fptrunc %{{.*}} : vector<2xf32> to vector<2xbf16>
// P·V: one ldmatrix.x4.trans gives the B operands of two 8-column output tiles.
// CHECK:         nvvm.ldmatrix %{{.*}} {eltType = #nvvm.ld_st_matrix_elt_type<b16>, layout = #nvvm.mma_layout<col>, num = 4 : i32
// CHECK:         nvvm.mma.sync
// CHECK:         scf.yield
// CHECK-NOT:   scf.for
// Normalisation sums the quad's partial row sums and takes 1/l on the MUFU; the output goes to shared
// memory, then out in 16-byte stores of the rows below seqlen_q, at an address whose batch and head come
// from a fresh read of the block index (nothing from before the key loops stays live through them), one
// read for both the output and the logsumexp.
// CHECK:       nvvm.shfl.sync  bfly
// CHECK-NOT:   arith.divf
// CHECK:       llvm.call_intrinsic "llvm.nvvm.rcp.approx.ftz.f"
// CHECK-NOT:   arith.divf
// CHECK:       llvm.inline_asm has_side_effects "mov.u32 $0, %ctaid.x;", "=r"
// CHECK-NOT:   %ctaid.x
// CHECK:       arith.mului_extended %{{.*}}, %[[QBMAGIC]]
// CHECK:       nvvm.cp.async.wait.group 0
// CHECK-NEXT:  nvvm.barrier0
// CHECK:       llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<3>
// CHECK:       nvvm.barrier0
// CHECK:       scf.if
// CHECK:         llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<4xi32>
// CHECK:         llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<1>
// CHECK:       llvm.return
// CHECK-NOT:   flash.
// CHECK-NOT:   func.func
!data = memref<?x?x?x16xbf16, strided<[?, ?, ?, 1], offset: ?>>
module {
  func.func @attention_fwd_d16_bf16_causal_tl(%q: !data, %k: !data, %v: !data, %o: !data, %scale: f32) attributes {flash.config = #flash.config<block_m = 16, block_n = 16, warps = 1, stages = 2, chip = "sm_80">} {
    %cst = arith.constant dense<0.000000e+00> : vector<16x16xf32>
    %cst_0 = arith.constant dense<0.000000e+00> : vector<16xf32>
    %cst_1 = arith.constant dense<0xFF800000> : vector<16xf32>
    %cst_2 = arith.constant 0.000000e+00 : bf16
    %c16 = arith.constant 16 : index
    %c2 = arith.constant 2 : index
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %dim = memref.dim %q, %c0 : !data
    %dim_3 = memref.dim %q, %c1 : !data
    %dim_4 = memref.dim %q, %c2 : !data
    %dim_5 = memref.dim %k, %c1 : !data
    %dim_6 = memref.dim %k, %c2 : !data
    %0 = arith.ceildivui %dim_4, %c16 : index
    %1 = arith.divui %dim_3, %dim_5 : index
    scf.parallel (%arg5, %arg6, %arg7) = (%c0, %c0, %c0) to (%0, %dim_3, %dim) step (%c1, %c1, %c1) {
      %2 = arith.divui %arg6, %1 : index
      %3 = arith.muli %arg5, %c16 : index
      %4 = vector.transfer_read %q[%arg7, %arg6, %3, %c0], %cst_2 {in_bounds = [false, true]} : !data, vector<16x16xbf16>
      %5 = arith.addi %3, %c16 : index
      %6 = arith.minsi %5, %dim_4 : index
      %7 = arith.addi %3, %c1 : index
      %8 = arith.maxsi %7, %c0 : index
      %9 = arith.minsi %dim_6, %8 : index
      %10 = arith.maxsi %6, %c0 : index
      %11 = arith.minsi %dim_6, %10 : index
      %12 = arith.divui %9, %c16 : index
      %13 = arith.muli %12, %c16 : index
      %14 = arith.minsi %dim_6, %11 : index
      %15 = arith.minsi %13, %14 : index
      %16:3 = scf.for %arg8 = %c0 to %14 step %c16 iter_args(%arg9 = %cst, %arg10 = %cst_0, %arg11 = %cst_1) -> (vector<16x16xf32>, vector<16xf32>, vector<16xf32>) {
        %19 = vector.transfer_read %k[%arg7, %2, %arg8, %c0], %cst_2 {in_bounds = [false, true]} : !data, vector<16x16xbf16>
        %20 = flash.qk %4, %19 : vector<16x16xbf16>, vector<16x16xbf16> -> vector<16x16xf32>
        %diagonal = arith.cmpi sge, %arg8, %15 : index
        %21 = scf.if %diagonal -> (vector<16x16xf32>) {
          %masked = flash.mask %20 at [%3, %arg8] seqlens [%dim_4, %dim_6] causal(top_left) : vector<16x16xf32>
          scf.yield %masked : vector<16x16xf32>
        } else {
          scf.yield %20 : vector<16x16xf32>
        }
        %probs, %new_max, %new_sum, %correction = flash.online_softmax %21, %arg11, %arg10 scale %scale : vector<16x16xf32>, vector<16xf32>
        %22 = arith.truncf %probs : vector<16x16xf32> to vector<16x16xbf16>
        %23 = vector.transfer_read %v[%arg7, %2, %arg8, %c0], %cst_2 {in_bounds = [false, true]} : !data, vector<16x16xbf16>
        %24 = flash.rescale %arg9 by %correction : vector<16x16xf32>, vector<16xf32>
        %25 = flash.pv %22, %23, %24 : vector<16x16xbf16>, vector<16x16xbf16>, vector<16x16xf32>
        scf.yield %25, %new_sum, %new_max : vector<16x16xf32>, vector<16xf32>, vector<16xf32>
      }
      %output, %logsumexp = flash.normalize %16#0, %16#2, %16#1 scale %scale : vector<16x16xf32>, vector<16xf32>
      %18 = arith.truncf %output : vector<16x16xf32> to vector<16x16xbf16>
      vector.transfer_write %18, %o[%arg7, %arg6, %3, %c0] {in_bounds = [false, true]} : vector<16x16xbf16>, !data
      scf.reduce 
    }
    return
  }
}

// -----

!data = memref<?x?x?x16xbf16, strided<[?, ?, ?, 1], offset: ?>>
// expected-error @+1 {{cannot lower to the GPU: flash.attention: is problem-level IR; run the tiling passes first}}
func.func @untiled(%q: !data, %k: !data, %v: !data, %o: !data, %scale: f32)
    attributes {flash.config = #flash.config<block_m = 16, block_n = 16, warps = 1, stages = 2, chip = "sm_80">} {
  flash.attention %q, %k, %v scale %scale into %o : !data, !data, !data -> !data
  return
}

// -----

!data = memref<?x?x?x16xbf16, strided<[?, ?, ?, 1], offset: ?>>
// expected-error @+1 {{cannot lower to the GPU: flash.row_max: belongs to the two-pass form; run flash-fuse-online-softmax first}}
func.func @two_pass(%q: !data, %k: !data, %v: !data, %o: !data, %scale: f32)
    attributes {flash.config = #flash.config<block_m = 16, block_n = 16, warps = 1, stages = 2, chip = "sm_80">} {
  %s = arith.constant dense<0.0> : vector<16x16xf32>
  %m = arith.constant dense<0.0> : vector<16xf32>
  %m1 = flash.row_max %s, %m : vector<16x16xf32>, vector<16xf32>
  return
}

// -----

// The kernel's operands are found by what its tile ops do with them (Q and K read for flash.qk, V for
// flash.pv, O written from flash.normalize), not by their position; an argument that is none of them is named.
!data = memref<?x?x?x16xbf16, strided<[?, ?, ?, 1], offset: ?>>
// expected-error @+1 {{cannot lower to the GPU: argument 4 is none of the kernel's Q, K, V, O, logsumexp and scale}}
func.func @stray_argument(%q: !data, %k: !data, %v: !data, %o: !data, %stray: !data, %scale: f32)
    attributes {flash.config = #flash.config<block_m = 16, block_n = 16, warps = 1, stages = 2, chip = "sm_80">} {
  %c0 = arith.constant 0 : index
  %pad = arith.constant 0.0 : bf16
  %acc = arith.constant dense<0.0> : vector<16x16xf32>
  %rows = arith.constant dense<0.0> : vector<16xf32>
  %qt = vector.transfer_read %q[%c0, %c0, %c0, %c0], %pad : !data, vector<16x16xbf16>
  %kt = vector.transfer_read %k[%c0, %c0, %c0, %c0], %pad : !data, vector<16x16xbf16>
  %vt = vector.transfer_read %v[%c0, %c0, %c0, %c0], %pad : !data, vector<16x16xbf16>
  %s = flash.qk %qt, %kt : vector<16x16xbf16>, vector<16x16xbf16> -> vector<16x16xf32>
  %p = arith.truncf %s : vector<16x16xf32> to vector<16x16xbf16>
  %a = flash.pv %p, %vt, %acc : vector<16x16xbf16>, vector<16x16xbf16>, vector<16x16xf32>
  %out, %lse = flash.normalize %a, %rows, %rows scale %scale : vector<16x16xf32>, vector<16xf32>
  %ob = arith.truncf %out : vector<16x16xf32> to vector<16x16xbf16>
  vector.transfer_write %ob, %o[%c0, %c0, %c0, %c0] : vector<16x16xbf16>, !data
  return
}

// -----

// Two 16-row groups per warp at head_dim 128 (block_m 128 over 4 warps): the query tile stays in shared
// memory after the K/V buffers (2 stages x 2 x 32 rows + 128 rows, of 272 bytes) and Q·Kᵀ reads its
// fragments with ldmatrix.x4 inside the key loop; nothing is loaded into registers before it. Nobody
// waits for the query's copy group before the loop: the first key block's wait covers this older group.
// RUN: flashjit ir --stage scheduled --head-dim 128 --block-m 128 --warps 4 --block-n 32 --chip sm_90 \
// RUN:   | flashjit-opt -flash-lower-to-gpu | FileCheck %s --check-prefix=QSHARED
// QSHARED:      flash.shared_memory = 69632 : i64
// QSHARED:      nvvm.cp.async.commit.group
// QSHARED-NOT:  nvvm.cp.async.wait.group
// QSHARED-NOT:  nvvm.ldmatrix
// QSHARED:      nvvm.cp.async.commit.group
// QSHARED-NOT:  nvvm.cp.async.wait.group
// QSHARED-NOT:  nvvm.ldmatrix
// QSHARED:      scf.for
// QSHARED:      nvvm.cp.async.wait.group 0
// QSHARED-NEXT: nvvm.barrier0
// QSHARED:      nvvm.ldmatrix {{.*}}num = 4
// With two row groups every K fragment feeds two MMAs already; it is read one slice at a time (.x2).
// QSHARED:      nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<row>, num = 2
// Conditional rescaling: the warp votes whether some row's maximum grew past the threshold (2^8), and
// only then multiplies the 128 accumulator registers by the corrections.
// QSHARED:      arith.cmpf ogt, {{.*}}, %cst{{.*}} : f32
// QSHARED:      %[[UPDATE:.*]] = nvvm.vote.sync any %{{.*}}, %{{.*}} -> i1
// QSHARED:      scf.if %[[UPDATE]] -> (f32, {{.*}}) {
// QSHARED-NEXT:   arith.mulf
// QSHARED:      } else {
// QSHARED-NEXT:   scf.yield

// Without the query tile in shared memory every row moves to its new maximum: no vote, no branch. Its 128
// rows do not fit in the last stage's K/V bytes (2 x 32 rows), so the query is staged at the start of
// shared memory and loaded into registers before the prologue's first K/V copy.
// RUN: flashjit ir --stage scheduled --head-dim 64 --block-m 128 --warps 4 --block-n 32 --chip sm_90 \
// RUN:   | flashjit-opt -flash-lower-to-gpu | FileCheck %s --check-prefix=ALWAYS
// ALWAYS:      nvvm.cp.async.commit.group
// ALWAYS-NOT:  nvvm.cp.async.commit.group
// ALWAYS:      nvvm.cp.async.wait.group 0
// ALWAYS-NEXT: nvvm.barrier0
// ALWAYS:      nvvm.ldmatrix
// ALWAYS:      nvvm.barrier0
// ALWAYS:      nvvm.cp.async.commit.group
// ALWAYS-NOT:  nvvm.cp.async.wait.group
// Each row's block maximum in four chains: the first four max ops take the running maximum and scores,
// none of them another's result.
// ALWAYS:      scf.for
// ALWAYS-NOT:  nvvm.vote.sync
// ALWAYS:      nvvm.mma.sync
// ALWAYS:      arith.maxnumf %arg{{[0-9]+}}, %{{[0-9]+}}#{{[0-9]+}} : f32
// ALWAYS-NEXT: arith.maxnumf %{{[0-9]+}}#{{[0-9]+}}, %{{[0-9]+}}#{{[0-9]+}} : f32
// ALWAYS-NEXT: arith.maxnumf %{{[0-9]+}}#{{[0-9]+}}, %{{[0-9]+}}#{{[0-9]+}} : f32
// ALWAYS-NEXT: arith.maxnumf %{{[0-9]+}}#{{[0-9]+}}, %{{[0-9]+}}#{{[0-9]+}} : f32
// ALWAYS-NOT:  nvvm.vote.sync
// After the loop, the output and the logsumexp share one fresh read of the block index.
// ALWAYS:      llvm.call_intrinsic "llvm.nvvm.rcp.approx.ftz.f"
// ALWAYS:      "mov.u32 $0, %ctaid.x;"
// ALWAYS-NOT:  %ctaid.x
// ALWAYS:      llvm.store {{.*}} : f32, !llvm.ptr<1>
// ALWAYS-NOT:  %ctaid.x
// ALWAYS:      llvm.return

// Hopper (sm_90a), 16 rows per warp in whole warpgroups and 64-key blocks: Q·Kᵀ and P·V on wgmma. The Q,
// K and V tiles are copied into the 128-byte swizzled layout (16-byte piece p of row n at p ^ (n % 8);
// shared memory aligned to the 1024-byte swizzle atom) and made visible to wgmma's async proxy before the
// block's wgmma. No block barrier in the key loop: a ring of mbarriers (per slot: full, tracking every
// thread's cp.async copies with cp.async.mbarrier.arrive.noinc, waited with try_wait.parity before Q·Kᵀ;
// empty, arrived on by every thread after its P·V retires and waited before the slot's next copy; one more
// for the query). Q·Kᵀ: one wgmma.m64n64k16 per 16 columns of head_dim, A = Q and B = K through K-major
// descriptors (swizzle mode 1 in bits 62-63, 1024-byte atom stride in bits 32-45, leading offset 16:
// 0x4000004000010000, computed once per tile and stepped by 64-bit adds); the first overwrites the
// accumulator (scale-d 0) and takes no accumulator inputs. P·V: one per 16 keys, A = the
// packed probabilities, B = V MN-major (transposed, leading offset 64 x 128 bytes between 64-column
// chunks: 0x4000004002000000). No ldmatrix anywhere (the query is not loaded into registers) and no
// mma.sync in the loop. block_n = head_dim: both products are m64n64k16 (with Q in registers, ptxas gave
// P the query's registers there).
// RUN: flashjit ir --stage scheduled --head-dim 64 --block-m 64 --warps 4 --block-n 64 --chip sm_90a \
// RUN:   | flashjit-opt -flash-lower-to-gpu | FileCheck %s --check-prefix=WGMMA
// WGMMA:      llvm.mlir.global external @flash_shared_memory() {addr_space = 3 : i32, alignment = 1024 : i64}
// WGMMA-COUNT-5: nvvm.mbarrier.init {{.*}}, %c128_i32
// WGMMA:      nvvm.barrier0
// WGMMA-NOT:  nvvm.ldmatrix
// WGMMA:      arith.xori
// WGMMA:      nvvm.cp.async.shared.global
// WGMMA:      nvvm.cp.async.mbarrier.arrive {{.*}} {noinc = true}
// WGMMA:      mbarrier.try_wait.parity
// WGMMA:      nvvm.cp.async.mbarrier.arrive {{.*}} {noinc = true}
// WGMMA-NOT:  nvvm.ldmatrix
// WGMMA:      mbarrier.try_wait.parity
// WGMMA-NEXT: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// WGMMA:      scf.for
// WGMMA-NOT:    nvvm.barrier0
// WGMMA:        mbarrier.try_wait.parity
// WGMMA-NEXT:   nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// WGMMA-NOT:    nvvm.barrier0
// WGMMA-NOT:    nvvm.ldmatrix
// WGMMA:        arith.constant 4611686293305360384 : i64
// WGMMA:        nvvm.wgmma.fence.aligned
// WGMMA:        llvm.inline_asm has_side_effects "{\0A.reg .pred p;\0Asetp.ne.b32 p, $34, 0;\0Awgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {$0, {{.*}}, $31}, $32, $33, p, 1, 1, 0, 0;\0A}"
// WGMMA-SAME:     "=f,{{.*}},=f,l,l,r" {{.*}} : (i64, i64, i32)
// WGMMA:        arith.addi {{.*}} : i64
// WGMMA:        wgmma.mma_async.sync.aligned.m64n64k16{{.*}}p, 1, 1, 0, 0;{{.*}}"=f,{{.*}},l,l,r,0,{{.*}},31"
// WGMMA-COUNT-2: wgmma.mma_async.sync.aligned.m64n64k16{{.*}}p, 1, 1, 0, 0;
// WGMMA-NOT:    wgmma.mma_async
// WGMMA:        nvvm.wgmma.commit.group.sync.aligned
// WGMMA-NEXT:   nvvm.wgmma.wait.group.sync.aligned 0
// WGMMA-NOT:    nvvm.mma.sync
// WGMMA-NOT:    nvvm.ldmatrix
// WGMMA:        arith.constant 4611686293338849280 : i64
// WGMMA:        nvvm.wgmma.fence.aligned
// WGMMA-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16{{.*}}p, 1, 1, 1;
// WGMMA-NOT:    wgmma.mma_async
// WGMMA:        nvvm.wgmma.commit.group.sync.aligned
// WGMMA-NEXT:   nvvm.wgmma.wait.group.sync.aligned 0
// WGMMA-NEXT:   nvvm.mbarrier.arrive
// WGMMA-NOT:    nvvm.mma.sync
// WGMMA-NOT:    nvvm.barrier0
// WGMMA:        scf.yield

// wg_overlap (FlashAttention-3's intra-warpgroup overlap): each iteration issues its Q·Kᵀ and then the
// previous block's P·V (carried by the loop; P = 0 on the first), waits for the first (wait_group 1), runs
// the softmax (pinned by an empty asm before the next wait, so that LLVM cannot sink it past the wait),
// waits for the P·V (wait_group 0), releases its slot, issues the next copy into it, then packs P (after the
// wait: the new P would otherwise take the registers the P·V still reads); the last block's P·V follows
// the loop.
// RUN: flashjit ir --stage scheduled --head-dim 64 --block-m 64 --warps 4 --block-n 64 --chip sm_90a --wg-overlap \
// RUN:   | flashjit-opt -flash-lower-to-gpu | FileCheck %s --check-prefix=OVERLAP
// OVERLAP:      scf.for
// OVERLAP:        mbarrier.try_wait.parity
// OVERLAP:        nvvm.wgmma.fence.aligned
// OVERLAP-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16{{.*}}p, 1, 1, 0, 0;
// OVERLAP-NOT:    wgmma.mma_async
// OVERLAP:        nvvm.wgmma.commit.group.sync.aligned
// OVERLAP-NOT:    nvvm.wgmma.wait.group
// OVERLAP:        arith.constant 4611686293338849280 : i64
// OVERLAP:        nvvm.wgmma.fence.aligned
// OVERLAP-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16{{.*}}p, 1, 1, 1;
// OVERLAP-NOT:    wgmma.mma_async
// OVERLAP:        nvvm.wgmma.commit.group.sync.aligned
// OVERLAP-NEXT:   nvvm.wgmma.wait.group.sync.aligned 1
// OVERLAP-NEXT:   llvm.inline_asm has_side_effects "", "=f,
// OVERLAP-NOT:    nvvm.wgmma.wait.group
// OVERLAP:        llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// OVERLAP-NOT:    nvvm.wgmma.wait.group
// OVERLAP:        llvm.inline_asm has_side_effects "", "=f,
// OVERLAP:        nvvm.wgmma.wait.group.sync.aligned 0
// OVERLAP:        scf.if
// OVERLAP-NEXT:     nvvm.mbarrier.arrive
// OVERLAP:        scf.if
// OVERLAP:          mbarrier.try_wait.parity
// OVERLAP:          nvvm.cp.async.mbarrier.arrive {{.*}} {noinc = true}
// OVERLAP:        llvm.fptrunc
// OVERLAP-NOT:    wgmma.mma_async
// OVERLAP-NOT:    nvvm.mma.sync
// OVERLAP-NOT:    nvvm.barrier0
// OVERLAP:        scf.yield
// OVERLAP:      scf.if
// OVERLAP:        nvvm.wgmma.fence.aligned
// OVERLAP-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16{{.*}}p, 1, 1, 1;
// OVERLAP:        nvvm.wgmma.commit.group.sync.aligned
// OVERLAP-NEXT:   nvvm.wgmma.wait.group.sync.aligned 0

// tma: the kernel takes the K and V tensor maps after the scale (128-byte CUtensorMap values in the
// parameter space: byval, 64-byte aligned, grid_constant); the full mbarriers expect one arrival; thread 0
// waits for the slot's empty mbarrier, announces 2 x 64 x 128 x 2 bytes and loads each 64-column box of K
// and V by TMA at (column, block start, K/V head, batch); no thread copies K or V with cp.async (the query
// still does).
// RUN: flashjit ir --stage scheduled --head-dim 128 --block-m 64 --warps 4 --block-n 64 --chip sm_90a --tma \
// RUN:   | flashjit-opt -flash-lower-to-gpu | FileCheck %s --check-prefix=TMA
// TMA:        llvm.func @attention_fwd_d128_bf16_lse({{.*}}, %arg30: f32, %arg31: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant}, %arg32: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant})
// TMA-COUNT-2: nvvm.mbarrier.init {{.*}}, %c1_i32
// TMA-COUNT-3: nvvm.mbarrier.init {{.*}}, %c128_i32
// TMA:        nvvm.cp.async.shared.global
// TMA:        arith.cmpi eq, %0, %c0_i32
// TMA:          mbarrier.try_wait.parity
// TMA:          "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;", "r,r,~{memory}" %{{.*}}, %c32768_i32
// TMA:          cp.async.bulk.tensor.4d{{.*}} %arg31, %c0_i32
// TMA:          cp.async.bulk.tensor.4d{{.*}} %arg31, %c64_i32
// TMA:          cp.async.bulk.tensor.4d{{.*}} %arg32, %c0_i32
// TMA:          cp.async.bulk.tensor.4d{{.*}} %arg32, %c64_i32
// TMA:        scf.for
// TMA-NOT:      nvvm.cp.async.shared.global
// TMA:          cp.async.bulk.tensor.4d
// TMA-NOT:      nvvm.cp.async.shared.global
// TMA:          scf.yield

// warp_specialized (with tma): one more warpgroup (384 threads for 8 warps). K and V have rings of their
// own: full mbarriers (one arrival) and empty ones (the 256 computing threads) for K, the query's, then the
// same for V. The producer warpgroup gives registers back (setmaxnreg 24), its first thread loads every key
// block of the loop, K then V, each after its slot's release, and the warpgroup exits; the others take 240
// registers. With wg_overlap and two computing warpgroups, ping-pong: warpgroup 1 lets warpgroup 0 go first,
// then each waits on its own named barrier before its wgmmas and arrives on the other's after them. K's slot
// is released after the Q·Kᵀ wait, V's after the P·V's. Each computing warpgroup copies its own 64 query
// rows (thread tid % 128, 8 copies each) and arrives on its own query mbarrier (128 arrivals; the address
// from the warpgroup index shuffled from lane 0, which ptxas knows to be uniform); after the loop it stages
// its 64 output rows in those query rows (32 4-byte stores) and stores them (8 16-byte loads and stores),
// between barriers of its own 128 threads: no barrier of all the computing threads.
// RUN: flashjit ir --stage scheduled --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized --wg-overlap | flashjit-opt -flash-lower-to-gpu | FileCheck %s --check-prefix=WS
// WS:          llvm.func @attention_fwd_d128_bf16_lse({{.*}}nvvm.maxntid = array<i32: 384, 1, 1>
// WS-COUNT-2:  nvvm.mbarrier.init {{.*}}, %c1_i32
// WS-COUNT-2:  nvvm.mbarrier.init {{.*}}, %c256_i32
// WS-COUNT-2:  nvvm.mbarrier.init {{.*}}, %c128_i32
// WS-COUNT-2:  nvvm.mbarrier.init {{.*}}, %c1_i32
// WS-COUNT-2:  nvvm.mbarrier.init {{.*}}, %c256_i32
// WS:          arith.cmpi slt, %0, %c256_i32
// WS:          scf.if
// WS:            arith.remui %0, %c128_i32
// WS-COUNT-8:    nvvm.cp.async.shared.global
// WS-NOT:        nvvm.cp.async.shared.global
// WS:            %[[WG:.*]] = nvvm.shfl.sync{{ +}}idx
// WS-NEXT:       arith.constant 8
// WS-NEXT:       arith.muli %[[WG]]
// WS:            nvvm.cp.async.mbarrier.arrive
// WS:          arith.cmpi uge, %{{.*}}, %c8_i32
// WS:            nvvm.setmaxregister decrease 24
// WS:            arith.cmpi eq, %0, %c256_i32
// WS:              scf.for
// WS:                mbarrier.try_wait.parity
// WS:                "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;", "r,r,~{memory}" %{{.*}}, %c32768_i32
// WS-COUNT-2:        cp.async.bulk.tensor.4d{{.*}} %arg31
// WS:                mbarrier.try_wait.parity
// WS:                "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;", "r,r,~{memory}" %{{.*}}, %c32768_i32
// WS-COUNT-2:        cp.async.bulk.tensor.4d{{.*}} %arg32
// WS:            nvvm.exit
// WS:          nvvm.setmaxregister increase 240
// WS:          arith.cmpi uge, %{{.*}}, %c4_i32
// WS:          scf.if
// WS:            "bar.arrive $0, $1;", "r,r,~{memory}" %c2_i32{{.*}}, %c256_i32
// WS:          scf.for
// WS-NOT:        cp.async.bulk.tensor
// WS:            "bar.sync $0, $1;"
// WS:            wgmma.mma_async
// WS:            "bar.arrive $0, $1;"
// WS-NEXT:       nvvm.wgmma.wait.group.sync.aligned 1
// WS:            nvvm.mbarrier.arrive
// WS:            nvvm.wgmma.wait.group.sync.aligned 0
// WS:            nvvm.mbarrier.arrive
// WS-NOT:      nvvm.barrier
// WS:          "bar.sync $0, $1;", "r,r,~{memory}" %{{.*}}, %c128_i32
// WS-COUNT-32: llvm.store {{.*}} : i32, !llvm.ptr<3>
// WS:          "bar.sync $0, $1;", "r,r,~{memory}" %{{.*}}, %c128_i32
// WS-COUNT-8:  llvm.load {{.*}} : !llvm.ptr<3> -> vector<4xi32>
// WS-NOT:      nvvm.barrier
// WS:          llvm.return

// persistent (with a producer warpgroup), three computing warpgroups (12 warps, 192 rows, 512 threads),
// no mask (LowerToGPUSplitTail.cpp): the tiles go round robin (block, block + gridDim.x, ...), F / G whole
// ones a block, then the block's pieces of the split tail (the launch's last tiles, dealt by key blocks:
// block b takes key blocks [b L / G, (b + 1) L / G) of their L, one piece per tail tile its run touches);
// the block's tile count comes from its run, computed from fresh reads of the block index. The producer and
// the consumers branch off at once, each into a loop over those tiles, with the number of key blocks
// already gone through carried from tile to tile, and each tile's index and key range (a piece's key
// blocks, a whole tile's [0, seqlen_k)) computed afresh. The producer's first thread loads each tile's
// blocks in that range, and does not exit; the consumers take 160
// registers, the last warpgroup lets warpgroup 0 go first once before the tile loop, and each hands over
// to the next one's barrier, round robin (warpgroup 2 to warpgroup 0's, id 2). Each warpgroup copies its
// rows of the first tile's query at the first tile only: each later tile's it copies after the last Q·Kᵀ
// of the tile before (after a barrier of its own 128 threads), before that tile's last P·V. A piece of a
// tile that other blocks share then stores its output, maxima and sums (9 chunks of 16 bytes a thread) to
// the workspace, fences them, and after a barrier of its warpgroup the first thread counts the part in; the
// warpgroup that counts the last (its answer to all 128 threads through bar.red.or.pred) resets the counter
// and merges the other parts from L2. The warpgroup stores its output straight from registers (after one
// more barrier of its own: per row, a 4 x 4 word transpose within each quad, two rounds of shuffles, then
// 16-byte stores, where it writes the tile) and goes on to its next tile: no barrier of all the computing
// threads.
// RUN: flashjit ir --stage scheduled --head-dim 64 --block-m 192 --warps 12 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized --wg-overlap --persistent | flashjit-opt -flash-lower-to-gpu \
// RUN:   | FileCheck %s --check-prefix=PERSIST
// PERSIST:          llvm.func @attention_fwd_d64_bf16_lse({{.*}}%{{.*}}: f32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: !llvm.ptr<1>, %{{.*}}: !llvm.ptr<1>, %{{.*}}: !llvm.ptr {{.*}}nvvm.maxntid = array<i32: 512, 1, 1>
// PERSIST:          %[[BLOCK:.*]] = llvm.inline_asm has_side_effects "mov.u32 $0, %ctaid.x;"
// PERSIST:          %[[STEP:.*]] = llvm.inline_asm has_side_effects "mov.u32 $0, %nctaid.x;"
// PERSIST:          %[[KEYBLOCKS:.*]] = arith.ceildivui %{{.*}}, %c128_i32
// PERSIST:          %[[TAIL:.*]] = arith.muli %{{.*}}, %[[KEYBLOCKS]]
// PERSIST:          %[[FIRST:.*]] = arith.divui %{{.*}}, %[[STEP]]
// PERSIST:          arith.addi %[[BLOCK]], %c1_i32
// PERSIST:          %[[END:.*]] = arith.divui %{{.*}}, %[[STEP]]
// PERSIST:          %[[FULL:.*]] = arith.divui %{{.*}}, %[[STEP]]
// PERSIST:          arith.divui %[[FIRST]], %[[KEYBLOCKS]]
// PERSIST:          arith.ceildivui %[[END]], %[[KEYBLOCKS]]
// PERSIST:          %[[NONEMPTY:.*]] = arith.cmpi ugt, %[[END]], %[[FIRST]]
// PERSIST:          %[[PIECES:.*]] = arith.select %[[NONEMPTY]]
// PERSIST:          %[[TILES:.*]] = arith.addi %[[FULL]], %[[PIECES]]
// PERSIST:          arith.cmpi uge, %{{.*}}, %c12_i32
// PERSIST:            nvvm.setmaxregister decrease 24
// PERSIST:            arith.cmpi eq, %0, %c384_i32
// PERSIST:              scf.for %[[K:.*]] = %{{.*}} to %[[TILES]] step %{{.*}} iter_args(%{{.*}} = %c0_i32{{.*}}) -> (i32)
// PERSIST:                arith.cmpi uge, %[[K]], %{{.*}}
// PERSIST-NEXT:           scf.if %{{.*}} -> (i32)
// PERSIST:                "mov.u32 $0, %ctaid.x;"
// PERSIST:                "mov.u32 $0, %nctaid.x;"
// PERSIST:                arith.cmpi uge, %[[K]], %{{.*}}
// PERSIST-NEXT:           scf.if %{{.*}} -> (i32, i32)
// PERSIST:                  arith.maxui
// PERSIST:                  arith.minui
// PERSIST:                arith.maxsi
// PERSIST:                arith.minsi
// PERSIST:                scf.for
// PERSIST-COUNT-2:          cp.async.bulk.tensor.4d
// PERSIST:                scf.yield %{{.*}} : i32
// PERSIST-NOT:        nvvm.exit
// PERSIST:            nvvm.setmaxregister increase 160
// PERSIST:            arith.cmpi uge, %{{.*}}, %c8_i32
// PERSIST:              "bar.arrive $0, $1;", "r,r,~{memory}" %c2_i32{{.*}}, %c256_i32
// PERSIST:            scf.for %{{.*}} = %{{.*}} to %[[TILES]] step %{{.*}} iter_args({{.*}}) -> (i32)
// PERSIST:                "mov.u32 $0, %ctaid.x;"
// PERSIST:                arith.cmpi eq, %[[TILE:arg[0-9]+]], %c0_i32
// PERSIST-NEXT:           scf.if
// PERSIST-COUNT-4:          nvvm.cp.async.shared.global
// PERSIST-NOT:          cp.async.bulk.tensor
// PERSIST:                "bar.sync $0, $1;"
// PERSIST:                wgmma.mma_async
// PERSIST:                arith.cmpi eq, %{{.*}}, %c3_i32
// PERSIST:                "bar.arrive $0, $1;"
// PERSIST-NOT:          nvvm.barrier
// PERSIST:              %[[COUNT:.*]] = llvm.inline_asm has_side_effects "mov.b32 $0, $1;", "=r,r" %[[TILES]] :
// PERSIST-NEXT:         %[[MORE:.*]] = arith.cmpi slt, %{{.*}}, %[[COUNT]] : i32
// PERSIST-NEXT:         scf.if %[[MORE]] {
// PERSIST:                "bar.sync $0, $1;", "r,r,~{memory}" %{{.*}}, %c128_i32
// PERSIST:                "mov.u32 $0, %ctaid.x;"
// PERSIST-COUNT-4:        nvvm.cp.async.shared.global
// PERSIST:                nvvm.cp.async.mbarrier.arrive %{{.*}} {noinc = true}
// PERSIST:              nvvm.wgmma.wait.group.sync.aligned 0
// PERSIST-NOT:          nvvm.barrier
// PERSIST:              %[[KCOPY:.*]] = llvm.inline_asm has_side_effects "mov.b32 $0, $1;", "=r,r" %[[TILE]]
// PERSIST:              arith.cmpi uge, %[[KCOPY]], %{{.*}}
// PERSIST:              scf.if
// PERSIST:                arith.cmpi ugt
// PERSIST:                scf.if
// PERSIST-COUNT-9:          llvm.store %{{.*}} {alignment = 16 : i64} : vector<4xf32>, !llvm.ptr<1>
// PERSIST-NEXT:             "fence.acq_rel.gpu;"
// PERSIST:                  "bar.sync $0, $1;", "r,r,~{memory}" %{{.*}}, %c128_i32
// PERSIST:                  "atom.acq_rel.gpu.global.add.u32 $0, [$1], 1;"
// PERSIST:                  "st.relaxed.gpu.global.u32 [$0], 0;"
// PERSIST:                  bar.red.or.pred p, $2, 128, q
// PERSIST:                  "fence.acq_rel.gpu;"
// PERSIST:                  scf.for
// PERSIST-COUNT-9:            "ld.global.cg.v4.f32
// PERSIST:              "bar.sync $0, $1;", "r,r,~{memory}" %{{.*}}, %c128_i32
// PERSIST-COUNT-8:      nvvm.shfl.sync bfly
// PERSIST-COUNT-2:      llvm.store %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<1>
// PERSIST-COUNT-8:      nvvm.shfl.sync bfly
// PERSIST-COUNT-2:      llvm.store %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<1>
// PERSIST-NOT:          bar.sync
// PERSIST:              scf.yield %{{.*}} : i32

// -----

// Warpgroups that end the key loop at their own rows' last key (a producer warpgroup, 192-row tiles,
// causal top-left): warpgroup w's rows start 64 x w below the tile's first; padding rows (past seqlen_q)
// take no block, others stop at the last row's key + 1 (or the tile's end if sooner). After the loop's
// last P·V each warpgroup takes its idle turns for the blocks left: the block's K copy waited for, its
// ping-pong turn (wait on its own barrier, arrive on the next one's), K's slot released, V's copy waited
// for and its slot released.
// RUN: flashjit ir --stage scheduled --head-dim 64 --block-m 192 --warps 12 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized --wg-overlap --causal top_left | flashjit-opt -flash-lower-to-gpu \
// RUN:   | FileCheck %s --check-prefix=OWNEND
// OWNEND:      llvm.func @attention_fwd_d64_bf16_causal_tl_lse({{.*}}: i64, %[[SQ:[^:]*]]: i32,
// OWNEND:      nvvm.setmaxregister increase 160
// OWNEND:      %[[ROWS:.*]] = arith.muli %{{.*}}, %c192_i32 : i32
// OWNEND:      %[[FIRST:.*]] = arith.addi %[[ROWS]], %{{.*}} : i32
// OWNEND-NEXT: %[[PADDING:.*]] = arith.cmpi sge, %[[FIRST]], %[[SQ]] : i32
// OWNEND:      %[[LASTROW:.*]] = arith.addi %[[FIRST]], %c63_i32 : i32
// OWNEND-NEXT: %[[LAST:.*]] = arith.minsi %[[LASTROW]], %{{.*}} : i32
// OWNEND:      %[[LAST_VISIBLE:.*]] = arith.addi %[[LAST]], %{{.*}} : i32
// OWNEND:      %[[VISIBLE:.*]] = arith.addi %[[LAST_VISIBLE]], %c1_i32{{.*}} : i32
// OWNEND-NEXT: %[[END:.*]] = arith.minsi %[[UPPER:.*]], %[[VISIBLE]] : i32
// OWNEND-NEXT: %[[OWN:.*]] = arith.select %[[PADDING]], %[[LOWER:.*]], %[[END]] : i32
// OWNEND-NEXT: scf.for %{{.*}} = %[[LOWER]] to %[[OWN]] step %c128_i32 iter_args
// OWNEND:      wgmma.mma_async
// OWNEND:      scf.yield
// OWNEND:      wgmma.mma_async
// OWNEND:      nvvm.mbarrier.arrive
// OWNEND:      %[[IDLE:.*]] = arith.addi %[[LOWER]], %{{.*}} : i32
// OWNEND-NEXT: scf.for %{{.*}} = %[[IDLE]] to %[[UPPER]] step %{{.*}} : i32 {
// OWNEND:        mbarrier.try_wait.parity
// OWNEND:        "bar.sync $0, $1;"
// OWNEND:        "bar.arrive $0, $1;"
// OWNEND:        nvvm.mbarrier.arrive
// OWNEND:        mbarrier.try_wait.parity
// OWNEND:        nvvm.mbarrier.arrive
// OWNEND-NEXT: }
// OWNEND-NOT:  wgmma.mma_async
// OWNEND:      llvm.return

// -----

// The short last key block after the loop (peelsShortLastBlock), one warpgroup, 64-row tiles of 128-key
// blocks, causal: where the loop's upper bound (the tile's key end) lies at most 64 keys into the last
// block, the loop stops before that block, which runs once after it with Q·Kᵀ as n64 wgmmas (the other
// scores -inf) and P·V over its first 64 keys (4 k16 steps instead of 8). The loop body has no such branch.
// RUN: flashjit ir --stage scheduled --head-dim 64 --block-m 64 --warps 4 --block-n 128 --chip sm_90a --tma \
// RUN:   --causal top_left | flashjit-opt -flash-lower-to-gpu | FileCheck %s --check-prefix=PEEL
// PEEL:          arith.divsi
// PEEL-SAME:     %c128_i32
// PEEL-NEXT:     %[[OFFSET:.*]] = arith.muli %{{.*}}, %c128_i32{{.*}} : i32
// PEEL-NEXT:     %[[LAST:.*]] = arith.addi %[[LOWER:[^,]*]], %[[OFFSET]] : i32
// PEEL-NEXT:     %[[ANY:.*]] = arith.cmpi sgt, %[[UPPER:[^,]*]], %[[LOWER]] : i32
// PEEL-NEXT:     %[[LEFT:.*]] = arith.subi %[[UPPER]], %[[LAST]] : i32
// PEEL:          %[[FEW:.*]] = arith.cmpi sle, %[[LEFT]], %c64_i32{{.*}} : i32
// PEEL-NEXT:     %[[PEEL:.*]] = arith.andi %[[ANY]], %[[FEW]] : i1
// PEEL-NEXT:     %[[END:.*]] = arith.select %[[PEEL]], %[[LAST]], %[[UPPER]] : i32
// PEEL-NEXT:     scf.for %{{.*}} = %[[LOWER]] to %[[END]] step %c128_i32
// PEEL-NOT:      scf.if %[[PEEL]]
// PEEL-COUNT-4:  wgmma.mma_async.sync.aligned.m64n128k16
// PEEL-NOT:      wgmma.mma_async
// PEEL-COUNT-8:  wgmma.mma_async.sync.aligned.m64n64k16
// PEEL-NOT:      wgmma.mma_async
// PEEL:          scf.if %[[PEEL]] -> (f32
// PEEL-COUNT-4:  wgmma.mma_async.sync.aligned.m64n64k16
// PEEL-NOT:      wgmma.mma_async
// PEEL:          arith.constant 0xFF800000
// PEEL-NOT:      wgmma.mma_async
// PEEL-COUNT-4:  wgmma.mma_async.sync.aligned.m64n64k16
// PEEL-NOT:      wgmma.mma_async
// PEEL:          } else {
// PEEL-NEXT:       scf.yield
// PEEL-NEXT:     }
// PEEL-NOT:      wgmma.mma_async
// PEEL:          llvm.return

// -----

// The same with the softmax overlapped and ping-pong (d128 128x192, no mask: a seqlen_k tail): the first
// block's Q·Kᵀ ahead of the loop, and a last block of at most 128 keys after it, with Q·Kᵀ as n128
// wgmmas after the previous block's deferred (whole) P·V; the drained P·V after it covers 128 keys (8
// k16 steps instead of 12).
// RUN: flashjit ir --stage scheduled --head-dim 128 --block-m 128 --warps 8 --block-n 192 --chip sm_90a --tma \
// RUN:   --wg-overlap --warp-specialized | flashjit-opt -flash-lower-to-gpu | FileCheck %s --check-prefix=WSTAIL
// WSTAIL:         arith.divsi
// WSTAIL-SAME:    %c192_i32
// WSTAIL:         %[[SHORT:.*]] = arith.cmpi sle, %{{.*}}, %c128_i32{{.*}} : i32
// WSTAIL-NEXT:    %[[AFTER:.*]] = arith.andi %{{.*}}, %[[SHORT]] : i1
// WSTAIL-NEXT:    %[[END:.*]] = arith.select %[[AFTER]], %{{.*}}, %{{.*}} : i32
// WSTAIL:         scf.if
// WSTAIL-COUNT-8: wgmma.mma_async.sync.aligned.m64n192k16
// WSTAIL-NOT:     wgmma.mma_async
// WSTAIL:         scf.for %{{.*}} = %{{.*}} to %[[END]] step %c192_i32
// WSTAIL-COUNT-8: wgmma.mma_async.sync.aligned.m64n192k16
// WSTAIL-COUNT-12: wgmma.mma_async.sync.aligned.m64n128k16
// WSTAIL-NOT:     wgmma.mma_async
// WSTAIL:         scf.if %[[AFTER]] -> (f32
// WSTAIL:         "bar.sync $0, $1;"
// WSTAIL-COUNT-20: wgmma.mma_async.sync.aligned.m64n128k16
// WSTAIL-NOT:     wgmma.mma_async
// WSTAIL:         "bar.arrive $0, $1;"
// WSTAIL:         scf.if %[[AFTER]] -> (f32
// WSTAIL-COUNT-8: wgmma.mma_async.sync.aligned.m64n128k16
// WSTAIL-NOT:     wgmma.mma_async
// WSTAIL:         } else {
// WSTAIL-COUNT-12: wgmma.mma_async.sync.aligned.m64n128k16
// WSTAIL-NOT:     wgmma.mma_async
// WSTAIL:         llvm.return

// -----

// Two consumer warpgroups, pipelined (d64 128x128, persistent, causal): the first key block runs ahead of
// the loop where the tile has one, with its Q·Kᵀ and no P·V, waited for in full; the output starts
// unwritten (an empty asm statement, not zeros) and the loop's first P·V overwrites it: its first wgmma's
// scale-d is the carried flag, false out of the first block. A tile without that block yields P = 0
// from an opaque zero, on its own path.
// RUN: flashjit ir --stage scheduled --head-dim 64 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized --wg-overlap --persistent --causal bottom_right | flashjit-opt -flash-lower-to-gpu \
// RUN:   | FileCheck %s --check-prefix=AHEAD
// AHEAD:           %[[SHORT:.*]] = arith.cmpi sle, %{{.*}}, %c64_i32{{.*}} : i32
// AHEAD-NEXT:      %[[AFTER:.*]] = arith.andi %{{.*}}, %[[SHORT]] : i1
// AHEAD-NEXT:      %[[OWN:.*]] = arith.select %[[AFTER]], %{{.*}}, %{{.*}} : i32
// AHEAD:           llvm.inline_asm has_side_effects "", "=f,=f,
// AHEAD-NOT:       wgmma.mma_async
// AHEAD:           %[[ANY:.*]] = arith.cmpi slt, %[[LOWER:.*]], %[[OWN]] : i32
// AHEAD-NEXT:      %[[FIRST:.*]]:72 = scf.if %[[ANY]]
// AHEAD-COUNT-4:   wgmma.mma_async.sync.aligned.m64n128k16
// AHEAD-NOT:       wgmma.mma_async
// AHEAD:           nvvm.wgmma.wait.group.sync.aligned 0
// AHEAD-NOT:       wgmma.mma_async
// AHEAD:           scf.yield {{.*}}, %true{{[_0-9]*}}, %false{{[_0-9]*}} :
// AHEAD-NEXT:    } else {
// AHEAD-NEXT:      %[[ZERO:.*]] = arith.constant 0 : i32
// AHEAD-NEXT:      llvm.inline_asm has_side_effects "mov.b32 $0, $1;", "=r,r" %[[ZERO]]
// AHEAD:           %[[SECOND:.*]] = arith.addi %[[LOWER]], %c128_i32{{[_0-9]*}} : i32
// AHEAD:           scf.for %{{.*}} = %[[SECOND]] to %[[OWN]] step %c128_i32{{[_0-9]*}} iter_args({{.*}}, %[[ACC:[^ ]*]] = %[[FIRST]]#71)
// AHEAD:           %[[SCALED:.*]] = arith.extui %[[ACC]] : i1 to i32
// AHEAD-NEXT:      llvm.inline_asm {{.*}}wgmma.mma_async.sync.aligned.m64n64k16{{.*}}, %[[SCALED]], %{{.*}}

// The persistent schedule under a causal mask (runtime/PersistentSchedule.h): the kernel takes the tail's
// slice count and divisor after the scale; each block takes its item of a wave at gridDim.x - 1 - block in
// odd waves, and a tile's item is a pair, a middle block or one of the tail's tiles (the tail divided by
// its slice count: the wave-major rank of the query block from the last).
// RUN: flashjit ir --stage scheduled --head-dim 64 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized --wg-overlap --persistent --causal bottom_right | flashjit-opt -flash-lower-to-gpu \
// RUN:   | FileCheck %s --check-prefix=SCHED
// SCHED:          llvm.func @attention_fwd_d64_bf16_causal_br_lse({{.*}}%{{.*}}: f32, %[[TAIL:[^:]*]]: i32, %[[TAILMAGIC:[^:]*]]: i32, %[[TAILSHIFT:[^:]*]]: i32, %{{.*}}: !llvm.ptr {{.*}}
// SCHED:          %[[BLOCK:.*]] = nvvm.read.ptx.sreg.ctaid.x
// SCHED:          %[[STEP:.*]] = nvvm.read.ptx.sreg.nctaid.x
// SCHED:          %[[PAIRWAVES:.*]] = arith.divui %{{.*}}, %[[STEP]]
// SCHED:          %[[REVERSED:.*]] = arith.subi %{{.*}}, %[[BLOCK]]
// SCHED:          %[[SLOT:.*]] = arith.select %{{.*}}, %[[REVERSED]], %[[BLOCK]]
// SCHED:          arith.cmpi ult, %[[SLOT]], %{{.*}}
// SCHED:          scf.for
// SCHED:          "mov.u32 $0, %ctaid.x;"
// SCHED:          "mov.u32 $0, %nctaid.x;"
// SCHED:          arith.select %{{.*}}, %{{.*}}, %{{.*}} : i32
// SCHED:          "mov.b32 $0, $1;", "=r,r" %[[TAIL]]
// SCHED:          arith.mului_extended %{{.*}}, %[[TAILMAGIC]]
// SCHED-NEXT:     %[[RANK:.*]] = arith.shrui %{{.*}}, %[[TAILSHIFT]]
// SCHED:          %[[TAILBLOCK:.*]] = arith.subi %{{.*}}, %[[RANK]]
// SCHED-NEXT:     arith.select %{{.*}}, %{{.*}}, %[[TAILBLOCK]]

// conditional_rescale on the wgmma path (producer warpgroup, the softmax overlap): inside the key loop each
// row keeps its running maximum unless the block raised it past the threshold (2^8), choosing from its own
// compare rather than the warp's vote (its exponentials do not wait for the vote), and the output is
// rescaled, after the previous P·V's wait, only where the vote says some row of the warp moved.
// RUN: flashjit ir --stage scheduled --head-dim 64 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized --wg-overlap --conditional-rescale | flashjit-opt -flash-lower-to-gpu \
// RUN:   | FileCheck %s --check-prefix=CRESCALE
// CRESCALE:          scf.for
// CRESCALE:          nvvm.wgmma.wait.group.sync.aligned 1
// CRESCALE:          %[[MOVES0:.*]] = arith.cmpf ogt, %{{.*}}, %cst{{[_0-9]*}} : f32
// CRESCALE:          %[[MOVES1:.*]] = arith.cmpf ogt, %{{.*}}, %cst{{[_0-9]*}} : f32
// CRESCALE-NEXT:     %[[ANY:.*]] = arith.ori %[[MOVES0]], %[[MOVES1]] : i1
// CRESCALE:          %[[UPDATE:.*]] = nvvm.vote.sync any %{{.*}}, %[[ANY]] -> i1
// CRESCALE-NEXT:     arith.select %[[MOVES0]], %{{.*}}, %{{.*}} : f32
// CRESCALE:          arith.select %[[MOVES1]], %{{.*}}, %{{.*}} : f32
// CRESCALE:          nvvm.wgmma.wait.group.sync.aligned 0
// CRESCALE:          scf.if %[[UPDATE]] -> (f32,
// CRESCALE-NEXT:       arith.mulf
// CRESCALE:          } else {
// CRESCALE-NEXT:       scf.yield

// mma_row_sum (head_dim 64): the first 128 threads fill the tile of ones (bf16 1.0 pairs, 0x3F803F80) and
// fence it for wgmma before the block's barrier; P·V runs 72 columns wide, its descriptor's leading byte
// offset (bits 16-29) the ones' distance from V, 2048 bytes less per 16 keys (-128 << 16 + 128 a step);
// the softmax adds no probabilities (no arith.addf anywhere), and the normalisation reads each row's sum,
// without shuffles, from the accumulator's column 64 (result 32 for row g, 34 for row g + 8).
// RUN: flashjit ir --stage scheduled --head-dim 64 --block-m 64 --warps 4 --block-n 128 --chip sm_90a --tma \
// RUN:   --conditional-rescale --mma-row-sum | flashjit-opt -flash-lower-to-gpu \
// RUN:   | FileCheck %s --check-prefix=ROWSUM --implicit-check-not=arith.addf
// ROWSUM:          arith.constant 1065369472 : i32
// ROWSUM:          llvm.store %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<3>
// ROWSUM-NEXT:     nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// ROWSUM:          nvvm.barrier0
// ROWSUM:          scf.for
// ROWSUM:          %[[ONES:.*]] = llvm.getelementptr %{{.*}}[%c73728_i32]
// ROWSUM-NEXT:     %[[ONESADDR:.*]] = llvm.ptrtoint %[[ONES]]
// ROWSUM-NEXT:     %[[VADDR:.*]] = llvm.ptrtoint
// ROWSUM-NEXT:     %[[DISTANCE:.*]] = arith.subi %[[ONESADDR]], %[[VADDR]] : i32
// ROWSUM:          %[[LEAD:.*]] = arith.shli %{{.*}}, %c12_i64 : i64
// ROWSUM:          arith.ori %{{.*}}, %[[LEAD]] : i64
// ROWSUM:          wgmma.mma_async.sync.aligned.m64n72k16.f32.bf16.bf16
// ROWSUM:          arith.constant -8388480 : i64
// ROWSUM:          wgmma.mma_async.sync.aligned.m64n72k16.f32.bf16.bf16
// ROWSUM:          "llvm.nvvm.rcp.approx.ftz.f"(%[[OUT:.*]]#32)
// ROWSUM:          "llvm.nvvm.lg2.approx.ftz.f"(%[[OUT]]#32)
// ROWSUM:          "llvm.nvvm.rcp.approx.ftz.f"(%[[OUT]]#34)

// -----

// A tile kernel (LowerToGPUTileKernel.cpp; lower-products-to-gpu.mlir): without flash-distribute the products
// to be lowered from.
// expected-error @+1 {{cannot lower to the GPU: flash.mma: has no operand layouts; run flash-distribute first}}
func.func @undistributed(%a: memref<64x64xbf16>, %o: memref<64x64xf32>)
    attributes {flash.config = #flash.config<block_m = 64, block_n = 64, warps = 4, stages = 1, chip = "sm_80">} {
  %c0 = arith.constant 0 : index
  %pad = arith.constant 0.0 : bf16
  %z = arith.constant dense<0.0> : vector<64x64xf32>
  %t = vector.transfer_read %a[%c0, %c0], %pad : memref<64x64xbf16>, vector<64x64xbf16>
  %s = flash.mma %t, %t transposed, %z : vector<64x64xbf16>, vector<64x64xbf16>, vector<64x64xf32>
  vector.transfer_write %s, %o[%c0, %c0] : vector<64x64xf32>, memref<64x64xf32>
  return
}

// -----

// M must split over the warpgroups on sm_90a: 64 rows per 4 warps.
// expected-error @+1 {{cannot lower to the GPU: tile kernel: on sm_90a each warpgroup (4 warps) computes 64 rows of a product, or with M = 64 its share of the columns (a multiple of 8, of 64 where B is MN-major): 4 warps take M = 64, got 128 (N = 128)}}
func.func @rows(%a: memref<128x64xbf16>, %o: memref<128x128xf32>)
    attributes {flash.config = #flash.config<block_m = 128, block_n = 64, warps = 4, stages = 1, chip = "sm_90a">} {
  %c0 = arith.constant 0 : index
  %pad = arith.constant 0.0 : bf16
  %z = arith.constant dense<0.0> : vector<128x128xf32>
  %t = vector.transfer_read %a[%c0, %c0], %pad : memref<128x64xbf16>, vector<128x64xbf16>
  %s = flash.mma %t, %t transposed, %z layouts <a = shared_k_major, b = shared_k_major>
      : vector<128x64xbf16>, vector<128x64xbf16>, vector<128x128xf32>
  vector.transfer_write %s, %o[%c0, %c0] : vector<128x128xf32>, memref<128x128xf32>
  return
}

// -----

// On sm_90a each warpgroup computes 64 rows of every product (M is 16 rows per warp), or with M = 64 its
// share of the columns.
// expected-error @+1 {{cannot lower to the GPU: tile kernel: on sm_90a each warpgroup (4 warps) computes 64 rows of a product, or with M = 64 its share of the columns (a multiple of 8, of 64 where B is MN-major): 4 warps take M = 64, got 32 (N = 64)}}
func.func @products_of_two_heights(%a: memref<64x64xbf16>, %c: memref<32x64xbf16>, %o: memref<64x64xf32>)
    attributes {flash.config = #flash.config<block_m = 64, block_n = 64, warps = 4, stages = 2, chip = "sm_90a">} {
  %c0 = arith.constant 0 : index
  %pad = arith.constant 0.0 : bf16
  %z = arith.constant dense<0.0> : vector<64x64xf32>
  %z2 = arith.constant dense<0.0> : vector<32x64xf32>
  %t = vector.transfer_read %a[%c0, %c0], %pad : memref<64x64xbf16>, vector<64x64xbf16>
  %u = vector.transfer_read %c[%c0, %c0], %pad : memref<32x64xbf16>, vector<32x64xbf16>
  %s = flash.mma %t, %t transposed, %z layouts <a = shared_k_major, b = shared_k_major>
      : vector<64x64xbf16>, vector<64x64xbf16>, vector<64x64xf32>
  %r = flash.mma %u, %t transposed, %z2 layouts <a = shared_k_major, b = shared_k_major>
      : vector<32x64xbf16>, vector<64x64xbf16>, vector<32x64xf32>
  vector.transfer_write %s, %o[%c0, %c0] : vector<64x64xf32>, memref<64x64xf32>
  return
}

// -----

// A layout must say how the tile lies: a B read as it lies ([K][N]) is MN-major, not K-major.
// expected-error @+1 {{cannot lower to the GPU: flash.mma: layout 'shared_k_major' of its B operand contradicts the tile as stored (rows contiguous)}}
func.func @contradicting_layout(%a: memref<64x64xbf16>, %o: memref<64x64xf32>)
    attributes {flash.config = #flash.config<block_m = 64, block_n = 64, warps = 4, stages = 2, chip = "sm_80">} {
  %c0 = arith.constant 0 : index
  %pad = arith.constant 0.0 : bf16
  %z = arith.constant dense<0.0> : vector<64x64xf32>
  %t = vector.transfer_read %a[%c0, %c0], %pad : memref<64x64xbf16>, vector<64x64xbf16>
  %s = flash.mma %t, %t, %z layouts <a = shared_k_major, b = shared_k_major>
      : vector<64x64xbf16>, vector<64x64xbf16>, vector<64x64xf32>
  vector.transfer_write %s, %o[%c0, %c0] : vector<64x64xf32>, memref<64x64xf32>
  return
}

// -----

// An A operand in registers straight from memory is not lowered in tile kernels yet.
// expected-error @+1 {{cannot lower to the GPU: flash.mma: layout 'registers' (A read from memory into registers) is not lowered in tile kernels yet; flash-distribute puts such operands in shared memory}}
func.func @registers_from_memory(%a: memref<64x64xbf16>, %o: memref<64x64xf32>)
    attributes {flash.config = #flash.config<block_m = 64, block_n = 64, warps = 4, stages = 2, chip = "sm_80">} {
  %c0 = arith.constant 0 : index
  %pad = arith.constant 0.0 : bf16
  %z = arith.constant dense<0.0> : vector<64x64xf32>
  %t = vector.transfer_read %a[%c0, %c0], %pad : memref<64x64xbf16>, vector<64x64xbf16>
  %s = flash.mma %t, %t transposed, %z layouts <a = registers, b = shared_k_major>
      : vector<64x64xbf16>, vector<64x64xbf16>, vector<64x64xf32>
  vector.transfer_write %s, %o[%c0, %c0] : vector<64x64xf32>, memref<64x64xf32>
  return
}

// -----

// A tile kernel's tiles must fit the chip's shared memory (two 256x256 tiles of 528-byte padded rows).
// expected-error @+1 {{cannot lower to the GPU: tile kernel: its tiles need 270336 bytes of shared memory; sm_80 allows 166912}}
func.func @too_much_shared_memory(%a: memref<256x256xbf16>, %b: memref<256x256xbf16>, %o: memref<256x256xf32>)
    attributes {flash.config = #flash.config<block_m = 128, block_n = 64, warps = 8, stages = 2, chip = "sm_80">} {
  %c0 = arith.constant 0 : index
  %pad = arith.constant 0.0 : bf16
  %z = arith.constant dense<0.0> : vector<256x256xf32>
  %t = vector.transfer_read %a[%c0, %c0], %pad : memref<256x256xbf16>, vector<256x256xbf16>
  %u = vector.transfer_read %b[%c0, %c0], %pad : memref<256x256xbf16>, vector<256x256xbf16>
  %s = flash.mma %t, %u transposed, %z layouts <a = shared_k_major, b = shared_k_major>
      : vector<256x256xbf16>, vector<256x256xbf16>, vector<256x256xf32>
  vector.transfer_write %s, %o[%c0, %c0] : vector<256x256xf32>, memref<256x256xf32>
  return
}
