// flash-tile-attention: flash.attention becomes the two-pass tile form, sized by the kernel's config.
// RUN: flashjit-opt %s -split-input-file -flash-tile-attention -verify-diagnostics | FileCheck %s

!data = memref<?x?x?x64xbf16, strided<[?, ?, ?, 1], offset: ?>>
!lse = memref<?x?x?xf32, strided<[?, ?, 1], offset: ?>>

// CHECK-LABEL: func.func @causal_with_lse
// CHECK-SAME:    (%[[Q:.*]]: memref<?x?x?x64xbf16, {{.*}}>, %[[K:.*]]: memref<?x?x?x64xbf16, {{.*}}>, %[[V:.*]]: memref<?x?x?x64xbf16, {{.*}}>, %[[O:.*]]: memref<?x?x?x64xbf16, {{.*}}>, %[[LSE:.*]]: memref<?x?x?xf32, {{.*}}>, %[[SCALE:.*]]: f32)
// CHECK-DAG:   %[[BATCH:.*]] = memref.dim %[[Q]], %{{.*}}
// CHECK-DAG:   %[[HEADS:.*]] = memref.dim %[[Q]], %{{.*}}
// CHECK-DAG:   %[[SQ:.*]] = memref.dim %[[Q]], %{{.*}}
// CHECK-DAG:   %[[KV_HEADS:.*]] = memref.dim %[[K]], %{{.*}}
// CHECK-DAG:   %[[SK:.*]] = memref.dim %[[K]], %{{.*}}
// CHECK:       %[[QBLOCKS:.*]] = arith.ceildivui %[[SQ]], %{{.*}} : index
// CHECK:       %[[GROUP:.*]] = arith.divui %[[HEADS]], %[[KV_HEADS]]
// CHECK:       scf.parallel (%[[QB:.*]], %[[H:.*]], %[[B:.*]]) = ({{.*}}) to (%[[QBLOCKS]], %[[HEADS]], %[[BATCH]])
// CHECK:         %[[KVH:.*]] = arith.divui %[[H]], %[[GROUP]]
// CHECK:         %[[Q0:.*]] = arith.muli %[[QB]], %{{.*}}
// CHECK:         %[[QT:.*]] = vector.transfer_read %[[Q]][%[[B]], %[[H]], %[[Q0]], %{{.*}}], %{{.*}} {in_bounds = [false, true]} : {{.*}}, vector<64x64xbf16>
// Pass 1: row maxima over key blocks of 32.
// CHECK:         %[[M:.*]] = scf.for %[[K0:.*]] = %{{.*}} to %[[SK]] step %{{.*}} iter_args(%[[MI:.*]] = %{{.*}}) -> (vector<64xf32>)
// CHECK:           %[[KT:.*]] = vector.transfer_read %[[K]][%[[B]], %[[KVH]], %[[K0]], %{{.*}}]{{.*}}vector<32x64xbf16>
// CHECK:           %[[S:.*]] = flash.qk %[[QT]], %[[KT]] : vector<64x64xbf16>, vector<32x64xbf16> -> vector<64x32xf32>
// CHECK:           %[[SM:.*]] = flash.mask %[[S]] at [%[[Q0]], %[[K0]]] seqlens [%[[SQ]], %[[SK]]] causal(bottom_right)
// CHECK:           %[[MN:.*]] = flash.row_max %[[SM]], %[[MI]]
// CHECK:           scf.yield %[[MN]]
// Pass 2: exponentials against the final maxima, and P·V.
// CHECK:         %[[ACC:.*]]:2 = scf.for %[[K1:.*]] = %{{.*}} to %[[SK]] step %{{.*}} iter_args(%[[ACCI:.*]] = %{{.*}}, %[[LI:.*]] = %{{.*}})
// CHECK:           flash.qk
// CHECK:           %[[SM2:.*]] = flash.mask
// CHECK:           %[[P:.*]], %[[LN:.*]] = flash.exp_scores %[[SM2]], %[[M]], %[[LI]] scale %[[SCALE]]
// CHECK:           %[[PB:.*]] = arith.truncf %[[P]] : vector<64x32xf32> to vector<64x32xbf16>
// CHECK:           %[[VT:.*]] = vector.transfer_read %[[V]][%[[B]], %[[KVH]], %[[K1]], %{{.*}}]
// CHECK:           %[[ACCN:.*]] = flash.pv %[[PB]], %[[VT]], %[[ACCI]]
// CHECK:           scf.yield %[[ACCN]], %[[LN]]
// CHECK:         %[[OUT:.*]], %[[LSET:.*]] = flash.normalize %[[ACC]]#0, %[[M]], %[[ACC]]#1 scale %[[SCALE]]
// CHECK:         %[[OB:.*]] = arith.truncf %[[OUT]] : vector<64x64xf32> to vector<64x64xbf16>
// CHECK:         vector.transfer_write %[[OB]], %[[O]][%[[B]], %[[H]], %[[Q0]], %{{.*}}] {in_bounds = [false, true]}
// CHECK:         vector.transfer_write %[[LSET]], %[[LSE]][%[[B]], %[[H]], %[[Q0]]]
// CHECK-NOT:   flash.attention
func.func @causal_with_lse(%q: !data, %k: !data, %v: !data, %o: !data, %lse: !lse, %scale: f32)
    attributes {flash.config = #flash.config<block_m = 64, block_n = 32, warps = 4, stages = 2, chip = "sm_80">} {
  flash.attention %q, %k, %v scale %scale into %o, lse %lse causal(bottom_right)
      : !data, !data, !data -> !data, !lse
  return
}

// -----

// f32 data needs no conversion of P or O; without lse nothing is written but O; the mask has no causal part.
// CHECK-LABEL: func.func @f32_no_lse
// CHECK:       vector.transfer_read {{.*}} vector<16x16xf32>
// CHECK:       flash.mask %{{.*}} at [%{{.*}}, %{{.*}}] seqlens [%{{.*}}, %{{.*}}] : vector<16x16xf32>
// CHECK-NOT:   arith.truncf
// CHECK:       flash.normalize
// CHECK-NOT:   arith.truncf
// CHECK:       vector.transfer_write
// CHECK-NOT:   vector.transfer_write
// CHECK:       return
func.func @f32_no_lse(%q: memref<1x2x?x16xf32>, %kv: memref<1x1x?x16xf32>, %o: memref<1x2x?x16xf32>, %scale: f32)
    attributes {flash.config = #flash.config<block_m = 16, block_n = 16, warps = 1, stages = 1, chip = "sm_80">} {
  flash.attention %q, %kv, %kv scale %scale into %o
      : memref<1x2x?x16xf32>, memref<1x1x?x16xf32>, memref<1x1x?x16xf32> -> memref<1x2x?x16xf32>
  return
}

// -----

func.func @no_config(%q: memref<1x1x8x64xf16>, %s: f32) {
  // expected-error @+1 {{'flash.attention' op needs a kernel configuration to be tiled: put flash.config = #flash.config<...> on the enclosing function}}
  flash.attention %q, %q, %q scale %s into %q : memref<1x1x8x64xf16>, memref<1x1x8x64xf16>, memref<1x1x8x64xf16> -> memref<1x1x8x64xf16>
  return
}
