// Round trip of every flash op: parse, print, parse again; and through the generic form.
// RUN: flashjit-opt %s | FileCheck %s
// RUN: flashjit-opt %s | flashjit-opt | FileCheck %s
// RUN: flashjit-opt -mlir-print-op-generic %s | flashjit-opt | FileCheck %s

!data = memref<?x?x?x64xbf16, strided<[?, ?, ?, 1], offset: ?>>
!lse = memref<?x?x?xf32, strided<[?, ?, 1], offset: ?>>

// CHECK-LABEL: func.func @attention_with_lse
// CHECK: flash.attention %{{.*}}, %{{.*}}, %{{.*}} scale %{{.*}} into %{{.*}}, lse %{{.*}} causal(bottom_right) : memref<?x?x?x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x?x?x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x?x?x64xbf16, strided<[?, ?, ?, 1], offset: ?>> -> memref<?x?x?x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, 1], offset: ?>>
func.func @attention_with_lse(%q: !data, %k: !data, %v: !data, %o: !data, %lse: !lse, %scale: f32) {
  flash.attention %q, %k, %v scale %scale into %o, lse %lse causal(bottom_right)
      : !data, !data, !data -> !data, !lse
  return
}

// No mask prints nothing; a causal mask prints as causal(...), any other #flash.mask as window(...), and
// the attribute's own form (#flash.mask<...>) in the generic form reads back as the same.
// CHECK-LABEL: func.func @attention_plain
// CHECK: flash.attention %{{.*}}, %{{.*}}, %{{.*}} scale %{{.*}} into %{{.*}} : memref<2x8x?x128xf16>, memref<2x2x?x128xf16>, memref<2x2x?x128xf16> -> memref<2x8x?x128xf16>{{$}}
// CHECK: flash.attention {{.*}} causal(top_left) : memref<2x8x?x128xf16>
// CHECK: flash.attention {{.*}} window(bottom_right, left = 128, right = 0) : memref<2x8x?x128xf16>
// CHECK: flash.attention {{.*}} window(top_left, left = -1, right = 4) : memref<2x8x?x128xf16>
// CHECK: flash.attention {{.*}} causal(bottom_right) : memref<2x8x?x128xf16>
func.func @attention_plain(%q: memref<2x8x?x128xf16>, %kv: memref<2x2x?x128xf16>, %o: memref<2x8x?x128xf16>,
                           %scale: f32) {
  flash.attention %q, %kv, %kv scale %scale into %o
      : memref<2x8x?x128xf16>, memref<2x2x?x128xf16>, memref<2x2x?x128xf16> -> memref<2x8x?x128xf16>
  flash.attention %q, %kv, %kv scale %scale into %o causal(top_left)
      : memref<2x8x?x128xf16>, memref<2x2x?x128xf16>, memref<2x2x?x128xf16> -> memref<2x8x?x128xf16>
  flash.attention %q, %kv, %kv scale %scale into %o window(bottom_right, left = 128, right = 0)
      : memref<2x8x?x128xf16>, memref<2x2x?x128xf16>, memref<2x2x?x128xf16> -> memref<2x8x?x128xf16>
  flash.attention %q, %kv, %kv scale %scale into %o window(top_left, left = -1, right = 4)
      : memref<2x8x?x128xf16>, memref<2x2x?x128xf16>, memref<2x2x?x128xf16> -> memref<2x8x?x128xf16>
  flash.attention %q, %kv, %kv scale %scale into %o window(bottom_right, left = -1, right = 0)
      : memref<2x8x?x128xf16>, memref<2x2x?x128xf16>, memref<2x2x?x128xf16> -> memref<2x8x?x128xf16>
  return
}

