// flash-lower-to-gpu, tile kernels: a function of tiles and products alone, as flash-distribute leaves it:
// reads of memory, flash.mma with its operand layouts, conversions to 16 bits, writes; optionally a
// flash.tile_loop (a thread block per tile) and loops that carry accumulators and read blocks of a
// flash.stream (the backward's main loop: K and V read once, Q and dO streamed). Each handler works from the op in front of it (an
// operand's layout, a tile's shape), not from a kernel family, and the products go through the routines
// the attention kernels' Q·Kᵀ and P·V use (LowerToGPUProducts.cpp); the backward's five products are its
// test (tests/lit/compiler/lower-products-to-gpu.mlir). The attention kernels' walk is to be moved onto
// these pieces (compiler/LOWERING.md).
//
// The warps split the products' M rows as the attention kernels' do: 16 rows per row group on mma.sync,
// a warpgroup per 64 rows on wgmma (sm_90a), so an accumulator converted to 16 bits is the A operand of
// a later product where it lies. Tiles in shared memory are stored as their vectors are, rows contiguous:
// padded rows (16 bytes more: no bank conflicts for ldmatrix) on mma.sync, the 128-byte swizzled layout on
// wgmma.
#include "compiler/KernelEmitter.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Matchers.h"

namespace flashjit::gpu {

bool KernelEmitter::isTileKernel(func::FuncOp function) {
  bool products = false, namedProducts = false;
  function.walk([&](Operation *op) {
    products |= isa<flash::MmaOp>(op);
    namedProducts |= isa<flash::QKOp, flash::PVOp>(op);
  });
  return products && !namedProducts;
}

/// One thread block over the function's memref arguments: each a pointer parameter `arg<i>` (2-D, static
/// shape, rows contiguous).
LLVM::LLVMFuncOp KernelEmitter::emitTileKernel() {
  MLIRContext *context = source.getContext();
  tileKernel = true;
  geometry.warps = config.getWarps();
  geometry.chip = config.getChip().str();
  geometry.wgmma = geometry.chip == "sm_90a";
  auto refuse = [&](const Twine &message) {
    error = ("tile kernel: " + message).str();
    return LLVM::LLVMFuncOp();
  };

  // The products' element type; their rows (M), which the warps split.
  SmallVector<flash::MmaOp> products;
  source.walk([&](flash::MmaOp mma) { products.push_back(mma); });
  for (flash::MmaOp mma : products) {
    Type type = mma.getA().getType().getElementType();
    if (!type.isBF16() && !type.isF16())
      return refuse("products take f16 or bf16 operands on the GPU, got " + std::string(type.isF32() ? "f32" : "other"));
    if (element && element != type)
      return refuse("every product must take the same element type");
    element = type;
    const int64_t m = mma.getM(), n = mma.getN(), k = mma.getK();
    if (geometry.wgmma && (geometry.warps % 4 != 0 || m != 16 * geometry.warps))
      return refuse("on sm_90a each warpgroup (4 warps) computes 64 rows of a product: " + Twine(geometry.warps) +
                    " warps take M = " + Twine(16 * geometry.warps) + ", got " + Twine(m));
    if (m % (16 * geometry.warps) != 0)
      return refuse("a product's M must be a multiple of 16 rows per warp: " + Twine(geometry.warps) +
                    " warps, M = " + Twine(m));
    if (k % 16 != 0 || n % 8 != 0 || (geometry.wgmma && n > 256))
      return refuse("a product's K must be a multiple of 16 and its N a multiple of 8" +
                    Twine(geometry.wgmma ? " up to 256" : "") + "; got K = " + Twine(k) + ", N = " + Twine(n));
  }
  mmaType = element.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;

  SmallVector<Type> argTypes;
  SmallVector<std::string> names;
  SmallVector<int64_t> rowStrides;
  auto global = LLVM::LLVMPointerType::get(context, 1);
  for (BlockArgument argument : source.getArguments()) {
    auto type = dyn_cast<MemRefType>(argument.getType());
    SmallVector<int64_t> strides;
    int64_t offset;
    if (!type || type.getRank() != 2 || !type.hasStaticShape() || failed(type.getStridesAndOffset(strides, offset)) ||
        strides[1] != 1 || ShapedType::isDynamic(strides[0]))
      return refuse("argument " + Twine(argument.getArgNumber()) +
                    " must be a 2-D memref of static shape with contiguous rows");
    argTypes.push_back(global);
    names.push_back("arg" + std::to_string(argument.getArgNumber()));
    rowStrides.push_back(strides[0]);
  }
  auto kernel = createKernel(argTypes, SmallVector<StringRef>(names.begin(), names.end()), geometry.threads());

  Block *entry = kernel.addEntryBlock(b);
  b.setInsertionPointToStart(entry);
  for (BlockArgument argument : source.getArguments()) {
    const unsigned i = argument.getArgNumber();
    memrefs[argument] = MemRefArg{entry->getArgument(i), {constI64(rowStrides[i])}};
  }
  tid = NVVM::ThreadIdXOp::create(b, loc, i32);
  sharedBase = LLVM::AddressOfOp::create(b, loc, LLVM::LLVMPointerType::get(context, 3), "flash_shared_memory");
  deriveThreadIndices();
  if (failed(emitBlock(source.getBody().front()))) {
    kernel.erase();
    return {};
  }
  LLVM::ReturnOp::create(b, loc, ValueRange{});
  if (sharedEnd > sharedMemoryLimit(geometry.chip)) {
    kernel.erase();
    return refuse("its tiles need " + Twine(sharedEnd) + " bytes of shared memory; " + geometry.chip + " allows " +
                  Twine(sharedMemoryLimit(geometry.chip)));
  }
  kernel->setAttr(flash::FlashDialect::kSharedMemoryAttrName, b.getI64IntegerAttr(sharedEnd));
  return kernel;
}

/// Room for a [rows][columns] 16-bit tile after the tiles before it: padded rows (mma.sync), or the
/// 128-byte swizzled layout in 64-column chunks, 1024-byte aligned (wgmma's swizzle atoms).
KernelEmitter::SharedTile KernelEmitter::allocateSharedTile(int64_t rows, int64_t columns) {
  const int64_t alignment = sharedAlignment();
  const int64_t start = (sharedEnd + alignment - 1) / alignment * alignment;
  sharedEnd = start + sharedTileBytes(rows, columns);
  return {sharedAt(sharedBase, constI32(start)), rows, columns};
}

/// The tile loop of a tile kernel: one thread block per tile, the tile's indices from the block index,
/// the first index fastest. Its bounds are constants (a tile kernel's memrefs have static shapes); the
/// launch's grid is their product.
LogicalResult KernelEmitter::emitTileGrid(flash::TileLoopOp tileLoop) {
  if (tileLoop.getSchedule() != flash::TileSchedule::one_per_block)
    return fail(tileLoop, "a tile kernel's tiles take schedule(one_per_block)");
  SmallVector<int64_t, 3> bounds;
  for (Value bound : {tileLoop.getQueryBlocks(), tileLoop.getHeads(), tileLoop.getBatch()}) {
    std::optional<int64_t> constant = getConstantIntValue(bound);
    if (!constant || *constant < 1)
      return fail(tileLoop, "a tile kernel's tile bounds must be positive constants");
    bounds.push_back(*constant);
  }
  Value block = NVVM::BlockIdXOp::create(b, loc, i32);
  ValueRange indices = tileLoop.getTileIndices();
  scalars[indices[0]] = arith::RemUIOp::create(b, loc, block, constI32(bounds[0]));
  scalars[indices[1]] = arith::RemUIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, block, constI32(bounds[0])), constI32(bounds[1]));
  scalars[indices[2]] = arith::DivUIOp::create(b, loc, block, constI32(bounds[0] * bounds[1]));
  return emitBlock(tileLoop.getBody().front());
}

