// flash-lower-to-gpu, loads and streams: tiles into shared memory and registers. The attention kernels'
// K/V ring of `stages` buffers across the key loops (cp.async copies, issued a block ahead; LowerToGPU.cpp's
// file comment), the query tile (registers in the A layout, or shared memory), the copies' row and address
// arithmetic, and the tile kernels' streams (a ring of any sources, from flash.stream, flash.stream_get and
// flash.stream_prefetch alone). TMA and the producer warpgroup's loads are in LowerToGPUHopper.cpp.
#include "compiler/KernelEmitter.h"

namespace flashjit::gpu {

/// The first element of the [seqlen, head_dim] slice of `memref` at (batch, head).
Value KernelEmitter::sliceBase(const MemRefArg &memref, Value batch, Value head, Type elementType) {
  Value batchOffset = arith::MulIOp::create(b, loc, toI64(batch), memref.strides[0]);
  Value headOffset = arith::MulIOp::create(b, loc, toI64(head), memref.strides[1]);
  return globalElement(memref.pointer, add(batchOffset, headOffset), elementType);
}

/// Copies `rows` rows of head_dim elements (or `copiers.columns`), from row `firstRow` of the slice at `base` (row stride
/// `rowStride`), to shared memory with 16-byte cp.async. Rows at or past `limit` are zero-filled (so
/// that P·V never meets garbage): their copies have 0 source bytes, which read nothing, so their
/// addresses need not be valid. `copiers` says which threads copy (by default every computing thread).
void KernelEmitter::copyRowsToShared(Value base, Value rowStride, Value firstRow, Value limit, int64_t rows,
                                     Value sharedTile, bool swizzled, RowCopiers copiers) {
  const int64_t columns = copiers.columns ? copiers.columns : geometry.headDim;
  const int64_t chunksPerRow = columns / 8, paddedRowBytes = (columns + 8) * 2;
  const int64_t threads = copiers.count ? copiers.count : geometry.threads();
  const int64_t layoutRows = copiers.layoutRows ? copiers.layoutRows : rows;
  Value tid = copiers.thread ? copiers.thread : this->tid;
  auto cacheGlobal = NVVM::LoadCacheModifierKindAttr::get(b.getContext(), NVVM::LoadCacheModifierKind::CG);
  auto copy = [&](Value destination, Value source, Value valid) {
    Value bytes = arith::SelectOp::create(b, loc, valid, constI32(16), constI32(0));
    NVVM::CpAsyncOp::create(b, loc, destination, source, b.getI32IntegerAttr(16), cacheGlobal, bytes);
  };
  // Guards the copy of a last pass that only some threads make.
  auto guarded = [&](Value inRange, llvm::function_ref<void()> body) {
    auto inside = scf::IfOp::create(b, loc, inRange, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&inside.getThenRegion().front());
    body();
  };
  if (threads % chunksPerRow != 0) {
    assert(!swizzled && "the swizzled layout is only written by whole-row passes");
    // A thread's column changes from pass to pass (head_dim / 8 does not divide the thread count).
    const int64_t chunks = rows * chunksPerRow;
    for (int64_t first = 0; first < chunks; first += threads) {
      Value chunk = add(tid, constI32(first));
      auto body = [&] {
        Value row = arith::DivUIOp::create(b, loc, chunk, constI32(chunksPerRow));
        Value column = mul(arith::RemUIOp::create(b, loc, chunk, constI32(chunksPerRow)), constI32(8));
        Value index = add(firstRow, row);
        Value offset = add(arith::MulIOp::create(b, loc, toI64(index), rowStride), toI64(column));
        copy(sharedAt(sharedTile, add(mul(row, constI32(paddedRowBytes)), mul(column, constI32(2)))),
             globalElement(base, offset, element), lessThan(index, limit));
      };
      if (first + threads <= chunks)
        body();
      else
        guarded(lessThan(chunk, constI32(chunks)), body);
    }
    return;
  }
  // Each thread copies one column of 8 elements, in rows threadRow, threadRow + rowsPerPass, ...: one
  // address computation, then a pointer step and a row check per copy (no row, clamp and 64-bit product
  // per copy).
  const int64_t rowsPerPass = threads / chunksPerRow;
  Value threadRow = arith::DivUIOp::create(b, loc, tid, constI32(chunksPerRow));
  Value column = mul(arith::RemUIOp::create(b, loc, tid, constI32(chunksPerRow)), constI32(8));
  // The row, the slice and the stride through opaque copies, and each pass's address too: otherwise LLVM
  // makes induction variables of the rows and keeps the stride multiple and per-thread pointers in
  // registers through the key loops, and the kernel spills
  // (measured: compiler/Hopper.md, 'Measurements behind the lowering's choices').
  Value row = opaqueCopy(add(firstRow, threadRow));
  Value rowsLeft = arith::SubIOp::create(b, loc, limit, row); // this thread's rows below `limit`
  Value passStride = arith::MulIOp::create(b, loc, opaqueCopy(rowStride),
                                           arith::ConstantIntOp::create(b, loc, i64, rowsPerPass));
  Value source = globalElement(opaqueCopy(base),
                               add(arith::MulIOp::create(b, loc, toI64(row), rowStride), toI64(column)), element);
  // The swizzled layout (wgmma) has 128-byte rows in each 64-column chunk; passes step whole multiples of 8
  // rows there, so each thread's swizzle stays the same.
  const int64_t rowBytes = swizzled ? 128 : paddedRowBytes;
  assert((!swizzled || rowsPerPass % 8 == 0) && "passes must keep each thread's rows in one residue mod 8");
  Value destination =
      swizzled ? swizzledAddress(sharedTile, layoutRows, threadRow, column)
               : sharedAt(sharedTile, add(mul(threadRow, constI32(rowBytes)), mul(column, constI32(2))));
  for (int64_t pass = 0; pass * rowsPerPass < rows; ++pass) {
    if (pass > 0) // rowsPerPass rows further down
      source = opaqueCopy(globalElement(source, passStride, element));
    Value at = sharedAt(destination, constI32(pass * rowsPerPass * rowBytes));
    Value valid = lessThan(constI32(pass * rowsPerPass), rowsLeft);
    if ((pass + 1) * rowsPerPass <= rows)
      copy(at, source, valid);
    else
      guarded(lessThan(threadRow, constI32(rows - pass * rowsPerPass)), [&] { copy(at, source, valid); });
  }
}

/// The index of the key block that starts at `blockStart`: from the loop's first block on the wgmma path
/// (its mbarriers' phases count from there), from key 0 otherwise.
Value KernelEmitter::blockIndex(Value blockStart) {
  if (geometry.splitsTail && blocksBefore) {
    // A piece starts at any key block: blockStart / block_n + (blocksBefore - pipelineStart / block_n),
    // whose loop-invariant part is one register through the key loop, not blocksBefore and pipelineStart
    // both (not measured apart from the split tail). Exact in 32-bit wrap-around: the sum is the block's
    // index >= 0.
    Value base = arith::SubIOp::create(b, loc, blocksBefore,
                                       arith::DivUIOp::create(b, loc, pipelineStart, constI32(geometry.blockN)));
    return add(arith::DivUIOp::create(b, loc, blockStart, constI32(geometry.blockN)), base);
  }
  Value index = arith::DivUIOp::create(
      b, loc, geometry.wgmma ? arith::SubIOp::create(b, loc, blockStart, pipelineStart) : blockStart,
      constI32(geometry.blockN));
  return blocksBefore ? add(index, blocksBefore) : index;
}

/// The K (or V) buffer of the key block that starts at `blockStart`.
Value KernelEmitter::bufferOf(Value blockStart, bool value) {
  Value block = blockIndex(blockStart);
  Value slot = arith::RemUIOp::create(b, loc, block, constI32(geometry.stages));
  Value offset = mul(slot, constI32(2 * geometry.sharedTileBytes()));
  return sharedAt(sharedBase, add(offset, constI32(value ? geometry.sharedTileBytes() : 0)));
}

/// Copies the K and V tiles of the block at `blockStart` into its buffers if the block will be read,
/// and closes a copy group either way (so that group counts stay in step with blocks). wgmma path: first
/// waits until every thread has released the slot's previous block (its empty mbarrier), and makes the
/// slot's full mbarrier track the copies.
void KernelEmitter::issueBlockCopy(Value blockStart) {
  if (geometry.producerWarpgroup) // the producer warpgroup issues every copy (runProducerWarpgroup)
    return;
  auto needed = scf::IfOp::create(b, loc, lessThan(blockStart, pipelineEnd), /*withElse=*/false);
  if (geometry.tma) { // one thread, no cp.async group
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&needed.getThenRegion().front());
    loadBlockByTma(blockStart);
    return;
  }
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&needed.getThenRegion().front());
    Value parity;
    if (geometry.wgmma) {
      Value empty = slotBarrier(blockStart, /*empty=*/true, parity);
      waitBarrier(empty, parity);
    }
    for (bool value : {false, true}) {
      const MemRefArg &memref = memrefs[value ? operands.value : operands.key];
      copyRowsToShared(value ? valueSlice : keySlice, memref.strides[2], blockStart, seqlenK, geometry.blockN,
                       bufferOf(blockStart, value), /*swizzled=*/geometry.wgmma);
    }
    if (geometry.wgmma)
      NVVM::CpAsyncMBarrierArriveOp::create(b, loc, slotBarrier(blockStart, /*empty=*/false, parity),
                                            /*noinc=*/true);
  }
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
}

