// Every verifier error of flash.attention, one per split.
// RUN: flashjit-opt %s -split-input-file -verify-diagnostics

func.func @query_not_memref(%q: tensor<1x1x8x64xf16>, %kv: memref<1x1x8x64xf16>, %s: f32) {
  // expected-error @+1 {{operand #0 must be query (a memref), but got 'tensor<1x1x8x64xf16>'}}
  "flash.attention"(%q, %kv, %kv, %s, %kv) : (tensor<1x1x8x64xf16>, memref<1x1x8x64xf16>, memref<1x1x8x64xf16>, f32, memref<1x1x8x64xf16>) -> ()
  return
}

// -----

func.func @query_rank(%q: memref<8x64xf16>, %kv: memref<1x1x8x64xf16>, %s: f32) {
  // expected-error @+1 {{query must be a rank-4 memref [batch, heads, seqlen, head_dim], got 'memref<8x64xf16>'}}
  flash.attention %q, %kv, %kv scale %s into %kv : memref<8x64xf16>, memref<1x1x8x64xf16>, memref<1x1x8x64xf16> -> memref<1x1x8x64xf16>
  return
}

// -----

func.func @query_element(%q: memref<1x1x8x64xi8>, %s: f32) {
  // expected-error @+1 {{query element type must be f16, bf16 or f32, got 'i8'}}
  flash.attention %q, %q, %q scale %s into %q : memref<1x1x8x64xi8>, memref<1x1x8x64xi8>, memref<1x1x8x64xi8> -> memref<1x1x8x64xi8>
  return
}

// -----

func.func @key_element(%q: memref<1x1x8x64xbf16>, %k: memref<1x1x8x64xf16>, %s: f32) {
  // expected-error @+1 {{key element type 'f16' differs from the query's 'bf16'; Q, K, V and O must have the same element type}}
  flash.attention %q, %k, %q scale %s into %q : memref<1x1x8x64xbf16>, memref<1x1x8x64xf16>, memref<1x1x8x64xbf16> -> memref<1x1x8x64xbf16>
  return
}

// -----

func.func @value_rank(%q: memref<1x1x8x64xf16>, %v: memref<1x8x64xf16>, %s: f32) {
  // expected-error @+1 {{value must be a rank-4 memref [batch, heads, seqlen, head_dim], got 'memref<1x8x64xf16>'}}
  flash.attention %q, %q, %v scale %s into %q : memref<1x1x8x64xf16>, memref<1x1x8x64xf16>, memref<1x8x64xf16> -> memref<1x1x8x64xf16>
  return
}

// -----

func.func @dynamic_head_dim(%q: memref<1x1x8x?xf16>, %s: f32) {
  // expected-error @+1 {{query head_dim (innermost size) must be static, got 'memref<1x1x8x?xf16>'}}
  flash.attention %q, %q, %q scale %s into %q : memref<1x1x8x?xf16>, memref<1x1x8x?xf16>, memref<1x1x8x?xf16> -> memref<1x1x8x?xf16>
  return
}

// -----

func.func @not_strided(%q: memref<1x1x8x64xf16>, %o: memref<1x1x8x64xf16, affine_map<(b, h, s, d) -> (b, h, s, d mod 8)>>, %s: f32) {
  // expected-error @+1 {{output must have a strided layout}}
  flash.attention %q, %q, %q scale %s into %o : memref<1x1x8x64xf16>, memref<1x1x8x64xf16>, memref<1x1x8x64xf16> -> memref<1x1x8x64xf16, affine_map<(b, h, s, d) -> (b, h, s, d mod 8)>>
  return
}

// -----

func.func @head_dim_not_contiguous(%q: memref<1x1x8x64xf16>, %k: memref<1x1x8x64xf16, strided<[?, ?, ?, 2]>>, %s: f32) {
  // expected-error @+1 {{key head_dim must be contiguous (innermost stride 1), got stride 2}}
  flash.attention %q, %k, %q scale %s into %q : memref<1x1x8x64xf16>, memref<1x1x8x64xf16, strided<[?, ?, ?, 2]>>, memref<1x1x8x64xf16> -> memref<1x1x8x64xf16>
  return
}

// -----

func.func @unsupported_head_dim(%q: memref<1x1x8x12xf16>, %s: f32) {
  // expected-error @+1 {{head_dim = 12 is not supported: it must be a multiple of 8 from 8 to 256}}
  flash.attention %q, %q, %q scale %s into %q : memref<1x1x8x12xf16>, memref<1x1x8x12xf16>, memref<1x1x8x12xf16> -> memref<1x1x8x12xf16>
  return
}

// -----

func.func @key_value_shapes(%q: memref<1x1x8x64xf16>, %k: memref<1x1x16x64xf16>, %v: memref<1x1x8x64xf16>, %s: f32) {
  // expected-error @+1 {{key and value must have the same shape, but their seqlen sizes are 16 and 8}}
  flash.attention %q, %k, %v scale %s into %q : memref<1x1x8x64xf16>, memref<1x1x16x64xf16>, memref<1x1x8x64xf16> -> memref<1x1x8x64xf16>
  return
}

