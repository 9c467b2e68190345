// flash-lower-to-gpu, persistent kernels without a causal mask: the split tail. The tiles are alike, so a
// grid of G blocks over T tiles ends with a partial wave: T mod G tiles on as many blocks while the rest
// idle (2048 tiles on 132 multiprocessors: 68 blocks take a 16th tile, ~3% of the run). Here the last R
// tiles (the runtime's tail: T mod G, or that plus G where T mod G tiles have too few key blocks to share
// out) are dealt by keys instead (stream-K's tail, FlashDecoding's combine): their R x nkb key blocks are
// cut into G equal runs, block b taking key blocks [b L / G, (b + 1) L / G) of them (L = R x nkb), tile
// by tile. A tile's run on one block is a piece; the pieces of a tile that several blocks share each leave
// their unnormalised output, maxima and sums in a workspace, and the warpgroup that finishes last (a
// counter per tile and warpgroup) combines them and writes the tile. The mapping is written once, in
// dialects/SplitTailTiles.h, which this file emits and runtime/SplitTail.h evaluates to plan R; the runtime
// zeroes the counters once, the last warpgroup resets its counter.
//
// Block b's tiles: its whole tiles k G + b < F (F = T - R, a multiple of G where R > 0), then its pieces,
// of tail tiles b L / G / nkb, ... Each whole tile runs keys [0, seqlen_k); a piece its key blocks' keys.
// The formulas' inputs (special registers, opaque copies of the arguments) are read here, each in its own
// statement, so that the kernel's IR keeps one order whatever the order in which C++ evaluates arguments.
#include "compiler/KernelEmitter.h"
#include "dialects/SplitTailTiles.h"

