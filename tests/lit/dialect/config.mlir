// The kernel configuration round-trips on a kernel function, for every supported chip.
// RUN: flashjit-opt %s | FileCheck %s
// RUN: flashjit-opt %s | flashjit-opt | FileCheck %s

// CHECK: func.func @ampere() attributes {flash.config = #flash.config<block_m = 128, block_n = 64, warps = 4, stages = 2, chip = "sm_80">}
func.func @ampere() attributes {flash.config = #flash.config<block_m = 128, block_n = 64, warps = 4, stages = 2, chip = "sm_80">} {
  return
}
// Parameters may come in any order and print in the declared one.
// CHECK: func.func @ada() attributes {flash.config = #flash.config<block_m = 64, block_n = 32, warps = 4, stages = 3, chip = "sm_89">}
func.func @ada() attributes {flash.config = #flash.config<chip = "sm_89", stages = 3, warps = 4, block_n = 32, block_m = 64>} {
  return
}
// CHECK: #flash.config<block_m = 16, block_n = 16, warps = 1, stages = 1, chip = "sm_86">
func.func @smallest() attributes {flash.config = #flash.config<block_m = 16, block_n = 16, warps = 1, stages = 1, chip = "sm_86">} {
  return
}
// CHECK: #flash.config<block_m = 256, block_n = 256, warps = 16, stages = 8, chip = "sm_90a">
func.func @largest() attributes {flash.config = #flash.config<block_m = 256, block_n = 256, warps = 16, stages = 8, chip = "sm_90a">} {
  return
}
// wg_overlap prints only when true; false is the default and is dropped.
// CHECK: #flash.config<block_m = 128, block_n = 128, warps = 8, stages = 2, chip = "sm_90a", wg_overlap = true>
func.func @overlap() attributes {flash.config = #flash.config<block_m = 128, block_n = 128, warps = 8, stages = 2, chip = "sm_90a", wg_overlap = true>} {
  return
}
// CHECK: #flash.config<block_m = 128, block_n = 128, warps = 8, stages = 2, chip = "sm_90a">}
func.func @no_overlap() attributes {flash.config = #flash.config<block_m = 128, block_n = 128, warps = 8, stages = 2, chip = "sm_90a", wg_overlap = false>} {
  return
}
// CHECK: #flash.config<block_m = 64, block_n = 128, warps = 4, stages = 3, chip = "sm_90a", wg_overlap = true, tma = true>
func.func @tma() attributes {flash.config = #flash.config<block_m = 64, block_n = 128, warps = 4, stages = 3, chip = "sm_90a", tma = true, wg_overlap = true>} {
  return
}
// CHECK: #flash.config<block_m = 128, block_n = 128, warps = 8, stages = 2, chip = "sm_90a", tma = true, warp_specialized = true>
func.func @specialized() attributes {flash.config = #flash.config<block_m = 128, block_n = 128, warps = 8, stages = 2, chip = "sm_90a", warp_specialized = true, tma = true>} {
  return
}
// conditional_rescale prints only when true, on any chip.
// CHECK: #flash.config<block_m = 64, block_n = 64, warps = 4, stages = 2, chip = "sm_80", conditional_rescale = true>
func.func @conditional_rescale() attributes {flash.config = #flash.config<conditional_rescale = true, block_m = 64, block_n = 64, warps = 4, stages = 2, chip = "sm_80">} {
  return
}
// mma_row_sum prints only when true, last.
// CHECK: #flash.config<block_m = 128, block_n = 128, warps = 8, stages = 2, chip = "sm_90a", wg_overlap = true, tma = true, warp_specialized = true, persistent = true, mma_row_sum = true>
func.func @mma_row_sum() attributes {flash.config = #flash.config<mma_row_sum = true, block_m = 128, block_n = 128, warps = 8, stages = 2, chip = "sm_90a", tma = true, warp_specialized = true, wg_overlap = true, persistent = true>} {
  return
}
