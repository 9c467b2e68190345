// The CPU interpreter of tile-level flash IR (see Interpreter.h). Tiles are row-major float arrays; the
// arithmetic is done in f32 as on the GPU, with conversions to f16/bf16 rounded to nearest even.
#include "compiler/Interpreter.h"
#include "dialects/FlashDialect.h"
#include "dialects/Rounding.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace flashjit {

using namespace mlir;

namespace {

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
constexpr float kLog2E = 1.4426950408889634f;

float roundTo(Type element, float value) {
  if (element.isBF16())
    return roundToBF16(value);
  if (element.isF16())
    return roundToF16(value);
  return value;
}

/// A row-major tile (the value of a vector).
struct Tile {
  std::vector<int64_t> shape;
  std::vector<float> data;
  int64_t rows() const { return shape[0]; }
  int64_t cols() const { return shape.size() > 1 ? shape[1] : 1; }
  float &at(int64_t r, int64_t c) { return data[r * cols() + c]; }
};

std::shared_ptr<Tile> newTile(VectorType type, float fill = 0) {
  auto tile = std::make_shared<Tile>();
  tile->shape.assign(type.getShape().begin(), type.getShape().end());
  tile->data.assign(type.getNumElements(), fill);
  return tile;
}

/// The value of one SSA value while interpreting.
struct Val {
  enum class Kind { Int, Float, Tile, MemRef } kind = Kind::Int;
  int64_t i = 0;
  float f = 0;
  std::shared_ptr<Tile> tile;
  HostMemRef memref;

  static Val ofInt(int64_t v) { Val x; x.kind = Kind::Int; x.i = v; return x; }
  static Val ofFloat(float v) { Val x; x.kind = Kind::Float; x.f = v; return x; }
  static Val ofTile(std::shared_ptr<Tile> t) { Val x; x.kind = Kind::Tile; x.tile = std::move(t); return x; }
  static Val ofMemRef(HostMemRef m) { Val x; x.kind = Kind::MemRef; x.memref = std::move(m); return x; }
};

class Interpreter {
public:
  std::string error;

  LogicalResult call(func::FuncOp function, const std::vector<InterpreterArg> &args) {
    Block &entry = function.getBody().front();
    if (entry.getNumArguments() != args.size())
      return fail(function, "takes " + std::to_string(entry.getNumArguments()) + " arguments, got " +
                                std::to_string(args.size()));
    for (auto [arg, given] : llvm::zip(entry.getArguments(), args)) {
      if (auto type = dyn_cast<MemRefType>(arg.getType())) {
        if (given.kind != InterpreterArg::Kind::MemRef || given.memref.sizes.size() != size_t(type.getRank()))
          return fail(function, "argument " + std::to_string(arg.getArgNumber()) + " must be a rank-" +
                                    std::to_string(type.getRank()) + " memref");
        for (int64_t d = 0; d < type.getRank(); ++d)
          if (!type.isDynamicDim(d) && type.getDimSize(d) != given.memref.sizes[d])
            return fail(function, "argument " + std::to_string(arg.getArgNumber()) + " has size " +
                                      std::to_string(given.memref.sizes[d]) + " in dimension " +
                                      std::to_string(d) + " but its type says " +
                                      std::to_string(type.getDimSize(d)));
        env[arg] = Val::ofMemRef(given.memref);
      } else if (arg.getType().isF32() && given.kind == InterpreterArg::Kind::F32) {
        env[arg] = Val::ofFloat(given.f32);
      } else if (arg.getType().isIndex() && given.kind == InterpreterArg::Kind::Index) {
        env[arg] = Val::ofInt(given.index);
      } else {
        return fail(function, "argument " + std::to_string(arg.getArgNumber()) + " does not match its type");
      }
    }
    SmallVector<Val> results;
    return runBlock(entry, results);
  }

private:
  DenseMap<Value, Val> env;

  LogicalResult fail(Operation *op, const std::string &message) {
    std::string where;
    llvm::raw_string_ostream os(where);
    os << "'" << op->getName() << "' at " << op->getLoc();
    error = where + ": " + message;
    return failure();
  }

