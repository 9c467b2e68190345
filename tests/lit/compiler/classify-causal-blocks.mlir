// flash-classify-causal-blocks: a masked key loop masks only the blocks from the split on (diagonal and
// tail blocks, in an scf.if on the block's start), and stops at the last key any row of the query block
// can see.
// RUN: flashjit-opt %s -split-input-file -flash-classify-causal-blocks | FileCheck %s
// Classified loops are not classified again: a second run changes nothing.
// RUN: flashjit-opt %s -split-input-file -flash-classify-causal-blocks -flash-classify-causal-blocks | FileCheck %s

// CHECK-LABEL: func.func @bottom_right
// CHECK-SAME:    (%[[S:.*]]: vector<64x32xf32>, %[[Q0:[^:]*]]: index, %[[SQ:[^:]*]]: index, %[[SK:[^:]*]]: index)
// d = seqlen_k - seqlen_q
// CHECK:       %[[D:.*]] = arith.subi %[[SK]], %[[SQ]]
// last row = min(q0 + 64, seqlen_q) - 1
// CHECK:       %[[END_ROW:.*]] = arith.addi %[[Q0]], %{{c64(_[0-9]+)?}}
// CHECK:       %[[ROWS:.*]] = arith.minsi %[[END_ROW]], %[[SQ]]
// CHECK:       %[[LAST:.*]] = arith.subi %[[ROWS]], %{{c1(_[0-9]+)?}}
// full keys = min(seqlen_k, max(0, q0 + d + 1))
// CHECK:       %[[T0:.*]] = arith.addi %[[Q0]], %[[D]]
// CHECK:       %[[T1:.*]] = arith.addi %[[T0]], %{{c1(_[0-9]+)?}}
// CHECK:       %[[T2:.*]] = arith.maxsi %{{c0(_[0-9]+)?}}, %[[T1]]
// CHECK:       %[[FULL:.*]] = arith.minsi %[[SK]], %[[T2]]
// needed keys = min(seqlen_k, max(0, last + d + 1))
// CHECK:       %[[T3:.*]] = arith.addi %[[LAST]], %[[D]]
// CHECK:       %[[T4:.*]] = arith.addi %[[T3]], %{{c1(_[0-9]+)?}}
// CHECK:       %[[T5:.*]] = arith.maxsi %{{c0(_[0-9]+)?}}, %[[T4]]
// CHECK:       %[[NEEDED:.*]] = arith.minsi %[[SK]], %[[T5]]
// full blocks end at a multiple of block_n
// CHECK:       %[[FB:.*]] = arith.divui %[[FULL]], %{{c32(_[0-9]+)?}}
// CHECK:       %[[FULL_END:.*]] = arith.muli %[[FB]], %{{c32(_[0-9]+)?}}
// CHECK:       %[[END:.*]] = arith.minsi %[[SK]], %[[NEEDED]]
// CHECK:       %[[SPLIT:.*]] = arith.minsi %[[FULL_END]], %[[END]]
// one loop to the last needed block; blocks from the split on are masked
// CHECK:       %[[B:.*]] = scf.for %[[K:.*]] = %{{c0(_[0-9]+)?}} to %[[END]] step %{{c32(_[0-9]+)?}} iter_args(%[[M:.*]] = %{{.*}})
// CHECK:         %[[NEEDS:.*]] = arith.cmpi sge, %[[K]], %[[SPLIT]]
// CHECK:         %[[SCORES:.*]] = scf.if %[[NEEDS]] -> (vector<64x32xf32>) {
// CHECK:           %[[MASKED:.*]] = flash.mask %[[S]] at [%[[Q0]], %[[K]]] seqlens [%[[SQ]], %[[SK]]] causal(bottom_right)
// CHECK:           scf.yield %[[MASKED]]
// CHECK:         } else {
// CHECK:           scf.yield %[[S]]
// CHECK:         }
// CHECK:         flash.row_max %[[SCORES]], %[[M]]
// CHECK:       return %[[B]]
func.func @bottom_right(%s: vector<64x32xf32>, %q0: index, %sq: index, %sk: index) -> vector<64xf32> {
  %c0 = arith.constant 0 : index
  %c32 = arith.constant 32 : index
  %minus_inf = arith.constant dense<0xFF800000> : vector<64xf32>
  %m = scf.for %k0 = %c0 to %sk step %c32 iter_args(%m_i = %minus_inf) -> (vector<64xf32>) {
    %masked = flash.mask %s at [%q0, %k0] seqlens [%sq, %sk] causal(bottom_right) : vector<64x32xf32>
    %m_next = flash.row_max %masked, %m_i : vector<64x32xf32>, vector<64xf32>
    scf.yield %m_next : vector<64xf32>
  }
  return %m : vector<64xf32>
}

