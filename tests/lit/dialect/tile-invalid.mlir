// Every verifier error of the tile-level ops, one per split.
// RUN: flashjit-opt %s -split-input-file -verify-diagnostics

func.func @qk_query_rank(%q: vector<64xbf16>, %k: vector<32x64xbf16>) {
  // expected-error @+1 {{'flash.qk' op query tile must be a fixed-size 2-D vector of f16, bf16 or f32, got 'vector<64xbf16>'}}
  %s = flash.qk %q, %k : vector<64xbf16>, vector<32x64xbf16> -> vector<128x32xf32>
  return
}

// -----

func.func @qk_query_element(%q: vector<128x64xi8>, %k: vector<32x64xbf16>) {
  // expected-error @+1 {{query tile must be a fixed-size 2-D vector of f16, bf16 or f32, got 'vector<128x64xi8>'}}
  %s = flash.qk %q, %k : vector<128x64xi8>, vector<32x64xbf16> -> vector<128x32xf32>
  return
}

// -----

func.func @qk_scalable(%q: vector<128x[64]xbf16>, %k: vector<32x64xbf16>) {
  // expected-error @+1 {{query tile must be a fixed-size 2-D vector}}
  %s = flash.qk %q, %k : vector<128x[64]xbf16>, vector<32x64xbf16> -> vector<128x32xf32>
  return
}

// -----

func.func @qk_key_rank(%q: vector<128x64xbf16>, %k: vector<2x32x64xbf16>) {
  // expected-error @+1 {{key tile must be a fixed-size 2-D vector of f16, bf16 or f32, got 'vector<2x32x64xbf16>'}}
  %s = flash.qk %q, %k : vector<128x64xbf16>, vector<2x32x64xbf16> -> vector<128x32xf32>
  return
}

// -----

func.func @qk_key_element(%q: vector<128x64xbf16>, %k: vector<32x64xf16>) {
  // expected-error @+1 {{key tile element type 'f16' differs from the query tile's 'bf16'; Q and K must have the same element type}}
  %s = flash.qk %q, %k : vector<128x64xbf16>, vector<32x64xf16> -> vector<128x32xf32>
  return
}

// -----

func.func @qk_head_dim(%q: vector<128x64xbf16>, %k: vector<32x128xbf16>) {
  // expected-error @+1 {{query tile has head_dim 64 but key tile has 128; they must match}}
  %s = flash.qk %q, %k : vector<128x64xbf16>, vector<32x128xbf16> -> vector<128x32xf32>
  return
}

// -----

func.func @qk_scores_element(%q: vector<128x64xbf16>, %k: vector<32x64xbf16>) {
  // expected-error @+1 {{scores must be a fixed-size 2-D vector of f32, got 'vector<128x32xbf16>'}}
  %s = flash.qk %q, %k : vector<128x64xbf16>, vector<32x64xbf16> -> vector<128x32xbf16>
  return
}

// -----

func.func @qk_scores_shape(%q: vector<128x64xbf16>, %k: vector<32x64xbf16>) {
  // expected-error @+1 {{scores must be vector<128x32xf32> (query rows x key rows), got 'vector<32x128xf32>'}}
  %s = flash.qk %q, %k : vector<128x64xbf16>, vector<32x64xbf16> -> vector<32x128xf32>
  return
}

// -----

func.func @qk_not_vector(%q: tensor<128x64xbf16>, %k: vector<32x64xbf16>) {
  // expected-error @+1 {{operand #0 must be query tile (a vector), but got 'tensor<128x64xbf16>'}}
  %s = "flash.qk"(%q, %k) : (tensor<128x64xbf16>, vector<32x64xbf16>) -> vector<128x32xf32>
  return
}

// -----

func.func @mask_element(%s: vector<128x32xf16>, %i: index) {
  // expected-error @+1 {{'flash.mask' op scores must be a fixed-size 2-D vector of f32, got 'vector<128x32xf16>'}}
  %m = flash.mask %s at [%i, %i] seqlens [%i, %i] : vector<128x32xf16>
  return
}

