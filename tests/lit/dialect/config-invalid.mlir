// The kernel configuration attribute and where it may appear; one error per split.
// RUN: flashjit-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{#flash.config: block_m = 100 is not supported: it must be a multiple of 16 from 16 to 256}}
func.func @block_m() attributes {flash.config = #flash.config<block_m = 100, block_n = 64, warps = 4, stages = 2, chip = "sm_80">} {
  return
}

// -----

// expected-error @+1 {{#flash.config: block_n = 24 is not supported: it must be a multiple of 16 from 16 to 256}}
func.func @block_n() attributes {flash.config = #flash.config<block_m = 128, block_n = 24, warps = 4, stages = 2, chip = "sm_80">} {
  return
}

// -----

// expected-error @+1 {{#flash.config: warps = 6 is not supported: it must be 1, 2, 4, 8, 12 or 16 (12: three warpgroups, sm_90a's wgmma path only)}}
func.func @warps() attributes {flash.config = #flash.config<block_m = 128, block_n = 64, warps = 6, stages = 2, chip = "sm_80">} {
  return
}

// -----

// expected-error @+1 {{#flash.config: block_m = 64 cannot be split over warps = 8: each warp owns a multiple of 16 query rows, so block_m must be a multiple of 16 * warps = 128}}
func.func @rows_per_warp() attributes {flash.config = #flash.config<block_m = 64, block_n = 64, warps = 8, stages = 2, chip = "sm_80">} {
  return
}

// -----

// expected-error @+1 {{#flash.config: stages = 0 is not supported: it must be from 1 to 8}}
func.func @stages() attributes {flash.config = #flash.config<block_m = 128, block_n = 64, warps = 4, stages = 0, chip = "sm_80">} {
  return
}

// -----

// expected-error @+1 {{#flash.config: chip = "sm_75" is not supported: it must be one of sm_80, sm_86, sm_89, sm_90, sm_90a}}
func.func @chip() attributes {flash.config = #flash.config<block_m = 128, block_n = 64, warps = 4, stages = 2, chip = "sm_75">} {
  return
}

// -----

// expected-error @+1 {{#flash.config: warp_specialized needs tma (its producer warpgroup issues TMA loads)}}
func.func @specialized_without_tma() attributes {flash.config = #flash.config<block_m = 128, block_n = 128, warps = 8, stages = 2, chip = "sm_90a", warp_specialized = true>} {
  return
}

// -----

// expected-error @+1 {{#flash.config: persistent needs warp_specialized (its producer warpgroup loads each tile's key blocks ahead)}}
func.func @persistent_without_producer() attributes {flash.config = #flash.config<block_m = 128, block_n = 128, warps = 8, stages = 2, chip = "sm_90a", tma = true, persistent = true>} {
  return
}

// -----

// expected-error @+1 {{'flash.config' must be a #flash.config<...> attribute, got 42 : i64}}
func.func @not_a_config() attributes {flash.config = 42} {
  return
}

// -----

func.func @not_on_a_function() {
  // expected-error @+1 {{'flash.config' belongs on a kernel function (func.func or gpu.func), not on 'arith.constant'}}
  %c = arith.constant {flash.config = #flash.config<block_m = 128, block_n = 64, warps = 4, stages = 2, chip = "sm_80">} 0 : index
  return
}

// -----

// expected-error @+1 {{unknown attribute 'flash.tile' of the flash dialect; expected 'flash.config', 'flash.ptx', 'flash.shared_memory', 'flash.parameters', 'flash.schedule' or 'flash.key_loop'}}
func.func @unknown_attribute() attributes {flash.tile = 1} {
  return
}

// -----

// expected-error @+1 {{'flash.parameters' must be an array of strings (the parameters' names) on a kernel function}}
func.func @parameters_not_names(%a: i32) attributes {flash.parameters = [1]} {
  return
}

// -----

// expected-error @+1 {{'flash.parameters' names 1 parameters; the function has 2}}
func.func @parameters_miscounted(%a: i32, %b: i32) attributes {flash.parameters = ["a"]} {
  return
}

// -----

func.func @ptx_on_a_function() attributes {flash.ptx = ".version 8.0"} {
  // expected-error @-1 {{'flash.ptx' must be a string attribute on a builtin.module}}
  return
}

// -----

// expected-error @+1 {{'flash.ptx' must be a string attribute on a builtin.module}}
module attributes {flash.ptx = 8} {
}

// -----

// expected-error @+1 {{'flash.shared_memory' must be an integer attribute (bytes) on a kernel function}}
module attributes {flash.shared_memory = 1024} {
}

// -----

// expected-error @+1 {{#flash.config: mma_row_sum needs chip sm_90a (its row sums come from the P·V wgmma), got chip sm_90}}
func.func @mma_row_sum_off_hopper_path() attributes {flash.config = #flash.config<block_m = 64, block_n = 64, warps = 4, stages = 2, chip = "sm_90", mma_row_sum = true>} {
  return
}

// -----

// expected-error @+1 {{'flash.schedule' must name a tile schedule (one_per_block, persistent or split_tail) on a kernel function}}
func.func @schedule_unknown() attributes {flash.schedule = "round_robin"} {
  return
}