/// Before the first key loop: where the keys end, which K/V head to read, and the first stages - 1 copies.
LogicalResult KernelEmitter::startPipeline(scf::ForOp firstLoop) {
  if (failed(setPipelineBounds(firstLoop)))
    return failure();
  if (geometry.producerWarpgroup && !geometry.persistent)
    runProducerWarpgroup();
  for (int64_t s = 0; s + 1 < geometry.stages; ++s)
    issueBlockCopy(add(pipelineStart, constI32(s * geometry.blockN)));
  if (geometry.wgmma) { // the query's copies, tracked by their own mbarrier (phase 0, or the tile's)
    waitBarrier(queryBarrier(), queryParity ? queryParity : constI32(0));
    fenceAsyncProxy();
  }
  if (pendingQuery.tile) {
    // The query's group is the oldest: once at most stages - 1 are pending, it is done. The first key
    // block's barrier comes before any copy into the staging bytes, so none is needed after the loads.
    NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(geometry.stages - 1));
    NVVM::Barrier0Op::create(b, loc);
    tiles[pendingQuery.tile].regs = loadQueryRegisters(pendingQuery.address);
    pendingQuery = {};
  }
  return success();
}

/// The key blocks between pipelineStart and pipelineEnd.
Value KernelEmitter::pipelineBlocks() {
  Value keys = arith::MaxSIOp::create(b, loc, arith::SubIOp::create(b, loc, pipelineEnd, pipelineStart), constI32(0));
  return arith::CeilDivUIOp::create(b, loc, keys, constI32(geometry.blockN));
}

