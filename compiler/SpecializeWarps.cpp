// flash-specialize-warps: which warps load and which compute (see Passes.td). Where the configuration asks
// for a producer warpgroup (sm_90a's wgmma path with tma and warp_specialized), each tile loop gets a
// flash.warp_specialize: its computing warpgroups, the registers each role keeps, and whether the
// computing warpgroups take turns (ping-pong, with wg_overlap and two or three of them).
#include "compiler/Passes.h"
#include "dialects/FlashDialect.h"
#include "dialects/KernelConfigRules.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace flashjit {

#define GEN_PASS_DEF_SPECIALIZEWARPS
#include "compiler/Passes.h.inc"

using namespace mlir;

namespace {

struct SpecializeWarps : impl::SpecializeWarpsBase<SpecializeWarps> {
  void runOnOperation() override {
    getOperation().walk([&](flash::TileLoopOp tiles) {
      if (!tiles.getBody().getOps<flash::WarpSpecializeOp>().empty())
        return; // specialised already
      auto config = flash::FlashDialect::lookupConfig(tiles);
      if (!config) {
        tiles.emitError() << "flash-specialize-warps needs the kernel's #flash.config";
        return signalPassFailure();
      }
      int64_t headDim = 0;
      tiles.walk([&](flash::QKOp qk) { headDim = qk.getQuery().getType().getDimSize(1); });
      const int64_t warps = config.getWarps();
      if (!hasProducerWarpgroup(config.getChip(), config.getBlockM(), config.getBlockN(), warps, headDim,
                                config.getTma(), config.getWarpSpecialized()))
        return;
      const bool turns = takesTurns(/*producerWarpgroup=*/true, config.getWgOverlap(), warps);
      OpBuilder b(&tiles.getBody().front(), tiles.getBody().front().begin());
      flash::WarpSpecializeOp::create(b, tiles.getLoc(), warps / 4, kProducerRegisters, consumerRegisters(warps),
                                      turns ? flash::WarpTurns::round_robin : flash::WarpTurns::free);
    });
  }
};

} // namespace

} // namespace flashjit