  int64_t integer(Value v) { return env[v].i; }
  float scalar(Value v) { return env[v].f; }
  Tile &tile(Value v) { return *env[v].tile; }

  /// Runs a block up to its terminator and returns the terminator's operands.
  LogicalResult runBlock(Block &block, SmallVector<Val> &yielded) {
    for (Operation &op : block) {
      if (op.hasTrait<OpTrait::IsTerminator>()) {
        yielded.clear();
        for (Value operand : op.getOperands())
          yielded.push_back(env[operand]);
        return success();
      }
      if (failed(run(&op)))
        return failure();
    }
    return success();
  }

  LogicalResult run(Operation *op) {
    return llvm::TypeSwitch<Operation *, LogicalResult>(op)
        .Case<arith::ConstantOp>([&](auto c) { return constant(c); })
        .Case<arith::AddIOp, arith::SubIOp, arith::MulIOp, arith::DivUIOp, arith::DivSIOp,
              arith::CeilDivUIOp, arith::CeilDivSIOp, arith::FloorDivSIOp, arith::RemUIOp, arith::RemSIOp,
              arith::MinSIOp, arith::MaxSIOp, arith::MinUIOp, arith::MaxUIOp, arith::AndIOp, arith::OrIOp,
              arith::XOrIOp>([&](Operation *o) { return integerBinary(o); })
        .Case<arith::AddFOp, arith::SubFOp, arith::MulFOp, arith::DivFOp>(
            [&](Operation *o) { return floatBinary(o); })
        .Case<arith::TruncFOp, arith::ExtFOp>([&](Operation *o) { return convert(o); })
        .Case<memref::DimOp>([&](memref::DimOp d) {
          int64_t dim = integer(d.getIndex());
          env[d.getResult()] = Val::ofInt(env[d.getSource()].memref.sizes.at(dim));
          return success();
        })
        .Case<scf::ForOp>([&](scf::ForOp f) { return forLoop(f); })
        .Case<scf::IfOp>([&](scf::IfOp i) { return branch(i); })
        .Case<arith::CmpIOp>([&](arith::CmpIOp c) {
          env[c.getResult()] = Val::ofInt(compare(c.getPredicate(), integer(c.getLhs()), integer(c.getRhs())));
          return success();
        })
        .Case<scf::ParallelOp>([&](scf::ParallelOp p) { return parallelLoop(p); })
        .Case<flash::TileLoopOp>([&](flash::TileLoopOp t) { return tileLoop(t); })
        .Case<flash::StreamOp, flash::StreamPrefetchOp, flash::WarpSpecializeOp>( // the schedule
            [&](Operation *) { return success(); })
        .Case<flash::StreamGetOp>([&](flash::StreamGetOp g) { return streamGet(g); })
        .Case<flash::AtomicAddOp>([&](flash::AtomicAddOp a) { return atomicAdd(a); })
        .Case<vector::TransferReadOp>([&](vector::TransferReadOp r) { return transferRead(r); })
        .Case<vector::TransferWriteOp>([&](vector::TransferWriteOp w) { return transferWrite(w); })
        .Case<flash::QKOp>([&](flash::QKOp o) { return qk(o); })
        .Case<flash::MaskOp>([&](flash::MaskOp o) { return mask(o); })
        .Case<flash::RowMaxOp>([&](flash::RowMaxOp o) { return rowMax(o); })
        .Case<flash::ExpScoresOp>([&](flash::ExpScoresOp o) { return expScores(o); })
        .Case<flash::OnlineSoftmaxOp>([&](flash::OnlineSoftmaxOp o) { return onlineSoftmax(o); })
        .Case<flash::RescaleOp>([&](flash::RescaleOp o) { return rescale(o); })
        .Case<flash::PVOp>([&](flash::PVOp o) { return pv(o); })
        .Case<flash::MmaOp>([&](flash::MmaOp o) { return mma(o); })
        .Case<flash::NormalizeOp>([&](flash::NormalizeOp o) { return normalize(o); })
        .Case<flash::AttentionOp>([&](Operation *o) {
          return fail(o, "is problem-level IR; run flash-tile-attention before interpreting");
        })
        .Default([&](Operation *o) { return fail(o, "is not supported by the interpreter"); });
  }