/// Where the keys start and end, which K/V head to read (from the first key loop and its key read).
LogicalResult KernelEmitter::setPipelineBounds(scf::ForOp firstLoop) {
  flash::StreamGetOp keyRead;
  for (auto get : firstLoop.getBody()->getOps<flash::StreamGetOp>())
    if (get.getSource() == operands.key)
      keyRead = get;
  ValueRange indices = keyRead.getIndices();
  if (indices[2] != firstLoop.getInductionVar() || !scalars.count(indices[0]) || !scalars.count(indices[1]))
    return fail(keyRead, "must read the key block of its loop, with batch and head fixed before the loops");
  for (scf::ForOp loop : keyLoops)
    if (!scalars.count(loop.getUpperBound()))
      return fail(loop, "must have its bounds computed before the first key loop");
  // Computed once: the loops after the first then keep two pointers live, not the batch and head offsets.
  keySlice = sliceBase(memrefs[operands.key], scalars[indices[0]], scalars[indices[1]], element);
  keyValueBatch = scalars[indices[0]];
  keyValueHead = scalars[indices[1]];
  valueSlice = sliceBase(memrefs[operands.value], scalars[indices[0]], scalars[indices[1]], element);
  pipelineEnd = scalars[keyLoops.back().getUpperBound()];
  pipelineStart = scalars[firstLoop.getLowerBound()];
  clampToPiece(firstLoop, pipelineStart, pipelineEnd);
  return success();
}