// -----

func.func @row_max_length(%s: vector<128x32xf32>, %m: vector<64xf32>) {
  // expected-error @+1 {{'flash.row_max' op running max must be vector<128xf32>, one f32 per query row of the tile, got 'vector<64xf32>'}}
  %r = flash.row_max %s, %m : vector<128x32xf32>, vector<64xf32>
  return
}

// -----

func.func @row_max_scores(%s: vector<128xf32>, %m: vector<128xf32>) {
  // expected-error @+1 {{'flash.row_max' op scores must be a fixed-size 2-D vector of f32, got 'vector<128xf32>'}}
  %r = flash.row_max %s, %m : vector<128xf32>, vector<128xf32>
  return
}

// -----

func.func @exp_scores_row_max(%s: vector<128x32xf32>, %m: vector<128xf16>, %scale: f32) {
  // expected-error @+1 {{'flash.exp_scores' op row max must be vector<128xf32>, one f32 per query row of the tile, got 'vector<128xf16>'}}
  %p, %l = flash.exp_scores %s, %m, %m scale %scale : vector<128x32xf32>, vector<128xf16>
  return
}

// -----

func.func @exp_scores_scores(%s: vector<128x32xbf16>, %m: vector<128xf32>, %scale: f32) {
  // expected-error @+1 {{'flash.exp_scores' op scores must be a fixed-size 2-D vector of f32}}
  %p, %l = flash.exp_scores %s, %m, %m scale %scale : vector<128x32xbf16>, vector<128xf32>
  return
}

// -----

func.func @exp_scores_sum_type(%s: vector<128x32xf32>, %m: vector<128xf32>, %l: vector<64xf32>, %scale: f32) {
  // expected-error @+1 {{'flash.exp_scores' op failed to verify that all of {row_max, running_sum, new_sum} have same type}}
  %p, %l1 = "flash.exp_scores"(%s, %m, %l, %scale) : (vector<128x32xf32>, vector<128xf32>, vector<64xf32>, f32) -> (vector<128x32xf32>, vector<64xf32>)
  return
}

// -----

func.func @online_softmax_running_max(%s: vector<128x32xf32>, %m: vector<2x64xf32>, %scale: f32) {
  // expected-error @+1 {{'flash.online_softmax' op running max must be vector<128xf32>, one f32 per query row of the tile, got 'vector<2x64xf32>'}}
  %p, %m1, %l1, %a = flash.online_softmax %s, %m, %m scale %scale : vector<128x32xf32>, vector<2x64xf32>
  return
}

// -----

func.func @online_softmax_scores(%s: vector<4x128x32xf32>, %m: vector<128xf32>, %scale: f32) {
  // expected-error @+1 {{'flash.online_softmax' op scores must be a fixed-size 2-D vector of f32, got 'vector<4x128x32xf32>'}}
  %p, %m1, %l1, %a = flash.online_softmax %s, %m, %m scale %scale : vector<4x128x32xf32>, vector<128xf32>
  return
}

// -----

func.func @rescale_factor(%acc: vector<128x64xf32>, %alpha: vector<32xf32>) {
  // expected-error @+1 {{'flash.rescale' op rescale factor must be vector<128xf32>, one f32 per query row of the tile, got 'vector<32xf32>'}}
  %r = flash.rescale %acc by %alpha : vector<128x64xf32>, vector<32xf32>
  return
}

// -----

func.func @rescale_accumulator(%acc: vector<128x64xbf16>, %alpha: vector<128xf32>) {
  // expected-error @+1 {{'flash.rescale' op accumulator must be a fixed-size 2-D vector of f32, got 'vector<128x64xbf16>'}}
  %r = flash.rescale %acc by %alpha : vector<128x64xbf16>, vector<128xf32>
  return
}