  LogicalResult constant(arith::ConstantOp op) {
    Attribute value = op.getValue();
    if (auto i = dyn_cast<IntegerAttr>(value))
      env[op] = Val::ofInt(i.getInt());
    else if (auto f = dyn_cast<FloatAttr>(value))
      env[op] = Val::ofFloat(static_cast<float>(f.getValueAsDouble()));
    else if (auto dense = dyn_cast<DenseFPElementsAttr>(value)) {
      auto result = newTile(cast<VectorType>(op.getType()));
      if (dense.isSplat())
        std::fill(result->data.begin(), result->data.end(), dense.getSplatValue<APFloat>().convertToFloat());
      else
        for (auto [slot, element] : llvm::zip(result->data, dense.getValues<APFloat>()))
          slot = element.convertToFloat();
      env[op] = Val::ofTile(result);
    } else
      return fail(op, "has a constant the interpreter cannot represent");
    return success();
  }

  LogicalResult integerBinary(Operation *op) {
    int64_t a = integer(op->getOperand(0)), b = integer(op->getOperand(1));
    auto ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
    bool needsDivisor = isa<arith::DivUIOp, arith::DivSIOp, arith::CeilDivUIOp, arith::CeilDivSIOp,
                            arith::FloorDivSIOp, arith::RemUIOp, arith::RemSIOp>(op);
    if (needsDivisor && b == 0)
      return fail(op, "divides by zero");
    int64_t r = llvm::TypeSwitch<Operation *, int64_t>(op)
                    .Case<arith::AddIOp>([&](auto) { return a + b; })
                    .Case<arith::SubIOp>([&](auto) { return a - b; })
                    .Case<arith::MulIOp>([&](auto) { return a * b; })
                    .Case<arith::DivUIOp>([&](auto) { return int64_t(ua / ub); })
                    .Case<arith::DivSIOp>([&](auto) { return a / b; })
                    .Case<arith::CeilDivUIOp>([&](auto) { return int64_t((ua + ub - 1) / ub); })
                    .Case<arith::CeilDivSIOp>([&](auto) {
                      int64_t q = a / b;
                      return (a % b != 0 && ((a < 0) == (b < 0))) ? q + 1 : q;
                    })
                    .Case<arith::FloorDivSIOp>([&](auto) {
                      int64_t q = a / b;
                      return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
                    })
                    .Case<arith::RemUIOp>([&](auto) { return int64_t(ua % ub); })
                    .Case<arith::RemSIOp>([&](auto) { return a % b; })
                    .Case<arith::AndIOp>([&](auto) { return a & b; })
                    .Case<arith::OrIOp>([&](auto) { return a | b; })
                    .Case<arith::XOrIOp>([&](auto) { return a ^ b; })
                    .Case<arith::MinSIOp>([&](auto) { return std::min(a, b); })
                    .Case<arith::MaxSIOp>([&](auto) { return std::max(a, b); })
                    .Case<arith::MinUIOp>([&](auto) { return int64_t(std::min(ua, ub)); })
                    .Case<arith::MaxUIOp>([&](auto) { return int64_t(std::max(ua, ub)); })
                    .Default([&](auto) { return int64_t(0); });
    env[op->getResult(0)] = Val::ofInt(r);
    return success();
  }

  LogicalResult floatBinary(Operation *op) {
    auto apply = [&](float a, float b) {
      return llvm::TypeSwitch<Operation *, float>(op)
          .Case<arith::AddFOp>([&](auto) { return a + b; })
          .Case<arith::SubFOp>([&](auto) { return a - b; })
          .Case<arith::MulFOp>([&](auto) { return a * b; })
          .Default([&](auto) { return a / b; });
    };
    Type element = getElementTypeOrSelf(op->getResult(0).getType());
    Val &lhs = env[op->getOperand(0)], &rhs = env[op->getOperand(1)];
    if (lhs.kind == Val::Kind::Float) {
      env[op->getResult(0)] = Val::ofFloat(roundTo(element, apply(lhs.f, rhs.f)));
      return success();
    }
    auto result = newTile(cast<VectorType>(op->getResult(0).getType()));
    for (size_t e = 0; e < result->data.size(); ++e)
      result->data[e] = roundTo(element, apply(lhs.tile->data[e], rhs.tile->data[e]));
    env[op->getResult(0)] = Val::ofTile(result);
    return success();
  }