// CHECK-LABEL: func.func @tile_ops
func.func @tile_ops(%q: vector<128x64xbf16>, %k: vector<32x64xbf16>, %v: vector<32x64xbf16>,
                    %acc: vector<128x64xf32>, %m: vector<128xf32>, %l: vector<128xf32>,
                    %q0: index, %k0: index, %sq: index, %sk: index, %scale: f32)
    -> (vector<128x64xf32>, vector<128xf32>) {
  // CHECK: %[[S:.*]] = flash.qk %{{.*}}, %{{.*}} : vector<128x64xbf16>, vector<32x64xbf16> -> vector<128x32xf32>
  %s = flash.qk %q, %k : vector<128x64xbf16>, vector<32x64xbf16> -> vector<128x32xf32>
  // CHECK: %[[SM:.*]] = flash.mask %[[S]] at [%{{.*}}, %{{.*}}] seqlens [%{{.*}}, %{{.*}}] causal(bottom_right) : vector<128x32xf32>
  %sm = flash.mask %s at [%q0, %k0] seqlens [%sq, %sk] causal(bottom_right) : vector<128x32xf32>
  // CHECK: flash.mask %[[S]] at [%{{.*}}, %{{.*}}] seqlens [%{{.*}}, %{{.*}}] : vector<128x32xf32>
  %tail = flash.mask %s at [%q0, %k0] seqlens [%sq, %sk] : vector<128x32xf32>
  // CHECK: %[[M1:.*]] = flash.row_max %[[SM]], %{{.*}} : vector<128x32xf32>, vector<128xf32>
  %m1 = flash.row_max %sm, %m : vector<128x32xf32>, vector<128xf32>
  // CHECK: %[[P:.*]], %[[L1:.*]] = flash.exp_scores %[[SM]], %[[M1]], %{{.*}} scale %{{.*}} : vector<128x32xf32>, vector<128xf32>
  %p, %l1 = flash.exp_scores %sm, %m1, %l scale %scale : vector<128x32xf32>, vector<128xf32>
  // CHECK: %[[P2:.*]], %[[M2:.*]], %[[L2:.*]], %[[ALPHA:.*]] = flash.online_softmax %[[SM]], %{{.*}}, %{{.*}} scale %{{.*}} : vector<128x32xf32>, vector<128xf32>
  %p2, %m2, %l2, %alpha = flash.online_softmax %sm, %m, %l scale %scale : vector<128x32xf32>, vector<128xf32>
  // CHECK: %[[RESCALED:.*]] = flash.rescale %{{.*}} by %[[ALPHA]] : vector<128x64xf32>, vector<128xf32>
  %rescaled = flash.rescale %acc by %alpha : vector<128x64xf32>, vector<128xf32>
  %pb = arith.truncf %p2 : vector<128x32xf32> to vector<128x32xbf16>
  // CHECK: %[[ACC:.*]] = flash.pv %{{.*}}, %{{.*}}, %[[RESCALED]] : vector<128x32xbf16>, vector<32x64xbf16>, vector<128x64xf32>
  %acc1 = flash.pv %pb, %v, %rescaled : vector<128x32xbf16>, vector<32x64xbf16>, vector<128x64xf32>
  // CHECK: %[[O:.*]], %[[LSE:.*]] = flash.normalize %[[ACC]], %[[M2]], %[[L2]] scale %{{.*}} : vector<128x64xf32>, vector<128xf32>
  %o, %lse = flash.normalize %acc1, %m2, %l2 scale %scale : vector<128x64xf32>, vector<128xf32>
  return %o, %lse : vector<128x64xf32>, vector<128xf32>
}

// f32 tiles are allowed too (the CPU interpreter computes in f32).
// CHECK-LABEL: func.func @f32_tiles
// CHECK: flash.qk %{{.*}}, %{{.*}} : vector<16x8xf32>, vector<16x8xf32> -> vector<16x16xf32>
// CHECK: flash.pv %{{.*}}, %{{.*}}, %{{.*}} : vector<16x16xf32>, vector<16x8xf32>, vector<16x8xf32>
func.func @f32_tiles(%q: vector<16x8xf32>, %k: vector<16x8xf32>, %acc: vector<16x8xf32>) -> vector<16x8xf32> {
  %s = flash.qk %q, %k : vector<16x8xf32>, vector<16x8xf32> -> vector<16x16xf32>
  %r = flash.pv %s, %k, %acc : vector<16x16xf32>, vector<16x8xf32>, vector<16x8xf32>
  return %r : vector<16x8xf32>
}

