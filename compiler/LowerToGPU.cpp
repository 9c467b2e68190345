// flash-lower-to-gpu: the tile-level kernel -> one thread's NVVM program (see Passes.td).
//
// The pass walks the kernel at the "causal" stage op by op, like the interpreter does, and emits for
// each op what one thread of the thread block executes. Every tile value maps to its distributed form:
//
//   accumulator layout  an [M, N] f32 tile (scores, output accumulator): for each of the warp's R row
//                       groups of 16 rows and each 8-column tile j, 4 values at rows g, g + 8 and
//                       columns 2·t, 2·t + 1 (g = lane / 4, t = lane % 4), as mma.sync.m16n8k16 leaves
//                       them. Converted to 16 bits, each pair packs into one i32 (P, the output tile).
//   row layout          an [M] f32 vector (running max, running sum): 2 values per row group, rows g and
//                       g + 8. The running sum stays a per-thread partial sum until flash.normalize adds
//                       up the 4 threads of a quad (as FlashAttention-2 does).
//   A operand           the [M, D] query tile: for each row group and 16-column slice, the 4 i32
//                       registers of an mma.sync A operand, copied once to shared memory with 16-byte
//                       cp.async and read with ldmatrix.x4. The output tile leaves the same way:
//                       registers -> shared memory -> 16-byte stores.
//   shared              a [block_n, D] K or V tile, copied to shared memory with cp.async and read by
//                       ldmatrix (K as is, V transposed) as mma.sync B operands.
//
// K/V staging is a software pipeline of `stages` buffers across all key loops (consecutive loops walk
// consecutive key blocks): before the first loop, blocks 0 .. stages-2 are copied; at the top of the
// iteration for block t, the thread waits for block t's copy group, one barrier makes it visible to
// every warp (and frees the buffer read in iteration t-1), and right after block t's Q·Kᵀ (and its mask
// branch, if any) the copy of block t + stages - 1 is issued into that freed buffer, so copies overlap
// the softmax and P·V. (Issued before Q·Kᵀ, the copies and Q·Kᵀ's ldmatrix bursts queue for the same
// shared-memory pipe; measured: compiler/Hopper.md, 'Measurements behind the lowering's choices'.)
//
// Scalars (index values, the softmax scale) map to i32 and f32 values.
#include "compiler/KernelEmitter.h"
#include "compiler/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/TypeSwitch.h"

#include <limits>