  LogicalResult convert(Operation *op) {
    Type element = getElementTypeOrSelf(op->getResult(0).getType());
    Val &in = env[op->getOperand(0)];
    if (in.kind == Val::Kind::Float) {
      env[op->getResult(0)] = Val::ofFloat(roundTo(element, in.f));
      return success();
    }
    auto result = std::make_shared<Tile>(*in.tile);
    for (float &x : result->data)
      x = roundTo(element, x);
    env[op->getResult(0)] = Val::ofTile(result);
    return success();
  }

  LogicalResult forLoop(scf::ForOp loop) {
    SmallVector<Val> carried;
    for (Value init : loop.getInitArgs())
      carried.push_back(env[init]);
    int64_t lower = integer(loop.getLowerBound()), upper = integer(loop.getUpperBound());
    int64_t step = integer(loop.getStep());
    if (step <= 0)
      return fail(loop, "has a step of " + std::to_string(step) + "; it must be positive");
    Block &body = *loop.getBody();
    for (int64_t iv = lower; iv < upper; iv += step) {
      env[loop.getInductionVar()] = Val::ofInt(iv);
      for (auto [arg, value] : llvm::zip(loop.getRegionIterArgs(), carried))
        env[arg] = value;
      if (failed(runBlock(body, carried)))
        return failure();
    }
    for (auto [result, value] : llvm::zip(loop.getResults(), carried))
      env[result] = value;
    return success();
  }

  static bool compare(arith::CmpIPredicate predicate, int64_t a, int64_t b) {
    auto ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
    switch (predicate) {
    case arith::CmpIPredicate::eq: return a == b;
    case arith::CmpIPredicate::ne: return a != b;
    case arith::CmpIPredicate::slt: return a < b;
    case arith::CmpIPredicate::sle: return a <= b;
    case arith::CmpIPredicate::sgt: return a > b;
    case arith::CmpIPredicate::sge: return a >= b;
    case arith::CmpIPredicate::ult: return ua < ub;
    case arith::CmpIPredicate::ule: return ua <= ub;
    case arith::CmpIPredicate::ugt: return ua > ub;
    case arith::CmpIPredicate::uge: return ua >= ub;
    }
    return false;
  }

  LogicalResult branch(scf::IfOp op) {
    Region &taken = integer(op.getCondition()) ? op.getThenRegion() : op.getElseRegion();
    SmallVector<Val> yielded;
    if (!taken.empty() && failed(runBlock(taken.front(), yielded)))
      return failure();
    for (auto [result, value] : llvm::zip(op.getResults(), yielded))
      env[result] = value;
    return success();
  }

  /// Every tile once, in order (the schedule says how the GPU walks them; the results do not depend on it).
  LogicalResult tileLoop(flash::TileLoopOp loop) {
    const int64_t bounds[] = {integer(loop.getQueryBlocks()), integer(loop.getHeads()), integer(loop.getBatch())};
    SmallVector<Val> ignored;
    for (int64_t batch = 0; batch < bounds[2]; ++batch)
      for (int64_t head = 0; head < bounds[1]; ++head)
        for (int64_t queryBlock = 0; queryBlock < bounds[0]; ++queryBlock) {
          const int64_t indices[] = {queryBlock, head, batch};
          for (auto [argument, index] : llvm::zip(loop.getTileIndices(), indices))
            env[argument] = Val::ofInt(index);
          if (failed(runBlock(loop.getBody().front(), ignored)))
            return failure();
        }
    return success();
  }

