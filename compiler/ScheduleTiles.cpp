// flash-schedule-tiles: the kernel's loop over (query block, head, batch) tiles becomes flash.tile_loop,
// which says how thread blocks walk them (see Passes.td). The choice follows the configuration: a
// persistent schedule where the kernel asks for one and has the producer warpgroup that keeps loading
// across tiles; without a mask its tiles are alike, and the last partial wave is split along the keys.
#include "compiler/Passes.h"
#include "dialects/FlashDialect.h"
#include "dialects/KernelConfigRules.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

namespace flashjit {

#define GEN_PASS_DEF_SCHEDULETILES
#include "compiler/Passes.h.inc"

using namespace mlir;

namespace {

/// The schedule `config` asks of a kernel whose products are Q·Kᵀ over `headDim` and that is masked or not.
flash::TileSchedule scheduleFor(flash::KernelConfigAttr config, int64_t headDim, bool masked) {
  const bool persistent =
      config.getPersistent() && hasProducerWarpgroup(config.getChip(), config.getBlockM(), config.getBlockN(),
                                                     config.getWarps(), headDim, config.getTma(),
                                                     config.getWarpSpecialized());
  if (!persistent)
    return flash::TileSchedule::one_per_block;
  return masked ? flash::TileSchedule::persistent : flash::TileSchedule::split_tail;
}

struct ScheduleTiles : impl::ScheduleTilesBase<ScheduleTiles> {
  void runOnOperation() override {
    for (auto function : getOperation().getOps<func::FuncOp>()) {
      auto config = function->getAttrOfType<flash::KernelConfigAttr>(flash::FlashDialect::kConfigAttrName);
      for (auto parallel : llvm::make_early_inc_range(function.getBody().getOps<scf::ParallelOp>())) {
        if (!config) {
          function.emitError() << "flash-schedule-tiles needs the kernel's #flash.config";
          return signalPassFailure();
        }
        if (failed(schedule(parallel, config)))
          return signalPassFailure();
      }
    }
  }

  LogicalResult schedule(scf::ParallelOp parallel, flash::KernelConfigAttr config) {
    auto isConstant = [](Value value, int64_t expected) {
      std::optional<int64_t> constant = getConstantIntValue(value);
      return constant && *constant == expected;
    };
    if (parallel.getNumLoops() != 3 || parallel.getNumResults() != 0 ||
        !llvm::all_of(parallel.getLowerBound(), [&](Value v) { return isConstant(v, 0); }) ||
        !llvm::all_of(parallel.getStep(), [&](Value v) { return isConstant(v, 1); }))
      return parallel.emitError() << "must be the (query block, head, batch) loop from 0 in steps of 1";
    int64_t headDim = 0;
    bool masked = false;
    parallel.walk([&](flash::QKOp qk) { headDim = qk.getQuery().getType().getDimSize(1); });
    parallel.walk([&](flash::MaskOp mask) { masked |= bool(mask.getMaskAttr()); });
    OpBuilder b(parallel);
    auto tiles = flash::TileLoopOp::create(b, parallel.getLoc(), parallel.getUpperBound()[0],
                                           parallel.getUpperBound()[1], parallel.getUpperBound()[2],
                                           scheduleFor(config, headDim, masked));
    Block *body = b.createBlock(&tiles.getBody(), {}, SmallVector<Type>(3, b.getIndexType()),
                                SmallVector<Location>(3, parallel.getLoc()));
    Block &old = *parallel.getBody();
    for (auto [from, to] : llvm::zip(parallel.getInductionVars(), body->getArguments()))
      from.replaceAllUsesWith(to);
    old.getTerminator()->erase(); // scf.reduce: the tile loop has no terminator
    body->getOperations().splice(body->end(), old.getOperations());
    parallel.erase();
    return success();
  }
};

} // namespace

} // namespace flashjit
