// flash-lower-to-gpu, the Hopper (sm_90a) path: K and V in the 128-byte swizzled layout, TMA and the
// mbarrier rings, the producer warpgroup, ping-pong, the intra-warpgroup overlap and persistent tiles
// (compiler/Hopper.md); its wgmma products are in LowerToGPUProducts.cpp. Geometry::wgmma says which
// configurations take this path.
#include "compiler/KernelEmitter.h"
#include "dialects/PersistentTiles.h"

namespace flashjit::gpu {

/// Where 16-byte piece `column / 8` of row `row` of a `rows`-row tile goes in the 128-byte swizzled layout
/// at `tile`: 64-column chunks of 128-byte rows, chunk after chunk; piece p of row n sits at p ^ (n % 8),
/// as TMA's 128-byte swizzle writes it.
Value KernelEmitter::swizzledAddress(Value tile, int64_t rows, Value row, Value column) {
  Value piece = arith::RemUIOp::create(b, loc, arith::DivUIOp::create(b, loc, column, constI32(8)), constI32(8));
  Value chunk = arith::DivUIOp::create(b, loc, column, constI32(64));
  Value swizzledPiece = arith::XOrIOp::create(b, loc, piece, arith::RemUIOp::create(b, loc, row, constI32(8)));
  return sharedAt(tile, add(add(mul(chunk, constI32(rows * 128)), mul(row, constI32(128))),
                            mul(swizzledPiece, constI32(16))));
}

// --- The short last key block, after the loop --------------------------------------------------------
// A tile's key loop ends inside its last block where the tile's key end (the loop's upper bound: seqlen_k,
// or under a causal mask the last row's last key + 1) is not a multiple of block_n. Where the loop's
// #flash.key_loop has short_last_block = n (flash-schedule-key-loops: where and why) and no row sees past
// the first n keys of that block, the loop stops before it and it runs once after the loop with Q·Kᵀ over
// those keys (narrower wgmmas; the other scores -inf) and P·V over them (the probabilities of the rest are
// exact zeros).
bool KernelEmitter::peelsShortLastBlock(scf::ForOp loop) const {
  return keyLoopSchedule && keyLoopSchedule.getShortLastBlock() > 0 && loop == keyLoops.front();
}

// The pipelined loop's first block ahead of it, where the loop's #flash.key_loop says first_block_ahead.
bool KernelEmitter::runsFirstBlockAhead() const { return keyLoopSchedule && keyLoopSchedule.getFirstBlockAhead(); }

// --- Intra-warpgroup pipelining -----------------------------------------------------------------------
// Iteration j of the key loop: wait for block j's copies; Q·Kᵀ(j) and the deferred P·V(j - 1) issued back
// to back; wait_group 1 (Q·Kᵀ done); mask and softmax of block j while P·V(j - 1) runs; wait_group 0, slot
// of block j - 1 released and the copy of block j + stages - 1 issued into it; O rescaled; block j's P, V
// tile and slot carried to the next iteration, whose Q·Kᵀ is followed by its P·V. After the loop the last
// block's P·V is issued and waited for. The first block runs ahead of the loop (runsFirstBlockAhead), with
// no P·V to issue (FlashAttention-3's order): the output is unwritten until the next P·V, which
// overwrites it (wgmma's scale-d from the carried `accumulate`), so a tile neither zeroes its output nor
// spends a block's P·V on zeros (measured: compiler/Hopper.md, 'Measurements behind the lowering's choices').
// Otherwise, and in a tile whose only block is the peeled short last one (or that has none), the first
// iteration issues a P·V with P = 0 on the first V tile (landed, so finite: exact zeros) that overwrites
// the output.

SmallVector<Value> KernelEmitter::flattenDeferred(const DeferredPV &state) {
  SmallVector<Value> flat(state.probs.begin(), state.probs.end());
  flat.append({state.value, state.release, state.pending, state.accumulate});
  return flat;
}

KernelEmitter::DeferredPV KernelEmitter::unflattenDeferred(ValueRange flat, size_t probCount) {
  DeferredPV state;
  state.probs.assign(flat.begin(), flat.begin() + probCount);
  state.value = flat[probCount];
  state.release = flat[probCount + 1];
  state.pending = flat[probCount + 2];
  state.accumulate = flat[probCount + 3];
  return state;
}

/// The state before the first block: zero probabilities on the first block's V tile, nothing to release.
KernelEmitter::DeferredPV KernelEmitter::noDeferredPV(Value firstValueTile) {
  DeferredPV state;
  state.probs.assign(geometry.rowGroups * (geometry.blockN / 8) * 2, constI32(0));
  state.value = firstValueTile;
  state.release = barrierAt(0); // not arrived on: `pending` is false
  state.pending = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0);
  // Onto the zero output, or with the first block ahead of the loop, exact zeros over the unwritten one.
  state.accumulate = arith::ConstantIntOp::create(b, loc, b.getI1Type(), runsFirstBlockAhead() ? 0 : 1);
  return state;
}