// -----

// Top-left alignment: the diagonal offset is 0.
// CHECK-LABEL: func.func @top_left
// CHECK-SAME:    (%[[S:.*]]: vector<64x32xf32>, %[[Q0:[^:]*]]: index, %[[SQ:[^:]*]]: index, %[[SK:[^:]*]]: index)
// CHECK-NOT:   arith.subi %[[SK]], %[[SQ]]
// CHECK:       %[[T0:.*]] = arith.addi %[[Q0]], %{{.*}}
// CHECK:       scf.for
// CHECK:         scf.if
// CHECK:           flash.mask {{.*}} causal(top_left)
func.func @top_left(%s: vector<64x32xf32>, %q0: index, %sq: index, %sk: index) -> vector<64xf32> {
  %c0 = arith.constant 0 : index
  %c32 = arith.constant 32 : index
  %minus_inf = arith.constant dense<0xFF800000> : vector<64xf32>
  %m = scf.for %k0 = %c0 to %sk step %c32 iter_args(%m_i = %minus_inf) -> (vector<64xf32>) {
    %masked = flash.mask %s at [%q0, %k0] seqlens [%sq, %sk] causal(top_left) : vector<64x32xf32>
    %m_next = flash.row_max %masked, %m_i : vector<64x32xf32>, vector<64xf32>
    scf.yield %m_next : vector<64xf32>
  }
  return %m : vector<64xf32>
}

// -----

// Without a causal mask, full blocks run to the last whole block of keys; only the tail is masked.
// CHECK-LABEL: func.func @tail_only
// CHECK-SAME:    (%[[S:.*]]: vector<64x32xf32>, %[[Q0:[^:]*]]: index, %[[SQ:[^:]*]]: index, %[[SK:[^:]*]]: index)
// CHECK:       %[[FB:.*]] = arith.divui %[[SK]], %{{c32(_[0-9]+)?}}
// CHECK:       %[[FULL_END:.*]] = arith.muli %[[FB]], %{{c32(_[0-9]+)?}}
// CHECK:       %[[END:.*]] = arith.minsi %[[SK]], %[[SK]]
// CHECK:       %[[SPLIT:.*]] = arith.minsi %[[FULL_END]], %[[END]]
// CHECK:       scf.for %[[K:.*]] = %{{.*}} to %[[END]]
// CHECK:         %[[NEEDS:.*]] = arith.cmpi sge, %[[K]], %[[SPLIT]]
// CHECK:         scf.if %[[NEEDS]]
// CHECK:           flash.mask %[[S]] at [%[[Q0]], %[[K]]] seqlens [%[[SQ]], %[[SK]]] : vector<64x32xf32>
func.func @tail_only(%s: vector<64x32xf32>, %q0: index, %sq: index, %sk: index) -> vector<64xf32> {
  %c0 = arith.constant 0 : index
  %c32 = arith.constant 32 : index
  %minus_inf = arith.constant dense<0xFF800000> : vector<64xf32>
  %m = scf.for %k0 = %c0 to %sk step %c32 iter_args(%m_i = %minus_inf) -> (vector<64xf32>) {
    %masked = flash.mask %s at [%q0, %k0] seqlens [%sq, %sk] : vector<64x32xf32>
    %m_next = flash.row_max %masked, %m_i : vector<64x32xf32>, vector<64xf32>
    scf.yield %m_next : vector<64xf32>
  }
  return %m : vector<64xf32>
}

// -----

