// flash-fuse-online-softmax: the two-pass form (the input below) becomes one pass with a running max
// and a rescaled accumulator (the CHECK lines).
// RUN: flashjit-opt %s -split-input-file -flash-fuse-online-softmax -verify-diagnostics | FileCheck %s

!rows = memref<?x64xbf16, strided<[?, 1], offset: ?>>

// CHECK-LABEL: func.func @two_pass
// CHECK-SAME:    %[[SCALE:[^:]*]]: f32
// CHECK:       %[[MINF:.*]] = arith.constant dense<0xFF800000> : vector<128xf32>
// CHECK:       %[[ZROWS:.*]] = arith.constant dense<0.000000e+00> : vector<128xf32>
// CHECK:       %[[ZACC:.*]] = arith.constant dense<0.000000e+00> : vector<128x64xf32>
// CHECK-NOT:   flash.row_max
// CHECK:       %[[LOOP:.*]]:3 = scf.for %[[K0:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %[[ZACC]], %[[L:.*]] = %[[ZROWS]], %[[M:.*]] = %[[MINF]])
// CHECK:         %[[S:.*]] = flash.mask
// CHECK:         %[[P:.*]], %[[MN:.*]], %[[LN:.*]], %[[ALPHA:.*]] = flash.online_softmax %[[S]], %[[M]], %[[L]] scale %[[SCALE]]
// CHECK:         %[[PB:.*]] = arith.truncf %[[P]]
// CHECK:         %[[RESCALED:.*]] = flash.rescale %[[ACC]] by %[[ALPHA]]
// CHECK:         %[[ACCN:.*]] = flash.pv %[[PB]], %{{.*}}, %[[RESCALED]]
// CHECK:         scf.yield %[[ACCN]], %[[LN]], %[[MN]]
// CHECK-NOT:   flash.exp_scores
// CHECK:       flash.normalize %[[LOOP]]#0, %[[LOOP]]#2, %[[LOOP]]#1 scale %[[SCALE]]
func.func @two_pass(%q: !rows, %k: !rows, %v: !rows, %o: !rows, %scale: f32, %q0: index) {
  %c0 = arith.constant 0 : index
  %c64 = arith.constant 64 : index
  %pad = arith.constant 0.0 : bf16
  %minus_inf = arith.constant dense<0xFF800000> : vector<128xf32>
  %zero_rows = arith.constant dense<0.0> : vector<128xf32>
  %zero_acc = arith.constant dense<0.0> : vector<128x64xf32>
  %seqlen_q = memref.dim %q, %c0 : !rows
  %seqlen_k = memref.dim %k, %c0 : !rows
  %q_tile = vector.transfer_read %q[%q0, %c0], %pad : !rows, vector<128x64xbf16>
  %m = scf.for %k0 = %c0 to %seqlen_k step %c64 iter_args(%m_i = %minus_inf) -> (vector<128xf32>) {
    %k_tile = vector.transfer_read %k[%k0, %c0], %pad : !rows, vector<64x64xbf16>
    %s = flash.qk %q_tile, %k_tile : vector<128x64xbf16>, vector<64x64xbf16> -> vector<128x64xf32>
    %sm = flash.mask %s at [%q0, %k0] seqlens [%seqlen_q, %seqlen_k] causal(top_left) : vector<128x64xf32>
    %m_next = flash.row_max %sm, %m_i : vector<128x64xf32>, vector<128xf32>
    scf.yield %m_next : vector<128xf32>
  }
  %acc, %l = scf.for %k0 = %c0 to %seqlen_k step %c64 iter_args(%acc_i = %zero_acc, %l_i = %zero_rows)
      -> (vector<128x64xf32>, vector<128xf32>) {
    %k_tile = vector.transfer_read %k[%k0, %c0], %pad : !rows, vector<64x64xbf16>
    %v_tile = vector.transfer_read %v[%k0, %c0], %pad : !rows, vector<64x64xbf16>
    %s = flash.qk %q_tile, %k_tile : vector<128x64xbf16>, vector<64x64xbf16> -> vector<128x64xf32>
    %sm = flash.mask %s at [%q0, %k0] seqlens [%seqlen_q, %seqlen_k] causal(top_left) : vector<128x64xf32>
    %p, %l_next = flash.exp_scores %sm, %m, %l_i scale %scale : vector<128x64xf32>, vector<128xf32>
    %p_bf16 = arith.truncf %p : vector<128x64xf32> to vector<128x64xbf16>
    %acc_next = flash.pv %p_bf16, %v_tile, %acc_i : vector<128x64xbf16>, vector<64x64xbf16>, vector<128x64xf32>
    scf.yield %acc_next, %l_next : vector<128x64xf32>, vector<128xf32>
  }
  %out, %lse = flash.normalize %acc, %m, %l scale %scale : vector<128x64xf32>, vector<128xf32>
  %out_bf16 = arith.truncf %out : vector<128x64xf32> to vector<128x64xbf16>
  vector.transfer_write %out_bf16, %o[%q0, %c0] : vector<128x64xbf16>, !rows
  return
}