/// `count` f32 registers that nothing writes: the output before the first P·V, which overwrites it.
/// An empty asm statement rather than undef, which LLVM would merge with the zeros of a tile without
/// a P·V (a phi of undef and 0 folds to 0) and so zero the registers on every tile again. With side
/// effects, so that it stays at the tile's start (not hoisted out of a persistent block's tile loop).
SmallVector<Value> KernelEmitter::unwrittenRegisters(size_t count) {
  std::string constraints;
  for (size_t i = 0; i < count; ++i)
    constraints += i ? ",=f" : "=f";
  auto type = LLVM::LLVMStructType::getLiteral(b.getContext(), SmallVector<Type>(count, f32));
  Value all = LLVM::InlineAsmOp::create(b, loc, type, ValueRange(), "", constraints, /*has_side_effects=*/true,
                                        /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
                                        LLVM::AsmDialectAttr(), ArrayAttr())
                  .getResult(0);
  SmallVector<Value> regs;
  for (size_t i = 0; i < count; ++i)
    regs.push_back(LLVM::ExtractValueOp::create(b, loc, all, i));
  return regs;
}

/// Waits for the deferred P·V (wait_group 0) and releases its slot, from the op `at` of the pipelined loop
/// that needs it retired (P's conversion, or the prefetch into its slot). A `membar.cta` first: ptxas hoists a
/// bare wait_group above the softmax's exponentials (it depends on none of them), which serialises them
/// with the P·V; it keeps the wait below a fence. (The fence orders nothing this thread still has in
/// flight: the K/V copies complete on mbarriers.) Measured: compiler/Hopper.md, 'Measurements behind the
/// lowering's choices'.
void KernelEmitter::retireDeferredPV(Operation *at) {
  LLVM::InlineAsmOp::create(b, loc, TypeRange(), ValueRange(), "membar.cta;", "", /*has_side_effects=*/true,
                            /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None, LLVM::AsmDialectAttr(),
                            ArrayAttr());
  NVVM::WgmmaWaitGroupSyncOp::create(b, loc, 0);
  pinAfterWait(tiles[pipelinedOutput(at)].regs);
  auto pending = scf::IfOp::create(b, loc, deferred.pending, /*withElse=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&pending.getThenRegion().front());
  NVVM::MBarrierArriveOp::create(b, loc, Type(), deferred.release, Value());
}

/// After the key loop: the last block's P·V, if the loop ran, and the release of its V slot; over the
/// first shortLastKeys() keys where `shortLast` (the last block was peeled: peelsShortLastBlock). A tile
/// without key blocks, whose output no P·V has written, outputs zeros.
void KernelEmitter::drainDeferredPV(Fragment &output, Value shortLast) {
  auto pending = scf::IfOp::create(b, loc, TypeRange(ValueRange(output.regs)), deferred.pending, /*withElse=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&pending.getElseRegion().front());
    // An opaque zero: LLVM would copy constant zeros into the join's registers ahead of the branch, on
    // every path, for this rare one.
    Value zero = LLVM::BitcastOp::create(b, loc, f32, opaqueCopy(constI32(0)));
    scf::YieldOp::create(b, loc, SmallVector<Value>(output.regs.size(), zero));
    b.setInsertionPointToStart(&pending.getThenRegion().front());
    Fragment accumulated = output;
    if (shortLast) {
      auto keys = scf::IfOp::create(
          b, loc, shortLast,
          [&](OpBuilder &, Location) {
            Fragment part = output;
            wgmmaPV(deferred.probs, deferred.value, part, /*wait=*/true, shortLastKeys(),
                    deferred.accumulate);
            scf::YieldOp::create(b, loc, part.regs);
          },
          [&](OpBuilder &, Location) {
            Fragment whole = output;
            wgmmaPV(deferred.probs, deferred.value, whole, /*wait=*/true, 0, deferred.accumulate);
            scf::YieldOp::create(b, loc, whole.regs);
          });
      llvm::copy(keys.getResults(), accumulated.regs.begin());
    } else {
      wgmmaPV(deferred.probs, deferred.value, accumulated, /*wait=*/true, 0, deferred.accumulate);
    }
    // The slot is free for a later tile's block (persistent).
    NVVM::MBarrierArriveOp::create(b, loc, Type(), deferred.release, Value());
    scf::YieldOp::create(b, loc, accumulated.regs);
  }
  llvm::copy(pending.getResults(), output.regs.begin());
}