// -----

func.func @query_output_shapes(%q: memref<1x4x8x64xf16>, %o: memref<1x2x8x64xf16>, %s: f32) {
  // expected-error @+1 {{query and output must have the same shape, but their heads sizes are 4 and 2}}
  flash.attention %q, %q, %q scale %s into %o : memref<1x4x8x64xf16>, memref<1x4x8x64xf16>, memref<1x4x8x64xf16> -> memref<1x2x8x64xf16>
  return
}

// -----

func.func @batch(%q: memref<2x4x8x64xf16>, %kv: memref<3x4x8x64xf16>, %s: f32) {
  // expected-error @+1 {{query has batch 2 but key/value have batch 3; they must match}}
  flash.attention %q, %kv, %kv scale %s into %q : memref<2x4x8x64xf16>, memref<3x4x8x64xf16>, memref<3x4x8x64xf16> -> memref<2x4x8x64xf16>
  return
}

// -----

func.func @head_dims_differ(%q: memref<1x1x8x64xf16>, %kv: memref<1x1x8x128xf16>, %s: f32) {
  // expected-error @+1 {{query has head_dim 64 but key/value have head_dim 128; they must match}}
  flash.attention %q, %kv, %kv scale %s into %q : memref<1x1x8x64xf16>, memref<1x1x8x128xf16>, memref<1x1x8x128xf16> -> memref<1x1x8x64xf16>
  return
}

// -----

func.func @grouped_heads(%q: memref<1x6x8x64xf16>, %kv: memref<1x4x8x64xf16>, %s: f32) {
  // expected-error @+1 {{query has 6 heads and key/value 4; the key/value head count must divide the query's}}
  flash.attention %q, %kv, %kv scale %s into %q : memref<1x6x8x64xf16>, memref<1x4x8x64xf16>, memref<1x4x8x64xf16> -> memref<1x6x8x64xf16>
  return
}

// -----

func.func @lse_type(%q: memref<1x1x8x64xf16>, %lse: memref<1x1x8xf16>, %s: f32) {
  // expected-error @+1 {{logsumexp must be a rank-3 memref of f32 [batch, heads, seqlen_q], got 'memref<1x1x8xf16>'}}
  flash.attention %q, %q, %q scale %s into %q, lse %lse : memref<1x1x8x64xf16>, memref<1x1x8x64xf16>, memref<1x1x8x64xf16> -> memref<1x1x8x64xf16>, memref<1x1x8xf16>
  return
}

// -----

func.func @lse_shape(%q: memref<1x1x8x64xf16>, %lse: memref<1x1x16xf32>, %s: f32) {
  // expected-error @+1 {{logsumexp seqlen size 16 differs from the query's 8}}
  flash.attention %q, %q, %q scale %s into %q, lse %lse : memref<1x1x8x64xf16>, memref<1x1x8x64xf16>, memref<1x1x8x64xf16> -> memref<1x1x8x64xf16>, memref<1x1x16xf32>
  return
}

// -----

func.func @unknown_causal_mode(%q: memref<1x1x8x64xf16>, %s: f32) {
  // expected-error @+1 {{unknown mask alignment 'diagonal'; expected top_left or bottom_right}}
  flash.attention %q, %q, %q scale %s into %q causal(diagonal) : memref<1x1x8x64xf16>, memref<1x1x8x64xf16>, memref<1x1x8x64xf16> -> memref<1x1x8x64xf16>
  return
}

// -----

func.func @window_bound_below_unbounded(%q: memref<1x1x8x64xf16>, %s: f32) {
  // expected-error @+1 {{a mask's left and right bounds are keys (>= 0) or unbounded (-1); got left -2, right 0}}
  flash.attention %q, %q, %q scale %s into %q window(top_left, left = -2, right = 0) : memref<1x1x8x64xf16>, memref<1x1x8x64xf16>, memref<1x1x8x64xf16> -> memref<1x1x8x64xf16>
  return
}

// -----

func.func @mask_without_bounds(%q: memref<1x1x8x64xf16>, %s: f32) {
  // expected-error @+1 {{#flash.mask: a mask with neither bound hides no key; leave the mask out}}
  flash.attention %q, %q, %q scale %s into %q window(top_left, left = -1, right = -1) : memref<1x1x8x64xf16>, memref<1x1x8x64xf16>, memref<1x1x8x64xf16> -> memref<1x1x8x64xf16>
  return
}

// -----

func.func @mask_attribute_without_bounds(%q: memref<1x1x8x64xf16>, %s: f32) {
  // expected-error @+1 {{#flash.mask: a mask with neither bound hides no key; leave the mask out}}
  "flash.attention"(%q, %q, %q, %s, %q) <{mask = #flash.mask<alignment = top_left, left = -1, right = -1>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>}> : (memref<1x1x8x64xf16>, memref<1x1x8x64xf16>, memref<1x1x8x64xf16>, f32, memref<1x1x8x64xf16>) -> ()
  return
}
