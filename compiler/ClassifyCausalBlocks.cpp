// flash-classify-causal-blocks: mask only the key blocks that need it, skip hidden ones (see Passes.td).
//
// The mask's formulas (dialects/Mask.h, emitted by MaskFormulaIR) give the keys that the query block's
// rows [q0, last_row] see, last_row = min(q0 + block_m, seqlen_q) - 1: some row sees [begin, end), every
// row [full_begin, full_end); under a causal mask
//   full_end = min(seqlen_k, max(0, q0 + d + 1)),   end = min(seqlen_k, max(0, last_row + d + 1)),
// with d = 0 (top_left) or seqlen_k - seqlen_q (bottom_right), and begin = full_begin = 0. Key blocks that
// lie wholly inside the full keys need no mask; blocks outside [begin, end) are skipped (the loop runs
// from begin's block to end); the rest (diagonal, window-edge and tail blocks) keep the mask, which moves
// into an scf.if on the block's start. Without a mask, full_end = end = seqlen_k: only a tail block is
// masked.
#include "compiler/MaskArithmetic.h"
#include "compiler/Passes.h"
#include "dialects/FlashDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/LoopLikeInterface.h"

namespace flashjit {

#define GEN_PASS_DEF_CLASSIFYCAUSALBLOCKS
#include "compiler/Passes.h.inc"

using namespace mlir;

namespace {

/// The one flash.mask in `loop`'s body whose key offset is the loop's induction variable, or null.
flash::MaskOp keyLoopMask(scf::ForOp loop) {
  flash::MaskOp found;
  for (auto mask : loop.getBody()->getOps<flash::MaskOp>()) {
    if (mask.getKeyOffset() != loop.getInductionVar() || found)
      return {};
    found = mask;
  }
  return found;
}

/// Values the split points are computed from must be available before the loop.
bool definedOutside(scf::ForOp loop, ValueRange values) {
  return llvm::all_of(values, [&](Value v) { return loop.isDefinedOutsideOfLoop(v); });
}

class ClassifyCausalBlocksPass : public impl::ClassifyCausalBlocksBase<ClassifyCausalBlocksPass> {
public:
  void runOnOperation() override {
    SmallVector<std::pair<scf::ForOp, flash::MaskOp>> loops;
    getOperation().walk([&](scf::ForOp loop) {
      if (flash::MaskOp mask = keyLoopMask(loop))
        loops.push_back({loop, mask});
    });
    for (auto [loop, mask] : loops)
      classify(loop, mask);
  }

private:
  void classify(scf::ForOp loop, flash::MaskOp mask) {
    auto scores = cast<VectorType>(mask.getScores().getType());
    int64_t blockM = scores.getDimSize(0), blockN = scores.getDimSize(1);
    // Block arithmetic assumes the loop walks key blocks from 0; anything else keeps its masks, which is
    // always correct. (A loop this pass has classified has its mask inside an scf.if: not found again.)
    std::optional<int64_t> lower = getConstantIntValue(loop.getLowerBound());
    std::optional<int64_t> step = getConstantIntValue(loop.getStep());
    if (lower != 0 || step != blockN ||
        !definedOutside(loop, {mask.getQueryOffset(), mask.getSeqlenQ(), mask.getSeqlenK()}))
      return;

    IRRewriter b(loop.getContext());
    b.setInsertionPoint(loop);
    Location loc = mask.getLoc();
    auto index = [&](int64_t value) { return arith::ConstantIndexOp::create(b, loc, value).getResult(); };
    auto add = [&](Value x, Value y) { return arith::AddIOp::create(b, loc, x, y).getResult(); };
    auto sub = [&](Value x, Value y) { return arith::SubIOp::create(b, loc, x, y).getResult(); };
    auto min = [&](Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y).getResult(); };

    Value seqlenQ = mask.getSeqlenQ(), seqlenK = mask.getSeqlenK(), q0 = mask.getQueryOffset();
    mask::VisibleRange<Value> keys{/*begin=*/{}, /*end=*/seqlenK, /*fullBegin=*/{}, /*fullEnd=*/seqlenK};
    const mask::Mask hiding = mask.getMaskAttr() ? mask.getMaskAttr().getMask() : mask::Mask::none();
    if (hiding.hidesKeys()) {
      MaskArithmetic arithmetic{b, loc, b.getIndexType()};
      MaskFormulaIR formula(hiding, arithmetic);
      Value diagonal = formula.diagonal(seqlenQ, seqlenK);
      Value rowsEnd = min(add(q0, index(blockM)), seqlenQ);
      Value lastRow = sub(rowsEnd, index(1));
      keys = formula.keysOfRows(q0, lastRow, diagonal, seqlenK);
    }
    Value blockNValue = index(blockN);
    auto roundDown = [&](Value key) { // to a multiple of block_n
      return arith::MulIOp::create(b, loc, arith::DivUIOp::create(b, loc, key, blockNValue), blockNValue);
    };
    Value fullEnd = roundDown(keys.fullEnd);
    Value end = min(loop.getUpperBound(), keys.end);
    Value split = min(fullEnd, end);
    // With a left bound (a sliding window): the loop starts at the first block any row sees, and blocks
    // before the first wholly inside every row's window are masked too.
    Value fullStart;
    if (hiding.hasLeft()) {
      loop.setLowerBound(roundDown(keys.begin));
      fullStart = roundDown(add(keys.fullBegin, index(blockN - 1)));
    }

    // One loop to the last needed block; the blocks from the split on take the mask, in a branch that is
    // the same for the whole thread block. (Two loops, full then masked, ran slower under a causal mask
    // and doubled the code to compile; measured: compiler/Hopper.md, 'Measurements behind the lowering's
    // choices'.)
    loop.setUpperBound(end);
    b.setInsertionPoint(mask);
    Value masked = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, loop.getInductionVar(), split);
    if (fullStart)
      masked = arith::OrIOp::create(
          b, loc, masked, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, loop.getInductionVar(), fullStart));
    auto branch = scf::IfOp::create(b, loc, TypeRange{mask.getType()}, masked, /*withElseRegion=*/true);
    b.setInsertionPointToStart(branch.thenBlock());
    scf::YieldOp::create(b, loc, b.clone(*mask)->getResults());
    b.setInsertionPointToStart(branch.elseBlock());
    scf::YieldOp::create(b, loc, mask.getScores());
    b.replaceOp(mask, branch.getResults());
  }
};

} // namespace

} // namespace flashjit
