// flash-lower-to-gpu, the epilogue: the output tile and the logsumexp written to global memory, through
// shared memory (16-byte stores) or, on the wgmma path, by each warpgroup from its registers; in tile
// kernels, f32 accumulator tiles written (vector.transfer_write) or added atomically (flash.atomic_add)
// from each thread's registers.
#include "compiler/KernelEmitter.h"

#include "mlir/IR/Matchers.h"

namespace flashjit::gpu {

/// Where element (row, column) of the output tile is staged (mma.sync path): padded rows from the start of
/// shared memory.
Value KernelEmitter::stagedOutput(Value row, Value column) {
  return sharedAt(sharedBase, add(mul(row, constI32(geometry.sharedRowBytes())), mul(column, constI32(2))));
}

LogicalResult KernelEmitter::emitWrite(vector::TransferWriteOp op) {
  auto found = memrefs.find(op.getBase());
  auto fragment = tiles.find(op.getVector());
  if (found == memrefs.end() || fragment == tiles.end())
    return fail(op, "must write a tile to a kernel argument");
  const MemRefArg &memref = found->second;
  // Fresh copies of the tile's indices: its addresses are computed here, not before the key loops (one
  // copy for the writes into this block, whose insertion point moves only forward).
  if (writeGridBlock != b.getInsertionBlock()) {
    writeGrid.clear();
    writeGridBlock = b.getInsertionBlock();
  }
  Value batchIndex = recompute(op.getIndices()[0], writeGrid), headIndex = recompute(op.getIndices()[1], writeGrid);
  Value q0 = opaqueCopy(scalars[op.getIndices()[2]]);

  if (fragment->second.kind == Fragment::Kind::Rows) {
    // logsumexp: [batch, heads, seqlen_q] with contiguous rows; the first thread of each quad writes.
    Value base = sliceBase(memref, batchIndex, headIndex, f32);
    Value writer = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, quadLane, constI32(0));
    for (int64_t r = 0; r < geometry.rowGroups; ++r)
      for (int64_t half = 0; half < 2; ++half) {
        Value row = add(q0, tileRow(r, half));
        Value store = arith::AndIOp::create(b, loc, writer, rowWritten(row));
        auto guarded = scf::IfOp::create(b, loc, store, /*withElse=*/false);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(&guarded.getThenRegion().front());
        LLVM::StoreOp::create(b, loc, fragment->second.regs[r * 2 + half], globalElement(base, toI64(row), f32), 4);
      }
    return success();
  }

  if (!fragment->second.packed)
    return fail(op, "must write a tile converted to the output's element type");
  if (geometry.wgmma) {
    Value base = sliceBase(memref, batchIndex, headIndex, element);
    if (prefetchesQuery) { // the query rows already hold the next tile's query
      writeOutputFromRegisters(memref, fragment->second, base, q0);
      return success();
    }
    return writeOutputByWarpgroup(memref, fragment->second, base, q0);
  }
  // Registers -> shared memory (row-major, padded rows) -> 16-byte stores of the rows below seqlen_q.
  // The first barrier waits until every warp is done with the last K/V tiles in these bytes (and, when no
  // key block was read, the query's copy has landed: nothing is left in flight into shared memory).
  NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(0));
  NVVM::Barrier0Op::create(b, loc);
  const int64_t columnTiles = fragment->second.cols / 8;
  for (int64_t r = 0; r < geometry.rowGroups; ++r)
    for (int64_t half = 0; half < 2; ++half) {
      Value row = tileRow(r, half);
      for (int64_t j = 0; j < columnTiles; ++j) {
        Value column = add(mul(quadLane, constI32(2)), constI32(j * 8));
        LLVM::StoreOp::create(b, loc, fragment->second.regs[(r * columnTiles + j) * 2 + half],
                              stagedOutput(row, column), 4);
      }
    }
  NVVM::Barrier0Op::create(b, loc);
  Value base = sliceBase(memref, batchIndex, headIndex, element);
  const int64_t chunksPerRow = geometry.headDim / 8, chunks = geometry.blockM * chunksPerRow;
  auto chunkType = VectorType::get({4}, i32);
  for (int64_t first = 0; first < chunks; first += geometry.threads()) {
    Value chunk = add(tid, constI32(first));
    Value row = arith::DivUIOp::create(b, loc, chunk, constI32(chunksPerRow));
    Value column = mul(arith::RemUIOp::create(b, loc, chunk, constI32(chunksPerRow)), constI32(8));
    Value store = lessThan(add(q0, row), seqlenQ);
    if (first + geometry.threads() > chunks)
      store = arith::AndIOp::create(b, loc, store, lessThan(chunk, constI32(chunks)));
    auto guarded = scf::IfOp::create(b, loc, store, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&guarded.getThenRegion().front());
    Value values = LLVM::LoadOp::create(b, loc, chunkType, stagedOutput(row, column), 16);
    Value offset = add(arith::MulIOp::create(b, loc, toI64(add(q0, row)), memref.strides[2]), toI64(column));
    LLVM::StoreOp::create(b, loc, values, globalElement(base, offset, element), 16);
  }
  return success();
}

