// flash-assign-streams: a flash.stream at the top of each tile loop names the operands its key loops read at
// their induction variable (K and V, in the order first read), the ring's slots (the configuration's stages)
// and who loads them: cp_async; tma on sm_90a's wgmma path with tma; tma_producer with a producer warpgroup.
// The key loops' reads become flash.stream_get; a flash.stream_prefetch says where the blocks stages - 1
// ahead may start loading: after Q·Kᵀ, after the mask branch on its scores, or with pipelined products
// before P's conversion; none where a producer warpgroup loads every block.
// RUN: flashjit-opt %s -split-input-file -flash-assign-streams -verify-diagnostics | FileCheck %s
// RUN: flashjit ir --stage causal --head-dim 64 --stages 3 | flashjit-opt -flash-schedule-tiles \
// RUN:   -flash-assign-streams | FileCheck %s --check-prefix=CPASYNC
// RUN: flashjit ir --stage causal --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   | flashjit-opt -flash-schedule-tiles -flash-assign-streams | FileCheck %s --check-prefix=TMA
// RUN: flashjit ir --stage causal --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   --wg-overlap | flashjit-opt -flash-schedule-tiles -flash-schedule-key-loops -flash-assign-streams \
// RUN:   | FileCheck %s --check-prefix=PIPELINED
// The loader is the producer warpgroup where the tile loop has one (flash-specialize-warps); without it,
// a warp-specialised configuration's blocks are loaded by one computing thread.
// RUN: flashjit ir --stage causal --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized | flashjit-opt -flash-schedule-tiles -flash-specialize-warps -flash-assign-streams \
// RUN:   | FileCheck %s --check-prefix=PRODUCER
// RUN: flashjit ir --stage causal --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized | flashjit-opt -flash-schedule-tiles -flash-assign-streams \
// RUN:   | FileCheck %s --check-prefix=TMA
// tma on a shape off the wgmma path (block_n 32) loads with cp.async.
// RUN: flashjit ir --stage causal --head-dim 64 --block-n 32 --chip sm_90a --tma | flashjit-opt \
// RUN:   -flash-schedule-tiles -flash-assign-streams | FileCheck %s --check-prefix=CPASYNC2
// Assigned once: the scheduled stage replays unchanged.
// RUN: flashjit ir --stage scheduled --head-dim 64 | flashjit-opt -flash-assign-streams \
// RUN:   | FileCheck %s --check-prefix=ONCE

// A key loop with a mask branch (here the sequence tail's; 3 stages: two blocks ahead): K's block, the
// start two blocks on, Q·Kᵀ, the mask branch, then the prefetch; V's block before P·V.
// CPASYNC: flash.tile_loop
// CPASYNC-NEXT: flash.stream %{{.*}}, %{{.*}} stages(3) load(cp_async)
// CPASYNC: scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %[[STEP:[^ ]*]]
// CPASYNC-NEXT: %[[KB:.*]] = flash.stream_get %arg1[%{{.*}}, %{{.*}}, %[[J]]] : {{.*}} -> vector<128x64xbf16>
// CPASYNC-NEXT: %[[AHEAD:.*]] = arith.addi %[[J]], %c256 : index
// CPASYNC-NEXT: flash.qk %{{.*}}, %[[KB]]
// CPASYNC: scf.if
// CPASYNC: flash.mask
// CPASYNC: } else {
// CPASYNC: }
// CPASYNC-NEXT: flash.stream_prefetch %[[AHEAD]]
// CPASYNC-NEXT: flash.online_softmax
// CPASYNC: %[[VB:.*]] = flash.stream_get %arg2[%{{.*}}, %{{.*}}, %[[J]]]
// CPASYNC: flash.pv %{{.*}}, %[[VB]]
// CPASYNC-NOT: vector.transfer_read %arg1
// CPASYNC-NOT: vector.transfer_read %arg2
// TMA: flash.stream %{{.*}}, %{{.*}} stages(2) load(tma)
// TMA: flash.stream_prefetch
// Pipelined products (the loop's #flash.key_loop, flash-schedule-key-loops): the prefetch waits for the
// previous block's P·V, which reads the slot; it comes just before P's conversion.
// PIPELINED: flash.stream %{{.*}}, %{{.*}} stages(2) load(tma)
// PIPELINED: flash.online_softmax
// PIPELINED-NEXT: flash.stream_prefetch
// PIPELINED-NEXT: arith.truncf
// PRODUCER: flash.stream %{{.*}}, %{{.*}} stages(2) load(tma_producer)
// PRODUCER: flash.stream_get %arg1
// PRODUCER-NOT: flash.stream_prefetch
// CPASYNC2: flash.stream %{{.*}}, %{{.*}} stages(2) load(cp_async)
// ONCE-COUNT-1: flash.stream %

