// A small interpreter of tile-level flash IR on the CPU (interpret mode, as in Triton's interpreter):
// it runs a kernel function after tiling, fusion and causal classification, so the numerics of those
// stages are checked without a GPU. It knows the flash tile ops and the few upstream ops they come
// with (arith on indices and floats, scf loops, memref.dim, vector.transfer_read/write); anything
// else is reported by name.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mlir {
namespace func {
class FuncOp;
} // namespace func
} // namespace mlir

namespace flashjit {

/// A strided view of host memory holding values already rounded to the memref's element type.
struct HostMemRef {
  float *data = nullptr;
  int64_t offset = 0;
  std::vector<int64_t> sizes, strides;
};

/// One argument of the kernel function: a memref, an f32 scalar or an index.
struct InterpreterArg {
  enum class Kind { MemRef, F32, Index } kind;
  HostMemRef memref;
  float f32 = 0;
  int64_t index = 0;

  static InterpreterArg of(HostMemRef m) { return {Kind::MemRef, std::move(m), 0, 0}; }
  static InterpreterArg of(float f) { return {Kind::F32, {}, f, 0}; }
  static InterpreterArg ofIndex(int64_t i) { return {Kind::Index, {}, 0, i}; }
};

/// Runs `function` on the arguments. Returns "" on success, or what stopped it (an unsupported op, a
/// type it cannot handle), naming the op.
std::string interpret(mlir::func::FuncOp function, const std::vector<InterpreterArg> &args);

} // namespace flashjit