// --- The K/V ring's mbarriers ------------------------------------------------------------------------
// Slot s of the ring has a full mbarrier (barrierAt(s): every thread's copies of the slot's block have
// landed, through cp.async.mbarrier.arrive.noinc) and an empty one (barrierAt(stages + s): every thread's
// P·V on the block has retired); barrierAt(2 stages) tracks the query's copies. Each expects one arrival per
// thread. Block k of the loop (k counted from the first block) is use k / stages of slot k % stages: its
// full wait takes parity (k / stages) & 1, and the copy into the slot first waits for the empty phase of
// the previous use, parity ((k / stages) & 1) ^ 1, which a fresh barrier passes (it has not started that
// phase's predecessor). No block-wide barrier in the loop: the warpgroups drift apart, so that one's softmax
// overlaps the other's wgmma. With a producer warpgroup, K and V have separate rings (the V barriers after
// the query's, slotBarrier's `value`): K's slot frees after its Q·Kᵀ, V's after its P·V.

/// Thread 0 initialises the mbarriers; a block barrier makes them visible before any thread uses them.
void KernelEmitter::initBarriers() {
  auto first = scf::IfOp::create(b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, constI32(0)),
                                 /*withElse=*/false);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&first.getThenRegion().front());
    // With TMA a full barrier waits for one arrival (thread 0's, with the expected bytes) and the bytes; a
    // query barrier for its warpgroup's 128 threads' copies.
    for (int64_t i = 0; i < geometry.barrierCount(); ++i) {
      int64_t arrivals = geometry.threads();
      if (geometry.isQueryBarrier(i))
        arrivals = 128;
      else if (geometry.tma && geometry.isFullBarrier(i))
        arrivals = 1;
      NVVM::MBarrierInitOp::create(b, loc, barrierAt(i), constI32(arrivals), Value());
    }
  }
  if (geometry.mmaRowSum) {
    // The tile of ones (mmaRowSum): 16 bytes from each of the first 128 threads, then visible to wgmma's
    // reads (the async proxy) past the barrier below. 1.0 is 0x3F80 in bf16, 0x3C00 in f16.
    auto writer = scf::IfOp::create(b, loc, lessThan(tid, constI32(kOnesTileBytes / 16)), /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&writer.getThenRegion().front());
    const int32_t pair = mmaType == NVVM::MMATypes::bf16 ? 0x3F803F80 : 0x3C003C00;
    Value ones = LLVM::UndefOp::create(b, loc, VectorType::get({4}, i32));
    for (int64_t e = 0; e < 4; ++e)
      ones = LLVM::InsertElementOp::create(b, loc, ones, constI32(pair), constI32(e));
    LLVM::StoreOp::create(b, loc, ones, sharedAt(sharedBase, add(constI32(geometry.onesOffset()), mul(tid, constI32(16)))),
                          16);
    fenceAsyncProxy();
  }
  NVVM::Barrier0Op::create(b, loc);
}

Value KernelEmitter::barrierAt(int64_t index) {
  return sharedAt(sharedBase, constI32(geometry.barrierOffset() + 8 * index));
}

/// The mbarrier of this warpgroup's query rows: its 128 threads' copies of them have landed. The
/// warpgroup index through a shuffle from lane 0, which ptxas knows to be the same in every lane (CUTLASS's
/// canonical_warp_group_idx): from the thread index, the address took a register of its own and the
/// kernel spilled (measured: compiler/Hopper.md, 'Measurements behind the lowering's choices').
Value KernelEmitter::queryBarrier() {
  Value warpgroup = NVVM::ShflOp::create(b, loc, i32, constI32(-1), warpgroupIndex(), constI32(0), constI32(0x1f),
                                         NVVM::ShflKind::idx, UnitAttr());
  return sharedAt(sharedBase, add(constI32(geometry.barrierOffset() + 8 * 2 * geometry.stages),
                                  mul(warpgroup, constI32(8))));
}

