// The two tile-level forms of one query block of attention, written out in full. Tiling produces the
// two-pass form; fusing the online softmax rewrites it into the one-pass form, where the running max,
// the rescale factor and flash.rescale replace the separate max pass. Both forms round-trip.
// RUN: flashjit-opt %s | FileCheck %s
// RUN: flashjit-opt %s | flashjit-opt | FileCheck %s

!rows = memref<?x64xbf16, strided<[?, 1], offset: ?>>

// CHECK-LABEL: func.func @two_pass
// CHECK:       %[[M:.*]] = scf.for
// CHECK:         flash.qk
// CHECK:         flash.mask {{.*}} causal(bottom_right)
// CHECK:         flash.row_max
// CHECK:       %[[ACC:.*]]:2 = scf.for
// CHECK:         flash.qk
// CHECK:         flash.mask
// CHECK:         flash.exp_scores {{.*}}, %[[M]],
// CHECK:         arith.truncf
// CHECK:         flash.pv
// CHECK-NOT:     flash.rescale
// CHECK:       flash.normalize %[[ACC]]#0, %[[M]], %[[ACC]]#1
func.func @two_pass(%q: !rows, %k: !rows, %v: !rows, %o: !rows, %lse: memref<?xf32>, %scale: f32,
                    %q0: index) {
  %c0 = arith.constant 0 : index
  %c64 = arith.constant 64 : index
  %pad = arith.constant 0.0 : bf16
  %minus_inf = arith.constant dense<0xFF800000> : vector<128xf32>
  %zero_rows = arith.constant dense<0.0> : vector<128xf32>
  %zero_acc = arith.constant dense<0.0> : vector<128x64xf32>
  %seqlen_q = memref.dim %q, %c0 : !rows
  %seqlen_k = memref.dim %k, %c0 : !rows
  %q_tile = vector.transfer_read %q[%q0, %c0], %pad : !rows, vector<128x64xbf16>
  // Pass 1: each row's maximum raw score over all key blocks.
  %m = scf.for %k0 = %c0 to %seqlen_k step %c64 iter_args(%m_i = %minus_inf) -> (vector<128xf32>) {
    %k_tile = vector.transfer_read %k[%k0, %c0], %pad : !rows, vector<64x64xbf16>
    %s = flash.qk %q_tile, %k_tile : vector<128x64xbf16>, vector<64x64xbf16> -> vector<128x64xf32>
    %s_masked = flash.mask %s at [%q0, %k0] seqlens [%seqlen_q, %seqlen_k] causal(bottom_right)
        : vector<128x64xf32>
    %m_next = flash.row_max %s_masked, %m_i : vector<128x64xf32>, vector<128xf32>
    scf.yield %m_next : vector<128xf32>
  }
  // Pass 2: exponentiate against the final max, sum, and accumulate P·V.
  %acc, %l = scf.for %k0 = %c0 to %seqlen_k step %c64 iter_args(%acc_i = %zero_acc, %l_i = %zero_rows)
      -> (vector<128x64xf32>, vector<128xf32>) {
    %k_tile = vector.transfer_read %k[%k0, %c0], %pad : !rows, vector<64x64xbf16>
    %v_tile = vector.transfer_read %v[%k0, %c0], %pad : !rows, vector<64x64xbf16>
    %s = flash.qk %q_tile, %k_tile : vector<128x64xbf16>, vector<64x64xbf16> -> vector<128x64xf32>
    %s_masked = flash.mask %s at [%q0, %k0] seqlens [%seqlen_q, %seqlen_k] causal(bottom_right)
        : vector<128x64xf32>
    %p, %l_next = flash.exp_scores %s_masked, %m, %l_i scale %scale : vector<128x64xf32>, vector<128xf32>
    %p_bf16 = arith.truncf %p : vector<128x64xf32> to vector<128x64xbf16>
    %acc_next = flash.pv %p_bf16, %v_tile, %acc_i
        : vector<128x64xbf16>, vector<64x64xbf16>, vector<128x64xf32>
    scf.yield %acc_next, %l_next : vector<128x64xf32>, vector<128xf32>
  }
  %out, %lse_tile = flash.normalize %acc, %m, %l scale %scale : vector<128x64xf32>, vector<128xf32>
  %out_bf16 = arith.truncf %out : vector<128x64xf32> to vector<128x64xbf16>
  vector.transfer_write %out_bf16, %o[%q0, %c0] : vector<128x64xbf16>, !rows
  vector.transfer_write %lse_tile, %lse[%q0] : vector<128xf32>, memref<?xf32>
  return
}