namespace flashjit {

#define GEN_PASS_DEF_LOWERTOGPU
#include "compiler/Passes.h.inc"

using namespace mlir;

namespace gpu {

LLVM::LLVMFuncOp KernelEmitter::emit() {
  MLIRContext *context = source.getContext();
  i32 = b.getI32Type();
  i64 = b.getI64Type();
  f32 = b.getF32Type();

  // The tile-level function: (Q, K, V, O, [lse], scale).
  unsigned numArgs = source.getNumArguments();
  bool hasLse = numArgs == 6;
  if (numArgs != 5 && numArgs != 6) {
    error = "the kernel function must take Q, K, V, O, [lse], scale";
    return {};
  }
  auto queryType = cast<MemRefType>(source.getArgument(0).getType());
  element = queryType.getElementType();
  if (!element.isBF16() && !element.isF16()) {
    error = "GPU kernels support f16 and bf16 data; f32 runs only in the interpreter";
    return {};
  }
  mmaType = element.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  geometry.blockM = config.getBlockM();
  geometry.blockN = config.getBlockN();
  geometry.headDim = queryType.getShape().back();
  geometry.warps = config.getWarps();
  geometry.stages = config.getStages();
  geometry.rowGroups = geometry.blockM / (16 * geometry.warps);
  geometry.chip = config.getChip().str();
  geometry.wgmma = usesWgmma(geometry.chip, geometry.blockM, geometry.blockN, geometry.warps, geometry.headDim);
  geometry.mmaRowSum = config.getMmaRowSum();
  error = gpuLoweringError(geometry.blockM, geometry.blockN, geometry.warps, geometry.stages, geometry.headDim,
                           config.getChip(), geometry.mmaRowSum);
  if (!error.empty())
    return {};
  if (geometry.headDim % 16 != 0) {
    error = "head_dim " + std::to_string(geometry.headDim) +
            " is not a multiple of 16, which the tensor-core path needs";
    return {};
  }

  geometry.tma = geometry.wgmma && config.getTma();
  geometry.producerWarpgroup = geometry.tma && config.getWarpSpecialized();
  geometry.pingPong = geometry.producerWarpgroup && config.getWgOverlap() && geometry.warps >= 8;
  geometry.persistent = geometry.producerWarpgroup && config.getPersistent();
  geometry.conditionalRescale =
      config.getConditionalRescale() || queryStaysInShared(geometry.blockM, geometry.warps, geometry.headDim);
  bool masked = false, window = false;
  source.walk([&](flash::MaskOp mask) {
    masked |= bool(mask.getMaskAttr());
    window |= mask.getMaskAttr() && !mask.getMaskAttr().getMask().isCausal();
  });
  if (window) {
    error = "the GPU lowering takes causal masks (or none); window(...) masks run in the interpreter only so far";
    return {};
  }
  geometry.splitsTail = geometry.persistent && !masked;

  // The kernel's parameters, in order: each one's name (the kernel's ABI, recorded on the kernel in
  // flash.parameters, from which the launcher packs its arguments), type and the value it becomes.
  struct Parameter {
    std::string name;
    Type type;
    Value *value;
  };
  SmallVector<Parameter> parameters;
  auto global = LLVM::LLVMPointerType::get(context, 1);
  const unsigned tensors = hasLse ? 5 : 4;
  static const char *const kTensorNames[] = {"q", "k", "v", "o", "lse"};
  static const char *const kStrideNames[] = {"batch", "head", "row"};
  SmallVector<Value> pointers(tensors);
  SmallVector<SmallVector<Value, 3>> strides(tensors);
  for (unsigned i = 0; i < tensors; ++i)
    parameters.push_back({kTensorNames[i], global, &pointers[i]});
  for (unsigned i = 0; i < tensors; ++i) { // (batch, head, row) element strides; the logsumexp's (batch, head)
    strides[i].resize(i == 4 ? 2 : 3);
    for (unsigned s = 0; s < strides[i].size(); ++s)
      parameters.push_back({std::string(kTensorNames[i]) + "_stride_" + kStrideNames[s], i64, &strides[i][s]});
  }
  for (auto [name, value] : {std::pair<const char *, Value *>{"seqlen_q", &seqlenQ}, {"seqlen_k", &seqlenK},
                             {"group", &kvGroup}, {"heads", &heads}, {"batch", &batch}})
    parameters.push_back({name, i32, value});
  for (auto [name, divisor] : {std::pair<const char *, Divisor *>{"query_blocks", &queryBlocksDivisor},
                               {"heads", &headsDivisor}, {"group", &groupDivisor}}) {
    parameters.push_back({std::string(name) + "_magic", i32, &divisor->magic});
    parameters.push_back({std::string(name) + "_shift", i32, &divisor->shift});
  }
  Value scale;
  parameters.push_back({"scale", f32, &scale});
  if (geometry.persistent) { // the schedule's tail slices and their divisor
    parameters.push_back({"tail_slices", i32, &tailHeads});
    parameters.push_back({"tail_slices_magic", i32, &tailDivisor.magic});
    parameters.push_back({"tail_slices_shift", i32, &tailDivisor.shift});
  }
  if (geometry.splitsTail) { // the split tail's tiles, part slots per tile, counters and parts
    parameters.push_back({"split_tiles", i32, &tailTiles});
    parameters.push_back({"split_part_slots", i32, &partSlots});
    parameters.push_back({"split_counters", global, &tailCounters});
    parameters.push_back({"split_parts", global, &tailParts});
  }
  if (geometry.tma) { // the K and V tensor maps (CUtensorMap, 128 bytes, by value)
    parameters.push_back({"k_tensor_map", LLVM::LLVMPointerType::get(context), &keyMap});
    parameters.push_back({"v_tensor_map", LLVM::LLVMPointerType::get(context), &valueMap});
  }
  SmallVector<Type> argTypes;
  SmallVector<StringRef> parameterNames;
  for (const Parameter &parameter : parameters) {
    argTypes.push_back(parameter.type);
    parameterNames.push_back(parameter.name);
  }
  auto moduleOp = source->getParentOfType<ModuleOp>();
  b.setInsertionPoint(source);
  auto kernel = LLVM::LLVMFuncOp::create(b, loc, source.getName(),
                                         LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(context), argTypes));
  kernel->setAttr("nvvm.kernel", UnitAttr::get(context));
  kernel->setAttr(flash::FlashDialect::kParametersAttrName, b.getStrArrayAttr(parameterNames));
  for (unsigned i = argTypes.size() - (geometry.tma ? 2 : 0); i < argTypes.size(); ++i) {
    // By value in the parameter space, where TMA reads them: grid_constant keeps NVPTX from copying them
    // to local memory (TMA would get that copy's address).
    kernel.setArgAttr(i, LLVM::LLVMDialect::getByValAttrName(),
                      TypeAttr::get(LLVM::LLVMArrayType::get(b.getI8Type(), 128)));
    kernel.setArgAttr(i, LLVM::LLVMDialect::getAlignAttrName(), b.getI64IntegerAttr(64));
    kernel.setArgAttr(i, NVVM::NVVMDialect::getGridConstantAttrName(), UnitAttr::get(context));
  }
  kernel->setAttr("nvvm.maxntid", b.getDenseI32ArrayAttr({int32_t(geometry.launchThreads()), 1, 1}));
  // One block per SM is enough: without this ptxas caps registers to fit several blocks and spills.
  kernel->setAttr("nvvm.minctasm", b.getI32IntegerAttr(1));
  kernel->setAttr(flash::FlashDialect::kConfigAttrName, config);
  kernel->setAttr(flash::FlashDialect::kSharedMemoryAttrName, b.getI64IntegerAttr(geometry.sharedBytes()));

  // Dynamic shared memory: `stages` pairs of K and V tiles, each block_n rows of head_dim + 8 halves.
  b.setInsertionPointToStart(moduleOp.getBody());
  if (!moduleOp.lookupSymbol("flash_shared_memory"))
    LLVM::GlobalOp::create(b, loc, LLVM::LLVMArrayType::get(b.getI8Type(), 0), /*isConstant=*/false,
                           LLVM::Linkage::External, "flash_shared_memory", Attribute(),
                           /*alignment=*/geometry.wgmma ? 1024 : 16, // wgmma: swizzle atoms
                           /*addrSpace=*/3);

  Block *entry = kernel.addEntryBlock(b);
  b.setInsertionPointToStart(entry);
  for (auto [parameter, argument] : llvm::zip_equal(parameters, entry->getArguments()))
    *parameter.value = argument;
  for (unsigned i = 0; i < tensors; ++i)
    memrefs[source.getArgument(i)] = MemRefArg{pointers[i], SmallVector<Value>(strides[i].begin(), strides[i].end()), i == 1 || i == 2};
  scalars[source.getArguments().back()] = scale;

  tid = NVVM::ThreadIdXOp::create(b, loc, i32);
  sharedBase = LLVM::AddressOfOp::create(b, loc, LLVM::LLVMPointerType::get(context, 3), "flash_shared_memory");
  deriveThreadIndices();
  if (geometry.wgmma)
    initBarriers();
  keyValueHeads = fastDivide(heads, groupDivisor);