  LogicalResult parallelLoop(scf::ParallelOp loop) {
    if (loop.getNumResults() != 0)
      return fail(loop, "has reductions, which the interpreter does not support");
    size_t dims = loop.getInductionVars().size();
    SmallVector<int64_t> lower, upper, step, iv;
    for (size_t d = 0; d < dims; ++d) {
      lower.push_back(integer(loop.getLowerBound()[d]));
      upper.push_back(integer(loop.getUpperBound()[d]));
      step.push_back(integer(loop.getStep()[d]));
      if (step.back() <= 0)
        return fail(loop, "has a non-positive step");
      if (lower.back() >= upper.back())
        return success();
    }
    iv = lower;
    SmallVector<Val> ignored;
    while (true) {
      for (size_t d = 0; d < dims; ++d)
        env[loop.getInductionVars()[d]] = Val::ofInt(iv[d]);
      if (failed(runBlock(*loop.getBody(), ignored)))
        return failure();
      size_t d = dims;
      while (d > 0) { // odometer: advance the innermost dimension first
        --d;
        iv[d] += step[d];
        if (iv[d] < upper[d])
          break;
        iv[d] = lower[d];
        if (d == 0)
          return success();
      }
    }
  }

  /// Visits each element of a transfer's vector with its memref position, or -1 when out of bounds.
  template <typename Fn>
  LogicalResult forEachTransferElement(Operation *op, VectorType type, AffineMap map, ValueRange indices,
                                       const HostMemRef &memref, Fn fn) {
    if (!map.isMinorIdentity())
      return fail(op, "has a permutation map that is not a minor identity");
    SmallVector<int64_t> base;
    for (Value index : indices)
      base.push_back(integer(index));
    forEachElementAt(type, base, memref, fn);
    return success();
  }

  /// Visits each element of a tile of `type` placed in the innermost dimensions of `memref` from position
  /// `base` (one index per dimension), with its memref position, or -1 when out of bounds.
  template <typename Fn>
  void forEachElementAt(VectorType type, ArrayRef<int64_t> base, const HostMemRef &memref, Fn fn) {
    int64_t memRank = memref.sizes.size(), vecRank = type.getRank();
    SmallVector<int64_t> position(vecRank, 0);
    for (int64_t e = 0; e < type.getNumElements(); ++e) {
      int64_t rest = e;
      for (int64_t d = vecRank - 1; d >= 0; --d) {
        position[d] = rest % type.getDimSize(d);
        rest /= type.getDimSize(d);
      }
      int64_t address = memref.offset;
      bool inBounds = true;
      for (int64_t d = 0; d < memRank; ++d) {
        int64_t i = base[d] + (d >= memRank - vecRank ? position[d - (memRank - vecRank)] : 0);
        inBounds = inBounds && i >= 0 && i < memref.sizes[d];
        address += i * memref.strides[d];
      }
      fn(e, inBounds ? address : -1);
    }
  }

  LogicalResult transferRead(vector::TransferReadOp op) {
    if (op.getMask())
      return fail(op, "has a mask, which the interpreter does not support");
    const HostMemRef &memref = env[op.getBase()].memref;
    float padding = scalar(op.getPadding());
    auto result = newTile(op.getVectorType());
    LogicalResult ok = forEachTransferElement(
        op, op.getVectorType(), op.getPermutationMap(), op.getIndices(), memref,
        [&](int64_t e, int64_t address) { result->data[e] = address < 0 ? padding : memref.data[address]; });
    env[op.getResult()] = Val::ofTile(result);
    return ok;
  }

  /// A streamed block: whole rows from the last index on, zeros past the source's end.
  LogicalResult streamGet(flash::StreamGetOp op) {
    const HostMemRef &memref = env[op.getSource()].memref;
    auto result = newTile(op.getBlock().getType());
    SmallVector<int64_t> base;
    for (Value index : op.getIndices())
      base.push_back(integer(index));
    base.push_back(0); // the innermost dimension, read whole
    forEachElementAt(op.getBlock().getType(), base, memref,
                     [&](int64_t e, int64_t address) { result->data[e] = address < 0 ? 0.0f : memref.data[address]; });
    env[op.getBlock()] = Val::ofTile(result);
    return success();
  }

  /// Adds the tile into memory where its elements lie inside it (one thread: no atomicity to model).
  LogicalResult atomicAdd(flash::AtomicAddOp op) {
    const HostMemRef &memref = env[op.getDestination()].memref;
    const Tile &value = tile(op.getValue());
    VectorType type = op.getValue().getType();
    AffineMap map = AffineMap::getMinorIdentityMap(memref.sizes.size(), type.getRank(), op.getContext());
    return forEachTransferElement(op, type, map, op.getIndices(), memref, [&](int64_t e, int64_t address) {
      if (address >= 0)
        memref.data[address] += value.data[e];
    });
  }