// -----

// An f32 probability tile feeds flash.pv directly.
// CHECK-LABEL: func.func @f32_probs
// CHECK:       flash.online_softmax
// CHECK-NEXT:  flash.rescale
// CHECK-NEXT:  flash.pv
func.func @f32_probs(%s: vector<16x16xf32>, %v: vector<16x8xf32>, %n: index, %scale: f32) -> vector<16x8xf32> {
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %minus_inf = arith.constant dense<0xFF800000> : vector<16xf32>
  %zero_rows = arith.constant dense<0.0> : vector<16xf32>
  %zero_acc = arith.constant dense<0.0> : vector<16x8xf32>
  %m = scf.for %k0 = %c0 to %n step %c16 iter_args(%m_i = %minus_inf) -> (vector<16xf32>) {
    %m_next = flash.row_max %s, %m_i : vector<16x16xf32>, vector<16xf32>
    scf.yield %m_next : vector<16xf32>
  }
  %acc, %l = scf.for %k0 = %c0 to %n step %c16 iter_args(%acc_i = %zero_acc, %l_i = %zero_rows)
      -> (vector<16x8xf32>, vector<16xf32>) {
    %p, %l_next = flash.exp_scores %s, %m, %l_i scale %scale : vector<16x16xf32>, vector<16xf32>
    %acc_next = flash.pv %p, %v, %acc_i : vector<16x16xf32>, vector<16x8xf32>, vector<16x8xf32>
    scf.yield %acc_next, %l_next : vector<16x8xf32>, vector<16xf32>
  }
  %out, %lse = flash.normalize %acc, %m, %l scale %scale : vector<16x8xf32>, vector<16xf32>
  return %out : vector<16x8xf32>
}

// -----

func.func @max_not_from_a_loop(%s: vector<16x16xf32>, %m: vector<16xf32>, %l: vector<16xf32>, %scale: f32) {
  // expected-error @+1 {{'flash.exp_scores' op cannot be fused: it is not directly inside a key loop (scf.for)}}
  %p, %l1 = flash.exp_scores %s, %m, %l scale %scale : vector<16x16xf32>, vector<16xf32>
  return
}

// -----

func.func @max_is_an_argument(%s: vector<16x16xf32>, %v: vector<16x8xf32>, %m: vector<16xf32>, %n: index, %scale: f32) {
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %zero_rows = arith.constant dense<0.0> : vector<16xf32>
  %zero_acc = arith.constant dense<0.0> : vector<16x8xf32>
  %acc, %l = scf.for %k0 = %c0 to %n step %c16 iter_args(%acc_i = %zero_acc, %l_i = %zero_rows)
      -> (vector<16x8xf32>, vector<16xf32>) {
    // expected-error @+1 {{cannot be fused: its row max does not come from a key loop of flash.row_max}}
    %p, %l_next = flash.exp_scores %s, %m, %l_i scale %scale : vector<16x16xf32>, vector<16xf32>
    %acc_next = flash.pv %p, %v, %acc_i : vector<16x16xf32>, vector<16x8xf32>, vector<16x8xf32>
    scf.yield %acc_next, %l_next : vector<16x8xf32>, vector<16xf32>
  }
  return
}

// -----