  source.walk([&](scf::ForOp loop) {
    for (auto read : loop.getBody()->getOps<vector::TransferReadOp>())
      if (read.getBase() == source.getArgument(1)) {
        keyLoops.push_back(loop);
        break;
      }
  });
  pipelinePV = geometry.wgmma && config.getWgOverlap() && keyLoops.size() == 1;
  if (failed(emitBlock(source.getBody().front()))) {
    kernel.erase();
    return {};
  }
  LLVM::ReturnOp::create(b, loc, ValueRange{});
  return kernel;
}

LogicalResult KernelEmitter::emitBlock(Block &block) {
  for (Operation &op : block)
    if (!op.hasTrait<OpTrait::IsTerminator>() && failed(emitOp(&op)))
      return failure();
  return success();
}

LogicalResult KernelEmitter::emitOp(Operation *op) {
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case<arith::ConstantOp>([&](auto c) { return emitConstant(c); })
      .Case<arith::AddIOp, arith::SubIOp, arith::MulIOp, arith::DivUIOp, arith::DivSIOp, arith::CeilDivUIOp,
            arith::CeilDivSIOp, arith::FloorDivSIOp, arith::RemUIOp, arith::RemSIOp, arith::MinSIOp,
            arith::MaxSIOp, arith::MinUIOp, arith::MaxUIOp>([&](Operation *o) { return emitScalar(o); })
      .Case<memref::DimOp>([&](memref::DimOp dim) -> LogicalResult {
        std::optional<int64_t> index = getConstantIntValue(dim.getIndex());
        auto found = memrefs.find(dim.getSource());
        if (!index || found == memrefs.end())
          return fail(dim, "only dimensions of the kernel's arguments are supported");
        // [batch, heads, seqlen, head_dim]
        Value size;
        if (*index == 0)
          size = batch;
        else if (*index == 1)
          size = found->second.isKeyValue ? keyValueHeads : heads;
        else if (*index == 2)
          size = found->second.isKeyValue ? seqlenK : seqlenQ;
        else
          size = constI32(geometry.headDim);
        scalars[dim.getResult()] = size;
        return success();
      })
      .Case<scf::ParallelOp>([&](scf::ParallelOp parallel) -> LogicalResult {
        // One thread block per (query block, head, batch): a one-dimensional grid replaces the loop, query
        // blocks fastest so that neighbouring blocks share K and V in L2, and last query block first: under
        // a causal mask the last blocks see the most keys, and starting the longest work first leaves the
        // short blocks for the last wave. (A 1-D grid has room for 2^31 - 1 blocks; y and z would stop
        // at 65535 heads or batches.) The divisions use the launch's fast divisors.
        if (parallel.getNumLoops() != 3)
          return fail(parallel, "must be the (query block, head, batch) loop");
        gridIndices.assign(parallel.getInductionVars().begin(), parallel.getInductionVars().end());
        if (geometry.persistent)
          return emitPersistentGrid(parallel);
        SmallVector<Value> indices = mapGrid(NVVM::BlockIdXOp::create(b, loc, i32));
        for (auto [index, value] : llvm::zip(gridIndices, indices))
          scalars[index] = value;
        return emitBlock(*parallel.getBody());
      })
      .Case<scf::ForOp>([&](scf::ForOp loop) { return emitForLoop(loop); })
      .Case<scf::IfOp>([&](scf::IfOp branch) { return emitIf(branch); })
      .Case<arith::CmpIOp>([&](arith::CmpIOp compare) -> LogicalResult {
        if (!scalars.count(compare.getLhs()) || !scalars.count(compare.getRhs()))
          return fail(compare, "uses a value the GPU lowering has not seen");
        scalars[compare] = arith::CmpIOp::create(b, loc, compare.getPredicate(), scalars[compare.getLhs()],
                                                 scalars[compare.getRhs()]);
        return success();
      })
      .Case<vector::TransferReadOp>([&](auto read) { return emitRead(read); })
      .Case<vector::TransferWriteOp>([&](auto write) { return emitWrite(write); })
      .Case<flash::QKOp>([&](auto qk) { return emitQK(qk); })
      .Case<flash::MaskOp>([&](auto mask) { return emitMask(mask); })
      .Case<flash::OnlineSoftmaxOp>([&](auto softmax) { return emitOnlineSoftmax(softmax); })
      .Case<flash::RescaleOp>([&](auto rescale) { return emitRescale(rescale); })
      .Case<arith::TruncFOp>([&](auto truncate) { return emitTruncate(truncate); })
      .Case<flash::PVOp>([&](auto pv) { return emitPV(pv); })
      .Case<flash::NormalizeOp>([&](auto normalize) { return emitNormalize(normalize); })
      .Case<flash::RowMaxOp, flash::ExpScoresOp>([&](Operation *o) {
        return fail(o, "belongs to the two-pass form; run flash-fuse-online-softmax first");
      })
      .Case<flash::AttentionOp>([&](Operation *o) {
        return fail(o, "is problem-level IR; run the tiling passes first");
      })
      .Default([&](Operation *o) { return fail(o, "is not supported by the GPU lowering"); });
}

/// (query block, head, batch) of thread block `block` (see the scf.parallel case of emitOp), or of a
/// persistent block's tile (mapPersistentTile).
SmallVector<Value> KernelEmitter::mapGrid(Value block) {
  if (geometry.persistent)
    return mapPersistentTile(block);
  Value queryBlocks = arith::CeilDivUIOp::create(b, loc, seqlenQ, constI32(geometry.blockM));
  Value rest = fastDivide(block, queryBlocksDivisor);
  Value batchIndex = fastDivide(rest, headsDivisor);
  Value fromLast = arith::SubIOp::create(b, loc, block, mul(rest, queryBlocks));
  Value queryBlock = arith::SubIOp::create(b, loc, arith::SubIOp::create(b, loc, queryBlocks, constI32(1)), fromLast);
  return {queryBlock, arith::SubIOp::create(b, loc, rest, mul(batchIndex, heads)), batchIndex};
}

/// The scalar `value` computed again here, from a fresh read of the block index, where it derives from the
/// grid indices by integer arithmetic (else a fresh opaque copy): after the key loops, nothing computed
/// before them needs to stay live through them (see opaqueCopy).
Value KernelEmitter::recompute(Value value, SmallVector<Value> &freshGrid) {
  if (auto found = llvm::find(gridIndices, value); found != gridIndices.end()) {
    if (freshGrid.empty() && geometry.persistent) {
      freshGrid = mapGrid(persistentTile(opaqueCopy(currentTile)));
    } else if (freshGrid.empty()) {
      freshGrid = mapGrid(readSpecialRegister("%ctaid.x"));
    }
    return freshGrid[found - gridIndices.begin()];
  }
  Operation *def = value.getDefiningOp();
  if (def && isa<arith::ConstantOp>(def))
    return scalars[value];
  if (def && isa<arith::AddIOp, arith::SubIOp, arith::MulIOp>(def)) {
    OperationState state(loc, def->getName());
    for (Value operand : def->getOperands())
      state.addOperands(recompute(operand, freshGrid));
    state.addTypes(i32);
    state.addAttributes(def->getAttrs());
    return b.create(state)->getResult(0);
  }
  return opaqueCopy(scalars[value]);
}

LogicalResult KernelEmitter::emitScalar(Operation *op) {
  if (auto divide = dyn_cast<arith::DivUIOp>(op); divide && scalars.count(divide.getLhs()) &&
                                                   scalars.count(divide.getRhs())) {
    // Divisions by the launch's head counts use its fast divisors; heads / kv heads is kvGroup itself (the
    // runtime checks that kv heads divide heads).
    Value lhs = scalars[divide.getLhs()], rhs = scalars[divide.getRhs()];
    Value result;
    if (lhs == heads && rhs == keyValueHeads)
      result = kvGroup;
    else if (rhs == kvGroup)
      result = fastDivide(lhs, groupDivisor);
    else if (rhs == heads)
      result = fastDivide(lhs, headsDivisor);
    if (result) {
      scalars[divide.getResult()] = result;
      return success();
    }
  }
  OperationState state(loc, op->getName());
  for (Value operand : op->getOperands()) {
    auto found = scalars.find(operand);
    if (found == scalars.end())
      return fail(op, "uses a value the GPU lowering has not seen");
    state.addOperands(found->second);
  }
  state.addTypes(i32);
  state.addAttributes(op->getAttrs());
  scalars[op->getResult(0)] = b.create(state)->getResult(0);
  return success();
}

LogicalResult KernelEmitter::emitConstant(arith::ConstantOp op) {
  Attribute value = op.getValue();
  if (auto integer = dyn_cast<IntegerAttr>(value)) {
    scalars[op] = constI32(integer.getInt());
    return success();
  }
  if (auto real = dyn_cast<FloatAttr>(value)) {
    scalars[op] = constF32(float(real.getValueAsDouble())); // only the padding of transfer_read
    return success();
  }
  auto dense = dyn_cast<SplatElementsAttr>(value);
  auto type = dyn_cast<VectorType>(op.getType());
  if (!dense || !type || !type.getElementType().isF32())
    return fail(op, "only splat f32 tiles can be constants");
  Value fill = constF32(dense.getSplatValue<APFloat>().convertToFloat());
  Fragment fragment;
  if (type.getRank() == 1) {
    fragment.kind = Fragment::Kind::Rows;
    fragment.regs.assign(2 * geometry.rowGroups, fill);
  } else {
    fragment.kind = Fragment::Kind::Accumulator;
    fragment.cols = type.getDimSize(1);
    fragment.regs.assign(geometry.rowGroups * (fragment.cols / 8) * 4, fill);
  }
  tiles[op] = fragment;
  return success();
}

SmallVector<Value> KernelEmitter::flatten(ValueRange values) {
  SmallVector<Value> flat;
  for (Value v : values)
    llvm::append_range(flat, tiles.count(v) ? tiles[v].regs : SmallVector<Value>{scalars[v]});
  return flat;
}

LogicalResult KernelEmitter::emitForLoop(scf::ForOp loop) {
  for (Value init : loop.getInitArgs())
    if (!tiles.count(init))
      return fail(loop, "carries a value that is not a tile");
  if (!keyLoops.empty() && loop == keyLoops.front() && failed(startPipeline(loop)))
    return failure();
  // The output tile: the iter_arg that flash.rescale takes and flash.pv's result goes back to.
  int64_t outputIndex = -1;
  for (auto pv : loop.getBody()->getOps<flash::PVOp>()) {
    auto rescale = pv.getAccumulator().getDefiningOp<flash::RescaleOp>();
    auto carried = rescale ? dyn_cast<BlockArgument>(rescale.getAccumulator()) : BlockArgument();
    if (carried && carried.getOwner() == loop.getBody() && carried.getArgNumber() > 0 &&
        loop.getBody()->getTerminator()->getOperand(carried.getArgNumber() - 1) == pv.getResult())
      outputIndex = carried.getArgNumber() - 1;
  }
  if (geometry.mmaRowSum && outputIndex >= 0) { // its zeros get the row sums' column tile (P·V's last)
    Fragment &output = tiles[loop.getInitArgs()[outputIndex]];
    if (output.cols == geometry.headDim) {
      output.regs.append(geometry.rowGroups * (geometry.outputColumns() - geometry.headDim) / 2, constF32(0));
      output.cols = geometry.outputColumns();
    }
  }
  SmallVector<Value> inits = flatten(loop.getInitArgs());
  // The pipelined key loop (pipelinePV) also carries the deferred P·V into the output tile.
  const bool pipelined = pipelinePV && loop == keyLoops.front();
  if (pipelined) {
    if (outputIndex < 0)
      return fail(loop, "must rescale its carried output tile and accumulate P·V into it (wgmma pipelining)");
    // The first iteration's P = 0 product reads a landed tile: the first V, or with a producer warpgroup
    // (whose V copies have their own mbarriers) the first K, waited for before that product is issued.
    inits.append(flattenDeferred(noDeferredPV(bufferOf(pipelineStart, /*value=*/!geometry.producerWarpgroup))));
    if (geometry.pingPong && !geometry.persistent) // (persistent: once before the tile loop)
      letWarpgroupZeroGoFirst();
  }
  Value lower = scalars[loop.getLowerBound()], upper = scalars[loop.getUpperBound()];
  clampToPiece(loop, lower, upper);
  Value step = scalars[loop.getStep()];
  const bool perWarpgroup = skipsKeyBlocksPerWarpgroup(loop);
  Value ownUpper = perWarpgroup ? warpgroupKeyEnd(loop, lower, upper) : upper;
  Value lastStart, peelLast; // peelsShortLastBlock: the last block's start, and whether it runs after the loop
  if (peelsShortLastBlock(loop)) {
    Value span = arith::SubIOp::create(b, loc, upper, add(lower, constI32(1)));
    lastStart = add(lower, mul(arith::DivSIOp::create(b, loc, span, step), step));
    Value any = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, upper, lower);
    Value left = arith::SubIOp::create(b, loc, upper, lastStart);
    Value isShort = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, left, constI32(geometry.shortBlockKeys()));
    peelLast = arith::AndIOp::create(b, loc, any, isShort);
    ownUpper = arith::SelectOp::create(b, loc, peelLast, lastStart, upper);
  }
  const size_t probCount = geometry.rowGroups * (geometry.blockN / 8) * 2;
  const size_t carried = inits.size() - (pipelined ? probCount + 4 : 0);
  // Rebuild each carried tile from the loop's block arguments, in the order they were flattened.
  auto unflatten = [&](ValueRange flat, ValueRange tileValues) {
    size_t next = 0;
    for (auto [original, tileValue] : llvm::zip(loop.getInitArgs(), tileValues)) {
      Fragment fragment = tiles[original];
      for (Value &reg : fragment.regs)
        reg = flat[next++];
      tiles[tileValue] = fragment;
    }
  };
  // One more copy of the loop's body at the insertion point, for the block at `blockStart` (the first block
  // ahead of the loop, the short last block after it), from the carried values `incoming`: what that
  // iteration yields (`incoming` if it failed).
  auto emitBodyCopy = [&](Value blockStart, ArrayRef<Value> incoming, LogicalResult &status) {
    scalars[loop.getInductionVar()] = blockStart;
    unflatten(incoming, loop.getRegionIterArgs());
    if (pipelined)
      deferred = unflattenDeferred(incoming.drop_front(carried), probCount);
    status = emitBlock(*loop.getBody());
    SmallVector<Value> yieldedCopy(incoming);
    if (succeeded(status)) {
      yieldedCopy = flatten(loop.getBody()->getTerminator()->getOperands());
      if (pipelined)
        yieldedCopy.append(flattenDeferred(nextDeferred));
    }
    return yieldedCopy;
  };
  Value loopLower = lower;
  if (pipelined && runsFirstBlockAhead()) { // where the tile has a block before ownUpper
    // The output starts unwritten (zeroed only where the tile has no P·V at all: drainDeferredPV), in
    // both branches, so that no phi joins it with zeros.
    size_t outputStart = 0;
    for (Value init : loop.getInitArgs().take_front(outputIndex))
      outputStart += tiles.count(init) ? tiles[init].regs.size() : 1;
    const size_t outputCount = tiles[loop.getInitArgs()[outputIndex]].regs.size();
    llvm::copy(unwrittenRegisters(outputCount), inits.begin() + outputStart);
    Value any = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, lower, ownUpper);
    Value outerTid = tid, outerShared = sharedBase; // the branch's own copies stay inside it
    LogicalResult status = success();
    auto first = scf::IfOp::create(
        b, loc, any,
        [&](OpBuilder &, Location) {
          outputIterArg = loop.getRegionIterArgs()[outputIndex];
          // Addresses from fresh thread indices: derived from the kernel's own, the block's would be the same
          // in every tile, and LLVM would hoist them (the query's descriptors among them) out of a persistent
          // block's tile loop, live through every tile, and the kernel spills
          // (measured: compiler/Hopper.md, 'Measurements behind the lowering's choices').
          refreshThreadIndices();
          emittingFirstBlock = true;
          SmallVector<Value> yieldedFirst = emitBodyCopy(lower, inits, status);
          emittingFirstBlock = false;
          scf::YieldOp::create(b, loc, yieldedFirst);
        },
        [&](OpBuilder &, Location) { // P = 0 (see noDeferredPV), zeroed on this path only (opaque: LLVM
                                     // would copy constant zeros into the join's registers on every path)
          SmallVector<Value> none = inits;
          std::fill_n(none.begin() + carried, probCount, opaqueCopy(constI32(0)));
          scf::YieldOp::create(b, loc, none);
        });
    if (failed(status))
      return failure();
    inits.assign(first.getResults().begin(), first.getResults().end());
    loopLower = add(lower, step); // past ownUpper where there was no first block: the loop is empty
    tid = outerTid;
    sharedBase = outerShared;
    refreshThreadIndices();
  }
  auto emitted = scf::ForOp::create(b, loc, loopLower, ownUpper, step, inits);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(emitted.getBody());
  scalars[loop.getInductionVar()] = emitted.getInductionVar();
  unflatten(emitted.getRegionIterArgs(), loop.getRegionIterArgs());
  if (pipelined) {
    deferred = unflattenDeferred(emitted.getRegionIterArgs().drop_front(carried), probCount);
    outputIterArg = loop.getRegionIterArgs()[outputIndex];
  }
  if (failed(emitBlock(*loop.getBody())))
    return failure();
  SmallVector<Value> yielded = flatten(loop.getBody()->getTerminator()->getOperands());
  if (pipelined)
    yielded.append(flattenDeferred(nextDeferred));
  scf::YieldOp::create(b, loc, yielded);
  b.setInsertionPointAfter(emitted);
  unflatten(emitted.getResults(), loop.getResults());
  refreshThreadIndices();
  SmallVector<Value> results(emitted.getResults().begin(), emitted.getResults().end());
  if (peelLast) { // the short last block after the loop (see peelsShortLastBlock)
    LogicalResult status = success();
    auto peeled = scf::IfOp::create(
        b, loc, peelLast,
        [&](OpBuilder &, Location) {
          peeledKeys = geometry.shortBlockKeys();
          SmallVector<Value> yieldedPeel = emitBodyCopy(lastStart, results, status);
          peeledKeys = 0;
          scf::YieldOp::create(b, loc, yieldedPeel);
        },
        [&](OpBuilder &, Location) { scf::YieldOp::create(b, loc, results); });
    if (failed(status))
      return failure();
    results.assign(peeled.getResults().begin(), peeled.getResults().end());
    unflatten(results, loop.getResults());
    refreshThreadIndices();
  }
  if (prefetchesQuery && loop == keyLoops.back())
    prefetchNextQuery();
  if (pipelined) {
    deferred = unflattenDeferred(ArrayRef<Value>(results).drop_front(carried), probCount);
    drainDeferredPV(tiles[loop.getResult(outputIndex)], peelLast);
    outputIterArg = {};
  }
  if (perWarpgroup)
    takeIdleTurns(lower, ownUpper, upper);
  return success();
}

