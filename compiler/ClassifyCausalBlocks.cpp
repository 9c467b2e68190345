// flash-classify-causal-blocks: mask only the key blocks that need it, skip hidden ones (see Passes.td).
//
// Query i sees key j iff j < seqlen_k and (no causal mask, or j <= i + d), with d = 0 (top_left) or
// seqlen_k - seqlen_q (bottom_right). For the query block [q0, q0 + block_m):
//   full keys   = min(seqlen_k, max(0, q0 + d + 1))            every row of the block sees all of them
//   needed keys = min(seqlen_k, max(0, last_row + d + 1))      no row sees a key at or past this point
// with last_row = min(q0 + block_m, seqlen_q) - 1. Key blocks that lie wholly inside the full keys need no
// mask; blocks from the needed keys on are skipped; the rest (diagonal and tail blocks) keep the mask,
// which moves into an scf.if on the block's start.
// Without a causal mask, full keys = needed keys = seqlen_k: only a tail block is masked.
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
    auto max = [&](Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y).getResult(); };

    Value seqlenQ = mask.getSeqlenQ(), seqlenK = mask.getSeqlenK(), q0 = mask.getQueryOffset();
    Value fullKeys = seqlenK, neededKeys = seqlenK;
    flash::CausalMode causal = mask.getCausal();
    if (causal != flash::CausalMode::none) {
      Value c0 = index(0), c1 = index(1);
      Value diagonal = causal == flash::CausalMode::bottom_right ? sub(seqlenK, seqlenQ) : c0;
      Value lastRow = sub(min(add(q0, index(blockM)), seqlenQ), c1);
      fullKeys = min(seqlenK, max(c0, add(add(q0, diagonal), c1)));
      neededKeys = min(seqlenK, max(c0, add(add(lastRow, diagonal), c1)));
    }
    Value blockNValue = index(blockN);
    Value fullEnd =
        arith::MulIOp::create(b, loc, arith::DivUIOp::create(b, loc, fullKeys, blockNValue), blockNValue);
    Value end = min(loop.getUpperBound(), neededKeys);
    Value split = min(fullEnd, end);

    // One loop to the last needed block; the blocks from the split on take the mask, in a branch that is
    // the same for the whole thread block. (Two loops, full then masked, ran 1-5% slower on the H100 under
    // a causal mask and doubled the code to compile: benchmarks/results/h100-one-key-loop.txt.)
    loop.setUpperBound(end);
    b.setInsertionPoint(mask);
    Value masked = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, loop.getInductionVar(), split);
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