// CHECK-LABEL: func.func @online
// CHECK:       %[[LOOP:.*]]:3 = scf.for
// CHECK:         flash.qk
// CHECK:         flash.mask
// CHECK:         %{{.*}}, %{{.*}}, %{{.*}}, %[[ALPHA:.*]] = flash.online_softmax
// CHECK:         flash.rescale %{{.*}} by %[[ALPHA]]
// CHECK:         flash.pv
// CHECK-NOT:   flash.row_max
// CHECK:       flash.normalize %[[LOOP]]#0, %[[LOOP]]#1, %[[LOOP]]#2
func.func @online(%q: !rows, %k: !rows, %v: !rows, %o: !rows, %lse: memref<?xf32>, %scale: f32,
                  %q0: index) {
  %c0 = arith.constant 0 : index
  %c64 = arith.constant 64 : index
  %pad = arith.constant 0.0 : bf16
  %minus_inf = arith.constant dense<0xFF800000> : vector<128xf32>
  %zero_rows = arith.constant dense<0.0> : vector<128xf32>
  %zero_acc = arith.constant dense<0.0> : vector<128x64xf32>
  %seqlen_q = memref.dim %q, %c0 : !rows
  %seqlen_k = memref.dim %k, %c0 : !rows
  %q_tile = vector.transfer_read %q[%q0, %c0], %pad : !rows, vector<128x64xbf16>
  // One pass: running max m, running sum l, and the accumulator corrected by exp2(m_old - m_new).
  %acc, %m, %l = scf.for %k0 = %c0 to %seqlen_k step %c64
      iter_args(%acc_i = %zero_acc, %m_i = %minus_inf, %l_i = %zero_rows)
      -> (vector<128x64xf32>, vector<128xf32>, vector<128xf32>) {
    %k_tile = vector.transfer_read %k[%k0, %c0], %pad : !rows, vector<64x64xbf16>
    %v_tile = vector.transfer_read %v[%k0, %c0], %pad : !rows, vector<64x64xbf16>
    %s = flash.qk %q_tile, %k_tile : vector<128x64xbf16>, vector<64x64xbf16> -> vector<128x64xf32>
    %s_masked = flash.mask %s at [%q0, %k0] seqlens [%seqlen_q, %seqlen_k] causal(bottom_right)
        : vector<128x64xf32>
    %p, %m_next, %l_next, %alpha = flash.online_softmax %s_masked, %m_i, %l_i scale %scale
        : vector<128x64xf32>, vector<128xf32>
    %acc_rescaled = flash.rescale %acc_i by %alpha : vector<128x64xf32>, vector<128xf32>
    %p_bf16 = arith.truncf %p : vector<128x64xf32> to vector<128x64xbf16>
    %acc_next = flash.pv %p_bf16, %v_tile, %acc_rescaled
        : vector<128x64xbf16>, vector<64x64xbf16>, vector<128x64xf32>
    scf.yield %acc_next, %m_next, %l_next : vector<128x64xf32>, vector<128xf32>, vector<128xf32>
  }
  %out, %lse_tile = flash.normalize %acc, %m, %l scale %scale : vector<128x64xf32>, vector<128xf32>
  %out_bf16 = arith.truncf %out : vector<128x64xf32> to vector<128x64xbf16>
  vector.transfer_write %out_bf16, %o[%q0, %c0] : vector<128x64xbf16>, !rows
  vector.transfer_write %lse_tile, %lse[%q0] : vector<128xf32>, memref<?xf32>
  return
}
