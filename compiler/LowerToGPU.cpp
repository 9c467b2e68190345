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
#include "compiler/ChainedReduce.h"
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

/// ldmatrix of `count` 8x8 16-bit matrices from shared memory (col layout: transposed); one i32 each.
SmallVector<Value> KernelEmitter::loadMatrices(Value address, int count, NVVM::MMALayout layout) {
  auto type = LLVM::LLVMStructType::getLiteral(b.getContext(), SmallVector<Type>(count, i32));
  Value matrices = NVVM::LdMatrixOp::create(b, loc, type, address, count, layout,
                                            NVVM::LdStMatrixShapeAttr::get(b.getContext(), 8, 8),
                                            NVVM::LdStMatrixEltType::B16);
  SmallVector<Value> regs;
  for (int e = 0; e < count; ++e)
    regs.push_back(LLVM::ExtractValueOp::create(b, loc, matrices, e));
  return regs;
}

void KernelEmitter::mma(ValueRange a, ValueRange bRegs, SmallVector<Value> &c, int64_t offset) {
  auto resultType = LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  SmallVector<Value> accumulators(c.begin() + offset, c.begin() + offset + 4);
  std::optional<std::array<NVVM::MMATypes, 2>> types = std::array<NVVM::MMATypes, 2>{mmaType, mmaType};
  std::optional<std::array<NVVM::MMALayout, 2>> layouts =
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row, NVVM::MMALayout::col};
  // f16 operands are vector<2xf16>; bf16 operands are i32. A register feeds several MMAs: it is bitcast
  // once, right after its definition (which dominates every use), rather than once per MMA.
  auto operand = [&](Value reg) -> Value {
    if (mmaType == NVVM::MMATypes::bf16)
      return reg;
    auto [found, inserted] = halfPairs.try_emplace(reg, Value());
    if (inserted) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointAfterValue(reg);
      found->second = LLVM::BitcastOp::create(b, loc, VectorType::get({2}, b.getF16Type()), reg);
    }
    return found->second;
  };
  SmallVector<Value> aOperands = llvm::map_to_vector(a, operand);
  SmallVector<Value> bOperands = llvm::map_to_vector(bRegs, operand);
  auto result = NVVM::MmaOp::create(b, loc, resultType, aOperands, bOperands, accumulators, {16, 8, 16},
                                    std::nullopt, std::nullopt, types, layouts);
  for (int64_t e = 0; e < 4; ++e)
    c[offset + e] = LLVM::ExtractValueOp::create(b, loc, result, e);
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

/// The 4 A-operand registers of row group `r` and 16-column k-slice `slice` (mma.sync's A layout), taken
/// from where `a` lies; from shared memory by one ldmatrix.x4 at `aBase` (this lane's address).
SmallVector<Value> KernelEmitter::aFragment(const ProductOperand &a, Value aBase, int64_t r, int64_t slice) {
  switch (a.layout) {
  case ProductOperand::Layout::ARegisters:
    return SmallVector<Value>(a.regs.slice((r * a.slices + slice) * 4, 4));
  case ProductOperand::Layout::PackedAccumulator: {
    // The accumulator layout, packed to 16-bit pairs, is the A layout: no shuffle needed.
    auto p = [&](int64_t tile, int64_t pair) { return a.regs[(r * a.tiles + tile) * 2 + pair]; };
    return {p(2 * slice, 0), p(2 * slice, 1), p(2 * slice + 1, 0), p(2 * slice + 1, 1)};
  }
  case ProductOperand::Layout::SharedKMajor:
    return loadMatrices(sharedAt(aBase, constI32(r * 16 * geometry.sharedRowBytes() + slice * 32)), 4,
                        NVVM::MMALayout::row);
  case ProductOperand::Layout::SharedMNMajor:
    break;
  }
  llvm_unreachable("an mma.sync A operand is read from registers or K-major shared memory");
}