// A sliding window (16 keys left of a bottom-right diagonal): the loop starts at the block of the first key
// any row sees, max(0, q0 + d - 16) rounded down, and blocks before the first that lies wholly inside every
// row's window, max(0, last + d - 16) rounded up, are masked as well as those from the split on.
// CHECK-LABEL: func.func @window
// CHECK-SAME:    (%[[S:.*]]: vector<64x32xf32>, %[[Q0:[^:]*]]: index, %[[SQ:[^:]*]]: index, %[[SK:[^:]*]]: index)
// CHECK:       %[[D:.*]] = arith.subi %[[SK]], %[[SQ]]
// CHECK:       %[[LAST:.*]] = arith.subi %{{.*}}, %{{c1(_[0-9]+)?}}
// keys seen by some row start at max(0, q0 + d - 16), by every row at max(0, last + d - 16)
// CHECK:       %[[B1:.*]] = arith.addi %{{.*}}, %{{c-16(_[0-9]+)?}}
// CHECK:       %[[B2:.*]] = arith.maxsi %{{c0(_[0-9]+)?}}, %[[B1]]
// CHECK:       %[[BEGIN:.*]] = arith.minsi %[[SK]], %[[B2]]
// CHECK:       %[[F0:.*]] = arith.addi %[[LAST]], %[[D]]
// CHECK-NEXT:  %{{c-16(_[0-9]+)?}} = arith.constant -16 : index
// CHECK-NEXT:  %[[F1:.*]] = arith.addi %[[F0]], %{{c-16(_[0-9]+)?}}
// CHECK:       %[[F2:.*]] = arith.maxsi %{{c0(_[0-9]+)?}}, %[[F1]]
// CHECK:       %[[FULL_BEGIN:.*]] = arith.minsi %[[SK]], %[[F2]]
// CHECK:       %[[END:.*]] = arith.minsi %[[SK]], %{{.*}}
// CHECK-NEXT:  %[[SPLIT:.*]] = arith.minsi %{{.*}}, %[[END]]
// CHECK:       %[[LB:.*]] = arith.divui %[[BEGIN]], %{{c32(_[0-9]+)?}}
// CHECK:       %[[LOWER:.*]] = arith.muli %[[LB]], %{{c32(_[0-9]+)?}}
// CHECK:       %[[FS0:.*]] = arith.addi %[[FULL_BEGIN]], %{{c31(_[0-9]+)?}}
// CHECK:       %[[FS1:.*]] = arith.divui %[[FS0]], %{{c32(_[0-9]+)?}}
// CHECK:       %[[FULL_START:.*]] = arith.muli %[[FS1]], %{{c32(_[0-9]+)?}}
// CHECK:       scf.for %[[K:.*]] = %[[LOWER]] to %[[END]] step %{{c32(_[0-9]+)?}}
// CHECK:         %[[AFTER:.*]] = arith.cmpi sge, %[[K]], %[[SPLIT]]
// CHECK:         %[[BEFORE:.*]] = arith.cmpi slt, %[[K]], %[[FULL_START]]
// CHECK:         %[[NEEDS:.*]] = arith.ori %[[AFTER]], %[[BEFORE]]
// CHECK:         scf.if %[[NEEDS]]
// CHECK:           flash.mask %[[S]] at [%[[Q0]], %[[K]]] seqlens [%[[SQ]], %[[SK]]] window(bottom_right, left = 16, right = 0)
func.func @window(%s: vector<64x32xf32>, %q0: index, %sq: index, %sk: index) -> vector<64xf32> {
  %c0 = arith.constant 0 : index
  %c32 = arith.constant 32 : index
  %minus_inf = arith.constant dense<0xFF800000> : vector<64xf32>
  %m = scf.for %k0 = %c0 to %sk step %c32 iter_args(%m_i = %minus_inf) -> (vector<64xf32>) {
    %masked = flash.mask %s at [%q0, %k0] seqlens [%sq, %sk] window(bottom_right, left = 16, right = 0) : vector<64x32xf32>
    %m_next = flash.row_max %masked, %m_i : vector<64x32xf32>, vector<64xf32>
    scf.yield %m_next : vector<64xf32>
  }
  return %m : vector<64xf32>
}

// -----

// A loop that does not start at key 0 in steps of block_n keeps its mask (always correct).
// CHECK-LABEL: func.func @not_a_block_walk
// CHECK:       scf.for
// CHECK-NOT:     scf.if
// CHECK:         flash.mask
// CHECK-NOT:   scf.for
func.func @not_a_block_walk(%s: vector<64x32xf32>, %q0: index, %sq: index, %sk: index) -> vector<64xf32> {
  %c16 = arith.constant 16 : index
  %c32 = arith.constant 32 : index
  %minus_inf = arith.constant dense<0xFF800000> : vector<64xf32>
  %m = scf.for %k0 = %c16 to %sk step %c32 iter_args(%m_i = %minus_inf) -> (vector<64xf32>) {
    %masked = flash.mask %s at [%q0, %k0] seqlens [%sq, %sk] causal(top_left) : vector<64x32xf32>
    %m_next = flash.row_max %masked, %m_i : vector<64x32xf32>, vector<64xf32>
    scf.yield %m_next : vector<64xf32>
  }
  return %m : vector<64xf32>
}