/// The full (or empty) mbarrier of the slot of the block at `blockStart`, and the parity to wait for.
Value KernelEmitter::slotBarrier(Value blockStart, bool empty, Value &parity, bool value) {
  Value block = blockIndex(blockStart);
  Value slot = arith::RemUIOp::create(b, loc, block, constI32(geometry.stages));
  Value use = arith::DivUIOp::create(b, loc, block, constI32(geometry.stages));
  parity = arith::AndIOp::create(b, loc, use, constI32(1));
  if (empty)
    parity = arith::XOrIOp::create(b, loc, parity, constI32(1));
  Value index = add(slot, constI32((empty ? geometry.stages : 0) +
                                   (value && geometry.producerWarpgroup ? geometry.valueBarrierOffset() : 0)));
  return sharedAt(sharedBase, add(mul(index, constI32(8)), constI32(geometry.barrierOffset())));
}

/// Spins until the phase of `parity` of `barrier` has completed (mbarrier.try_wait.parity, acquire): the
/// writes released by the arrivals that completed it are then visible to this thread.
void KernelEmitter::waitBarrier(Value barrier, Value parity) {
  Value address = LLVM::PtrToIntOp::create(b, loc, i32, barrier);
  LLVM::InlineAsmOp::create(b, loc, TypeRange(), ValueRange{address, parity},
                            "{\n.reg .pred done;\nwait:\nmbarrier.try_wait.parity.shared::cta.b64 done, [$0], $1;\n"
                            "@!done bra wait;\n}",
                            "r,r,~{memory}", /*has_side_effects=*/true, /*is_align_stack=*/false,
                            LLVM::tailcallkind::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
}

/// `tma`: thread 0 waits until the slot's previous block is released, announces the bytes of K and V on the
/// slot's full mbarrier (arrive.expect_tx) and has TMA load both tiles, 64 columns (one box of block_n
/// rows, written 128-byte swizzled) at a time, at coordinates (column, row, K/V head, batch) of the tensor
/// maps; the mbarrier's phase completes when all those bytes have landed. Rows past seqlen_k are outside
/// the tensor map: TMA writes zeros there.
void KernelEmitter::loadBlockByTma(Value blockStart) {
  auto first = scf::IfOp::create(b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, constI32(0)),
                                 /*withElse=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&first.getThenRegion().front());
  issueTmaLoad(blockStart);
}

/// The loads of loadBlockByTma, from the calling thread.
void KernelEmitter::issueTmaLoad(Value blockStart) {
  Value parity;
  if (geometry.producerWarpgroup) { // K and V in rings of their own: each waits for its own slot
    for (bool value : {false, true}) {
      waitBarrier(slotBarrier(blockStart, /*empty=*/true, parity, value), parity);
      loadTilesByTma(blockStart, value, slotBarrier(blockStart, /*empty=*/false, parity, value),
                     geometry.sharedTileBytes());
    }
    return;
  }
  waitBarrier(slotBarrier(blockStart, /*empty=*/true, parity), parity);
  Value full = slotBarrier(blockStart, /*empty=*/false, parity);
  loadTilesByTma(blockStart, false, full, 2 * geometry.sharedTileBytes());
  loadTilesByTma(blockStart, true, full, 0);
}

/// Announces `bytes` (unless 0) on the mbarrier `full` and has TMA load the K (or V) tile of the block at
/// `blockStart`, 64 columns at a time, completing on `full`.
void KernelEmitter::loadTilesByTma(Value blockStart, bool value, Value full, int64_t bytes) {
  auto sharedAddress = [&](Value pointer) { return LLVM::PtrToIntOp::create(b, loc, i32, pointer); };
  auto asmStatement = [&](ValueRange operands, StringRef text, StringRef constraints) {
    LLVM::InlineAsmOp::create(b, loc, TypeRange(), operands, text, constraints, /*has_side_effects=*/true,
                              /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
                              LLVM::AsmDialectAttr(), ArrayAttr());
  };
  if (bytes)
    asmStatement({sharedAddress(full), constI32(bytes)}, "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;",
                 "r,r,~{memory}");
  for (int64_t chunk = 0; chunk < geometry.headDim / 64; ++chunk) {
    Value destination = sharedAt(bufferOf(blockStart, value), constI32(chunk * geometry.blockN * 128));
    asmStatement({sharedAddress(destination), value ? valueMap : keyMap, constI32(chunk * 64), blockStart,
                  keyValueHead, keyValueBatch, sharedAddress(full)},
                 "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [$0], "
                 "[$1, {$2, $3, $4, $5}], [$6];",
                 "r,l,r,r,r,r,r,~{memory}");
  }
}

