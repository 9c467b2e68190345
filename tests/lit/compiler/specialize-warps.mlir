// flash-specialize-warps: where the configuration asks for a producer warpgroup (sm_90a's wgmma path with
// tma and warp_specialized), a flash.warp_specialize at the top of each tile loop: the computing
// warpgroups (warps / 4), the registers each role keeps, and turns(round_robin) (ping-pong) with
// wg_overlap and two or three computing warpgroups. Other kernels are left as they are.
// RUN: flashjit ir --stage causal --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized | flashjit-opt -flash-schedule-tiles -flash-specialize-warps | FileCheck %s --check-prefix=TWO
// RUN: flashjit ir --stage causal --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized --wg-overlap | flashjit-opt -flash-schedule-tiles -flash-specialize-warps \
// RUN:   | FileCheck %s --check-prefix=PINGPONG
// RUN: flashjit ir --stage causal --head-dim 64 --block-m 192 --warps 12 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized --wg-overlap | flashjit-opt -flash-schedule-tiles -flash-specialize-warps \
// RUN:   | FileCheck %s --check-prefix=THREE
// One computing warpgroup takes no turns, even with wg_overlap.
// RUN: flashjit ir --stage causal --head-dim 128 --block-m 64 --warps 4 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized --wg-overlap | flashjit-opt -flash-schedule-tiles -flash-specialize-warps \
// RUN:   | FileCheck %s --check-prefix=ONE
// Without warp_specialized, or off the wgmma path, nothing.
// RUN: flashjit ir --stage causal --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   | flashjit-opt -flash-schedule-tiles -flash-specialize-warps | FileCheck %s --check-prefix=NONE
// RUN: flashjit ir --stage causal --head-dim 64 | flashjit-opt -flash-schedule-tiles -flash-specialize-warps \
// RUN:   | FileCheck %s --check-prefix=NONE
// Specialised once: the scheduled stage replays unchanged.
// RUN: flashjit ir --stage scheduled --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized | flashjit-opt -flash-specialize-warps | FileCheck %s --check-prefix=ONCE

// TWO: flash.tile_loop
// TWO-NEXT: flash.warp_specialize producer(registers = 24) consumers(warpgroups = 2, registers = 240) turns(free)
// PINGPONG: flash.warp_specialize producer(registers = 24) consumers(warpgroups = 2, registers = 240) turns(round_robin)
// THREE: flash.warp_specialize producer(registers = 24) consumers(warpgroups = 3, registers = 160) turns(round_robin)
// ONE: flash.warp_specialize producer(registers = 24) consumers(warpgroups = 1, registers = 256) turns(free)
// NONE-NOT: flash.warp_specialize
// ONCE-COUNT-1: flash.warp_specialize
