// flash-schedule-tiles: the kernel's scf.parallel over (query block, head, batch) becomes flash.tile_loop,
// whose schedule follows the configuration: one block per tile, unless the kernel asks to be persistent
// and has the producer warpgroup (sm_90a's wgmma path with tma and warp_specialized); persistent kernels
// without a mask split their last partial wave along the keys.
// RUN: flashjit-opt %s -split-input-file -flash-schedule-tiles -verify-diagnostics | FileCheck %s
// RUN: flashjit ir --stage causal --head-dim 64 --block-m 192 --warps 12 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized --wg-overlap --persistent --causal bottom_right \
// RUN:   | flashjit-opt -flash-schedule-tiles | FileCheck %s --check-prefix=PERSISTENT
// RUN: flashjit ir --stage causal --head-dim 64 --block-m 192 --warps 12 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized --wg-overlap --persistent | flashjit-opt -flash-schedule-tiles \
// RUN:   | FileCheck %s --check-prefix=SPLIT
// Persistent without a producer warpgroup (no warp_specialized) stays one block per tile.
// RUN: flashjit ir --stage causal --head-dim 64 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   | flashjit-opt -flash-schedule-tiles | FileCheck %s --check-prefix=ONE
// The stage replays: scheduled IR reads back and schedules nothing more.
// RUN: flashjit ir --stage scheduled --head-dim 64 | flashjit-opt -flash-schedule-tiles | FileCheck %s --check-prefix=ONE

// PERSISTENT: flash.tile_loop ({{.*}}) in ({{.*}}) schedule(persistent) {
// PERSISTENT-NOT: scf.parallel
// SPLIT: flash.tile_loop ({{.*}}) in ({{.*}}) schedule(split_tail) {
// ONE: flash.tile_loop ({{.*}}) in ({{.*}}) schedule(one_per_block) {
// ONE-NOT: scf.parallel

// The loop's bounds and indices carry over; the body moves as it is, without the loop's terminator.
// CHECK-LABEL: func.func @kernel
// CHECK:         flash.tile_loop (%[[QB:.*]], %[[H:.*]], %[[B:.*]]) in (%arg0, %arg1, %arg2) schedule(one_per_block) {
// CHECK-NEXT:      %[[X:.*]] = arith.addi %[[QB]], %[[H]] : index
// CHECK-NEXT:      arith.addi %[[X]], %[[B]] : index
// CHECK-NEXT:    }
// CHECK-NEXT:    return
func.func @kernel(%qb: index, %h: index, %b: index)
    attributes {flash.config = #flash.config<block_m = 16, block_n = 16, warps = 1, stages = 2, chip = "sm_80">} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.parallel (%i, %j, %k) = (%c0, %c0, %c0) to (%qb, %h, %b) step (%c1, %c1, %c1) {
    %x = arith.addi %i, %j : index
    %y = arith.addi %x, %k : index
  }
  return
}

// -----

func.func @steps(%n: index)
    attributes {flash.config = #flash.config<block_m = 16, block_n = 16, warps = 1, stages = 2, chip = "sm_80">} {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  // expected-error @+1 {{must be the (query block, head, batch) loop from 0 in steps of 1}}
  scf.parallel (%i, %j, %k) = (%c0, %c0, %c0) to (%n, %n, %n) step (%c2, %c2, %c2) {
  }
  return
}

// -----

// expected-error @+1 {{flash-schedule-tiles needs the kernel's #flash.config}}
func.func @no_config(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.parallel (%i, %j, %k) = (%c0, %c0, %c0) to (%n, %n, %n) step (%c1, %c1, %c1) {
  }
  return
}