/// Starts loading the [block_m, head_dim] query tile: a 16-byte cp.async copy to shared memory (rows past
/// seqlen_q zero-filled), in a copy group of its own that the first K/V copies then follow, so that their
/// latencies overlap. When the query stays in shared memory (Geometry::queryInShared) it gets its own bytes
/// after the K/V buffers and `fragment.shared` is this lane's address there: Q·Kᵀ reads the fragments as
/// it needs them, after the first key block's wait, which also covers this older group. Otherwise the
/// fragments go to registers (one ldmatrix.x4 per 16x16 sub-tile) through a staging area in the K/V
/// buffers: the last stage's, which the pipeline's first copies leave alone, where the tile fits there
/// (startPipeline loads the registers after issuing those copies); else the start of shared memory,
/// loaded here before any K/V copy. The wgmma path keeps the tile in shared memory in the swizzled layout
/// (`fragment.shared` is its first byte), where Q·Kᵀ reads it through a matrix descriptor.
void KernelEmitter::loadQueryOperand(const MemRefArg &memref, ValueRange indices, Value result, Fragment &fragment) {
  if (geometry.wgmma) {
    fragment.shared = sharedAt(sharedBase, constI32(geometry.queryOffset()));
    OpBuilder::InsertionGuard guard(b);
    Value copies; // who copies here: the consumers (a producer warpgroup has not branched off yet), and
                  // with prefetchesQuery only for the first tile (each later one is copied under the last)
    if (geometry.producerWarpgroup && !geometry.persistent)
      copies = lessThan(tid, constI32(geometry.threads()));
    if (prefetchesQuery)
      copies = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, currentTile, constI32(0));
    if (copies) {
      auto guarded = scf::IfOp::create(b, loc, copies, /*withElse=*/false);
      b.setInsertionPointToStart(&guarded.getThenRegion().front());
    }
    copyQueryRows(memref, scalars[indices[0]], scalars[indices[1]], scalars[indices[2]]);
    return;
  }
  Value base = sliceBase(memref, scalars[indices[0]], scalars[indices[1]], element);
  const bool lastStageFree = !keyLoops.empty() && geometry.blockM <= 2 * geometry.blockN;
  int64_t stagingOffset = 0;
  if (geometry.queryInShared())
    stagingOffset = geometry.queryOffset();
  else if (lastStageFree)
    stagingOffset = (geometry.stages - 1) * 2 * geometry.sharedTileBytes();
  Value staging = sharedAt(sharedBase, constI32(stagingOffset));
  copyRowsToShared(base, memref.strides[2], scalars[indices[2]], seqlenQ, geometry.blockM, staging);
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
  // Lane l points at row l % 16, columns 8·(l / 16) of the 16x16 sub-tile: matrices a0..a3 in order.
  Value laneRow = add(mul(warp, constI32(16 * geometry.rowGroups)), arith::RemUIOp::create(b, loc, lane, constI32(16)));
  Value laneOffset = add(mul(laneRow, constI32(geometry.sharedRowBytes())),
                         mul(arith::DivUIOp::create(b, loc, lane, constI32(16)), constI32(16)));
  Value address = sharedAt(staging, laneOffset);
  if (geometry.queryInShared()) {
    fragment.shared = address;
    return;
  }
  if (lastStageFree) {
    pendingQuery = {result, address};
    return;
  }
  NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(0));
  NVVM::Barrier0Op::create(b, loc);
  fragment.regs = loadQueryRegisters(address);
  // The K/V copies reuse these bytes: every warp must have read its fragments first.
  NVVM::Barrier0Op::create(b, loc);
}