/// Warp specialisation: the warpgroup after the computing ones branches off here; its first thread loads every key block
/// of the loops, from the first to pipelineEnd, each as soon as its slot is released (so up to `stages`
/// blocks ahead of the consumers), and the warpgroup exits. The consumers go on without issuing any copy.
void KernelEmitter::runProducerWarpgroup() {
  auto producer = scf::IfOp::create(b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, warp,
                                                                  constI32(geometry.warps)),
                                    /*withElse=*/false);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&producer.getThenRegion().front());
    NVVM::SetMaxRegisterOp::create(b, loc, geometry.producerRegisters, NVVM::SetMaxRegisterAction::decrease);
    auto leader = scf::IfOp::create(b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid,
                                                                constI32(geometry.threads())),
                                    /*withElse=*/false);
    {
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(&leader.getThenRegion().front());
      loadPipelineBlocks();
    }
    NVVM::Exit::create(b, loc);
  }
  NVVM::SetMaxRegisterOp::create(b, loc, geometry.consumerRegisters, NVVM::SetMaxRegisterAction::increase);
}

/// The producer's first thread: every key block from pipelineStart to pipelineEnd, each into its slot once
/// the slot is released.
void KernelEmitter::loadPipelineBlocks() {
  auto loop = scf::ForOp::create(b, loc, pipelineStart, pipelineEnd, constI32(geometry.blockN));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  issueTmaLoad(loop.getInductionVar());
}

/// Ping-pong: warpgroup 0 issues first, so the last warpgroup arrives on its barrier once before the loop.
void KernelEmitter::letWarpgroupZeroGoFirst() {
  auto last = scf::IfOp::create(b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, warp,
                                                              constI32(geometry.warps - 4)),
                                /*withElse=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&last.getThenRegion().front());
  namedBarrier(constI32(2), /*arrive=*/true);
}

// --- Key blocks a warpgroup skips ------------------------------------------------------------------
// With a producer warpgroup, each computing warpgroup runs the key loop only up to the last key any of its
// own 64 rows sees (under a causal mask, the tile's last rows see up to block_m - 64 more keys than its
// first; in a tile past seqlen_q, rows of padding see none), and then takes its idle turns: for each key
// block left, it waits for the block's copies, passes its ping-pong turn on and releases the block's
// slots, so that the ring and the turns go on as if it had computed. Skipping is exact: a key block
// hidden from every row of the warpgroup changes neither its running maxima nor its sums.

/// Whether the warpgroups of the key loop `loop` end it at their own rows' last key (see above): its
/// #flash.key_loop's warpgroup_ends (flash-schedule-key-loops: where and why).
bool KernelEmitter::skipsKeyBlocksPerWarpgroup(scf::ForOp loop) const {
  return keyLoopSchedule && keyLoopSchedule.getWarpgroupEnds() && loop == keyLoops.front();
}

/// The end of this warpgroup's part of the key loop `loop` (from `lower` to `upper`): past the last key
/// its rows see, at least `lower` (no block) when all its rows are padding.
Value KernelEmitter::warpgroupKeyEnd(scf::ForOp loop, Value lower, Value upper) {
  flash::MaskOp mask;
  loop.walk([&](flash::MaskOp op) { mask = op; });
  flash::QKOp qk;
  loop.walk([&](flash::QKOp op) { qk = op; });
  auto queryRead = qk.getQuery().getDefiningOp<vector::TransferReadOp>();
  SmallVector<Value> freshGrid;
  Value firstRow = add(recompute(queryRead.getIndices()[2], freshGrid),
                       mul(warpgroupIndex(), constI32(64)));
  Value padding = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, firstRow, seqlenQ);
  Value end = upper;
  if (mask && mask.getMaskAttr()) {
    Value lastRow = arith::MinSIOp::create(b, loc, add(firstRow, constI32(63)),
                                           arith::SubIOp::create(b, loc, seqlenQ, constI32(1)));
    MaskArithmetic arithmetic{b, loc, i32};
    MaskFormulaIR formula(mask.getMaskAttr().getMask(), arithmetic);
    Value diagonal = formula.diagonal(seqlenQ, seqlenK);
    Value lastVisible = formula.lastVisibleKey(lastRow, diagonal);
    Value visibleEnd = add(lastVisible, constI32(1));
    end = arith::MinSIOp::create(b, loc, upper, visibleEnd);
  }
  return arith::SelectOp::create(b, loc, padding, lower, end);
}