/// wgmma path: each warpgroup writes its own 64 output rows, staged in its own query rows (the swizzled
/// layout: the accumulator layout's 4-byte stores and the rows' 16-byte reads are free of bank
/// conflicts), synchronising only its own 128 threads. A warpgroup that ends its key loop stores while
/// the others still compute and, persistent, goes on to its next tile (the consumers' barrier here made
/// every warpgroup wait for the last one, and the ping-pong start over at every tile).
LogicalResult KernelEmitter::writeOutputByWarpgroup(const MemRefArg &memref, const Fragment &fragment, Value base,
                                                    Value q0) {
  // Every warp's last Q·Kᵀ has retired before the query rows are overwritten (and no copy of this thread
  // is left in flight).
  NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(0));
  warpgroupBarrier();
  // The addresses from copies made after the barrier, so that LLVM cannot compute them earlier (they
  // depend on no result) and hold the 16 swizzled ones of head_dim 128 while the last P·V runs. (A
  // precaution: compiler/Hopper.md, 'Measurements behind the lowering's choices'.)
  refreshThreadIndices();
  Value queryTile = sharedAt(sharedBase, constI32(geometry.queryOffset()));
  Value inPiece = mul(quadLane, constI32(4)); // columns 2q, 2q + 1 of each 8-column piece
  const int64_t columnTiles = fragment.cols / 8;
  for (int64_t r = 0; r < geometry.rowGroups; ++r)
    for (int64_t half = 0; half < 2; ++half) {
      Value row = tileRow(r, half);
      for (int64_t j = 0; j < columnTiles; ++j)
        LLVM::StoreOp::create(b, loc, fragment.regs[(r * columnTiles + j) * 2 + half],
                              sharedAt(swizzledAddress(queryTile, geometry.blockM, row, constI32(j * 8)), inPiece), 4);
    }
  warpgroupBarrier();
  // 16 bytes per thread and pass, rows after rows: 8 (head_dim 128) or 16 (64) rows per pass.
  const int64_t chunksPerRow = geometry.headDim / 8, chunks = 64 * chunksPerRow;
  Value thread = arith::RemUIOp::create(b, loc, tid, constI32(128));
  Value firstRow = mul(warpgroupIndex(), constI32(64));
  auto chunkType = VectorType::get({4}, i32);
  for (int64_t first = 0; first < chunks; first += 128) {
    Value chunk = add(thread, constI32(first));
    Value row = add(firstRow, arith::DivUIOp::create(b, loc, chunk, constI32(chunksPerRow)));
    Value column = mul(arith::RemUIOp::create(b, loc, chunk, constI32(chunksPerRow)), constI32(8));
    auto guarded = scf::IfOp::create(b, loc, rowWritten(add(q0, row)), /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&guarded.getThenRegion().front());
    Value values = LLVM::LoadOp::create(b, loc, chunkType, swizzledAddress(queryTile, geometry.blockM, row, column), 16);
    Value offset = add(arith::MulIOp::create(b, loc, toI64(add(q0, row)), memref.strides[2]), toI64(column));
    LLVM::StoreOp::create(b, loc, values, globalElement(base, offset, element), 16);
  }
  return success();
}