func.func @different_blocks(%s: vector<16x16xf32>, %v: vector<16x8xf32>, %n: index, %scale: f32) {
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %c32 = arith.constant 32 : index
  %minus_inf = arith.constant dense<0xFF800000> : vector<16xf32>
  %zero_rows = arith.constant dense<0.0> : vector<16xf32>
  %zero_acc = arith.constant dense<0.0> : vector<16x8xf32>
  %m = scf.for %k0 = %c0 to %n step %c32 iter_args(%m_i = %minus_inf) -> (vector<16xf32>) {
    %m_next = flash.row_max %s, %m_i : vector<16x16xf32>, vector<16xf32>
    scf.yield %m_next : vector<16xf32>
  }
  %acc, %l = scf.for %k0 = %c0 to %n step %c16 iter_args(%acc_i = %zero_acc, %l_i = %zero_rows)
      -> (vector<16x8xf32>, vector<16xf32>) {
    // expected-error @+1 {{cannot be fused: the max loop and the accumulation loop walk different key blocks}}
    %p, %l_next = flash.exp_scores %s, %m, %l_i scale %scale : vector<16x16xf32>, vector<16xf32>
    %acc_next = flash.pv %p, %v, %acc_i : vector<16x16xf32>, vector<16x8xf32>, vector<16x8xf32>
    scf.yield %acc_next, %l_next : vector<16x8xf32>, vector<16xf32>
  }
  return
}

// -----

func.func @no_pv(%s: vector<16x16xf32>, %n: index, %scale: f32) -> vector<16x16xf32> {
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %minus_inf = arith.constant dense<0xFF800000> : vector<16xf32>
  %zero_rows = arith.constant dense<0.0> : vector<16xf32>
  %m = scf.for %k0 = %c0 to %n step %c16 iter_args(%m_i = %minus_inf) -> (vector<16xf32>) {
    %m_next = flash.row_max %s, %m_i : vector<16x16xf32>, vector<16xf32>
    scf.yield %m_next : vector<16xf32>
  }
  %p_last, %l = scf.for %k0 = %c0 to %n step %c16 iter_args(%p_i = %s, %l_i = %zero_rows)
      -> (vector<16x16xf32>, vector<16xf32>) {
    // expected-error @+1 {{cannot be fused: its probabilities do not feed a flash.pv whose accumulator the key loop carries}}
    %p, %l_next = flash.exp_scores %s, %m, %l_i scale %scale : vector<16x16xf32>, vector<16xf32>
    scf.yield %p, %l_next : vector<16x16xf32>, vector<16xf32>
  }
  return %p_last : vector<16x16xf32>
}

// -----

func.func @max_loop_without_row_max(%s: vector<16x16xf32>, %v: vector<16x8xf32>, %n: index, %scale: f32) {
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %minus_inf = arith.constant dense<0xFF800000> : vector<16xf32>
  %zero_rows = arith.constant dense<0.0> : vector<16xf32>
  %zero_acc = arith.constant dense<0.0> : vector<16x8xf32>
  %m = scf.for %k0 = %c0 to %n step %c16 iter_args(%m_i = %minus_inf) -> (vector<16xf32>) {
    scf.yield %m_i : vector<16xf32>
  }
  %acc, %l = scf.for %k0 = %c0 to %n step %c16 iter_args(%acc_i = %zero_acc, %l_i = %zero_rows)
      -> (vector<16x8xf32>, vector<16xf32>) {
    // expected-error @+1 {{cannot be fused: the max loop does not yield a flash.row_max}}
    %p, %l_next = flash.exp_scores %s, %m, %l_i scale %scale : vector<16x16xf32>, vector<16xf32>
    %acc_next = flash.pv %p, %v, %acc_i : vector<16x16xf32>, vector<16x8xf32>, vector<16x8xf32>
    scf.yield %acc_next, %l_next : vector<16x8xf32>, vector<16xf32>
  }
  return
}

// -----

func.func @sum_not_carried(%s: vector<16x16xf32>, %v: vector<16x8xf32>, %n: index, %scale: f32) {
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %minus_inf = arith.constant dense<0xFF800000> : vector<16xf32>
  %zero_rows = arith.constant dense<0.0> : vector<16xf32>
  %zero_acc = arith.constant dense<0.0> : vector<16x8xf32>
  %m = scf.for %k0 = %c0 to %n step %c16 iter_args(%m_i = %minus_inf) -> (vector<16xf32>) {
    %m_next = flash.row_max %s, %m_i : vector<16x16xf32>, vector<16xf32>
    scf.yield %m_next : vector<16xf32>
  }
  %acc = scf.for %k0 = %c0 to %n step %c16 iter_args(%acc_i = %zero_acc) -> (vector<16x8xf32>) {
    // expected-error @+1 {{cannot be fused: its running sum is not carried by the key loop}}
    %p, %l_next = flash.exp_scores %s, %m, %zero_rows scale %scale : vector<16x16xf32>, vector<16xf32>
    %acc_next = flash.pv %p, %v, %acc_i : vector<16x16xf32>, vector<16x8xf32>, vector<16x8xf32>
    scf.yield %acc_next : vector<16x8xf32>
  }
  return
}