// --- Streams ---------------------------------------------------------------------------------------------
// A loop reads the stream's blocks (flash.stream_get) from a ring of `stages` slots: before the loop, the
// first stages - 1 blocks are copied, a cp.async group each; at the block's get of the stream's first
// source, the thread waits until at most stages - 2 groups are pending (this block's has landed), and one
// barrier shows the block to every warp and frees the slot read in the previous iteration, which the
// loop's flash.stream_prefetch then fills with the block stages - 1 ahead. The attention kernels' K/V ring
// (LowerToGPULoads.cpp) is this ring with K and V as its sources, plus its TMA and mbarrier forms.

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

/// A tile of memory that products read: copied to shared memory with cp.async, as stored.
LogicalResult KernelEmitter::emitTileRead(vector::TransferReadOp op) {
  auto found = memrefs.find(op.getBase());
  VectorType type = op.getVectorType();
  if (found == memrefs.end() || type.getRank() != 2 || op.getMask() || !op.getPermutationMap().isMinorIdentity())
    return fail(op, "must read a 2-D tile, rows as stored, from a kernel argument");
  if (type.getElementType() != element)
    return fail(op, "must read the products' element type");
  for (OpOperand &use : op.getResult().getUses()) {
    auto mma = dyn_cast<flash::MmaOp>(use.getOwner());
    if (!mma || &use == &mma.getAccumulatorMutable())
      return fail(op, "a tile read in a tile kernel must be a product's A or B operand");
  }
  const int64_t rows = type.getDimSize(0), columns = type.getDimSize(1);
  if (columns % (geometry.wgmma ? 64 : 8) != 0)
    return fail(op, "tiles in shared memory are " + std::string(geometry.wgmma ? "64" : "8") +
                        " columns a chunk on this chip; got " + std::to_string(columns));
  auto memrefType = cast<MemRefType>(op.getBase().getType());
  Value row = scalars.lookup(op.getIndices()[0]), column = scalars.lookup(op.getIndices()[1]);
  if (!row || !column)
    return fail(op, "uses an index the GPU lowering has not seen");
  SharedTile tile = allocateSharedTile(rows, columns);
  Value base = globalElement(found->second.pointer, toI64(column), element);
  copyRowsToShared(base, found->second.strides[0], row, constI32(memrefType.getDimSize(0)), rows, tile.start,
                   geometry.wgmma, RowCopiers{{}, 0, 0, columns});
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
  sharedWritesPending = true;
  placeInShared(op.getResult(), tile);
  return success();
}