// Without a mask the prefetch follows Q·Kᵀ (4 stages: three blocks of 16 ahead).
// CHECK-LABEL: func.func @kernel
// CHECK: flash.tile_loop
// CHECK-NEXT: flash.stream %arg1, %arg2 stages(4) load(cp_async) : memref<8x16xbf16>, memref<8x16xbf16>
// CHECK-NOT: flash.stream %
// CHECK: scf.for %[[J:.*]] = %c0 to %arg3 step %c16
// CHECK-NEXT: %[[KB:.*]] = flash.stream_get %arg1[%[[J]]] : memref<8x16xbf16> -> vector<16x16xbf16>
// CHECK-NEXT: %[[AHEAD:.*]] = arith.addi %[[J]], %c48
// CHECK-NEXT: flash.qk %{{.*}}, %[[KB]]
// CHECK-NEXT: flash.stream_prefetch %[[AHEAD]]
// CHECK-NEXT: flash.stream_get %arg2[%[[J]]] : memref<8x16xbf16> -> vector<16x16xbf16>
func.func @kernel(%q: memref<8x16xbf16>, %k: memref<8x16xbf16>, %v: memref<8x16xbf16>, %n: index)
    attributes {flash.config = #flash.config<block_m = 16, block_n = 16, warps = 1, stages = 4, chip = "sm_80">} {
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %pad = arith.constant 0.0 : bf16
  flash.tile_loop (%qb, %h, %b) in (%n, %n, %n) schedule(one_per_block) {
    %qt = vector.transfer_read %q[%qb, %c0], %pad : memref<8x16xbf16>, vector<16x16xbf16>
    scf.for %j = %c0 to %n step %c16 {
      %kt = vector.transfer_read %k[%j, %c0], %pad : memref<8x16xbf16>, vector<16x16xbf16>
      %s = flash.qk %qt, %kt : vector<16x16xbf16>, vector<16x16xbf16> -> vector<16x16xf32>
      %vt = vector.transfer_read %v[%j, %c0], %pad : memref<8x16xbf16>, vector<16x16xbf16>
    }
  }
  return
}

// -----

// A streamed read must take whole rows from the loop's row on.
func.func @columns(%q: memref<8x16xbf16>, %k: memref<8x16xbf16>, %n: index)
    attributes {flash.config = #flash.config<block_m = 16, block_n = 16, warps = 1, stages = 2, chip = "sm_80">} {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %pad = arith.constant 0.0 : bf16
  flash.tile_loop (%qb, %h, %b) in (%n, %n, %n) schedule(one_per_block) {
    scf.for %j = %c0 to %n step %c16 {
      // expected-error @+1 {{flash-assign-streams streams whole rows from the block's first row, the key loop's induction variable: read [..., row, 0] into a [rows, columns] tile}}
      %kt = vector.transfer_read %k[%j, %c8], %pad : memref<8x16xbf16>, vector<16x8xbf16>
    }
  }
  return
}

// -----

// Its key loop must compute a product of the block: after it the next blocks start loading.
func.func @no_product(%k: memref<8x16xbf16>, %n: index)
    attributes {flash.config = #flash.config<block_m = 16, block_n = 16, warps = 1, stages = 2, chip = "sm_80">} {
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %pad = arith.constant 0.0 : bf16
  flash.tile_loop (%qb, %h, %b) in (%n, %n, %n) schedule(one_per_block) {
    // expected-error @+1 {{flash-assign-streams: a key loop must compute a product (flash.qk or flash.mma) of the block it streams}}
    scf.for %j = %c0 to %n step %c16 {
      %kt = vector.transfer_read %k[%j, %c0], %pad : memref<8x16xbf16>, vector<16x16xbf16>
    }
  }
  return
}