  LogicalResult transferWrite(vector::TransferWriteOp op) {
    if (op.getMask())
      return fail(op, "has a mask, which the interpreter does not support");
    const HostMemRef &memref = env[op.getBase()].memref;
    Type element = op.getShapedType().getElementType();
    const Tile &value = tile(op.getVector());
    return forEachTransferElement(op, op.getVectorType(), op.getPermutationMap(), op.getIndices(), memref,
                                  [&](int64_t e, int64_t address) {
                                    if (address >= 0)
                                      memref.data[address] = roundTo(element, value.data[e]);
                                  });
  }

  LogicalResult qk(flash::QKOp op) {
    Tile &q = tile(op.getQuery()), &k = tile(op.getKey());
    auto s = newTile(op.getScores().getType());
    for (int64_t m = 0; m < q.rows(); ++m)
      for (int64_t n = 0; n < k.rows(); ++n) {
        float sum = 0;
        for (int64_t d = 0; d < q.cols(); ++d)
          sum += q.at(m, d) * k.at(n, d);
        s->at(m, n) = sum;
      }
    env[op.getScores()] = Val::ofTile(s);
    return success();
  }

  LogicalResult mask(flash::MaskOp op) {
    auto result = std::make_shared<Tile>(tile(op.getScores()));
    int64_t q0 = integer(op.getQueryOffset()), k0 = integer(op.getKeyOffset());
    int64_t seqlenQ = integer(op.getSeqlenQ()), seqlenK = integer(op.getSeqlenK());
    const mask::Mask hiding = op.getMaskAttr() ? op.getMaskAttr().getMask() : mask::Mask::none();
    for (int64_t r = 0; r < result->rows(); ++r)
      for (int64_t c = 0; c < result->cols(); ++c) {
        int64_t i = q0 + r, j = k0 + c;
        if (j >= seqlenK || !mask::visible(hiding, seqlenQ, seqlenK, i, j))
          result->at(r, c) = kMinusInf;
      }
    env[op.getMasked()] = Val::ofTile(result);
    return success();
  }

  static float rowMaxOf(Tile &s, int64_t r, float start) {
    float m = start;
    for (int64_t c = 0; c < s.cols(); ++c)
      m = std::max(m, s.at(r, c));
    return m;
  }

  LogicalResult rowMax(flash::RowMaxOp op) {
    Tile &s = tile(op.getScores());
    auto result = std::make_shared<Tile>(tile(op.getRunningMax()));
    for (int64_t r = 0; r < s.rows(); ++r)
      result->data[r] = rowMaxOf(s, r, result->data[r]);
    env[op.getNewMax()] = Val::ofTile(result);
    return success();
  }

  /// p = exp2(s·c − m̂·c) with c = scale·log2(e), m̂ = m or 0 where m = −inf; returns the row sum.
  static float exponentiateRow(Tile &s, Tile &p, int64_t r, float rowMax, float c) {
    float shift = rowMax == kMinusInf ? 0.0f : rowMax * c;
    float sum = 0;
    for (int64_t col = 0; col < s.cols(); ++col) {
      p.at(r, col) = std::exp2(std::fma(s.at(r, col), c, -shift));
      sum += p.at(r, col);
    }
    return sum;
  }

  LogicalResult expScores(flash::ExpScoresOp op) {
    Tile &s = tile(op.getScores()), &m = tile(op.getRowMax());
    float c = scalar(op.getScale()) * kLog2E;
    auto p = newTile(op.getProbs().getType());
    auto l = std::make_shared<Tile>(tile(op.getRunningSum()));
    for (int64_t r = 0; r < s.rows(); ++r)
      l->data[r] += exponentiateRow(s, *p, r, m.data[r], c);
    env[op.getProbs()] = Val::ofTile(p);
    env[op.getNewSum()] = Val::ofTile(l);
    return success();
  }