/// ldmatrix.x4 of every 16x16 sub-tile of this warp's query rows, from this lane's `address` in the tile.
SmallVector<Value> KernelEmitter::loadQueryRegisters(Value address) {
  const int64_t slices = geometry.headDim / 16;
  SmallVector<Value> regs;
  for (int64_t r = 0; r < geometry.rowGroups; ++r)
    for (int64_t kk = 0; kk < slices; ++kk) {
      SmallVector<Value> quad = loadMatrices(sharedAt(address, constI32(r * 16 * geometry.sharedRowBytes() + kk * 32)),
                                             4, NVVM::MMALayout::row);
      regs.append(quad.begin(), quad.end());
    }
  return regs;
}

LogicalResult KernelEmitter::emitRead(vector::TransferReadOp op) {
  auto found = memrefs.find(op.getBase());
  if (found == memrefs.end())
    return fail(op, "reads a memref that is not a kernel argument");
  if (found->second.isKeyValue)
    return fail(op, "reads K or V outside a stream; key loops read them with flash.stream_get "
                    "(run flash-assign-streams)");
  VectorType type = op.getVectorType();
  if (type.getRank() != 2 || type.getDimSize(1) != geometry.headDim)
    return fail(op, "must read a [rows, head_dim] tile");
  if (type.getDimSize(0) != geometry.blockM)
    return fail(op, "must read block_m query rows");
  Fragment fragment;
  fragment.kind = Fragment::Kind::AOperand;
  loadQueryOperand(found->second, op.getIndices(), op.getResult(), fragment);
  tiles[op.getResult()] = fragment;
  return success();
}

/// A K or V block of the key loop, in its slot of the ring: waited for where the block's copies are
/// tracked (K's full mbarrier, or the copy group and a block barrier on the cp.async path; V's own full
/// mbarrier with a producer warpgroup, which P·V waits on).
LogicalResult KernelEmitter::emitStreamGet(flash::StreamGetOp op) {
  VectorType type = op.getBlock().getType();
  if (op.getSource() != operands.key && op.getSource() != operands.value)
    return fail(op, "streams an operand that is neither K nor V");
  if (type.getDimSize(0) != geometry.blockN || type.getDimSize(1) != geometry.headDim)
    return fail(op, "must read [block_n, head_dim] blocks");
  if (!pipelineEnd)
    return fail(op, "must be inside a key loop");
  Value blockStart = scalars[op.getIndices().back()];
  const bool isKey = op.getSource() == operands.key;
  Fragment fragment;
  fragment.kind = Fragment::Kind::Shared;
  fragment.shared = bufferOf(blockStart, !isKey);
  if (isKey && geometry.wgmma) {
    // The block's full mbarrier: every thread's copies into the slot have landed (no block barrier,
    // so the warpgroups drift apart and one's softmax overlaps the other's wgmma). wgmma reads
    // through the async proxy: the fence makes the copies visible to it.
    Value parity;
    waitBarrier(slotBarrier(blockStart, /*empty=*/false, parity), parity);
    fenceAsyncProxy();
  } else if (!isKey && geometry.wgmma) {
    Value parity;
    fragment.release = slotBarrier(blockStart, /*empty=*/true, parity, /*value=*/true);
    if (geometry.producerWarpgroup) // V has its own full mbarrier: P·V waits on it (emitPV)
      fragment.ready = slotBarrier(blockStart, /*empty=*/false, fragment.readyParity, /*value=*/true);
  } else if (isKey) {
    // This block's copies are done once at most stages - 2 newer groups are pending; the barrier
    // shows them to every warp and frees the buffer of the previous block for the next copy
    // (flash.stream_prefetch).
    NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(geometry.stages - 2));
    NVVM::Barrier0Op::create(b, loc);
  }
  tiles[op.getBlock()] = fragment;
  return success();
}

