// flash-assign-streams: a flash.stream at the top of each tile loop names the operands its key loops read at
// their induction variable (K and V, in the order first read), the ring's slots (the configuration's stages)
// and who loads them: cp_async; tma on sm_90a's wgmma path with tma; tma_producer with a producer warpgroup.
// RUN: flashjit-opt %s -flash-assign-streams | FileCheck %s
// RUN: flashjit ir --stage causal --head-dim 64 --stages 3 | flashjit-opt -flash-schedule-tiles \
// RUN:   -flash-assign-streams | FileCheck %s --check-prefix=CPASYNC
// RUN: flashjit ir --stage causal --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   | flashjit-opt -flash-schedule-tiles -flash-assign-streams | FileCheck %s --check-prefix=TMA
// RUN: flashjit ir --stage causal --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized | flashjit-opt -flash-schedule-tiles -flash-assign-streams \
// RUN:   | FileCheck %s --check-prefix=PRODUCER
// tma on a shape off the wgmma path (block_n 32) loads with cp.async.
// RUN: flashjit ir --stage causal --head-dim 64 --block-n 32 --chip sm_90a --tma | flashjit-opt \
// RUN:   -flash-schedule-tiles -flash-assign-streams | FileCheck %s --check-prefix=CPASYNC2
// Assigned once: the scheduled stage replays unchanged.
// RUN: flashjit ir --stage scheduled --head-dim 64 | flashjit-opt -flash-assign-streams \
// RUN:   | FileCheck %s --check-prefix=ONCE

// CPASYNC: flash.tile_loop
// CPASYNC-NEXT: flash.stream %{{.*}}, %{{.*}} stages(3) load(cp_async)
// TMA: flash.stream %{{.*}}, %{{.*}} stages(2) load(tma)
// PRODUCER: flash.stream %{{.*}}, %{{.*}} stages(2) load(tma_producer)
// CPASYNC2: flash.stream %{{.*}}, %{{.*}} stages(2) load(cp_async)
// ONCE-COUNT-1: flash.stream

// CHECK-LABEL: func.func @kernel
// CHECK: flash.tile_loop
// CHECK-NEXT: flash.stream %arg1, %arg2 stages(4) load(cp_async) : memref<8x16xbf16>, memref<8x16xbf16>
// CHECK-NOT: flash.stream
func.func @kernel(%q: memref<8x16xbf16>, %k: memref<8x16xbf16>, %v: memref<8x16xbf16>, %n: index)
    attributes {flash.config = #flash.config<block_m = 16, block_n = 16, warps = 1, stages = 4, chip = "sm_80">} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %pad = arith.constant 0.0 : bf16
  flash.tile_loop (%qb, %h, %b) in (%n, %n, %n) schedule(one_per_block) {
    %qt = vector.transfer_read %q[%qb, %c0], %pad : memref<8x16xbf16>, vector<1x16xbf16>
    scf.for %j = %c0 to %n step %c1 {
      %kt = vector.transfer_read %k[%j, %c0], %pad : memref<8x16xbf16>, vector<1x16xbf16>
      %vt = vector.transfer_read %v[%j, %c0], %pad : memref<8x16xbf16>, vector<1x16xbf16>
    }
  }
  return
}