// -----

func.func @pv_probs_rank(%p: vector<128xbf16>, %v: vector<32x64xbf16>, %acc: vector<128x64xf32>) {
  // expected-error @+1 {{'flash.pv' op probabilities must be a fixed-size 2-D vector of f16, bf16 or f32, got 'vector<128xbf16>'}}
  %r = flash.pv %p, %v, %acc : vector<128xbf16>, vector<32x64xbf16>, vector<128x64xf32>
  return
}

// -----

func.func @pv_value_rank(%p: vector<128x32xbf16>, %v: vector<32xbf16>, %acc: vector<128x64xf32>) {
  // expected-error @+1 {{'flash.pv' op value tile must be a fixed-size 2-D vector of f16, bf16 or f32, got 'vector<32xbf16>'}}
  %r = flash.pv %p, %v, %acc : vector<128x32xbf16>, vector<32xbf16>, vector<128x64xf32>
  return
}

// -----

func.func @pv_element(%p: vector<128x32xf32>, %v: vector<32x64xbf16>, %acc: vector<128x64xf32>) {
  // expected-error @+1 {{probabilities element type 'f32' differs from the value tile's 'bf16'; convert P with arith.truncf first}}
  %r = flash.pv %p, %v, %acc : vector<128x32xf32>, vector<32x64xbf16>, vector<128x64xf32>
  return
}

// -----

func.func @pv_block_n(%p: vector<128x32xbf16>, %v: vector<64x64xbf16>, %acc: vector<128x64xf32>) {
  // expected-error @+1 {{probabilities have 32 columns but the value tile has 64 rows; both are the key block size and must match}}
  %r = flash.pv %p, %v, %acc : vector<128x32xbf16>, vector<64x64xbf16>, vector<128x64xf32>
  return
}

// -----

func.func @pv_accumulator_element(%p: vector<128x32xbf16>, %v: vector<32x64xbf16>, %acc: vector<128x64xbf16>) {
  // expected-error @+1 {{'flash.pv' op accumulator must be a fixed-size 2-D vector of f32, got 'vector<128x64xbf16>'}}
  %r = flash.pv %p, %v, %acc : vector<128x32xbf16>, vector<32x64xbf16>, vector<128x64xbf16>
  return
}

// -----

func.func @pv_accumulator_shape(%p: vector<128x32xbf16>, %v: vector<32x64xbf16>, %acc: vector<128x128xf32>) {
  // expected-error @+1 {{accumulator must be vector<128x64xf32> (query rows x head_dim), got 'vector<128x128xf32>'}}
  %r = flash.pv %p, %v, %acc : vector<128x32xbf16>, vector<32x64xbf16>, vector<128x128xf32>
  return
}

// -----

func.func @normalize_rows(%acc: vector<128x64xf32>, %m: vector<64xf32>, %scale: f32) {
  // expected-error @+1 {{'flash.normalize' op row max must be vector<128xf32>, one f32 per query row of the tile, got 'vector<64xf32>'}}
  %o, %lse = flash.normalize %acc, %m, %m scale %scale : vector<128x64xf32>, vector<64xf32>
  return
}

// -----

func.func @normalize_accumulator(%acc: vector<128x64xf16>, %m: vector<128xf32>, %scale: f32) {
  // expected-error @+1 {{'flash.normalize' op accumulator must be a fixed-size 2-D vector of f32, got 'vector<128x64xf16>'}}
  %o, %lse = flash.normalize %acc, %m, %m scale %scale : vector<128x64xf16>, vector<128xf32>
  return
}

// -----

func.func @mma_a_rank(%a: vector<64xbf16>, %b: vector<64x32xbf16>, %c: vector<64x32xf32>) {
  // expected-error @+1 {{'flash.mma' op A operand must be a fixed-size 2-D vector of f16, bf16 or f32, got 'vector<64xbf16>'}}
  %r = flash.mma %a, %b, %c : vector<64xbf16>, vector<64x32xbf16>, vector<64x32xf32>
  return
}