namespace flashjit::gpu {

namespace {

Value minus(OpBuilder &b, Location loc, Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }

void asmStatement(OpBuilder &b, Location loc, ValueRange operands, StringRef text, StringRef constraints) {
  LLVM::InlineAsmOp::create(b, loc, TypeRange(), operands, text, constraints, /*has_side_effects=*/true,
                            /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None, LLVM::AsmDialectAttr(),
                            ArrayAttr());
}

} // namespace

/// The split tail's sizes for this block, from fresh reads of the special registers and opaque copies of
/// the arguments (computed where needed, not held through the key loops): nkb = key blocks per tile, L =
/// the tail's key blocks, [first, end) this block's run of them, F = the whole tiles before the tail.
KernelEmitter::SplitTailSizes KernelEmitter::splitTailSizes() {
  TileArithmetic arithmetic{*this};
  tiles::SplitTailTiles<TileArithmetic> split(arithmetic);
  SplitTailSizes s;
  s.block = readSpecialRegister("%ctaid.x");
  s.blocks = readSpecialRegister("%nctaid.x");
  Value blockN = constI32(geometry.blockN);
  s.keyBlocks = split.blocksOf(opaqueCopy(seqlenK), blockN);
  Value tail = opaqueCopy(tailTiles);
  s.tailKeyBlocks = split.tailKeyBlocks(tail, s.keyBlocks);
  s.first = split.runStart(s.block, s.blocks, s.tailKeyBlocks);
  s.end = split.runEnd(s.block, s.blocks, s.tailKeyBlocks);
  Value blockM = constI32(geometry.blockM);
  Value queryBlocks = split.blocksOf(opaqueCopy(seqlenQ), blockM);
  Value batch = opaqueCopy(this->batch); // before heads: the order the kernels' PTX was built with
  Value heads = opaqueCopy(this->heads);
  s.fullTiles = split.tilesBeforeTail(queryBlocks, heads, batch, tail);
  return s;
}

/// This block's tiles: its whole ones k G + b < F (fullTilesOfBlock) and its pieces, one per tail tile its
/// run of key blocks touches (none where the run is empty: the runtime keeps L >= G).
Value KernelEmitter::splitTileCount() {
  TileArithmetic arithmetic{*this};
  tiles::SplitTailTiles<TileArithmetic> split(arithmetic);
  SplitTailSizes s = splitTailSizes();
  fullTilesOfBlock = split.wholeTilesOfBlock(s.fullTiles, s.block, s.blocks);
  return split.tilesOfBlock(fullTilesOfBlock, split.piecesOfRun(s.first, s.end, s.keyBlocks));
}

/// Whether this block's k-th tile is a piece of the tail (k past its whole tiles).
Value KernelEmitter::isTailPiece(Value k) {
  TileArithmetic arithmetic{*this};
  return tiles::SplitTailTiles<TileArithmetic>(arithmetic).isPiece(k, opaqueCopy(fullTilesOfBlock));
}

/// The tail tile of this block's k-th tile, a piece: its run's first tail tile + k - its whole tiles.
Value KernelEmitter::tailTileOf(const SplitTailSizes &s, Value k) {
  TileArithmetic arithmetic{*this};
  tiles::SplitTailTiles<TileArithmetic> split(arithmetic);
  Value piece = split.pieceOf(k, opaqueCopy(fullTilesOfBlock));
  return split.tailTileOfPiece(piece, s.first, s.keyBlocks);
}

/// The tile (slice x query blocks + query block) of this block's k-th: k G + b, or in the tail F + the
/// piece's tail tile.
Value KernelEmitter::splitTile(Value k) {
  TileArithmetic arithmetic{*this};
  tiles::SplitTailTiles<TileArithmetic> split(arithmetic);
  auto branch = scf::IfOp::create(
      b, loc, isTailPiece(k),
      [&](OpBuilder &, Location) {
        SplitTailSizes s = splitTailSizes();
        Value tailTile = tailTileOf(s, k);
        scf::YieldOp::create(b, loc, ValueRange{split.tileOfTailTile(s.fullTiles, tailTile)});
      },
      [&](OpBuilder &, Location) {
        Value block = readSpecialRegister("%ctaid.x");
        Value blocks = readSpecialRegister("%nctaid.x");
        scf::YieldOp::create(b, loc, ValueRange{split.wholeTile(k, block, blocks)});
      });
  return branch.getResult(0);
}

/// pieceStart and pieceEnd: the keys of this block's k-th tile, [0, seqlen_k) for a whole one; for a piece
/// its run's key blocks within the tile (the last one may end at seqlen_k).
void KernelEmitter::setPieceKeys(Value k) {
  TileArithmetic arithmetic{*this};
  tiles::SplitTailTiles<TileArithmetic> split(arithmetic);
  auto branch = scf::IfOp::create(
      b, loc, isTailPiece(k),
      [&](OpBuilder &, Location) {
        SplitTailSizes s = splitTailSizes();
        Value tailTile = tailTileOf(s, k);
        auto keyBlocks = split.pieceKeyBlocks(tailTile, s.first, s.end, s.keyBlocks);
        Value blockN = constI32(geometry.blockN);
        Value from = mul(keyBlocks.first, blockN);
        Value keys = opaqueCopy(seqlenK); // before the product: as the kernels' PTX was built
        Value to = arith::MinUIOp::create(b, loc, mul(keyBlocks.end, blockN), keys);
        scf::YieldOp::create(b, loc, ValueRange{from, to});
      },
      [&](OpBuilder &, Location) {
        Value zero = constI32(0);
        scf::YieldOp::create(b, loc, ValueRange{zero, opaqueCopy(seqlenK)});
      });
  pieceStart = branch.getResult(0);
  pieceEnd = branch.getResult(1);
}

/// The key loop's bounds narrowed to the current piece (splitsTail, the first key loop: the only one
/// without a causal mask).
void KernelEmitter::clampToPiece(scf::ForOp loop, Value &lower, Value &upper) {
  if (!geometry.splitsTail || keyLoops.empty() || loop != keyLoops.front() || !pieceStart)
    return;
  lower = arith::MaxSIOp::create(b, loc, lower, pieceStart);
  upper = arith::MinSIOp::create(b, loc, upper, pieceEnd);
}

// --- Combining a split tile's parts ------------------------------------------------------------------
// Each consumer warpgroup combines its own 64 rows (the warpgroups of a block run at their own pace). The
// counters: one 32-bit word per (tail tile, warpgroup), zeroed by the runtime when it allocates them and
// reset by the warpgroup that counts a tile's last part. The parts: a slot per (tail tile, part,
// warpgroup), each thread's output registers, maxima and sums (the accumulator layout: the thread with the
// same index in every part holds the same rows and columns), in 16-byte chunks, chunk-major so that a
// warp's store covers 512 contiguous bytes. (Two buffers: with the counters at the start of one, a launch
// with fewer tail tiles stored its parts over the counters of a later launch's tiles.)

/// The slot of `part` of tail tile `tailTile` for this warpgroup.
Value KernelEmitter::tailSlot(Value tailTile, Value part) {
  const int64_t warpgroups = geometry.warpgroups();
  const int64_t chunks = (geometry.rowGroups * (geometry.headDim / 8) * 4 + 4 * geometry.rowGroups) / 4;
  Value slot = add(mul(add(mul(tailTile, opaqueCopy(partSlots)), part), constI32(warpgroups)), warpgroupIndex());
  Value offset = arith::MulIOp::create(b, loc, toI64(slot), constI64(chunks * 128 * 16));
  return globalElement(opaqueCopy(tailParts), offset, b.getI8Type());
}

/// `own` merged with the part at `slot` (the same layout): per row m = max(m_a, m_b), each side scaled by
/// 2^((m_side - m) scale log2 e), outputs and sums added. The maxima and sums first, then the outputs
/// chunk by chunk, each merged as it arrives (4 registers in flight rather than all 17 chunks' 68).
SmallVector<Value> KernelEmitter::mergePart(ArrayRef<Value> own, Value slot, Value scale) {
  const int64_t outputCount = geometry.rowGroups * (geometry.headDim / 8) * 4, rows = 2 * geometry.rowGroups;
  Value thread = arith::RemUIOp::create(b, loc, tid, constI32(128));
  auto loadChunk = [&](int64_t chunk) {
    Value address = globalElement(slot, toI64(mul(add(constI32(chunk * 128), thread), constI32(16))), b.getI8Type());
    // L2 only (.cg): the parts come from other multiprocessors, and L1 is not coherent with them.
    Value values = LLVM::InlineAsmOp::create(
                       b, loc, LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32}),
                       ValueRange{address}, "ld.global.cg.v4.f32 {$0, $1, $2, $3}, [$4];", "=f,=f,=f,=f,l",
                       /*has_side_effects=*/true, /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
                       LLVM::AsmDialectAttr(), ArrayAttr())
                       .getResult(0);
    SmallVector<Value> four;
    for (int64_t e = 0; e < 4; ++e)
      four.push_back(LLVM::ExtractValueOp::create(b, loc, values, e));
    return four;
  };
  SmallVector<Value> other;
  for (int64_t chunk = outputCount / 4; chunk < int64_t(own.size()) / 4; ++chunk)
    llvm::append_range(other, loadChunk(chunk)); // maxima, then sums
  Value c = arith::MulFOp::create(b, loc, scale, constF32(kLog2E));
  Value minusInf = constF32(-std::numeric_limits<float>::infinity());
  SmallVector<Value> merged(own.begin(), own.end()), alphaA(rows), alphaB(rows);
  for (int64_t row = 0; row < rows; ++row) {
    Value maxA = own[outputCount + row], maxB = other[row];
    Value rowMax = maxF(maxA, maxB);
    Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, rowMax, minusInf);
    Value shift = arith::SelectOp::create(b, loc, empty, constF32(0), arith::MulFOp::create(b, loc, rowMax, c));
    alphaA[row] = exp2(arith::SubFOp::create(b, loc, arith::MulFOp::create(b, loc, maxA, c), shift));
    alphaB[row] = exp2(arith::SubFOp::create(b, loc, arith::MulFOp::create(b, loc, maxB, c), shift));
    merged[outputCount + row] = rowMax;
    merged[outputCount + rows + row] = LLVM::FMAOp::create(
        b, loc, own[outputCount + rows + row], alphaA[row],
        arith::MulFOp::create(b, loc, other[rows + row], alphaB[row]));
  }
  // Output register i = (r x columnTiles + j) x 4 + half x 2 + odd is in row r x 2 + half.
  for (int64_t chunk = 0; chunk < outputCount / 4; ++chunk) {
    SmallVector<Value> four = loadChunk(chunk);
    for (int64_t e = 0; e < 4; ++e) {
      const int64_t i = chunk * 4 + e, row = (i / (4 * (geometry.headDim / 8))) * 2 + (i % 4) / 2;
      merged[i] = LLVM::FMAOp::create(b, loc, own[i], alphaA[row], arith::MulFOp::create(b, loc, four[e], alphaB[row]));
    }
  }
  return merged;
}

