// flash-assign-streams: which operands the key loops read block by block, through how many shared-memory
// slots, loaded by whom (see Passes.td). The streamed operands are those a key loop reads at its own
// induction variable (K and V in the forward); the ring follows the configuration: `stages` slots, TMA on
// sm_90a's wgmma path where the configuration asks for it, from a producer warpgroup where it is
// warp-specialised.
#include "compiler/Passes.h"
#include "dialects/FlashDialect.h"
#include "dialects/KernelConfigRules.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace flashjit {

#define GEN_PASS_DEF_ASSIGNSTREAMS
#include "compiler/Passes.h.inc"

using namespace mlir;

namespace {

/// Who loads the blocks, as `config` asks of a kernel whose Q·Kᵀ runs over `headDim`.
flash::StreamLoad loadFor(flash::KernelConfigAttr config, int64_t headDim) {
  if (hasProducerWarpgroup(config.getChip(), config.getBlockM(), config.getBlockN(), config.getWarps(), headDim,
                           config.getTma(), config.getWarpSpecialized()))
    return flash::StreamLoad::tma_producer;
  if (config.getTma() &&
      usesWgmma(config.getChip(), config.getBlockM(), config.getBlockN(), config.getWarps(), headDim))
    return flash::StreamLoad::tma;
  return flash::StreamLoad::cp_async;
}

struct AssignStreams : impl::AssignStreamsBase<AssignStreams> {
  void runOnOperation() override {
    getOperation().walk([&](flash::TileLoopOp tiles) {
      if (!tiles.getBody().getOps<flash::StreamOp>().empty())
        return; // assigned already
      auto config = flash::FlashDialect::lookupConfig(tiles);
      if (!config) {
        tiles.emitError() << "flash-assign-streams needs the kernel's #flash.config";
        return signalPassFailure();
      }
      // The operands a key loop reads at its induction variable, in the order they are first read.
      SmallVector<Value> streamed;
      int64_t headDim = 0;
      tiles.walk([&](flash::QKOp qk) { headDim = qk.getQuery().getType().getDimSize(1); });
      tiles.walk([&](scf::ForOp loop) {
        for (auto read : loop.getBody()->getOps<vector::TransferReadOp>())
          if (llvm::is_contained(read.getIndices(), loop.getInductionVar()) &&
              !llvm::is_contained(streamed, read.getBase()))
            streamed.push_back(read.getBase());
      });
      if (streamed.empty())
        return;
      OpBuilder b(&tiles.getBody().front(), tiles.getBody().front().begin());
      flash::StreamOp::create(b, tiles.getLoc(), streamed, config.getStages(), loadFor(config, headDim));
    });
  }
};

} // namespace

} // namespace flashjit