// -----

func.func @mma_b_rank(%a: vector<64x64xbf16>, %b: vector<64xbf16>, %c: vector<64x32xf32>) {
  // expected-error @+1 {{'flash.mma' op B operand must be a fixed-size 2-D vector of f16, bf16 or f32, got 'vector<64xbf16>'}}
  %r = flash.mma %a, %b, %c : vector<64x64xbf16>, vector<64xbf16>, vector<64x32xf32>
  return
}

// -----

func.func @mma_element(%a: vector<64x64xbf16>, %b: vector<64x32xf16>, %c: vector<64x32xf32>) {
  // expected-error @+1 {{B operand element type 'f16' differs from the A operand's 'bf16'; A and B must have the same element type}}
  %r = flash.mma %a, %b, %c : vector<64x64xbf16>, vector<64x32xf16>, vector<64x32xf32>
  return
}

// -----

func.func @mma_contraction(%a: vector<64x32xbf16>, %b: vector<64x32xbf16>, %c: vector<64x32xf32>) {
  // expected-error @+1 {{A operand gives K = 32 but B operand gives K = 64 (A is [M, K], B is [K, N]; `transposed` holds the transpose); they must match}}
  %r = flash.mma %a, %b, %c : vector<64x32xbf16>, vector<64x32xbf16>, vector<64x32xf32>
  return
}

// -----

func.func @mma_transposed_contraction(%a: vector<64x32xbf16>, %b: vector<64x32xbf16>, %c: vector<32x64xf32>) {
  // expected-error @+1 {{A operand gives K = 64 but B operand gives K = 32}}
  %r = flash.mma %a transposed, %b transposed, %c : vector<64x32xbf16>, vector<64x32xbf16>, vector<32x64xf32>
  return
}

// -----

func.func @mma_accumulator_element(%a: vector<64x64xbf16>, %b: vector<64x32xbf16>, %c: vector<64x32xbf16>) {
  // expected-error @+1 {{'flash.mma' op accumulator must be a fixed-size 2-D vector of f32, got 'vector<64x32xbf16>'}}
  %r = flash.mma %a, %b, %c : vector<64x64xbf16>, vector<64x32xbf16>, vector<64x32xbf16>
  return
}

// -----

func.func @mma_accumulator_shape(%a: vector<64x64xbf16>, %b: vector<32x64xbf16>, %c: vector<64x64xf32>) {
  // expected-error @+1 {{accumulator must be vector<64x32xf32> (M x N), got 'vector<64x64xf32>'}}
  %r = flash.mma %a, %b transposed, %c : vector<64x64xbf16>, vector<32x64xbf16>, vector<64x64xf32>
  return
}

// -----

func.func @mma_transposed_accumulator(%a: vector<64x32xbf16>, %b: vector<64x128xbf16>, %c: vector<32x128xf32>) {
  // expected-error @+1 {{an A operand in accumulator registers is read as it lies, not transposed; stage it in shared memory (shared_mn_major)}}
  %r = flash.mma %a transposed, %b, %c layouts <a = accumulator, b = shared_mn_major>
      : vector<64x32xbf16>, vector<64x128xbf16>, vector<32x128xf32>
  return
}

// -----

func.func @mma_b_in_registers(%a: vector<64x64xbf16>, %b: vector<64x32xbf16>, %c: vector<64x32xf32>) {
  // expected-error @+1 {{#flash.layouts: the B operand lies in shared memory (shared_k_major or shared_mn_major), got registers}}
  %r = flash.mma %a, %b, %c layouts <a = registers, b = registers> : vector<64x64xbf16>, vector<64x32xbf16>, vector<64x32xf32>
  return
}

// -----

