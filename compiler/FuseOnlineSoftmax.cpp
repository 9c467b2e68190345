// flash-fuse-online-softmax: the two-pass tile form -> FlashAttention's one-pass form (see Passes.td).
//
//   m = for k0 { m = row_max(s(k0), m) }                 acc, m, l = for k0 {
//   acc, l = for k0 {                           ==>        p, m', l', alpha = online_softmax(s(k0), m, l)
//     p, l = exp_scores(s(k0), m, l)                       acc = pv(p, v(k0), rescale(acc, alpha))
//     acc = pv(p, v(k0), acc)                            }
//   }                                                    normalize(acc, m, l)
//   normalize(acc, m, l)
#include "compiler/Passes.h"
#include "dialects/FlashDialect.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"

namespace flashjit {

#define GEN_PASS_DEF_FUSEONLINESOFTMAX
#include "compiler/Passes.h.inc"

using namespace mlir;

namespace {

/// The iter_arg of `loop` that `value` is, or null.
BlockArgument iterArgOf(scf::ForOp loop, Value value) {
  auto arg = dyn_cast<BlockArgument>(value);
  if (!arg || arg.getOwner() != loop.getBody() || arg == loop.getInductionVar())
    return {};
  return arg;
}

class FuseOnlineSoftmaxPass : public impl::FuseOnlineSoftmaxBase<FuseOnlineSoftmaxPass> {
public:
  void runOnOperation() override {
    SmallVector<flash::ExpScoresOp> exps;
    getOperation().walk([&](flash::ExpScoresOp op) { exps.push_back(op); });
    for (flash::ExpScoresOp exp : exps)
      if (failed(fuse(exp)))
        return signalPassFailure();
  }

private:
  LogicalResult fuse(flash::ExpScoresOp exp) {
    auto accLoop = dyn_cast<scf::ForOp>(exp->getParentOp());
    if (!accLoop)
      return exp.emitOpError() << "cannot be fused: it is not directly inside a key loop (scf.for)";
    auto maxLoop = exp.getRowMax().getDefiningOp<scf::ForOp>();
    if (!maxLoop)
      return exp.emitOpError() << "cannot be fused: its row max does not come from a key loop of "
                                  "flash.row_max";
    if (maxLoop.getLowerBound() != accLoop.getLowerBound() ||
        maxLoop.getUpperBound() != accLoop.getUpperBound() || maxLoop.getStep() != accLoop.getStep())
      return exp.emitOpError() << "cannot be fused: the max loop and the accumulation loop walk "
                                  "different key blocks";
    unsigned maxIndex = cast<OpResult>(exp.getRowMax()).getResultNumber();
    auto maxYield = maxLoop.getBody()->getTerminator()->getOperand(maxIndex).getDefiningOp<flash::RowMaxOp>();
    if (!maxYield)
      return exp.emitOpError() << "cannot be fused: the max loop does not yield a flash.row_max";
    if (!iterArgOf(accLoop, exp.getRunningSum()))
      return exp.emitOpError() << "cannot be fused: its running sum is not carried by the key loop";

    // The P·V product whose accumulator the rescale factor must correct.
    flash::PVOp pv;
    for (Operation *user : exp.getProbs().getUsers()) {
      Operation *consumer = user;
      if (!isa<flash::PVOp>(consumer) && consumer->hasOneUse()) // through a conversion to bf16/f16
        consumer = *consumer->getUsers().begin();
      if (auto candidate = dyn_cast<flash::PVOp>(consumer))
        pv = candidate;
    }
    if (!pv || !iterArgOf(accLoop, pv.getAccumulator()))
      return exp.emitOpError() << "cannot be fused: its probabilities do not feed a flash.pv whose "
                                  "accumulator the key loop carries";

    Value maxInit = maxLoop.getInitArgs()[maxIndex];
    Value rowMax = exp.getRowMax();
    IRRewriter rewriter(exp.getContext());
    rewriter.setInsertionPoint(accLoop);
    FailureOr<LoopLikeOpInterface> fused = accLoop.replaceWithAdditionalYields(
        rewriter, ValueRange{maxInit}, /*replaceInitOperandUsesInLoop=*/false,
        [&](OpBuilder &b, Location loc, ArrayRef<BlockArgument> newArgs) -> SmallVector<Value> {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(exp);
          auto online = flash::OnlineSoftmaxOp::create(b, exp.getLoc(), exp.getScores(), newArgs[0],
                                                       exp.getRunningSum(), exp.getScale());
          b.setInsertionPoint(pv);
          Value rescaled =
              flash::RescaleOp::create(b, pv.getLoc(), pv.getAccumulator(), online.getCorrection());
          pv.getAccumulatorMutable().assign(rescaled);
          exp.getProbs().replaceAllUsesWith(online.getProbs());
          exp.getNewSum().replaceAllUsesWith(online.getNewSum());
          exp.erase();
          return {online.getNewMax()};
        });
    if (failed(fused))
      return maxLoop.emitOpError() << "could not add the running max to the key loop";

    // After the loop, the running max replaces the max pass's result; the max pass is then dead.
    Operation *newLoop = fused->getOperation();
    rowMax.replaceAllUsesWith(newLoop->getResults().back());
    if (maxLoop->use_empty())
      maxLoop.erase();
    return success();
  }
};

} // namespace

} // namespace flashjit