/// A branch whose results are tiles (the mask of the diagonal and tail key blocks, from
/// flash-classify-causal-blocks): both regions yield the tiles' registers; the condition is the same in
/// every thread of the block.
LogicalResult KernelEmitter::emitIf(scf::IfOp branch) {
  if (!scalars.count(branch.getCondition()) || branch.getElseRegion().empty())
    return fail(branch, "must have an else region and a condition the GPU lowering has computed");
  SmallVector<Value> results[2];
  auto emitRegion = [&](Block &block, SmallVector<Value> &flat) -> LogicalResult {
    if (failed(emitBlock(block)))
      return failure();
    for (Value yielded : block.getTerminator()->getOperands())
      if (!tiles.count(yielded))
        return fail(branch, "yields a value that is not a tile");
    flat = flatten(block.getTerminator()->getOperands());
    return success();
  };
  LogicalResult status = success();
  // IfOp's builder hands `b` itself to the callbacks, at the start of each region, and infers the result
  // types from the then region's yield.
  auto emitted = scf::IfOp::create(
      b, loc, scalars[branch.getCondition()],
      [&](OpBuilder &, Location) {
        status = emitRegion(*branch.thenBlock(), results[0]);
        scf::YieldOp::create(b, loc, results[0]);
      },
      [&](OpBuilder &, Location) {
        if (succeeded(status))
          status = emitRegion(*branch.elseBlock(), results[1]);
        scf::YieldOp::create(b, loc, results[1]);
      });
  if (failed(status))
    return failure();
  size_t next = 0;
  ValueRange elseYield = branch.elseBlock()->getTerminator()->getOperands();
  for (auto [result, yielded] : llvm::zip(branch.getResults(), elseYield)) {
    Fragment fragment = tiles[yielded]; // the layout of each result
    for (Value &reg : fragment.regs)
      reg = emitted.getResult(next++);
    tiles[result] = fragment;
  }
  if (pendingCopy && !pipelinePV) { // left by the Q·Kᵀ whose scores the branch masks (emitQK)
    issueBlockCopy(pendingCopy);
    pendingCopy = {};
  }
  return success();
}

