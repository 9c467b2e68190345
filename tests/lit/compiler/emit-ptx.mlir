// flash-emit-ptx: LLVM-dialect kernels become PTX in-process, attached to the module as flash.ptx.
// RUN: flashjit-opt %s -split-input-file -flash-emit-ptx -verify-diagnostics | FileCheck %s
// RUN: flashjit-opt %s -split-input-file -flash-emit-ptx=chip=sm_80 | FileCheck %s --check-prefix=AMPERE
// With output=FILE the PTX is also written there (the first kernel's module; later ones fail as below).
// RUN: rm -f %t.ptx && not flashjit-opt %s -split-input-file -flash-emit-ptx="output=%t.ptx" -o /dev/null 2>/dev/null
// RUN: FileCheck %s --check-prefix=FILE < %t.ptx
// FILE: .target sm_90
// FILE: .visible .entry scale_exp2(

// The chip comes from the kernel's flash.config unless the option names one.
// CHECK: module attributes {flash.ptx = "{{.*}}.version 8.0\0A.target sm_90\0A.address_size 64
// CHECK-SAME: .visible .entry scale_exp2(
// CHECK-SAME: ex2.approx.ftz.f32
// CHECK-NOT: __nv_
// AMPERE: .target sm_80
module {
  llvm.func @scale_exp2(%in: !llvm.ptr<1>, %out: !llvm.ptr<1>, %s: f32)
      attributes {nvvm.kernel, flash.config = #flash.config<block_m = 16, block_n = 16, warps = 1, stages = 1, chip = "sm_90">} {
    %tid = nvvm.read.ptx.sreg.tid.x : i32
    %p = llvm.getelementptr %in[%tid] : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, f32
    %x = llvm.load %p : !llvm.ptr<1> -> f32
    %y = llvm.fmul %x, %s : f32
    %e = llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"(%y) : (f32) -> f32
    %q = llvm.getelementptr %out[%tid] : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, f32
    llvm.store %e, %q : f32, !llvm.ptr<1>
    llvm.return
  }
}

// -----

// expected-error @+1 {{no target chip: pass chip=sm_XX or put a flash.config on the kernels}}
module {
  llvm.func @no_config() attributes {nvvm.kernel} {
    llvm.return
  }
}
