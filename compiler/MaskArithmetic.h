// The mask's formulas (dialects/Mask.h) emitted as IR: integer arith ops of one type (index at the tile
// stages, i32 in the GPU lowering), created in the order the formulas evaluate. Internal: MLIR headers.
#pragma once

#include "dialects/Mask.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

namespace flashjit {

struct MaskArithmetic {
  using Value = mlir::Value;
  mlir::OpBuilder &b;
  mlir::Location loc;
  mlir::Type type;

  Value add(Value x, Value y) { return mlir::arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return mlir::arith::SubIOp::create(b, loc, x, y); }
  Value min(Value x, Value y) { return mlir::arith::MinSIOp::create(b, loc, x, y); }
  Value max(Value x, Value y) { return mlir::arith::MaxSIOp::create(b, loc, x, y); }
  Value constant(int64_t c) { return mlir::arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, c)); }
};

using MaskFormulaIR = mask::MaskFormula<MaskArithmetic>;

} // namespace flashjit