/// This warpgroup's idle turns for the key blocks from the first at or past `from` (a block start is
/// `lower` + a multiple of block_n) to `upper`: each block's K copy waited for (its slot's previous use was
/// released, so this arrival counts for this use), the ping-pong turn passed on, the K slot released; then
/// the same for V.
void KernelEmitter::takeIdleTurns(Value lower, Value from, Value upper) {
  Value step = constI32(geometry.blockN);
  Value done = arith::MaxSIOp::create(b, loc, arith::SubIOp::create(b, loc, from, lower), constI32(0));
  Value first = add(lower, mul(arith::CeilDivUIOp::create(b, loc, done, step), step));
  auto turns = scf::ForOp::create(b, loc, first, upper, step);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(turns.getBody());
  Value blockStart = turns.getInductionVar(), parity;
  waitBarrier(slotBarrier(blockStart, /*empty=*/false, parity), parity);
  if (geometry.pingPong) {
    Value warpgroup = warpgroupIndex();
    namedBarrier(add(warpgroup, constI32(2)), /*arrive=*/false);
    passTurn(warpgroup);
  }
  releaseKeySlot(blockStart);
  waitBarrier(slotBarrier(blockStart, /*empty=*/false, parity, /*value=*/true), parity);
  NVVM::MBarrierArriveOp::create(b, loc, Type(), slotBarrier(blockStart, /*empty=*/true, parity, /*value=*/true),
                                 Value());
}

/// Ping-pong: hands the turn to the warpgroup after `warpgroup` (round robin).
void KernelEmitter::passTurn(Value warpgroup) {
  Value next = add(warpgroup, constI32(1));
  Value wrapped = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, next, constI32(geometry.warps / 4));
  namedBarrier(add(arith::SelectOp::create(b, loc, wrapped, constI32(0), next), constI32(2)), /*arrive=*/true);
}

// --- Persistent blocks ---------------------------------------------------------------------------------
// A grid of at most one block per multiprocessor, each looping over tiles. Without a causal mask the tiles
// are alike: round robin and the split tail (LowerToGPUSplitTail.cpp). Under one, the tiles come in items,
// dealt one per wave: in wave w block b takes item G w + b (G = gridDim.x: the runtime launches min(items,
// multiprocessors) blocks), G w + G - 1 - b if w is odd, so that what one wave gives a block more the next
// gives it less. The items, in order:
//  - the lead heads' pairs: a head's query blocks paired from both ends (the last with the first, the last
//    but one with the second, ...), so that every pair holds about as many key blocks as any other (the
//    head's query blocks + 1), and a head's pairs run side by side (sharing its K and V in L2);
//  - where a head has an odd number of query blocks, each lead head's middle one;
//  - the tail: the last `tailHeads` (head, batch) slices' tiles one by one, longest first (query blocks
//    from the last, heads fastest), so that the run ends on short tiles that even out the blocks' sums
//    instead of a last wave of whole pairs on some blocks and none on the others.
// The mapping is dialects/PersistentTiles.h's, which the runtime's schedule evaluates too; the runtime
// chooses tailHeads for the launch (runtime/PersistentSchedule.h).

/// This block's k-th tile, encoded as 2 x item + 1 for the second of a pair; its first `pairsOfBlock`
/// items are pairs (two tiles each), the rest single tiles. Computed afresh wherever it is needed (the
/// special registers read again, pairsOfBlock through an opaque copy), so that only k and pairsOfBlock are
/// held through the key loops, not what derives from them.
Value KernelEmitter::persistentTile(Value k) {
  if (geometry.splitsTail)
    return splitTile(k);
  Value block = readSpecialRegister("%ctaid.x"), step = readSpecialRegister("%nctaid.x");
  Value pairsOfBlock = opaqueCopy(this->pairsOfBlock);
  TileArithmetic arithmetic{*this};
  return tiles::PersistentTiles<TileArithmetic>(arithmetic).tileCode(k, block, step, pairsOfBlock);
}