/// C[M, N] += A[M, K]·B[K, N] on mma.sync.m16n8k16 for this warp's row groups, `c` in the accumulator layout
/// ([row group][N / 8][4]). The instructions follow from how the operands lie, not from what they hold:
/// A from registers (A layout or a packed accumulator) or from shared memory (ldmatrix); B from the padded
/// shared tile, K-major ([N][K]: ldmatrix, each .x4 the B operands of two k-slices of one 8-column tile,
/// so k-slices run outside and the A fragments of a step are gathered first) or MN-major ([K][N]:
/// ldmatrix.trans, each .x4 two 8-column tiles of one k-slice, so column tiles run outside). Two row groups
/// per warp already reuse each B operand twice and have no registers to spare: they load one k-slice or
/// column tile at a time (.x2, lanes 0-15).
void KernelEmitter::mmaSyncProduct(const ProductOperand &a, const ProductOperand &bOperand, int64_t n, int64_t k,
                                   SmallVector<Value> &c) {
  const int64_t slices = k / 16, columnTiles = n / 8, rowBytes = geometry.sharedRowBytes();
  const int64_t step = geometry.wideLoads() ? 2 : 1;
  if (bOperand.layout == ProductOperand::Layout::SharedKMajor) {
    // ldmatrix.x4 address of this lane: rows j·8 + lane % 8, columns kk·16 + 8·(lane / 8).
    Value matrixRow = arith::RemUIOp::create(b, loc, lane, constI32(8));
    Value matrixColumn = arith::DivUIOp::create(b, loc, lane, constI32(8));
    Value laneOffset = add(mul(matrixRow, constI32(rowBytes)), mul(matrixColumn, constI32(16)));
    Value aBase = a.layout == ProductOperand::Layout::SharedKMajor ? opaqueCopy(a.shared) : Value();
    for (int64_t kk = 0; kk < slices; kk += step) {
      const int64_t count = std::min<int64_t>(step, slices - kk); // slices read by this step
      SmallVector<Value> aRegs; // [slice][row group][4]
      for (int64_t s = 0; s < count; ++s)
        for (int64_t r = 0; r < geometry.rowGroups; ++r) {
          SmallVector<Value> quad = aFragment(a, aBase, r, kk + s);
          aRegs.append(quad.begin(), quad.end());
        }
      for (int64_t j = 0; j < columnTiles; ++j) {
        Value address = sharedAt(bOperand.shared, add(laneOffset, constI32(j * 8 * rowBytes + kk * 32)));
        SmallVector<Value> bRegs = loadMatrices(address, 2 * count, NVVM::MMALayout::row);
        for (int64_t s = 0; s < count; ++s)
          for (int64_t r = 0; r < geometry.rowGroups; ++r)
            mma(ValueRange(ArrayRef<Value>(aRegs).slice((s * geometry.rowGroups + r) * 4, 4)),
                ValueRange(ArrayRef<Value>(bRegs).slice(s * 2, 2)), c, (r * columnTiles + j) * 4);
      }
    }
    return;
  }
  assert(bOperand.layout == ProductOperand::Layout::SharedMNMajor && "an mma.sync B operand is in shared memory");
  assert(a.layout != ProductOperand::Layout::SharedKMajor && "A from shared memory takes a K-major B");
  // ldmatrix.x4.trans address of this lane: k row kk·16 + lane % 16, columns jd·8 + 8·(lane / 16).
  Value laneOffset = add(mul(arith::RemUIOp::create(b, loc, lane, constI32(16)), constI32(rowBytes)),
                         mul(arith::DivUIOp::create(b, loc, lane, constI32(16)), constI32(16)));
  for (int64_t jd = 0; jd < columnTiles; jd += step) {
    const int64_t count = std::min<int64_t>(step, columnTiles - jd); // column tiles read by this step
    for (int64_t kk = 0; kk < slices; ++kk) {
      Value address = sharedAt(bOperand.shared, add(laneOffset, constI32(kk * 16 * rowBytes + jd * 16)));
      SmallVector<Value> bRegs = loadMatrices(address, 2 * count, NVVM::MMALayout::col);
      for (int64_t t = 0; t < count; ++t)
        for (int64_t r = 0; r < geometry.rowGroups; ++r)
          mma(aFragment(a, Value(), r, kk), ValueRange(ArrayRef<Value>(bRegs).slice(t * 2, 2)), c,
              (r * columnTiles + jd + t) * 4);
    }
  }
}