/// The first element of the [seqlen, head_dim] slice of `memref` at (batch, head).
Value KernelEmitter::sliceBase(const MemRefArg &memref, Value batch, Value head, Type elementType) {
  Value batchOffset = arith::MulIOp::create(b, loc, toI64(batch), memref.strides[0]);
  Value headOffset = arith::MulIOp::create(b, loc, toI64(head), memref.strides[1]);
  return globalElement(memref.pointer, add(batchOffset, headOffset), elementType);
}

/// Copies `rows` rows of head_dim elements, from row `firstRow` of the slice at `base` (row stride
/// `rowStride`), to shared memory with 16-byte cp.async. Rows at or past `limit` are zero-filled (so
/// that P·V never meets garbage): their copies have 0 source bytes, which read nothing, so their
/// addresses need not be valid. `copiers` says which threads copy (by default every computing thread).
void KernelEmitter::copyRowsToShared(Value base, Value rowStride, Value firstRow, Value limit, int64_t rows,
                                     Value sharedTile, bool swizzled, RowCopiers copiers) {
  const int64_t chunksPerRow = geometry.headDim / 8;
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
        copy(sharedAt(sharedTile, add(mul(row, constI32(geometry.sharedRowBytes())), mul(column, constI32(2)))),
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
  const int64_t rowBytes = swizzled ? 128 : geometry.sharedRowBytes();
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
      const MemRefArg &memref = memrefs[source.getArgument(value ? 2 : 1)];
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
  vector::TransferReadOp keyRead;
  for (auto read : firstLoop.getBody()->getOps<vector::TransferReadOp>())
    if (read.getBase() == source.getArgument(1))
      keyRead = read;
  ValueRange indices = keyRead.getIndices();
  if (indices[2] != firstLoop.getInductionVar() || !scalars.count(indices[0]) || !scalars.count(indices[1]))
    return fail(keyRead, "must read the key block of its loop, with batch and head fixed before the loops");
  for (scf::ForOp loop : keyLoops)
    if (!scalars.count(loop.getUpperBound()))
      return fail(loop, "must have its bounds computed before the first key loop");
  // Computed once: the loops after the first then keep two pointers live, not the batch and head offsets.
  keySlice = sliceBase(memrefs[source.getArgument(1)], scalars[indices[0]], scalars[indices[1]], element);
  keyValueBatch = scalars[indices[0]];
  keyValueHead = scalars[indices[1]];
  valueSlice = sliceBase(memrefs[source.getArgument(2)], scalars[indices[0]], scalars[indices[1]], element);
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
  VectorType type = op.getVectorType();
  if (type.getRank() != 2 || type.getDimSize(1) != geometry.headDim)
    return fail(op, "must read a [rows, head_dim] tile");
  Fragment fragment;
  if (!found->second.isKeyValue) {
    if (type.getDimSize(0) != geometry.blockM)
      return fail(op, "must read block_m query rows");
    fragment.kind = Fragment::Kind::AOperand;
    loadQueryOperand(found->second, op.getIndices(), op.getResult(), fragment);
  } else {
    if (type.getDimSize(0) != geometry.blockN)
      return fail(op, "must read block_n key rows");
    if (!pipelineEnd)
      return fail(op, "must be inside a key loop");
    Value blockStart = scalars[op.getIndices()[2]];
    bool isKey = op.getBase() == source.getArgument(1);
    fragment.kind = Fragment::Kind::Shared;
    fragment.shared = bufferOf(blockStart, !isKey);
    if (isKey && geometry.wgmma) {
      // The block's full mbarrier: every thread's copies into the slot have landed (no block barrier,
      // so the warpgroups drift apart and one's softmax overlaps the other's wgmma). wgmma reads
      // through the async proxy: the fence makes the copies visible to it.
      Value parity;
      waitBarrier(slotBarrier(blockStart, /*empty=*/false, parity), parity);
      fenceAsyncProxy();
      pendingCopy = add(blockStart, constI32((geometry.stages - 1) * geometry.blockN));
      currentKeyStart = blockStart;
    } else if (!isKey && geometry.wgmma) {
      Value parity;
      fragment.release = slotBarrier(blockStart, /*empty=*/true, parity, /*value=*/true);
      if (geometry.producerWarpgroup) // V has its own full mbarrier: P·V waits on it (emitPV)
        fragment.ready = slotBarrier(blockStart, /*empty=*/false, fragment.readyParity, /*value=*/true);
    } else if (isKey) {
      // This block's copies are done once at most stages - 2 newer groups are pending; the barrier
      // shows them to every warp and frees the buffer of the previous block for the next copy, which
      // this block's Q·Kᵀ issues after itself (emitQK).
      NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(geometry.stages - 2));
      NVVM::Barrier0Op::create(b, loc);
      pendingCopy = add(blockStart, constI32((geometry.stages - 1) * geometry.blockN));
    }
  }
  tiles[op.getResult()] = fragment;
  return success();
}