/// `value` is the tile `stored` in shared memory (a product's operand from there).
void KernelEmitter::placeInShared(Value value, const SharedTile &stored) {
  sharedTiles[value] = stored;
  Fragment fragment;
  fragment.kind = Fragment::Kind::Shared;
  fragment.shared = stored.start;
  tiles[value] = fragment;
}

/// An accumulator converted to 16 bits, stored into shared memory from its registers (each thread its
/// pairs: rows g and g + 8 of each row group, columns 2t, 2t + 1 of each 8-column tile), for a product
/// that reads it transposed.
void KernelEmitter::stageAccumulator(Value tile, const Fragment &fragment, int64_t rows) {
  const int64_t columnTiles = fragment.cols / 8;
  SharedTile staged = allocateSharedTile(rows, fragment.cols);
  const int64_t rowGroups = rowGroupsOf(rows);
  for (int64_t r = 0; r < rowGroups; ++r)
    for (int64_t j = 0; j < columnTiles; ++j)
      for (int64_t half = 0; half < 2; ++half) {
        Value row = tileRow(r, half, rowGroups), column = add(constI32(j * 8), mul(quadLane, constI32(2)));
        Value address = geometry.wgmma
                            ? sharedAt(swizzledAddress(staged.start, rows, row, column), mul(quadLane, constI32(4)))
                            : sharedAt(staged.start, add(mul(row, constI32(paddedRowBytes(fragment.cols))),
                                                         mul(column, constI32(2))));
        LLVM::StoreOp::create(b, loc, fragment.regs[(r * columnTiles + j) * 2 + half], address, 4);
      }
  sharedWritesPending = true;
  sharedTiles[tile] = staged;
}

/// Before a product reads shared memory: every thread's copies have landed and its stores are done,
/// and (wgmma) made visible to the async proxy, then one barrier shows them to every warp.
void KernelEmitter::awaitSharedWrites() {
  if (!sharedWritesPending)
    return;
  NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(0));
  if (geometry.wgmma)
    fenceAsyncProxy();
  NVVM::Barrier0Op::create(b, loc);
  sharedWritesPending = false;
}

