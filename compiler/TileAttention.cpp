// flash-tile-attention: flash.attention -> the two-pass tile form (see Passes.td).
//
// For each (query block, head, batch) of a parallel loop:
//   q_tile = read Q[b, h, q0 : q0+block_m, :]                       (rows past seqlen_q padded)
//   m = -inf;          for each key block k0: m = row_max(mask(qk(q_tile, K[k0..])), m)
//   acc = 0, l = 0;    for each key block k0: p, l = exp_scores(mask(qk(...)), m, l); acc = pv(p, V[k0..], acc)
//   o, lse = normalize(acc, m, l); write O[b, h, q0.., :] and lse[b, h, q0..]   (rows past seqlen_q dropped)
#include "compiler/Passes.h"
#include "dialects/FlashDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include <limits>

namespace flashjit {

#define GEN_PASS_DEF_TILEATTENTION
#include "compiler/Passes.h.inc"

using namespace mlir;

namespace {

/// What the loops need to know about one attention op and its configuration.
struct TileShape {
  int64_t blockM, blockN, headDim;
  Type element;
  VectorType queryTile, keyTile, scores, accumulator, rows;
};

TileShape tileShape(flash::AttentionOp op, flash::KernelConfigAttr config) {
  TileShape t;
  t.blockM = config.getBlockM();
  t.blockN = config.getBlockN();
  t.headDim = op.getHeadDim();
  t.element = op.getElementType();
  Type f32 = Float32Type::get(op.getContext());
  t.queryTile = VectorType::get({t.blockM, t.headDim}, t.element);
  t.keyTile = VectorType::get({t.blockN, t.headDim}, t.element);
  t.scores = VectorType::get({t.blockM, t.blockN}, f32);
  t.accumulator = VectorType::get({t.blockM, t.headDim}, f32);
  t.rows = VectorType::get({t.blockM}, f32);
  return t;
}

/// Rounds an f32 tile to the data type, as the tensor cores and the stores will.
Value toElementType(OpBuilder &b, Location loc, Value tile, Type element) {
  auto type = cast<VectorType>(tile.getType());
  if (type.getElementType() == element)
    return tile;
  return arith::TruncFOp::create(b, loc, type.clone(element), tile);
}

class TileAttentionPass : public impl::TileAttentionBase<TileAttentionPass> {
public:
  void runOnOperation() override {
    SmallVector<flash::AttentionOp> ops;
    getOperation().walk([&](flash::AttentionOp op) { ops.push_back(op); });
    for (flash::AttentionOp op : ops)
      if (failed(tile(op)))
        return signalPassFailure();
  }

private:
  LogicalResult tile(flash::AttentionOp op) {
    flash::KernelConfigAttr config = flash::FlashDialect::lookupConfig(op);
    if (!config)
      return op.emitOpError() << "needs a kernel configuration to be tiled: put "
                                 "flash.config = #flash.config<...> on the enclosing function";
    TileShape t = tileShape(op, config);
    OpBuilder b(op);
    Location loc = op.getLoc();
    auto index = [&](int64_t value) { return arith::ConstantIndexOp::create(b, loc, value).getResult(); };
    Value c0 = index(0), c1 = index(1);
    Value batch = memref::DimOp::create(b, loc, op.getQuery(), 0);
    Value heads = memref::DimOp::create(b, loc, op.getQuery(), 1);
    Value seqlenQ = memref::DimOp::create(b, loc, op.getQuery(), 2);
    Value kvHeads = memref::DimOp::create(b, loc, op.getKey(), 1);
    Value seqlenK = memref::DimOp::create(b, loc, op.getKey(), 2);
    Value queryBlocks = arith::CeilDivUIOp::create(b, loc, seqlenQ, index(t.blockM));
    // Grouped-query attention: query heads [g·h', g·h' + g) share key/value head h'.
    Value group = arith::DivUIOp::create(b, loc, heads, kvHeads);

    scf::ParallelOp::create(
        b, loc, ValueRange{c0, c0, c0}, ValueRange{queryBlocks, heads, batch}, ValueRange{c1, c1, c1},
        [&](OpBuilder &nb, Location nloc, ValueRange ivs) {
          buildQueryBlock(nb, nloc, op, t, ivs[0], ivs[1], ivs[2], group, seqlenQ, seqlenK);
        });
    op.erase();
    return success();
  }