// flash.mma: the tile product of which flash.qk and flash.pv are named forms; the backward's five products
// (A or B transposed where the tile holds the transpose), and the operand layouts flash-distribute sets.
// CHECK-LABEL: func.func @products
func.func @products(%q: vector<64x128xbf16>, %k: vector<32x128xbf16>, %do: vector<64x128xbf16>,
                    %p: vector<64x32xbf16>, %zero: vector<64x32xf32>, %acc: vector<32x128xf32>,
                    %dq: vector<64x128xf32>) -> (vector<64x32xf32>, vector<32x128xf32>, vector<64x128xf32>) {
  // CHECK: flash.mma %{{.*}}, %{{.*}} transposed, %{{.*}} : vector<64x128xbf16>, vector<32x128xbf16>, vector<64x32xf32>
  %s = flash.mma %q, %k transposed, %zero : vector<64x128xbf16>, vector<32x128xbf16>, vector<64x32xf32>
  // CHECK: flash.mma %{{.*}} transposed, %{{.*}}, %{{.*}} : vector<64x32xbf16>, vector<64x128xbf16>, vector<32x128xf32>
  %dv = flash.mma %p transposed, %do, %acc : vector<64x32xbf16>, vector<64x128xbf16>, vector<32x128xf32>
  // CHECK: flash.mma %{{.*}}, %{{.*}}, %{{.*}} layouts <a = accumulator, b = shared_mn_major> : vector<64x32xbf16>, vector<32x128xbf16>, vector<64x128xf32>
  %dq1 = flash.mma %p, %k, %dq layouts <a = accumulator, b = shared_mn_major>
      : vector<64x32xbf16>, vector<32x128xbf16>, vector<64x128xf32>
  return %s, %dv, %dq1 : vector<64x32xf32>, vector<32x128xf32>, vector<64x128xf32>
}

// flash.tile_loop: the tiles and their schedule; its body takes the tile's indices.
// CHECK-LABEL: func.func @tiles
// CHECK: flash.tile_loop (%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}}, %{{.*}}, %{{.*}}) schedule(split_tail) {
// CHECK:   arith.addi
// CHECK: }
func.func @tiles(%n: index) {
  flash.tile_loop (%qb, %h, %b) in (%n, %n, %n) schedule(split_tail) {
    %x = arith.addi %qb, %b : index
  }
  return
}

// flash.stream: the operands the key loops read through a ring of slots, and who loads them.
// CHECK-LABEL: func.func @streams
// CHECK: flash.stream %{{.*}}, %{{.*}} stages(3) load(tma_producer) : memref<?x64xbf16>, memref<?x64xbf16>
func.func @streams(%k: memref<?x64xbf16>, %v: memref<?x64xbf16>) {
  flash.stream %k, %v stages(3) load(tma_producer) : memref<?x64xbf16>, memref<?x64xbf16>
  return
}

// flash.stream_get: a streamed operand's block at a row; flash.stream_prefetch: where the blocks at a row
// may start loading.
// CHECK-LABEL: func.func @stream_blocks
// CHECK: flash.stream_get %{{.*}}[%{{.*}}, %{{.*}}] : memref<?x?x64xbf16> -> vector<32x64xbf16>
// CHECK: flash.stream_prefetch %{{.*}}
func.func @stream_blocks(%k: memref<?x?x64xbf16>, %n: index) {
  flash.tile_loop (%qb, %h, %b) in (%n, %n, %n) schedule(one_per_block) {
    flash.stream %k stages(2) load(cp_async) : memref<?x?x64xbf16>
    %kt = flash.stream_get %k[%h, %qb] : memref<?x?x64xbf16> -> vector<32x64xbf16>
    flash.stream_prefetch %b
  }
  return
}

// flash.warp_specialize: which warps load and which compute; #flash.key_loop: how a key loop runs its blocks.
// CHECK-LABEL: func.func @warp_roles
// CHECK: flash.warp_specialize producer(registers = 24) consumers(warpgroups = 2, registers = 240) turns(round_robin)
// CHECK: } {flash.key_loop = #flash.key_loop<pipelined = true, first_block_ahead = true, short_last_block = 64>}
// CHECK: } {flash.key_loop = #flash.key_loop<warpgroup_ends = true>}
func.func @warp_roles(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  flash.tile_loop (%qb, %h, %b) in (%n, %n, %n) schedule(one_per_block) {
    flash.warp_specialize producer(registers = 24) consumers(warpgroups = 2, registers = 240) turns(round_robin)
    scf.for %j = %c0 to %n step %c1 {
    } {flash.key_loop = #flash.key_loop<pipelined = true, first_block_ahead = true, short_last_block = 64>}
    scf.for %j = %c0 to %n step %c1 {
    } {flash.key_loop = #flash.key_loop<warpgroup_ends = true>}
  }
  return
}

// flash.atomic_add: an f32 tile added into memory, atomically.
// CHECK-LABEL: func.func @atomic_add
// CHECK: flash.atomic_add %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] : vector<64x128xf32>, memref<?x128xf32>
func.func @atomic_add(%tile: vector<64x128xf32>, %dq: memref<?x128xf32>, %row: index, %column: index) {
  flash.atomic_add %tile, %dq[%row, %column] : vector<64x128xf32>, memref<?x128xf32>
  return
}