/// Whether the scores of `qk` go through the branch of a one-loop key loop (scf.if around flash.mask).
static bool maskBranchFollows(flash::QKOp qk) {
  for (Operation *user : qk.getScores().getUsers())
    if (isa<scf::IfOp>(user->getParentOp()))
      return true;
  return false;
}

LogicalResult KernelEmitter::emitQK(flash::QKOp op) {
  Fragment &query = tiles[op.getQuery()], &key = tiles[op.getKey()];
  if (query.kind != Fragment::Kind::AOperand || key.kind != Fragment::Kind::Shared)
    return fail(op, "needs the query tile in registers and the key tile in shared memory");
  Fragment scores;
  scores.cols = geometry.blockN;
  // The peeled short last block (peelsShortLastBlock): Q·Kᵀ over its first peeledKeys keys (one row group
  // on the wgmma path: [j][4], columns 8j..8j+7), the rest of the scores -inf.
  const int64_t keys = peeledKeys ? peeledKeys : geometry.blockN;
  scores.regs.assign(geometry.rowGroups * (keys / 8) * 4, constF32(0));
  auto hideUnreadKeys = [&] {
    scores.regs.resize(geometry.rowGroups * (geometry.blockN / 8) * 4,
                       constF32(-std::numeric_limits<float>::infinity()));
  };
  if (pipelinePV) {
    // Q·Kᵀ of this block, then the previous block's P·V; the softmax waits for the first only. Ping-pong:
    // the warpgroups take turns to issue them, round robin (warpgroup w waits on barrier 2 + w, then
    // hands over to the next one's).
    Value warpgroup = geometry.pingPong ? warpgroupIndex() : Value();
    if (geometry.pingPong)
      namedBarrier(add(warpgroup, constI32(2)), /*arrive=*/false);
    wgmmaQK(query, key.shared, scores, /*wait=*/false, keys);
    if (!emittingFirstBlock)
      wgmmaPV(deferred.probs, deferred.value, tiles[outputIterArg], /*wait=*/false, 0, deferred.accumulate);
    if (geometry.pingPong)
      passTurn(warpgroup);
    NVVM::WgmmaWaitGroupSyncOp::create(b, loc, emittingFirstBlock ? 0 : 1);
    releaseKeySlot(currentKeyStart);
    pinAfterWait(scores.regs);
    hideUnreadKeys();
    tiles[op.getScores()] = scores;
    return success(); // the next block's copy waits for the slot the P·V reads (retireDeferredPV)
  }
  if (geometry.wgmma) {
    wgmmaQK(query, key.shared, scores, /*wait=*/true, keys);
    hideUnreadKeys();
    releaseKeySlot(currentKeyStart);
  } else {
    // Q in registers (A layout), or when it stays in shared memory this lane's ldmatrix address; K K-major.
    ProductOperand a = query.regs.empty()
                           ? ProductOperand{ProductOperand::Layout::SharedKMajor, {}, query.shared}
                           : ProductOperand{ProductOperand::Layout::ARegisters, query.regs, {}, geometry.headDim / 16};
    mmaSyncProduct(a, {ProductOperand::Layout::SharedKMajor, {}, key.shared}, geometry.blockN, geometry.headDim,
                   scores.regs);
  }
  tiles[op.getScores()] = scores;
  // The next block's K/V copy (emitRead), unless a mask branch follows: then after it (emitIf), so that
  // ptxas can spread the copies over the softmax, which a branch in between would stop
  // (measured: compiler/Hopper.md, 'Measurements behind the lowering's choices').
  if (pendingCopy && !maskBranchFollows(op)) {
    issueBlockCopy(pendingCopy);
    pendingCopy = {};
  }
  return success();
}