/// The copy of the K/V blocks at the op's start into their slot. With pipelined products the previous
/// block's P·V reads that slot: it retires first.
LogicalResult KernelEmitter::emitStreamPrefetch(flash::StreamPrefetchOp op) {
  if (geometry.producerWarpgroup)
    return fail(op, "a producer warpgroup loads every block (load(tma_producer)); its key loops prefetch nothing");
  if (!pipelineEnd || !scalars.count(op.getStart()))
    return fail(op, "must be inside a key loop, its start computed");
  if (pipelinedOutput(op) && !emittingFirstBlock)
    retireDeferredPV(op);
  issueBlockCopy(scalars[op.getStart()]);
  return success();
}

// --- Tile kernels ---------------------------------------------------------------------------------

// A loop reads the stream's blocks (flash.stream_get) from a ring of `stages` slots: before the loop, the
// first stages - 1 blocks are copied, a cp.async group each; at the block's get of the stream's first
// source, the thread waits until at most stages - 2 groups are pending (this block's has landed), and one
// barrier shows the block to every warp and frees the slot read in the previous iteration, which the
// loop's flash.stream_prefetch then fills with the block stages - 1 ahead. The attention kernels' K/V ring
// above is this ring with K and V as its sources, plus its TMA and mbarrier forms; it keeps its own slot
// arithmetic (block indices from the tile's first key block, or across a persistent block's tiles) until
// it moves onto this one (compiler/LOWERING.md).

/// Lays out the ring of `op` after the tiles before it; the blocks' shapes are those its gets read.
LogicalResult KernelEmitter::emitTileStream(flash::StreamOp op) {
  if (op.getLoad() != flash::StreamLoad::cp_async)
    return fail(op, "tile kernels load streams with cp_async so far");
  if (op.getStages() < 2)
    return fail(op, "a stream needs at least 2 slots: one read while the next loads");
  TileStream ring;
  ring.stages = op.getStages();
  const int64_t alignment = sharedAlignment();
  auto tileLoop = op->getParentOfType<flash::TileLoopOp>();
  for (Value source : op.getSources()) {
    if (!memrefs.count(source))
      return fail(op, "streams a memref that is not a kernel argument");
    VectorType block;
    WalkResult shapes = tileLoop.walk([&](flash::StreamGetOp get) {
      if (get.getSource() != source)
        return WalkResult::advance();
      if (block && block != get.getBlock().getType())
        return WalkResult::interrupt();
      block = get.getBlock().getType();
      return WalkResult::advance();
    });
    if (shapes.wasInterrupted() || !block)
      return fail(op, "each streamed source is read (flash.stream_get) in blocks of one shape");
    if (block.getElementType() != element)
      return fail(op, "streams blocks of the products' element type");
    const int64_t rows = block.getDimSize(0), columns = block.getDimSize(1);
    if (columns % (geometry.wgmma ? 64 : 8) != 0)
      return fail(op, "tiles in shared memory are " + std::string(geometry.wgmma ? "64" : "8") +
                          " columns a chunk on this chip; got " + std::to_string(columns));
    ring.sources.push_back({source, rows, columns, ring.slotBytes});
    ring.slotBytes += (sharedTileBytes(rows, columns) + alignment - 1) / alignment * alignment;
  }
  ring.start = (sharedEnd + alignment - 1) / alignment * alignment;
  sharedEnd = ring.start + ring.stages * ring.slotBytes;
  tileStream = ring;
  return success();
}

