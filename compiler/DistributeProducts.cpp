// flash-distribute: where each flash.mma operand lies on the GPU (see Passes.td). The rule is the layouts'
// whole story: an accumulator read as it lies stays in registers; every other operand lies in shared
// memory as its tile is stored (rows contiguous), so whether the contraction dimension is contiguous
// follows from the operand's side and whether the product reads it transposed.
#include "compiler/Passes.h"
#include "dialects/FlashDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinOps.h"

namespace flashjit {

#define GEN_PASS_DEF_DISTRIBUTEPRODUCTS
#include "compiler/Passes.h.inc"

using namespace mlir;

namespace {

/// Whether `tile` is an earlier product's accumulator converted to 16 bits (flash.mma, flash.qk or
/// flash.pv, then arith.truncf).
bool isConvertedAccumulator(Value tile) {
  auto truncate = tile.getDefiningOp<arith::TruncFOp>();
  return truncate && isa_and_nonnull<flash::MmaOp, flash::QKOp, flash::PVOp>(truncate.getIn().getDefiningOp());
}

/// A tile stored [rows][columns] in shared memory: the contraction dimension is its columns for an A read
/// as it lies ([M][K]) and for a B read transposed ([N][K]).
flash::OperandLayout sharedLayout(bool isA, bool transposed) {
  return isA != transposed ? flash::OperandLayout::shared_k_major : flash::OperandLayout::shared_mn_major;
}

struct DistributeProducts : impl::DistributeProductsBase<DistributeProducts> {
  void runOnOperation() override {
    getOperation().walk([](flash::MmaOp mma) {
      if (mma.getLayoutsAttr())
        return;
      flash::OperandLayout a = !mma.getTransposeA() && isConvertedAccumulator(mma.getA())
                                   ? flash::OperandLayout::accumulator
                                   : sharedLayout(/*isA=*/true, mma.getTransposeA());
      flash::OperandLayout b = sharedLayout(/*isA=*/false, mma.getTransposeB());
      mma.setLayoutsAttr(flash::OperandLayoutsAttr::get(mma.getContext(), a, b));
    });
  }
};

} // namespace

} // namespace flashjit