/// (query block, head, batch) of the tile encoded `tile` (persistentTile). The launch's query-block divisor
/// is then that of the pairs per head (at least 1), its tail divisor that of tailHeads (at least 1). The
/// sizes go through opaque copies: what derives from them alone would otherwise be hoisted out of the tile
/// loop and held through the key loops.
SmallVector<Value> KernelEmitter::mapPersistentTile(Value tile) {
  Value heads = opaqueCopy(this->heads), batch = opaqueCopy(this->batch);
  if (geometry.splitsTail) { // tile = slice x query blocks + query block (the divisor: query blocks)
    Value queryBlocks = arith::CeilDivUIOp::create(b, loc, opaqueCopy(seqlenQ), constI32(geometry.blockM));
    Value slice = fastDivide(tile, queryBlocksDivisor);
    Value batchIndex = fastDivide(slice, headsDivisor);
    return {arith::SubIOp::create(b, loc, tile, mul(slice, queryBlocks)),
            arith::SubIOp::create(b, loc, slice, mul(batchIndex, heads)), batchIndex};
  }
  Value tailHeads = opaqueCopy(this->tailHeads);
  Value queryBlocks = arith::CeilDivUIOp::create(b, loc, opaqueCopy(seqlenQ), constI32(geometry.blockM));
  TileArithmetic arithmetic{*this};
  auto [queryBlock, headBatch] =
      tiles::PersistentTiles<TileArithmetic>(arithmetic).tileOf(tile, queryBlocks, heads, batch, tailHeads);
  Value batchIndex = fastDivide(headBatch, headsDivisor);
  return {queryBlock, arith::SubIOp::create(b, loc, headBatch, mul(batchIndex, heads)), batchIndex};
}

/// persistent: the producer warpgroup and the consumers branch off at once, each into a loop over this
/// block's tiles (persistentTile). The producer's first thread computes each tile's key range (the tile's
/// scalar ops up to its key loop) and loads its blocks; the consumers run the tile's whole body. Both count
/// the key blocks of earlier tiles (blocksBefore), so the K/V rings' slots and phases go on from tile to
/// tile; the tile's parity is the phase of the query's mbarrier.
LogicalResult KernelEmitter::emitPersistentGrid(Block &body) {
  // This block's tiles: its pair items (two tiles each) and its items of all.
  Value one = constI32(1);
  if (geometry.splitsTail) { // without a mask: tiles in round robin, then the split tail's pieces
    tileCount = splitTileCount();
  } else {
    Value block = NVVM::BlockIdXOp::create(b, loc, i32), step = NVVM::GridDimXOp::create(b, loc, i32);
    Value queryBlocks = arith::CeilDivUIOp::create(b, loc, seqlenQ, constI32(geometry.blockM));
    TileArithmetic arithmetic{*this};
    auto count = tiles::PersistentTiles<TileArithmetic>(arithmetic)
                     .tilesOfBlock(queryBlocks, heads, batch, tailHeads, block, step);
    pairsOfBlock = count.pairs;
    tileCount = count.tiles;
  }
  // A loop over this block's tiles k, carrying the key blocks before them, its body at the insertion point.
  auto tileLoop = [&]() {
    auto loop = scf::ForOp::create(b, loc, constI32(0), tileCount, one, ValueRange{constI32(0)});
    b.setInsertionPointToStart(loop.getBody());
    blocksBefore = loop.getRegionIterArgs()[0];
    currentTile = loop.getInductionVar();
    for (auto [index, value] : llvm::zip(gridIndices, mapGrid(persistentTile(currentTile))))
      scalars[index] = value;
    if (geometry.splitsTail)
      setPieceKeys(currentTile);
    return loop;
  };
  for (auto read : body.getOps<vector::TransferReadOp>())
    if (read.getBase() == operands.query)
      queryRead = read;
  prefetchesQuery = queryRead && keyLoops.size() == 1 &&
                    llvm::all_of(queryRead.getIndices(), [&](Value index) { return derivesFromGrid(index); });
  auto split = scf::IfOp::create(b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, warp,
                                                               constI32(geometry.warps)),
                                 /*withElse=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(split.thenBlock()->getTerminator());
    NVVM::SetMaxRegisterOp::create(b, loc, geometry.producerRegisters, NVVM::SetMaxRegisterAction::decrease);
    auto leader = scf::IfOp::create(b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid,
                                                                constI32(geometry.threads())),
                                    /*withElse=*/false);
    b.setInsertionPoint(leader.thenBlock()->getTerminator());
    tileLoop();
    for (Operation &op : body) { // the scalars the key range derives from (no tile is read here)
      if (&op == keyLoops.front().getOperation())
        break;
      if (!isa<vector::TransferReadOp>(op) && failed(emitOp(&op)))
        return failure();
    }
    if (failed(setPipelineBounds(keyLoops.front())))
      return failure();
    loadPipelineBlocks();
    scf::YieldOp::create(b, loc, ValueRange{add(blocksBefore, pipelineBlocks())});
  }
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(split.elseBlock()->getTerminator());
  NVVM::SetMaxRegisterOp::create(b, loc, geometry.consumerRegisters, NVVM::SetMaxRegisterAction::increase);
  if (geometry.pingPong) // once for all the tiles: the turns run on from tile to tile
    letWarpgroupZeroGoFirst();
  auto tiles = tileLoop();
  queryParity = arith::AndIOp::create(b, loc, tiles.getInductionVar(), one);
  if (failed(emitBlock(body)))
    return failure();
  // The warpgroup's staged output is read back before its next query copy lands in those bytes; the other
  // warpgroups go on at their own pace. (A prefetched query was copied after the last Q·Kᵀ, and the
  // output went from registers.)
  if (!prefetchesQuery)
    warpgroupBarrier();
  scf::YieldOp::create(b, loc, ValueRange{add(blocksBefore, pipelineBlocks())});
  return success();
}