/// prefetchesQuery: the query rows hold the next tile's query, so the output goes straight from registers
/// to global memory. The accumulator layout gives quad lane q columns 2q, 2q + 1 of every 8-column piece;
/// a 4 x 4 transpose of 4-byte words within the quad (two rounds of shuffles) gives it all 8 columns of
/// piece 4g + q of each 4 pieces, one 16-byte store. (4-byte stores of the pairs as they are take 4 times
/// the store instructions, each touching 8 rows' cache lines, and ran slower; measured: compiler/Hopper.md,
/// 'Measurements behind the lowering's choices'.)
void KernelEmitter::writeOutputFromRegisters(const MemRefArg &memref, const Fragment &fragment, Value base, Value q0) {
  // Every warp of the warpgroup is past its last P·V: without the barrier, persistent causal kernels spill
  // (measured: compiler/Hopper.md, 'Measurements behind the lowering's choices').
  warpgroupBarrier();
  refreshThreadIndices();
  const int64_t columnTiles = fragment.cols / 8;
  auto isSet = [&](int64_t bit) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, arith::AndIOp::create(b, loc, quadLane, constI32(bit)),
                                 constI32(0));
  };
  Value bit0 = isSet(1), bit1 = isSet(2);
  // One round: words x, y of pair (k, k ^ mask) are swapped with lane q ^ mask where bit `mask` of k and q
  // differ (the lane with the bit set keeps y and sends x).
  auto exchange = [&](Value &x, Value &y, Value bitSet, int64_t mask) {
    Value send = arith::SelectOp::create(b, loc, bitSet, x, y);
    Value received = NVVM::ShflOp::create(b, loc, i32, constI32(-1), send, constI32(mask), constI32(0x1f),
                                          NVVM::ShflKind::bfly, UnitAttr());
    x = arith::SelectOp::create(b, loc, bitSet, received, x);
    y = arith::SelectOp::create(b, loc, bitSet, y, received);
  };
  auto chunkType = VectorType::get({4}, i32);
  Value column = mul(quadLane, constI32(8)); // of piece q within each 4 pieces
  for (int64_t r = 0; r < geometry.rowGroups; ++r)
    for (int64_t half = 0; half < 2; ++half) {
      // Every lane shuffles (the row guard below differs between the quad's rows): transposes first.
      SmallVector<Value> chunks;
      for (int64_t g = 0; g < columnTiles / 4; ++g) {
        SmallVector<Value> words;
        for (int64_t k = 0; k < 4; ++k)
          words.push_back(fragment.regs[(r * columnTiles + 4 * g + k) * 2 + half]);
        exchange(words[0], words[1], bit0, 1);
        exchange(words[2], words[3], bit0, 1);
        exchange(words[0], words[2], bit1, 2);
        exchange(words[1], words[3], bit1, 2);
        Value chunk = LLVM::UndefOp::create(b, loc, chunkType);
        for (int64_t k = 0; k < 4; ++k)
          chunk = LLVM::InsertElementOp::create(b, loc, chunk, words[k], constI32(k));
        chunks.push_back(chunk);
      }
      Value row = add(q0, tileRow(r, half));
      auto guarded = scf::IfOp::create(b, loc, rowWritten(row), /*withElse=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&guarded.getThenRegion().front());
      Value rowStart = globalElement(base, add(arith::MulIOp::create(b, loc, toI64(row), memref.strides[2]),
                                               toI64(column)), element);
      for (int64_t g = 0; g < columnTiles / 4; ++g)
        LLVM::StoreOp::create(b, loc, chunks[g], globalElement(rowStart, constI64(g * 32), element), 16);
    }
}

// --- Tile kernels ---------------------------------------------------------------------------------

/// Calls `pair(row, column, first, second)` for each pair of this thread's elements of an f32 accumulator
/// tile of `rows` rows: rows g and g + 8 of each row group, columns 2t and 2t + 1 of each 8-column tile.
void KernelEmitter::forEachAccumulatorPair(const Fragment &tile, int64_t rows,
                                           llvm::function_ref<void(Value, Value, Value, Value)> pair) {
  if (tile.splitColumns) { // each warpgroup its columns of all 64 rows, each of its warps 16 rows
    Value firstRow = mul(arith::RemUIOp::create(b, loc, warp, constI32(4)), constI32(16));
    Value firstColumn = mul(warpgroupIndex(), constI32(tile.splitColumns));
    for (int64_t j = 0; j < tile.splitColumns / 8; ++j)
      for (int64_t half = 0; half < 2; ++half)
        pair(add(firstRow, add(group, constI32(half * 8))),
             add(firstColumn, add(constI32(j * 8), mul(quadLane, constI32(2)))), tile.regs[j * 4 + 2 * half],
             tile.regs[j * 4 + 2 * half + 1]);
    return;
  }
  const int64_t columnTiles = tile.cols / 8, rowGroups = rowGroupsOf(rows);
  for (int64_t r = 0; r < rowGroups; ++r)
    for (int64_t j = 0; j < columnTiles; ++j)
      for (int64_t half = 0; half < 2; ++half) {
        const Value *values = &tile.regs[(r * columnTiles + j) * 4 + 2 * half];
        pair(tileRow(r, half, rowGroups), add(constI32(j * 8), mul(quadLane, constI32(2))), values[0], values[1]);
      }
}

/// The f32 accumulator tile that `op` puts into memory, and where its first element goes.
LogicalResult KernelEmitter::accumulatorDestination(Operation *op, Value vector, Value memref, ValueRange indices,
                                                    const Fragment *&tile, MemRefArg *&destination, Value &row0,
                                                    Value &column0) {
  auto found = memrefs.find(memref);
  auto fragment = tiles.find(vector);
  if (found == memrefs.end() || fragment == tiles.end() || indices.size() != 2)
    return fail(op, "must put a tile, rows as stored, into a 2-D kernel argument");
  if (fragment->second.kind != Fragment::Kind::Accumulator || fragment->second.packed ||
      !cast<VectorType>(vector.getType()).getElementType().isF32())
    return fail(op, "tile kernels put f32 accumulator tiles into memory");
  row0 = scalars.lookup(indices[0]);
  column0 = scalars.lookup(indices[1]);
  if (!row0 || !column0)
    return fail(op, "uses an index the GPU lowering has not seen");
  tile = &fragment->second;
  destination = &found->second;
  return success();
}

/// An f32 accumulator tile written to memory from its registers, each thread its pairs as 8-byte stores.
LogicalResult KernelEmitter::emitTileWrite(vector::TransferWriteOp op) {
  const Fragment *tile;
  MemRefArg *destination;
  Value row0, column0;
  if (op.getMask() || !op.getPermutationMap().isMinorIdentity())
    return fail(op, "must write a tile, rows as stored, to a kernel argument");
  if (failed(accumulatorDestination(op, op.getVector(), op.getBase(), op.getIndices(), tile, destination, row0,
                                    column0)))
    return failure();
  auto pairType = VectorType::get({2}, f32);
  forEachAccumulatorPair(*tile, op.getVectorType().getDimSize(0), [&](Value row, Value column, Value x, Value y) {
    Value pair = LLVM::UndefOp::create(b, loc, pairType);
    pair = LLVM::InsertElementOp::create(b, loc, pair, x, constI32(0));
    pair = LLVM::InsertElementOp::create(b, loc, pair, y, constI32(1));
    Value offset = add(arith::MulIOp::create(b, loc, toI64(add(row0, row)), destination->strides[0]),
                       toI64(add(column0, column)));
    LLVM::StoreOp::create(b, loc, pair, globalElement(destination->pointer, offset, f32), 8);
  });
  return success();
}

/// An f32 accumulator tile added into memory, each element by an atomic add (thread blocks that add into
/// the same rows, as the backward's dQ over key blocks, need nothing else); rows past the destination's
/// end are skipped (a partial last block).
LogicalResult KernelEmitter::emitTileAtomicAdd(flash::AtomicAddOp op) {
  const Fragment *tile;
  MemRefArg *destination;
  Value row0, column0;
  if (failed(accumulatorDestination(op, op.getValue(), op.getDestination(), op.getIndices(), tile, destination,
                                    row0, column0)))
    return failure();
  MemRefType type = op.getDestination().getType();
  if (op.getValue().getType().getDimSize(1) != type.getDimSize(1) || !matchPattern(op.getIndices()[1], m_Zero()))
    return fail(op, "adds whole rows of its destination (the tile's columns are the destination's, from column 0)");
  forEachAccumulatorPair(*tile, op.getValue().getType().getDimSize(0), [&](Value row, Value column, Value x, Value y) {
    Value at = add(row0, row);
    auto inside = scf::IfOp::create(b, loc, lessThan(at, constI32(type.getDimSize(0))), /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&inside.getThenRegion().front());
    Value offset = add(arith::MulIOp::create(b, loc, toI64(at), destination->strides[0]), toI64(column));
    Value first = globalElement(destination->pointer, offset, f32);
    LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::fadd, first, x, LLVM::AtomicOrdering::monotonic);
    LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::fadd, globalElement(first, constI64(1), f32), y,
                              LLVM::AtomicOrdering::monotonic);
  });
  return success();
}

} // namespace flashjit::gpu