func.func @tile_loop_indices(%n: index) {
  // expected-error @+1 {{'flash.tile_loop' op body must take the tile's (query block, head, batch) indices, three of type index}}
  flash.tile_loop (%qb, %h) in (%n, %n, %n) schedule(persistent) {
  }
  return
}

// -----

func.func @tile_loop_schedule(%n: index) {
  // expected-error @+1 {{unknown tile schedule 'round_robin'; expected one_per_block, persistent or split_tail}}
  flash.tile_loop (%qb, %h, %b) in (%n, %n, %n) schedule(round_robin) {
  }
  return
}

// -----

func.func @stream_nothing() {
  // expected-error @+1 {{'flash.stream' op streams at least one operand}}
  "flash.stream"() <{stages = 2 : i64, load = 0 : i32}> : () -> ()
  return
}

// -----

func.func @stream_no_slots(%k: memref<?x64xbf16>) {
  // expected-error @+1 {{'flash.stream' op attribute 'stages' failed to satisfy constraint: 64-bit signless integer attribute whose minimum value is 1}}
  flash.stream %k stages(0) load(cp_async) : memref<?x64xbf16>
  return
}

// -----

func.func @stream_get_indices(%k: memref<?x?x64xbf16>, %n: index) {
  flash.tile_loop (%qb, %h, %b) in (%n, %n, %n) schedule(one_per_block) {
    flash.stream %k stages(2) load(cp_async) : memref<?x?x64xbf16>
    // expected-error @+1 {{'flash.stream_get' op takes 2 indices for a rank-3 source (every dimension but the innermost, read whole); got 1}}
    %kt = flash.stream_get %k[%qb] : memref<?x?x64xbf16> -> vector<32x64xbf16>
  }
  return
}

// -----

func.func @stream_get_columns(%k: memref<?x?x64xbf16>, %n: index) {
  flash.tile_loop (%qb, %h, %b) in (%n, %n, %n) schedule(one_per_block) {
    flash.stream %k stages(2) load(cp_async) : memref<?x?x64xbf16>
    // expected-error @+1 {{'flash.stream_get' op block must be a [rows, 64] tile of the source's 'bf16'; got 'vector<32x32xbf16>'}}
    %kt = flash.stream_get %k[%h, %qb] : memref<?x?x64xbf16> -> vector<32x32xbf16>
  }
  return
}

// -----

func.func @stream_get_not_streamed(%k: memref<?x?x64xbf16>, %v: memref<?x?x64xbf16>, %n: index) {
  flash.tile_loop (%qb, %h, %b) in (%n, %n, %n) schedule(one_per_block) {
    flash.stream %k stages(2) load(cp_async) : memref<?x?x64xbf16>
    // expected-error @+1 {{'flash.stream_get' op source must be streamed by the flash.stream of the enclosing flash.tile_loop}}
    %vt = flash.stream_get %v[%h, %qb] : memref<?x?x64xbf16> -> vector<32x64xbf16>
  }
  return
}

// -----

func.func @stream_get_outside(%k: memref<?x?x64xbf16>, %n: index) {
  // expected-error @+1 {{'flash.stream_get' op source must be streamed by the flash.stream of the enclosing flash.tile_loop}}
  %kt = flash.stream_get %k[%n, %n] : memref<?x?x64xbf16> -> vector<32x64xbf16>
  return
}

// -----

func.func @stream_prefetch_no_stream(%n: index) {
  flash.tile_loop (%qb, %h, %b) in (%n, %n, %n) schedule(one_per_block) {
    // expected-error @+1 {{'flash.stream_prefetch' op must be inside a flash.tile_loop that has a flash.stream}}
    flash.stream_prefetch %qb
  }
  return
}

// -----

func.func @warp_specialize_registers(%n: index) {
  flash.tile_loop (%qb, %h, %b) in (%n, %n, %n) schedule(one_per_block) {
    // expected-error @+1 {{'flash.warp_specialize' op registers per thread must be a multiple of 8 from 24 to 256 (setmaxnreg); got 20}}
    flash.warp_specialize producer(registers = 20) consumers(warpgroups = 2, registers = 240) turns(free)
  }
  return
}