/// The operand `tile` of `op` as its layout says it lies (see flash-distribute), for the product routines.
FailureOr<ProductOperand> KernelEmitter::productOperand(flash::MmaOp op, Value tile, bool isA) {
  flash::OperandLayout layout = isA ? op.getLayoutsAttr().getA() : op.getLayoutsAttr().getB();
  auto refuse = [&](const Twine &message) -> FailureOr<ProductOperand> {
    (void)fail(op, message);
    return failure();
  };
  auto fragment = tiles.find(tile);
  if (fragment == tiles.end())
    return refuse("uses a tile the GPU lowering has not seen");
  if (layout == flash::OperandLayout::accumulator) {
    if (fragment->second.kind != Fragment::Kind::Accumulator || !fragment->second.packed)
      return refuse("layout 'accumulator' needs an earlier product converted to 16 bits");
    ProductOperand operand{ProductOperand::Layout::PackedAccumulator, fragment->second.regs};
    operand.tiles = fragment->second.cols / 8;
    return operand;
  }
  if (layout == flash::OperandLayout::registers)
    return refuse("layout 'registers' (A read from memory into registers) is not lowered in tile kernels yet; "
                    "flash-distribute puts such operands in shared memory");
  // In shared memory, stored as the tile: the contraction dimension is its columns for an A read as it
  // lies and a B read transposed.
  const bool transposed = isA ? op.getTransposeA() : op.getTransposeB();
  const bool kMajor = layout == flash::OperandLayout::shared_k_major;
  if (kMajor != (isA != transposed))
    return refuse(std::string("layout '") + flash::stringifyOperandLayout(layout).str() + "' of its " +
                        (isA ? "A" : "B") + " operand contradicts the tile as stored (rows contiguous)");
  if (!sharedTiles.count(tile)) {
    if (geometry.wgmma && fragment->second.cols % 64 != 0)
      return refuse("tiles in shared memory are 64 columns a chunk on this chip; got " +
                    Twine(fragment->second.cols));
    if (fragment->second.kind != Fragment::Kind::Accumulator || !fragment->second.packed)
      return refuse("a shared operand must be a tile read from memory or a product converted to 16 bits");
    stageAccumulator(tile, fragment->second, cast<VectorType>(tile.getType()).getDimSize(0));
  }
  awaitSharedWrites();
  const SharedTile &stored = sharedTiles[tile];
  ProductOperand operand{kMajor ? ProductOperand::Layout::SharedKMajor : ProductOperand::Layout::SharedMNMajor};
  operand.rows = stored.rows;
  operand.rowBytes = paddedRowBytes(stored.columns);
  operand.shared = stored.start;
  if (!isA)
    return operand;
  if (geometry.wgmma) {
    // This warpgroup's 64 rows of M: 64 rows further (K-major), or the next 64-column chunk (MN-major).
    const int64_t bytesPerWarpgroup = kMajor ? 64 * 128 : stored.rows * 128;
    operand.shared = sharedAt(stored.start, mul(warpgroupIndex(), constI32(bytesPerWarpgroup)));
    return operand;
  }
  // mma.sync: this lane's ldmatrix address for the warp's first row group.
  Value firstRow = mul(warp, constI32(16 * rowGroupsOf(op.getM())));
  Value laneOffset =
      kMajor ? add(mul(add(firstRow, arith::RemUIOp::create(b, loc, lane, constI32(16))), constI32(operand.rowBytes)),
                   mul(arith::DivUIOp::create(b, loc, lane, constI32(16)), constI32(16)))
             : transposedALaneOffset(firstRow, operand.rowBytes);
  operand.shared = sharedAt(stored.start, laneOffset);
  return operand;
}

/// result = accumulator + op(A)·op(B) by the product routine of the chip, operands as their layouts say.
LogicalResult KernelEmitter::emitMma(flash::MmaOp op) {
  if (!tileKernel)
    return fail(op, "runs in tile kernels so far; attention kernels take flash.qk and flash.pv");
  if (!op.getLayoutsAttr())
    return fail(op, "has no operand layouts; run flash-distribute first");
  auto accumulator = tiles.find(op.getAccumulator());
  if (accumulator == tiles.end() || accumulator->second.kind != Fragment::Kind::Accumulator ||
      accumulator->second.packed)
    return fail(op, "needs an f32 accumulator tile");
  FailureOr<ProductOperand> a = productOperand(op, op.getA(), /*isA=*/true);
  if (failed(a))
    return failure();
  FailureOr<ProductOperand> bOperand = productOperand(op, op.getB(), /*isA=*/false);
  if (failed(bOperand))
    return failure();
  Fragment result = accumulator->second;
  if (geometry.wgmma) {
    wgmmaProduct(*a, *bOperand, op.getN(), op.getK(), result.regs, /*overwrite=*/false);
    NVVM::WgmmaWaitGroupSyncOp::create(b, loc, 0);
  } else {
    mmaSyncProduct(*a, *bOperand, op.getN(), op.getK(), result.regs, rowGroupsOf(op.getM()));
  }
  tiles[op.getResult()] = result;
  return success();
}

/// Calls `pair(row, column, first, second)` for each pair of this thread's elements of an f32 accumulator
/// tile of `rows` rows: rows g and g + 8 of each row group, columns 2t and 2t + 1 of each 8-column tile.
void KernelEmitter::forEachAccumulatorPair(const Fragment &tile, int64_t rows,
                                           llvm::function_ref<void(Value, Value, Value, Value)> pair) {
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
