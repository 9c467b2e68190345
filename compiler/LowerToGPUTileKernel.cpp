// flash-lower-to-gpu, tile kernels: a function of tiles and products alone, as flash-distribute leaves it:
// reads of memory, flash.mma with its operand layouts, conversions to 16 bits, writes; optionally a
// flash.tile_loop (a thread block per tile) and loops that carry accumulators and read blocks of a
// flash.stream (the backward's main loop: K and V read once, Q and dO streamed). This file holds the
// kernel's entry and its tiles in shared memory; each op is lowered by the file of its concern: the grid in
// LowerToGPU.cpp, the streams in LowerToGPULoads.cpp, flash.mma in LowerToGPUProducts.cpp, the writes and
// atomic adds in LowerToGPUEpilogue.cpp. Each handler works from the op in front of it (an
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
    if (geometry.wgmma && (geometry.warps % 4 != 0 || (m != 16 * geometry.warps && !columnSplitOf(mma))))
      return refuse("on sm_90a each warpgroup (4 warps) computes 64 rows of a product, or with M = 64 its share "
                    "of the columns (a multiple of 8, of 64 where B is MN-major): " + Twine(geometry.warps) +
                    " warps take M = " + Twine(16 * geometry.warps) + ", got " + Twine(m) + " (N = " + Twine(n) + ")");
    if (!geometry.wgmma && m % (16 * geometry.warps) != 0)
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

} // namespace flashjit::gpu