LogicalResult KernelEmitter::emitMask(flash::MaskOp op) {
  Fragment masked = tiles[op.getScores()];
  // The query offset again from the block index: the key loop then does not keep it in a register.
  SmallVector<Value> freshGrid;
  Value q0 = recompute(op.getQueryOffset(), freshGrid), k0 = scalars[op.getKeyOffset()];
  Value rowsQ = scalars[op.getSeqlenQ()], rowsK = scalars[op.getSeqlenK()];
  const mask::Mask hiding = op.getMaskAttr() ? op.getMaskAttr().getMask() : mask::Mask::none();
  MaskArithmetic arithmetic{b, loc, i32};
  MaskFormulaIR formula(hiding, arithmetic);
  // Persistent on three computing warpgroups (160 registers each): seqlen_k − seqlen_q from an opaque
  // copy. Hoisted out of the key loop it stayed live through the tile loop, and they spilled.
  // Top-left with a producer warpgroup (each key tested against the row's last key): the diagonal 0 through
  // an opaque copy. As a constant, LLVM folded it into loop-invariant values hoisted out of the key loop,
  // and the kernels spilled (both measured: compiler/Hopper.md, 'Measurements behind the lowering's choices').
  const bool recomputeDiagonal = geometry.persistent && geometry.warps == 12;
  Value diagonal;
  if (hiding.hidesKeys() && hiding.alignment == mask::Alignment::top_left && geometry.producerWarpgroup)
    diagonal = opaqueCopy(constI32(0));
  else if (hiding.hidesKeys())
    diagonal = formula.diagonal(rowsQ, recomputeDiagonal ? opaqueCopy(rowsK) : rowsK);
  Value minusInf = constF32(-std::numeric_limits<float>::infinity());
  const int64_t columnTiles = masked.cols / 8;
  // Key k0 + 2·quadLane + c of this thread's column c is hidden from a row when it is at or past the row's
  // end: seqlen_k, or under a causal mask the row + d + 1 if less. Without a producer warpgroup: one
  // compare of the constant c against (end − k0 − 2·quadLane) per score, and a select (half the
  // instructions of the key and its two tests per score). With one, ptxas schedules that form worse (the
  // softmax running under the other warpgroups' wgmmas anyway): the key and its two tests there
  // (measured: compiler/Hopper.md, 'Measurements behind the lowering's choices').
  Value firstKey = geometry.producerWarpgroup ? Value() : add(k0, mul(quadLane, constI32(2)));
  for (int64_t r = 0; r < geometry.rowGroups; ++r)
    for (int64_t half = 0; half < 2; ++half) {
      // keys j <= lastVisible are visible
      Value lastVisible = hiding.hidesKeys() ? formula.lastVisibleKey(add(q0, tileRow(r, half)), diagonal) : Value();
      Value visibleColumns;
      if (firstKey) {
        Value end = rowsK;
        if (lastVisible)
          end = arith::MinSIOp::create(b, loc, end, add(lastVisible, constI32(1)));
        visibleColumns = arith::SubIOp::create(b, loc, end, firstKey);
      }
      for (int64_t j = 0; j < columnTiles; ++j)
        for (int64_t odd = 0; odd < 2; ++odd) {
          Value column = constI32(j * 8 + odd), hidden;
          if (visibleColumns) {
            hidden = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, visibleColumns, column);
          } else {
            Value key = add(k0, add(mul(quadLane, constI32(2)), column));
            hidden = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, key, rowsK);
            if (lastVisible)
              hidden = arith::OrIOp::create(
                  b, loc, hidden, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, key, lastVisible));
          }
          Value &reg = masked.regs[(r * columnTiles + j) * 4 + half * 2 + odd];
          reg = arith::SelectOp::create(b, loc, hidden, minusInf, reg);
        }
    }
  tiles[op.getMasked()] = masked;
  return success();
}