/// `own` (output, maxima, sums) of part `part` of `parts` of tail tile `tailTile`: stored to the part's
/// slot; the warpgroup's first thread counts the part in (release: every thread fenced its stores and
/// passed the warpgroup barrier first); the warpgroup that counts the last part resets the counter for
/// the next launch, and merges every other part into its own. Returns the merged values and an i1: this
/// warpgroup writes the tile.
SmallVector<Value> KernelEmitter::exchangeTailParts(ArrayRef<Value> own, Value tailTile, Value part, Value parts,
                                                    Value scale) {
  Value thread = arith::RemUIOp::create(b, loc, tid, constI32(128));
  Value slot = tailSlot(tailTile, part);
  auto chunkType = VectorType::get({4}, f32);
  for (size_t chunk = 0; chunk < own.size() / 4; ++chunk) {
    Value values = LLVM::UndefOp::create(b, loc, chunkType);
    for (int64_t e = 0; e < 4; ++e)
      values = LLVM::InsertElementOp::create(b, loc, values, own[chunk * 4 + e], constI32(e));
    Value address = globalElement(slot, toI64(mul(add(constI32(chunk * 128), thread), constI32(16))), b.getI8Type());
    LLVM::StoreOp::create(b, loc, values, address, 16);
  }
  asmStatement(b, loc, {}, "fence.acq_rel.gpu;", "~{memory}");
  warpgroupBarrier();
  Value counter = globalElement(opaqueCopy(tailCounters),
                                toI64(mul(add(mul(tailTile, constI32(geometry.warpgroups())), warpgroupIndex()),
                                          constI32(4))),
                                b.getI8Type());
  Value first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, thread, constI32(0));
  auto counted = scf::IfOp::create(
      b, loc, first,
      [&](OpBuilder &, Location) {
        Value before = LLVM::InlineAsmOp::create(b, loc, i32, ValueRange{counter},
                                                 "atom.acq_rel.gpu.global.add.u32 $0, [$1], 1;", "=r,l,~{memory}",
                                                 /*has_side_effects=*/true, /*is_align_stack=*/false,
                                                 LLVM::tailcallkind::TailCallKind::None, LLVM::AsmDialectAttr(),
                                                 ArrayAttr())
                           .getResult(0);
        Value last = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, before,
                                           minus(b, loc, parts, constI32(1)));
        auto reset = scf::IfOp::create(b, loc, last, /*withElse=*/false);
        {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(reset.thenBlock()->getTerminator());
          asmStatement(b, loc, {counter}, "st.relaxed.gpu.global.u32 [$0], 0;", "l,~{memory}");
        }
        scf::YieldOp::create(b, loc, ValueRange{arith::ExtUIOp::create(b, loc, i32, last).getResult()});
      },
      [&](OpBuilder &, Location) { scf::YieldOp::create(b, loc, ValueRange{constI32(0)}); });
  // The first thread's answer to the whole warpgroup: a barrier that ORs a predicate (its own id, 128
  // threads, as warpgroupBarrier).
  Value anyLast = LLVM::InlineAsmOp::create(
                      b, loc, i32, ValueRange{counted.getResult(0), add(warpgroupIndex(), constI32(8))},
                      "{\n.reg .pred q, p;\nsetp.ne.u32 q, $1, 0;\nbar.red.or.pred p, $2, 128, q;\n"
                      "selp.u32 $0, 1, 0, p;\n}",
                      "=r,r,r,~{memory}", /*has_side_effects=*/true, /*is_align_stack=*/false,
                      LLVM::tailcallkind::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr())
                      .getResult(0);
  Value last = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, anyLast, constI32(0));
  SmallVector<Type> types(own.size(), f32);
  auto combined = scf::IfOp::create(
      b, loc, last,
      [&](OpBuilder &, Location) {
        asmStatement(b, loc, {}, "fence.acq_rel.gpu;", "~{memory}");
        auto loop = scf::ForOp::create(b, loc, constI32(0), parts, constI32(1), SmallVector<Value>(own));
        {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(loop.getBody());
          Value p = loop.getInductionVar();
          SmallVector<Value> mine(loop.getRegionIterArgs().begin(), loop.getRegionIterArgs().end());
          Value other = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, p, part);
          auto merge = scf::IfOp::create(
              b, loc, other,
              [&](OpBuilder &, Location) {
                scf::YieldOp::create(b, loc, mergePart(mine, tailSlot(tailTile, p), scale));
              },
              [&](OpBuilder &, Location) { scf::YieldOp::create(b, loc, mine); });
          scf::YieldOp::create(b, loc, merge.getResults());
        }
        scf::YieldOp::create(b, loc, loop.getResults());
      },
      [&](OpBuilder &, Location) { scf::YieldOp::create(b, loc, own); });
  SmallVector<Value> result(combined.getResults().begin(), combined.getResults().end());
  result.push_back(last);
  return result;
}