/// Whether `value` derives from the grid indices by integer arithmetic alone, so that recompute gives it
/// for another tile than the current one.
bool KernelEmitter::derivesFromGrid(Value value) const {
  if (llvm::is_contained(gridIndices, value))
    return true;
  Operation *def = value.getDefiningOp();
  if (def && isa<arith::ConstantOp>(def))
    return true;
  return def && isa<arith::AddIOp, arith::SubIOp, arith::MulIOp>(def) &&
         llvm::all_of(def->getOperands(), [&](Value operand) { return derivesFromGrid(operand); });
}

/// Each computing warpgroup copies its own 64 query rows (from row q0 of the slice at (batch, head)) into its
/// rows of the query tile, completing on its own mbarrier, so that no warpgroup waits for another at a
/// tile's start or end.
void KernelEmitter::copyQueryRows(const MemRefArg &memref, Value batch, Value head, Value q0) {
  Value base = sliceBase(memref, batch, head, element);
  Value warpgroup = warpgroupIndex();
  Value rows = sharedAt(sharedAt(sharedBase, constI32(geometry.queryOffset())), mul(warpgroup, constI32(64 * 128)));
  copyRowsToShared(base, memref.strides[2], add(q0, mul(warpgroup, constI32(64))), seqlenQ, 64, rows,
                   /*swizzled=*/true, {arith::RemUIOp::create(b, loc, tid, constI32(128)), 128, geometry.blockM});
  NVVM::CpAsyncMBarrierArriveOp::create(b, loc, queryBarrier(), /*noinc=*/true);
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
}

/// prefetchesQuery, after the tile's last Q·Kᵀ: once every warp of the warpgroup is past it, the query rows
/// are free, and the warpgroup copies its rows of its next tile's query there (the mbarrier's next phase),
/// so that the copy's latency hides under the last P·V and the epilogue instead of opening the next tile.
void KernelEmitter::prefetchNextQuery() {
  Value next = add(opaqueCopy(currentTile), constI32(1));
  auto more = scf::IfOp::create(b, loc, lessThan(next, opaqueCopy(tileCount)), /*withElse=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&more.getThenRegion().front());
  warpgroupBarrier();
  SmallVector<Value> nextGrid = mapGrid(persistentTile(next));
  ValueRange indices = queryRead.getIndices();
  copyQueryRows(memrefs[queryRead.getBase()], recompute(indices[0], nextGrid), recompute(indices[1], nextGrid),
                recompute(indices[2], nextGrid));
}

/// Producer warpgroup: block `blockStart`'s K slot is free once its Q·Kᵀ has retired (the caller waited).
void KernelEmitter::releaseKeySlot(Value blockStart) {
  if (!geometry.producerWarpgroup)
    return;
  Value parity;
  NVVM::MBarrierArriveOp::create(b, loc, Type(), slotBarrier(blockStart, /*empty=*/true, parity), Value());
}

/// A barrier of this warpgroup's 128 threads alone (named barriers 8, 9, 10: after ping-pong's).
void KernelEmitter::warpgroupBarrier() {
  namedBarrier(add(warpgroupIndex(), constI32(8)), /*arrive=*/false, 128);
}

/// Ping-pong's named barriers (ids 2, 3, ..., one per consumer warpgroup, 256 threads: one warpgroup
/// waits, the one before it arrives): bar.sync, or bar.arrive; other uses name their `threads`.
void KernelEmitter::namedBarrier(Value id, bool arrive, int64_t threads) {
  LLVM::InlineAsmOp::create(b, loc, TypeRange(), ValueRange{id, constI32(threads)},
                            arrive ? "bar.arrive $0, $1;" : "bar.sync $0, $1;", "r,r,~{memory}",
                            /*has_side_effects=*/true, /*is_align_stack=*/false,
                            LLVM::tailcallkind::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
}

} // namespace flashjit::gpu