// -----

func.func @warp_specialize_too_many_registers(%n: index) {
  flash.tile_loop (%qb, %h, %b) in (%n, %n, %n) schedule(one_per_block) {
    // expected-error @+1 {{'flash.warp_specialize' op 2 consumer warpgroups of 256 registers and a producer of 24 take 68608 registers; a thread block has 65536}}
    flash.warp_specialize producer(registers = 24) consumers(warpgroups = 2, registers = 256) turns(free)
  }
  return
}

// -----

func.func @warp_specialize_four_consumers(%n: index) {
  flash.tile_loop (%qb, %h, %b) in (%n, %n, %n) schedule(one_per_block) {
    // expected-error @+1 {{'flash.warp_specialize' op consumers must be 1 to 3 computing warpgroups (4 to 12 warps); got 4}}
    flash.warp_specialize producer(registers = 24) consumers(warpgroups = 4, registers = 120) turns(free)
  }
  return
}

// -----

func.func @warp_specialize_outside() {
  // expected-error @+1 {{'flash.warp_specialize' op must be inside the flash.tile_loop whose warps it splits}}
  flash.warp_specialize producer(registers = 24) consumers(warpgroups = 2, registers = 240) turns(free)
  return
}

// -----

func.func @key_loop_first_ahead(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  // expected-error @+2 {{#flash.key_loop: first_block_ahead runs a pipelined loop's first block ahead of it; it needs pipelined}}
  scf.for %j = %c0 to %n step %c1 {
  } {flash.key_loop = #flash.key_loop<first_block_ahead = true>}
  return
}

// -----

func.func @key_loop_short(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  // expected-error @+2 {{#flash.key_loop: short_last_block must be a multiple of 64 keys (0: none), got 48}}
  scf.for %j = %c0 to %n step %c1 {
  } {flash.key_loop = #flash.key_loop<short_last_block = 48>}
  return
}

// -----

func.func @key_loop_short_and_ends(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  // expected-error @+2 {{#flash.key_loop: short_last_block and warpgroup_ends do not go together (idle turns count whole blocks)}}
  scf.for %j = %c0 to %n step %c1 {
  } {flash.key_loop = #flash.key_loop<short_last_block = 64, warpgroup_ends = true>}
  return
}

// -----

// expected-error @+1 {{'flash.key_loop' must be a #flash.key_loop<...> attribute on a key loop (scf.for)}}
func.func @key_loop_on_function() attributes {flash.key_loop = #flash.key_loop<pipelined = true>} {
  return
}

// -----

func.func @atomic_add_bf16(%tile: vector<64x128xbf16>, %dq: memref<?x128xbf16>, %row: index) {
  // expected-error @+1 {{'flash.atomic_add' op adds f32 tiles into f32 memory; got 'vector<64x128xbf16>' into 'memref<?x128xbf16>'}}
  flash.atomic_add %tile, %dq[%row, %row] : vector<64x128xbf16>, memref<?x128xbf16>
  return
}

// -----

func.func @atomic_add_rank(%tile: vector<2x64x128xf32>, %dq: memref<?x128xf32>, %row: index) {
  // expected-error @+1 {{'flash.atomic_add' op tile of rank 3 does not fit a rank-2 destination}}
  flash.atomic_add %tile, %dq[%row, %row] : vector<2x64x128xf32>, memref<?x128xf32>
  return
}

// -----

func.func @atomic_add_indices(%tile: vector<64x128xf32>, %dq: memref<?x?x128xf32>, %row: index) {
  // expected-error @+1 {{'flash.atomic_add' op takes an index per destination dimension (3); got 2}}
  flash.atomic_add %tile, %dq[%row, %row] : vector<64x128xf32>, memref<?x?x128xf32>
  return
}