/// The online softmax of one key block: each row's block maximum m_b (over the row's scores and its
/// running maximum m) is found with two quad shuffles, and every row moves to m_b. With conditional
/// rescaling (Geometry::conditionalRescale), a row moves only if m_b·c − m·c > kRescaleThreshold
/// (c = scale·log2 e); otherwise it keeps m, so that its correction is exp2(0) = 1, and flash.rescale
/// skips the accumulator unless some row of the warp moved (a warp-uniform branch on a vote). Each row
/// decides from its own maximum (the same in the four threads of its quad), so its exponentials do not
/// wait for the vote. A kept maximum leaves s·c − m·c <= kRescaleThreshold, so p <= 2^8 = 256: safe in
/// f32 and in the 16-bit P. Exact either way: the output and the running sum share the maximum they use.
LogicalResult KernelEmitter::emitOnlineSoftmax(flash::OnlineSoftmaxOp op) {
  Fragment scores = tiles[op.getScores()], runningMax = tiles[op.getRunningMax()];
  Fragment runningSum = tiles[op.getRunningSum()];
  Value c = arith::MulFOp::create(b, loc, scalars[op.getScale()], constF32(kLog2E));
  Value minusInf = constF32(-std::numeric_limits<float>::infinity());
  const int64_t columnTiles = scores.cols / 8;
  Fragment probs = scores, newMax = runningMax, newSum = runningSum, correction = runningMax;
  auto score = [&](int64_t r, int64_t half, int64_t j, int64_t odd) {
    return (r * columnTiles + j) * 4 + half * 2 + odd;
  };
  // Block maxima; with conditional rescaling, whether each row moves (its maximum grew past the threshold:
  // -inf - -inf is NaN, false) and whether any row of this thread does.
  SmallVector<Value> blockMax(2 * geometry.rowGroups), moves(2 * geometry.rowGroups);
  Value anyMoves;
  for (int64_t r = 0; r < geometry.rowGroups; ++r)
    for (int64_t half = 0; half < 2; ++half) {
      // In four chains, not one: every exponential waits for this maximum (the SASS of d64 128x128 had 32
      // dependent FMNMX before the first MUFU.EX2, one issued per ALU latency). The sum below stays one
      // chain: it is needed only by the next block, and runs at the pace of the exponentials anyway.
      std::vector<Value> row = {runningMax.regs[r * 2 + half]};
      for (int64_t j = 0; j < columnTiles; ++j)
        for (int64_t odd = 0; odd < 2; ++odd)
          row.push_back(scores.regs[score(r, half, j, odd)]);
      Value rowMax = reduceInChains(row, 4, [&](Value x, Value y) { return maxF(x, y); });
      rowMax = maxF(rowMax, quadShuffleXor(rowMax, 1));
      rowMax = maxF(rowMax, quadShuffleXor(rowMax, 2));
      blockMax[r * 2 + half] = rowMax;
      if (!geometry.conditionalRescale)
        continue;
      Value growth = arith::SubFOp::create(b, loc, arith::MulFOp::create(b, loc, rowMax, c),
                                           arith::MulFOp::create(b, loc, runningMax.regs[r * 2 + half], c));
      moves[r * 2 + half] =
          arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, growth, constF32(kRescaleThreshold));
      anyMoves = anyMoves ? Value(arith::OrIOp::create(b, loc, anyMoves, moves[r * 2 + half])) : moves[r * 2 + half];
    }
  Value update = geometry.conditionalRescale
                     ? Value(NVVM::VoteSyncOp::create(b, loc, b.getI1Type(), constI32(-1), anyMoves,
                                                      NVVM::VoteSyncKindAttr::get(b.getContext(), NVVM::VoteSyncKind::any)))
                     : Value(arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1)); // always: folds away
  rescaleNeeded[op.getCorrection()] = update;
  for (int64_t r = 0; r < geometry.rowGroups; ++r) {
    for (int64_t half = 0; half < 2; ++half) {
      Value oldMax = runningMax.regs[r * 2 + half];
      Value rowMax = geometry.conditionalRescale
                         ? Value(arith::SelectOp::create(b, loc, moves[r * 2 + half], blockMax[r * 2 + half], oldMax))
                         : blockMax[r * 2 + half];
      // m̂ = 0 while the row has seen no key, so that exp2(-inf - m̂) = 0 instead of NaN.
      Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, rowMax, minusInf);
      Value shift = arith::SelectOp::create(b, loc, empty, constF32(0), arith::MulFOp::create(b, loc, rowMax, c));
      Value alpha = exp2(arith::SubFOp::create(b, loc, arith::MulFOp::create(b, loc, oldMax, c), shift));
      Value sum = geometry.mmaRowSum ? Value() : arith::MulFOp::create(b, loc, runningSum.regs[r * 2 + half], alpha);
      Value negShift = arith::NegFOp::create(b, loc, shift);
      for (int64_t j = 0; j < columnTiles; ++j)
        for (int64_t odd = 0; odd < 2; ++odd) {
          // exp2(s·c − m̂·c): one FMA and one MUFU.EX2 per score.
          Value p = exp2(LLVM::FMAOp::create(b, loc, scores.regs[score(r, half, j, odd)], c, negShift));
          probs.regs[score(r, half, j, odd)] = p;
          if (!geometry.mmaRowSum) // (there P·V sums them)
            sum = arith::AddFOp::create(b, loc, sum, p);
        }
      newMax.regs[r * 2 + half] = rowMax;
      newSum.regs[r * 2 + half] = geometry.mmaRowSum ? runningSum.regs[r * 2 + half] // unused
                                                     : sum; // partial: this thread's columns only
      correction.regs[r * 2 + half] = alpha;
    }
  }
  if (pipelinePV) { // computed while the previous block's P·V runs, not sunk past its wait (pinAfterWait)
    SmallVector<Value> all(probs.regs);
    for (Fragment *rows : {&newMax, &newSum, &correction})
      all.append(rows->regs);
    pinAfterWait(all);
    size_t next = 0;
    for (Fragment *fragment : {&probs, &newMax, &newSum, &correction})
      for (Value &reg : fragment->regs)
        reg = all[next++];
  }
  tiles[op.getProbs()] = probs;
  tiles[op.getNewMax()] = newMax;
  tiles[op.getNewSum()] = newSum;
  tiles[op.getCorrection()] = correction;
  return success();
}

