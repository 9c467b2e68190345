// flash-schedule-key-loops: how each key loop runs its blocks on the GPU (see Passes.td), recorded on the
// loop as #flash.key_loop for flash-assign-streams and the GPU lowering to follow. The rules, and the
// measurements behind them (compiler/Hopper.md, 'Measurements behind the lowering's choices'):
//
// - pipelined (FlashAttention-3's intra-warpgroup overlap): on the wgmma path with wg_overlap, in a tile
//   with one key loop, a block's P·V is issued after the next block's Q·Kᵀ and runs during its softmax.
// - first_block_ahead: the pipelined loop's first block runs ahead of the loop, with no P·V before it
//   (FlashAttention-3's order; the output is unwritten until the next P·V overwrites it), but for three
//   computing warpgroups: at 160 registers it ran slower there, and its causal form spilled.
// - warpgroup_ends: with a producer warpgroup, each computing warpgroup ends the loop after the last key
//   its own 64 rows see and takes idle turns for the rest, where a warpgroup's rows can miss whole key
//   blocks that the tile's other rows see (block_n < block_m), or with three warpgroups (192-row tiles: a
//   third of the tile is padding when seqlen_q is a multiple of 128). Elsewhere (e.g. 128 x 192 at
//   head_dim 128) it saves little and costs a register through the loop, which spilled there.
// - short_last_block: on the wgmma path with key blocks of 128 or more, a tile's last block whose rows see
//   at most its first shortLastBlockKeys() keys runs after the loop with narrower products. Peeled rather
//   than a branch in the loop: branches around the products in every block cost more than the work they
//   save. Not with warpgroup_ends (idle turns count whole blocks), nor on 256-key blocks with the softmax
//   overlap (it spills there).
#include "compiler/Passes.h"
#include "dialects/FlashDialect.h"
#include "dialects/KernelConfigRules.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"

namespace flashjit {

#define GEN_PASS_DEF_SCHEDULEKEYLOOPS
#include "compiler/Passes.h.inc"

using namespace mlir;

namespace {

struct ScheduleKeyLoops : impl::ScheduleKeyLoopsBase<ScheduleKeyLoops> {
  void runOnOperation() override {
    getOperation().walk([&](flash::TileLoopOp tiles) {
      // The key loops: those that compute Q·Kᵀ of their blocks.
      SmallVector<scf::ForOp> keyLoops;
      int64_t headDim = 0;
      tiles.walk([&](scf::ForOp loop) {
        auto products = loop.getBody()->getOps<flash::QKOp>();
        if (products.empty())
          return;
        keyLoops.push_back(loop);
        headDim = (*products.begin()).getQuery().getType().getDimSize(1);
      });
      if (keyLoops.empty() ||
          llvm::any_of(keyLoops, [](scf::ForOp loop) { return loop->hasAttr(flash::FlashDialect::kKeyLoopAttrName); }))
        return; // nothing to schedule, or scheduled already
      auto config = flash::FlashDialect::lookupConfig(tiles);
      if (!config) {
        tiles.emitError() << "flash-schedule-key-loops needs the kernel's #flash.config";
        return signalPassFailure();
      }
      const int64_t blockM = config.getBlockM(), blockN = config.getBlockN(), warps = config.getWarps();
      const bool wgmma = usesWgmma(config.getChip(), blockM, blockN, warps, headDim);
      const bool producer = !tiles.getBody().getOps<flash::WarpSpecializeOp>().empty();
      const bool oneLoop = keyLoops.size() == 1;
      const bool pipelined =
          pipelinesProducts(config.getChip(), blockM, blockN, warps, headDim, config.getWgOverlap(), keyLoops.size());
      const bool rowsMissBlocks = warps == 12 || (warps == 8 && blockN < blockM);
      const bool warpgroupEnds = producer && rowsMissBlocks && oneLoop;
      const bool peels = wgmma && blockN >= 128 && !(pipelined && blockN > 192) && oneLoop && !warpgroupEnds;
      if (!pipelined && !peels && !warpgroupEnds)
        return; // the plain loop
      auto schedule = flash::KeyLoopAttr::get(&getContext(), pipelined, pipelined && warps <= 8,
                                              peels ? shortLastBlockKeys(blockN) : 0, warpgroupEnds);
      for (scf::ForOp loop : keyLoops)
        loop->setAttr(flash::FlashDialect::kKeyLoopAttrName, schedule);
    });
  }
};

} // namespace

} // namespace flashjit
