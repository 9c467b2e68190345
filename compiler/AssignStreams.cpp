// flash-assign-streams: which operands the key loops read block by block, through how many shared-memory
// slots, loaded by whom (see Passes.td). The streamed operands are those a key loop reads at its own
// induction variable (K and V in the forward); the ring follows the configuration: `stages` slots, TMA on
// sm_90a's wgmma path where the configuration asks for it, from the producer warpgroup where the tile loop
// has one (flash-specialize-warps). Those reads become flash.stream_get, and each key loop gets a flash.stream_prefetch
// where its blocks `stages - 1` ahead may start loading (none with a producer warpgroup, which loads them
// all on its own). Where the loop's products are pipelined (its #flash.key_loop, from
// flash-schedule-key-loops) the prefetch waits for the P·V that reads the slot.
#include "compiler/Passes.h"
#include "dialects/FlashDialect.h"
#include "dialects/KernelConfigRules.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Matchers.h"

namespace flashjit {

#define GEN_PASS_DEF_ASSIGNSTREAMS
#include "compiler/Passes.h.inc"

using namespace mlir;

namespace {

/// Who loads the blocks of `tiles`' streams, as `config` asks of a kernel whose Q·Kᵀ runs over `headDim`:
/// the producer warpgroup where the tile loop has one (flash.warp_specialize).
flash::StreamLoad loadFor(flash::TileLoopOp tiles, flash::KernelConfigAttr config, int64_t headDim) {
  if (!tiles.getBody().getOps<flash::WarpSpecializeOp>().empty())
    return flash::StreamLoad::tma_producer;
  if (config.getTma() &&
      usesWgmma(config.getChip(), config.getBlockM(), config.getBlockN(), config.getWarps(), headDim))
    return flash::StreamLoad::tma;
  return flash::StreamLoad::cp_async;
}

/// Where a key loop's blocks `stages - 1` ahead of the block that `keyGet` reads may start loading: after
/// that block's Q·Kᵀ (in a tile kernel, its first product), or after the branch that masks its scores (so that the copies can spread over the
/// softmax, which a branch in between would stop); with pipelined products before P's conversion, once
/// the previous block's P·V (which reads the slot) has retired. Null where the loop has no such point.
Operation *prefetchPoint(flash::StreamGetOp keyGet, bool pipelined, bool &before) {
  Block *body = keyGet->getBlock();
  if (pipelined) { // before P's conversion to 16 bits (f32 kernels, which the interpreter runs: before P·V)
    before = true;
    auto conversions = body->getOps<arith::TruncFOp>();
    if (!conversions.empty())
      return *conversions.begin();
    auto products = body->getOps<flash::PVOp>();
    return products.empty() ? nullptr : *products.begin();
  }
  before = false;
  for (Operation *user : keyGet.getBlock().getUsers()) {
    if (!isa<flash::QKOp, flash::MmaOp>(user) || user->getBlock() != body)
      continue;
    for (Operation *scoreUser : user->getResult(0).getUsers())
      if (auto branch = dyn_cast<scf::IfOp>(scoreUser->getParentOp()); branch && branch->getBlock() == body)
        return branch;
    return user;
  }
  return nullptr;
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
      SmallVector<vector::TransferReadOp> reads;
      SmallVector<scf::ForOp> keyLoops;
      int64_t headDim = 0;
      tiles.walk([&](flash::QKOp qk) { headDim = qk.getQuery().getType().getDimSize(1); });
      tiles.walk([&](scf::ForOp loop) {
        for (auto read : loop.getBody()->getOps<vector::TransferReadOp>())
          if (llvm::is_contained(read.getIndices(), loop.getInductionVar())) {
            if (!llvm::is_contained(streamed, read.getBase()))
              streamed.push_back(read.getBase());
            reads.push_back(read);
            if (!llvm::is_contained(keyLoops, loop))
              keyLoops.push_back(loop);
          }
      });
      if (streamed.empty())
        return;
      OpBuilder b(&tiles.getBody().front(), tiles.getBody().front().begin());
      const flash::StreamLoad load = loadFor(tiles, config, headDim);
      flash::StreamOp::create(b, tiles.getLoc(), streamed, config.getStages(), load);
      // The reads become the stream's blocks: whole rows from the loop's row on.
      for (vector::TransferReadOp read : reads) {
        ValueRange indices = read.getIndices();
        auto loop = cast<scf::ForOp>(read->getParentOp());
        if (read.getMask() || !read.getPermutationMap().isMinorIdentity() || read.getVectorType().getRank() != 2 ||
            !matchPattern(indices.back(), m_Zero()) ||
            indices.drop_back().back() != loop.getInductionVar()) {
          read.emitError() << "flash-assign-streams streams whole rows from the block's first row, the key loop's "
                              "induction variable: read [..., row, 0] into a [rows, columns] tile";
          return signalPassFailure();
        }
        b.setInsertionPoint(read);
        auto get = flash::StreamGetOp::create(b, read.getLoc(), read.getVectorType(), read.getBase(),
                                              indices.drop_back());
        read.replaceAllUsesWith(get.getBlock());
        read.erase();
      }
      if (load == flash::StreamLoad::tma_producer)
        return; // the producer warpgroup loads every block
      for (scf::ForOp loop : keyLoops) {
        auto schedule = loop->getAttrOfType<flash::KeyLoopAttr>(flash::FlashDialect::kKeyLoopAttrName);
        const bool pipelined = schedule && schedule.getPipelined();
        for (auto get : loop.getBody()->getOps<flash::StreamGetOp>()) {
          if (get.getSource() != streamed.front())
            continue;
          bool before = false;
          Operation *point = prefetchPoint(get, pipelined, before);
          if (!point) {
            loop.emitError() << "flash-assign-streams: a key loop must compute a product (flash.qk or flash.mma) of "
                                "the block it streams" << (pipelined ? " and P·V (flash.pv)" : "");
            return signalPassFailure();
          }
          // The start of the block stages - 1 ahead, computed where the block is read (the distance, a
          // constant, before the tile loop).
          const int64_t blocksAhead = config.getStages() - 1;
          std::optional<int64_t> step = getConstantIntValue(loop.getStep());
          b.setInsertionPoint(tiles);
          Value ahead = arith::ConstantIndexOp::create(b, get.getLoc(), step ? blocksAhead * *step : blocksAhead);
          b.setInsertionPointAfter(get);
          if (!step)
            ahead = arith::MulIOp::create(b, get.getLoc(), loop.getStep(), ahead);
          Value start = arith::AddIOp::create(b, get.getLoc(), loop.getInductionVar(), ahead);
          if (before)
            b.setInsertionPoint(point);
          else
            b.setInsertionPointAfter(point);
          flash::StreamPrefetchOp::create(b, get.getLoc(), start);
          break;
        }
      }
    });
  }
};

} // namespace

} // namespace flashjit
