// flash-schedule-key-loops: how each key loop runs its blocks, recorded on the loop as #flash.key_loop.
// pipelined (a block's P·V after the next block's Q·Kᵀ) on the wgmma path with wg_overlap, its first
// block ahead but for three computing warpgroups; short_last_block (a last block whose rows see at most
// that many keys runs after the loop) on the wgmma path with key blocks of 128 or more, not on 256-key
// blocks with pipelined products; warpgroup_ends with a producer warpgroup where a warpgroup's rows can
// miss whole key blocks. A plain loop gets nothing.
// RUN: flashjit ir --stage causal --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a \
// RUN:   | flashjit-opt -flash-schedule-tiles -flash-schedule-key-loops | FileCheck %s --check-prefix=PEEL
// RUN: flashjit ir --stage causal --head-dim 128 --block-m 128 --warps 8 --block-n 192 --chip sm_90a --tma \
// RUN:   --wg-overlap | flashjit-opt -flash-schedule-tiles -flash-schedule-key-loops | FileCheck %s --check-prefix=PIPELINED
// RUN: flashjit ir --stage causal --head-dim 128 --block-m 128 --warps 8 --block-n 256 --chip sm_90a --tma \
// RUN:   --wg-overlap | flashjit-opt -flash-schedule-tiles -flash-schedule-key-loops | FileCheck %s --check-prefix=WIDE
// RUN: flashjit ir --stage causal --head-dim 64 --block-m 192 --warps 12 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized --wg-overlap | flashjit-opt -flash-schedule-tiles -flash-specialize-warps \
// RUN:   -flash-schedule-key-loops | FileCheck %s --check-prefix=THREE
// Per-warpgroup ends need the producer warpgroup: the same kernel without flash-specialize-warps peels.
// RUN: flashjit ir --stage causal --head-dim 64 --block-m 192 --warps 12 --block-n 128 --chip sm_90a --tma \
// RUN:   --warp-specialized --wg-overlap | flashjit-opt -flash-schedule-tiles -flash-schedule-key-loops \
// RUN:   | FileCheck %s --check-prefix=NO-PRODUCER
// RUN: flashjit ir --stage causal --head-dim 64 | flashjit-opt -flash-schedule-tiles -flash-schedule-key-loops \
// RUN:   | FileCheck %s --check-prefix=PLAIN
// RUN: flashjit ir --stage causal --head-dim 128 --block-m 128 --warps 8 --block-n 64 --chip sm_90a \
// RUN:   | flashjit-opt -flash-schedule-tiles -flash-schedule-key-loops | FileCheck %s --check-prefix=PLAIN
// Scheduled once: the scheduled stage replays unchanged.
// RUN: flashjit ir --stage scheduled --head-dim 128 --block-m 128 --warps 8 --block-n 128 --chip sm_90a \
// RUN:   | flashjit-opt -flash-schedule-key-loops | FileCheck %s --check-prefix=PEEL

// PEEL: scf.for
// PEEL: flash.qk
// PEEL: } {flash.key_loop = #flash.key_loop<short_last_block = 64>}
// PIPELINED: } {flash.key_loop = #flash.key_loop<pipelined = true, first_block_ahead = true, short_last_block = 128>}
// WIDE: } {flash.key_loop = #flash.key_loop<pipelined = true, first_block_ahead = true>}
// THREE: } {flash.key_loop = #flash.key_loop<pipelined = true, warpgroup_ends = true>}
// NO-PRODUCER: } {flash.key_loop = #flash.key_loop<pipelined = true, short_last_block = 64>}
// PLAIN-NOT: flash.key_loop