/// f32 accumulator tile -> pairs of f16/bf16 packed in i32: [r][j][pair], pair 0 = row g, 1 = row g + 8.
LogicalResult KernelEmitter::emitTruncate(arith::TruncFOp op) {
  if (pipelinePV && outputIterArg) {
    // The probabilities of the key loop. The previous block's P·V retires first: its A registers (the
    // previous probabilities) are read until then, and these would take their place (ptxas serialises the
    // wgmma otherwise, C7513). Its slot then takes the copy of the block stages - 1 ahead; the output is
    // rescaled after (flash.rescale comes later).
    if (!emittingFirstBlock)
      retireDeferredPV();
    if (pendingCopy) {
      issueBlockCopy(pendingCopy);
      pendingCopy = {};
    }
  }
  auto found = tiles.find(op.getIn());
  if (found == tiles.end() || found->second.kind != Fragment::Kind::Accumulator || found->second.packed)
    return fail(op, "can only convert an f32 tile in the accumulator layout");
  Fragment packed = found->second;
  packed.packed = true;
  packed.regs.clear();
  auto pairType = VectorType::get({2}, element);
  auto floatPair = VectorType::get({2}, f32);
  for (size_t e = 0; e < found->second.regs.size(); e += 2) {
    Value pair = LLVM::UndefOp::create(b, loc, floatPair);
    pair = LLVM::InsertElementOp::create(b, loc, pair, found->second.regs[e], constI32(0));
    pair = LLVM::InsertElementOp::create(b, loc, pair, found->second.regs[e + 1], constI32(1));
    Value narrow = LLVM::FPTruncOp::create(b, loc, pairType, pair);
    packed.regs.push_back(LLVM::BitcastOp::create(b, loc, i32, narrow));
  }
  tiles[op.getOut()] = packed;
  return success();
}