  LogicalResult onlineSoftmax(flash::OnlineSoftmaxOp op) {
    Tile &s = tile(op.getScores()), &m = tile(op.getRunningMax()), &l = tile(op.getRunningSum());
    float c = scalar(op.getScale()) * kLog2E;
    auto p = newTile(op.getProbs().getType());
    auto newMax = newTile(op.getNewMax().getType()), newSum = newTile(op.getNewSum().getType());
    auto correction = newTile(op.getCorrection().getType());
    for (int64_t r = 0; r < s.rows(); ++r) {
      float mNew = rowMaxOf(s, r, m.data[r]);
      float shift = mNew == kMinusInf ? 0.0f : mNew * c;
      float alpha = std::exp2(std::fma(m.data[r], c, -shift)); // 0 while the row has seen no key
      newMax->data[r] = mNew;
      correction->data[r] = alpha;
      newSum->data[r] = l.data[r] * alpha + exponentiateRow(s, *p, r, mNew, c);
    }
    env[op.getProbs()] = Val::ofTile(p);
    env[op.getNewMax()] = Val::ofTile(newMax);
    env[op.getNewSum()] = Val::ofTile(newSum);
    env[op.getCorrection()] = Val::ofTile(correction);
    return success();
  }

  LogicalResult rescale(flash::RescaleOp op) {
    auto result = std::make_shared<Tile>(tile(op.getAccumulator()));
    Tile &alpha = tile(op.getCorrection());
    for (int64_t r = 0; r < result->rows(); ++r)
      for (int64_t c = 0; c < result->cols(); ++c)
        result->at(r, c) *= alpha.data[r];
    env[op.getRescaled()] = Val::ofTile(result);
    return success();
  }

  LogicalResult pv(flash::PVOp op) {
    Tile &p = tile(op.getProbs()), &v = tile(op.getValue());
    auto result = std::make_shared<Tile>(tile(op.getAccumulator()));
    for (int64_t m = 0; m < p.rows(); ++m)
      for (int64_t d = 0; d < v.cols(); ++d) {
        float sum = result->at(m, d);
        for (int64_t n = 0; n < p.cols(); ++n)
          sum += p.at(m, n) * v.at(n, d);
        result->at(m, d) = sum;
      }
    env[op.getResult()] = Val::ofTile(result);
    return success();
  }

  /// result = accumulator + op(A)·op(B), summed in f32 as the tensor cores do.
  LogicalResult mma(flash::MmaOp op) {
    Tile &a = tile(op.getA()), &bTile = tile(op.getB());
    const bool ta = op.getTransposeA(), tb = op.getTransposeB();
    auto result = std::make_shared<Tile>(tile(op.getAccumulator()));
    for (int64_t m = 0; m < op.getM(); ++m)
      for (int64_t n = 0; n < op.getN(); ++n) {
        float sum = result->at(m, n);
        for (int64_t k = 0; k < op.getK(); ++k)
          sum += (ta ? a.at(k, m) : a.at(m, k)) * (tb ? bTile.at(n, k) : bTile.at(k, n));
        result->at(m, n) = sum;
      }
    env[op.getResult()] = Val::ofTile(result);
    return success();
  }

  LogicalResult normalize(flash::NormalizeOp op) {
    Tile &acc = tile(op.getAccumulator()), &m = tile(op.getRowMax()), &l = tile(op.getRowSum());
    float scale = scalar(op.getScale());
    auto output = newTile(op.getOutput().getType());
    auto lse = newTile(op.getLogsumexp().getType());
    for (int64_t r = 0; r < acc.rows(); ++r) {
      bool empty = l.data[r] == 0.0f; // the row saw no key: output 0, logsumexp −inf
      float inverse = empty ? 0.0f : 1.0f / l.data[r];
      for (int64_t c = 0; c < acc.cols(); ++c)
        output->at(r, c) = acc.at(r, c) * inverse;
      lse->data[r] = empty ? kMinusInf : m.data[r] * scale + std::log(l.data[r]);
    }
    env[op.getOutput()] = Val::ofTile(output);
    env[op.getLogsumexp()] = Val::ofTile(lse);
    return success();
  }
};

} // namespace

std::string interpret(func::FuncOp function, const std::vector<InterpreterArg> &args) {
  Interpreter interpreter;
  if (failed(interpreter.call(function, args)))
    return interpreter.error.empty() ? "interpretation failed" : interpreter.error;
  return "";
}

} // namespace flashjit