/// splitsTail, after the key loop: where the current tile is a piece of a tail tile that several blocks
/// share, exchanges the parts (exchangeTailParts) and leaves the combined output, maxima and sums in
/// `output`, `rowMax` and `rowSum`. Returns whether this warpgroup writes the tile (an i1, the same in
/// all its threads): true for a whole tile or a tile in one piece.
Value KernelEmitter::combineTailParts(Fragment &output, Fragment &rowMax, Fragment &rowSum, Value scale) {
  SmallVector<Value> own(output.regs);
  own.append(rowMax.regs);
  own.append(rowSum.regs);
  assert(own.size() % 4 == 0 && "the parts' slots hold 16-byte chunks");
  SmallVector<Type> types(own.size(), f32);
  types.push_back(b.getI1Type());
  Value k = opaqueCopy(currentTile);
  Value yes = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1);
  auto withTrue = [&]() {
    SmallVector<Value> values(own);
    values.push_back(yes);
    return values;
  };
  auto piece = scf::IfOp::create(
      b, loc, isTailPiece(k),
      [&](OpBuilder &, Location) {
        // The tile's parts: the blocks whose runs hold its first and last key blocks.
        SplitTailSizes s = splitTailSizes();
        Value tailTile = tailTileOf(s, k);
        TileArithmetic arithmetic{*this};
        auto parts = tiles::SplitTailTiles<TileArithmetic>(arithmetic)
                         .partsOfTailTile(tailTile, s.block, s.blocks, s.keyBlocks, s.tailKeyBlocks);
        auto exchange = scf::IfOp::create(
            b, loc, parts.shared,
            [&](OpBuilder &, Location) {
              scf::YieldOp::create(b, loc, exchangeTailParts(own, tailTile, parts.part, parts.parts, scale));
            },
            [&](OpBuilder &, Location) { scf::YieldOp::create(b, loc, withTrue()); });
        scf::YieldOp::create(b, loc, exchange.getResults());
      },
      [&](OpBuilder &, Location) { scf::YieldOp::create(b, loc, withTrue()); });
  size_t next = 0;
  for (Fragment *fragment : {&output, &rowMax, &rowSum})
    for (Value &reg : fragment->regs)
      reg = piece.getResult(next++);
  return piece.getResult(next);
}

} // namespace flashjit::gpu