/// Where `source`'s block that starts at row `blockStart` lies: its slot is the block's index from the
/// loop's first row, modulo the slots.
Value KernelEmitter::tileStreamSlot(Value blockStart, const TileStream::Source &source) {
  const TileStream &ring = *tileStream;
  Value index = arith::DivUIOp::create(b, loc, arith::SubIOp::create(b, loc, blockStart, ring.first), ring.step);
  Value slot = arith::RemUIOp::create(b, loc, index, constI32(ring.stages));
  return sharedAt(sharedBase, add(mul(slot, constI32(ring.slotBytes)), constI32(ring.start + source.offset)));
}

/// Copies every source's block at `blockStart` into its slot, if the loop reads it, and closes a copy group
/// either way (the waits count one group per block). Rows past a source's end are zero-filled.
void KernelEmitter::issueTileStreamCopies(Value blockStart) {
  const TileStream &ring = *tileStream;
  auto needed = scf::IfOp::create(b, loc, lessThan(blockStart, ring.end), /*withElse=*/false);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&needed.getThenRegion().front());
    for (const TileStream::Source &source : ring.sources) {
      const MemRefArg &memref = memrefs[source.memref];
      const int64_t sourceRows = cast<MemRefType>(source.memref.getType()).getDimSize(0);
      copyRowsToShared(memref.pointer, memref.strides[0], blockStart, constI32(sourceRows), source.rows,
                       tileStreamSlot(blockStart, source), geometry.wgmma, RowCopiers{{}, 0, 0, source.columns});
    }
  }
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
}

/// Before a loop that reads the stream: its first stages - 1 blocks' copies.
LogicalResult KernelEmitter::startTileStream(scf::ForOp loop) {
  auto prefetches = loop.getBody()->getOps<flash::StreamPrefetchOp>();
  if (std::distance(prefetches.begin(), prefetches.end()) != 1)
    return fail(loop, "a loop that reads a stream prefetches its blocks once per iteration "
                      "(one flash.stream_prefetch; run flash-assign-streams)");
  TileStream &ring = *tileStream;
  ring.first = scalars[loop.getLowerBound()];
  ring.step = scalars[loop.getStep()];
  ring.end = scalars[loop.getUpperBound()];
  if (!ring.first || !ring.step || !ring.end)
    return fail(loop, "must have its bounds computed before it");
  for (int64_t s = 0; s + 1 < ring.stages; ++s)
    issueTileStreamCopies(add(ring.first, mul(ring.step, constI32(s))));
  return success();
}

/// A block of a streamed source, in its slot: at the get of the stream's first source, the wait for the
/// block's copies and the barrier that shows them to every warp (and, wgmma, the fence to the async
/// proxy); the other sources' blocks came in the same copy group.
LogicalResult KernelEmitter::emitTileStreamGet(flash::StreamGetOp op) {
  if (!tileStream || !tileStream->first)
    return fail(op, "must be inside the loop of a tile kernel's stream");
  const TileStream &ring = *tileStream;
  auto source = llvm::find_if(ring.sources, [&](const TileStream::Source &s) { return s.memref == op.getSource(); });
  Value row = op.getIndices().back();
  Value blockStart = scalars.lookup(row);
  if (!blockStart)
    return fail(op, "uses an index the GPU lowering has not seen");
  if (source == ring.sources.begin()) {
    NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(ring.stages - 2));
    if (geometry.wgmma)
      fenceAsyncProxy();
    NVVM::Barrier0Op::create(b, loc);
    sharedWritesPending = false; // older copies (tiles read before the loop) and stores are visible too
  } else {
    bool waited = false;
    for (Operation *before = op->getPrevNode(); before && !waited; before = before->getPrevNode())
      if (auto get = dyn_cast<flash::StreamGetOp>(before))
        waited = get.getSource() == ring.sources.front().memref && get.getIndices().back() == row;
    if (!waited)
      return fail(op, "must follow the get of the stream's first source at the same row, which waits for the "
                      "block's copies");
  }
  placeInShared(op.getBlock(), {tileStreamSlot(blockStart, *source), source->rows, source->columns});
  return success();
}

} // namespace flashjit::gpu