  void buildQueryBlock(OpBuilder &b, Location loc, flash::AttentionOp op, const TileShape &t,
                       Value queryBlock, Value head, Value batch, Value group, Value seqlenQ,
                       Value seqlenK) {
    auto index = [&](int64_t value) { return arith::ConstantIndexOp::create(b, loc, value).getResult(); };
    Value c0 = index(0), blockN = index(t.blockN);
    Value kvHead = arith::DivUIOp::create(b, loc, head, group);
    Value q0 = arith::MulIOp::create(b, loc, queryBlock, index(t.blockM));
    Value pad = arith::ConstantOp::create(b, loc, b.getZeroAttr(t.element));
    // Rows (sequence) may run past the end; the head dimension never does.
    SmallVector<bool> rowsMayOverrun = {false, true};
    Value queryTile = vector::TransferReadOp::create(b, loc, t.queryTile, op.getQuery(),
                                                     ValueRange{batch, head, q0, c0}, pad,
                                                     ArrayRef<bool>(rowsMayOverrun));
    Value scale = op.getScale();
    flash::MaskAttr mask = op.getMaskAttr();

    // The masked scores of key block k0, and its value tile.
    auto maskedScores = [&](OpBuilder &lb, Location lloc, Value k0) {
      Value keyTile = vector::TransferReadOp::create(lb, lloc, t.keyTile, op.getKey(),
                                                     ValueRange{batch, kvHead, k0, c0}, pad,
                                                     ArrayRef<bool>(rowsMayOverrun));
      Value scores = flash::QKOp::create(lb, lloc, queryTile, keyTile);
      return flash::MaskOp::create(lb, lloc, scores, q0, k0, seqlenQ, seqlenK, mask).getResult();
    };

    Value minusInf = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(t.rows, b.getF32FloatAttr(-std::numeric_limits<float>::infinity())));
    Value zeroRows = arith::ConstantOp::create(b, loc, DenseElementsAttr::get(t.rows, b.getF32FloatAttr(0)));
    Value zeroAcc =
        arith::ConstantOp::create(b, loc, DenseElementsAttr::get(t.accumulator, b.getF32FloatAttr(0)));

    // Pass 1: the row maxima.
    auto maxLoop = scf::ForOp::create(
        b, loc, c0, seqlenK, blockN, ValueRange{minusInf},
        [&](OpBuilder &lb, Location lloc, Value k0, ValueRange iterArgs) {
          Value scores = maskedScores(lb, lloc, k0);
          Value newMax = flash::RowMaxOp::create(lb, lloc, scores, iterArgs[0]);
          scf::YieldOp::create(lb, lloc, newMax);
        });
    Value rowMax = maxLoop.getResult(0);

    // Pass 2: exponentials against the final maxima, their sums, and P·V.
    auto accLoop = scf::ForOp::create(
        b, loc, c0, seqlenK, blockN, ValueRange{zeroAcc, zeroRows},
        [&](OpBuilder &lb, Location lloc, Value k0, ValueRange iterArgs) {
          Value scores = maskedScores(lb, lloc, k0);
          auto exp = flash::ExpScoresOp::create(lb, lloc, scores, rowMax, iterArgs[1], scale);
          Value probs = toElementType(lb, lloc, exp.getProbs(), t.element);
          Value valueTile = vector::TransferReadOp::create(lb, lloc, t.keyTile, op.getValue(),
                                                           ValueRange{batch, kvHead, k0, c0}, pad,
                                                           ArrayRef<bool>(rowsMayOverrun));
          Value acc = flash::PVOp::create(lb, lloc, probs, valueTile, iterArgs[0]);
          scf::YieldOp::create(lb, lloc, ValueRange{acc, Value(exp.getNewSum())});
        });

    auto normalized =
        flash::NormalizeOp::create(b, loc, accLoop.getResult(0), rowMax, accLoop.getResult(1), scale);
    Value output = toElementType(b, loc, normalized.getOutput(), t.element);
    vector::TransferWriteOp::create(b, loc, output, op.getOutput(), ValueRange{batch, head, q0, c0},
                                    ArrayRef<bool>(rowsMayOverrun));
    if (Value lse = op.getLogsumexp())
      vector::TransferWriteOp::create(b, loc, normalized.getLogsumexp(), lse, ValueRange{batch, head, q0},
                                      ArrayRef<bool>{false});
  }
};

} // namespace

} // namespace flashjit