/// accumulator · correction, row by row; skipped (a warp-uniform branch) where the softmax kept every
/// row's maximum, so that every correction is 1.
LogicalResult KernelEmitter::emitRescale(flash::RescaleOp op) {
  Fragment rescaled = tiles[op.getAccumulator()];
  Fragment &alpha = tiles[op.getCorrection()];
  if (emittingFirstBlock && op.getAccumulator() == outputIterArg) { // not written yet (emitForLoop)
    tiles[op.getRescaled()] = rescaled;
    return success();
  }
  auto needed = rescaleNeeded.find(op.getCorrection());
  if (needed == rescaleNeeded.end())
    return fail(op, "must rescale by the correction of a flash.online_softmax");
  const int64_t columnTiles = rescaled.cols / 8;
  auto branch = scf::IfOp::create(b, loc, TypeRange(ValueRange(rescaled.regs)), needed->second, /*withElse=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&branch.getElseRegion().front());
  scf::YieldOp::create(b, loc, rescaled.regs);
  b.setInsertionPointToStart(&branch.getThenRegion().front());
  for (int64_t r = 0; r < geometry.rowGroups; ++r)
    for (int64_t j = 0; j < columnTiles; ++j)
      for (int64_t e = 0; e < 4; ++e) {
        Value &reg = rescaled.regs[(r * columnTiles + j) * 4 + e];
        reg = arith::MulFOp::create(b, loc, reg, alpha.regs[r * 2 + e / 2]);
      }
  scf::YieldOp::create(b, loc, rescaled.regs);
  llvm::copy(branch.getResults(), rescaled.regs.begin());
  tiles[op.getRescaled()] = rescaled;
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

LogicalResult KernelEmitter::emitNormalize(flash::NormalizeOp op) {
  Fragment output = tiles[op.getAccumulator()];
  Fragment rowMax = tiles[op.getRowMax()], rowSum = tiles[op.getRowSum()];
  Fragment lse = rowMax;
  Value scale = scalars[op.getScale()];
  if (geometry.mmaRowSum) { // the sums are the accumulator's last column tile, whole in every thread
    const int64_t sumTile = geometry.headDim / 8;
    if (geometry.rowGroups != 1 || output.cols != geometry.outputColumns())
      return fail(op, "must normalise the P·V accumulator that carries the row sums (mma_row_sum)");
    for (int64_t half = 0; half < 2; ++half)
      rowSum.regs[half] = output.regs[sumTile * 4 + half * 2];
    output.regs.resize(sumTile * 4);
    output.cols = geometry.headDim;
  }
  if (geometry.splitsTail) {
    // A piece of a split tile: the warpgroup that ends the tile's last part combines the parts, and
    // only it stores the tile (emitWrite). The others normalise too, for nothing: with the normalisation
    // and the writes under a branch, the kernel spilled
    // (measured: compiler/Hopper.md, 'Measurements behind the lowering's choices').
    writesTile = combineTailParts(output, rowMax, rowSum, scale);
    lse = rowMax;
  }
  Value zero = constF32(0), minusInf = constF32(-std::numeric_limits<float>::infinity());
  const int64_t columnTiles = output.cols / 8;
  for (int64_t r = 0; r < geometry.rowGroups; ++r)
    for (int64_t half = 0; half < 2; ++half) {
      // The running sums are per thread (but for mmaRowSum's): add up the quad's four.
      Value sum = rowSum.regs[r * 2 + half];
      if (!geometry.mmaRowSum) {
        sum = arith::AddFOp::create(b, loc, sum, quadShuffleXor(sum, 1));
        sum = arith::AddFOp::create(b, loc, sum, quadShuffleXor(sum, 2));
      }
      Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, sum, zero);
      // 1/l on the MUFU (within 1 ulp; l >= 1 unless the row saw no key): the exact division's Newton step
      // and slow-path branch are ~10 instructions a row for no difference in a 16-bit output.
      Value inverse =
          arith::SelectOp::create(b, loc, empty, zero, intrinsic("llvm.nvvm.rcp.approx.ftz.f", f32, sum));
      for (int64_t j = 0; j < columnTiles; ++j)
        for (int64_t odd = 0; odd < 2; ++odd) {
          Value &reg = output.regs[(r * columnTiles + j) * 4 + half * 2 + odd];
          reg = arith::MulFOp::create(b, loc, reg, inverse);
        }
      // lse = m·scale + ln(l), with ln(l) = log2(l)·ln 2 on the MUFU.
      Value log2Sum = intrinsic("llvm.nvvm.lg2.approx.ftz.f", f32, sum);
      Value value = LLVM::FMAOp::create(b, loc, rowMax.regs[r * 2 + half], scale,
                                        arith::MulFOp::create(b, loc, log2Sum, constF32(kLn2)));
      lse.regs[r * 2 + half] = arith::SelectOp::create(b, loc, empty, minusInf, value);
    }
  tiles[op.getOutput()] = output;
  tiles[op.getLogsumexp()] = lse;
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