LogicalResult KernelEmitter::emitPV(flash::PVOp op) {
  Fragment &probs = tiles[op.getProbs()], &value = tiles[op.getValue()];
  if (!probs.packed || value.kind != Fragment::Kind::Shared)
    return fail(op, "needs 16-bit probabilities in registers and the value tile in shared memory");
  Fragment result = tiles[op.getAccumulator()];
  if (value.ready) { // the V tile's own copy (producer warpgroup); before the P·V, even a deferred one
    waitBarrier(value.ready, value.readyParity);
    fenceAsyncProxy();
  }
  if (pipelinePV) { // issued after the next block's Q·Kᵀ, or after the loop (drainDeferredPV)
    Value yes = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1);
    nextDeferred = {probs.regs, value.shared, value.release, yes,
                    emittingFirstBlock ? arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0) : yes};
    tiles[op.getResult()] = result;
    return success();
  }
  if (geometry.wgmma) {
    wgmmaPV(probs.regs, value.shared, result, /*wait=*/true, peeledKeys);
    // The slot is free once every thread's P·V has retired (wgmmaPV waits for it).
    NVVM::MBarrierArriveOp::create(b, loc, Type(), value.release, Value());
    tiles[op.getResult()] = result;
    return success();
  }
  // P (the scores' accumulator layout, packed) as A; V MN-major (head_dim contiguous).
  ProductOperand p{ProductOperand::Layout::PackedAccumulator, probs.regs, {}, 0, probs.cols / 8};
  mmaSyncProduct(p, {ProductOperand::Layout::SharedMNMajor, {}, value.shared}, geometry.headDim, geometry.blockN,
                 result.regs);
  tiles[op.getResult()] = result;
  return success();
}

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

} // namespace gpu

namespace {

class LowerToGPUPass : public impl::LowerToGPUBase<LowerToGPUPass> {
public:
  void runOnOperation() override {
    SmallVector<func::FuncOp> kernels;
    getOperation().walk([&](func::FuncOp function) {
      if (function->hasAttr(flash::FlashDialect::kConfigAttrName))
        kernels.push_back(function);
    });
    for (func::FuncOp function : kernels) {
      auto config = function->getAttrOfType<flash::KernelConfigAttr>(flash::FlashDialect::kConfigAttrName);
      gpu::KernelEmitter emitter(function, config);
      if (!emitter.emit()) {
        function.emitError() << "cannot lower to the GPU: " << emitter.error;
        return signalPassFailure();
      }
      function.erase();
    }
  }
};

} // namespace
} // namespace flashjit
