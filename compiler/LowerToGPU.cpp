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
// K/V staging is the flash.stream's ring of `stages` buffers across all key loops (consecutive loops walk
// consecutive key blocks): before the first loop, blocks 0 .. stages-2 are copied; at block t's
// flash.stream_get of K the thread waits for block t's copy group, one barrier makes it visible to
// every warp (and frees the buffer read in iteration t-1), and at the loop's flash.stream_prefetch, which
// flash-assign-streams puts after block t's Q·Kᵀ (and its mask branch, if any), the copy of block
// t + stages - 1 is issued into that freed buffer, so copies overlap the softmax and P·V. (Issued before
// Q·Kᵀ, the copies and Q·Kᵀ's ldmatrix bursts queue for the same shared-memory pipe; a branch between
// the copies and the softmax keeps ptxas from spreading them over it; measured: compiler/Hopper.md,
// 'Measurements behind the lowering's choices'.)
//
// Scalars (index values, the softmax scale) map to i32 and f32 values.
#include "compiler/KernelEmitter.h"
#include "compiler/Passes.h"
#include "dialects/AttentionParameters.h"

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

  if (isTileKernel(source))
    return emitTileKernel();
  // The kernel's operands, by what its tile ops do with them.
  if (failed(findOperands()))
    return {};
  const bool hasLse = bool(operands.logsumexp);
  // The schedule, as the scheduled stage says it: how blocks walk the tiles (flash-schedule-tiles) and how
  // K and V reach shared memory (flash-assign-streams).
  auto tileLoops = source.getBody().getOps<flash::TileLoopOp>();
  if (tileLoops.empty()) {
    (void)failMissing("the kernel has no flash.tile_loop; run flash-schedule-tiles first");
    return {};
  }
  flash::TileLoopOp tileLoop = *tileLoops.begin();
  auto streams = tileLoop.getBody().getOps<flash::StreamOp>();
  if (streams.empty()) {
    error = "the kernel has no flash.stream; run flash-assign-streams first";
    return {};
  }
  flash::StreamOp stream = *streams.begin();
  if (stream.getSources().size() != 2 || stream.getSources()[0] != operands.key ||
      stream.getSources()[1] != operands.value) {
    error = "flash.stream: the key loops stream K and V, in that order";
    return {};
  }
  auto queryType = cast<MemRefType>(operands.query.getType());
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
  geometry.stages = stream.getStages();
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

  geometry.tma = stream.getLoad() != flash::StreamLoad::cp_async;
  geometry.producerWarpgroup = stream.getLoad() == flash::StreamLoad::tma_producer;
  if (geometry.tma && !geometry.wgmma) {
    error = "flash.stream load(" + stringifyStreamLoad(stream.getLoad()).str() +
            ") takes sm_90a's wgmma path (block_n a multiple of 64, head_dim 64 or 128)";
    return {};
  }
  // Which warps load and which compute (flash-specialize-warps).
  auto specialized = tileLoop.getBody().getOps<flash::WarpSpecializeOp>();
  if (specialized.empty() == geometry.producerWarpgroup) {
    error = geometry.producerWarpgroup
                ? "flash.stream load(tma_producer) needs the tile loop's producer warpgroup: a "
                  "flash.warp_specialize (run flash-specialize-warps)"
                : "flash.warp_specialize: its producer warpgroup loads the streams, which needs flash.stream "
                  "load(tma_producer)";
    return {};
  }
  if (!specialized.empty()) {
    flash::WarpSpecializeOp roles = *specialized.begin();
    if (roles.getConsumers() * 4 != geometry.warps) {
      error = "flash.warp_specialize: consumers(warpgroups = " + std::to_string(roles.getConsumers()) +
              ") must be the kernel's " + std::to_string(geometry.warps) + " computing warps / 4";
      return {};
    }
    geometry.pingPong = roles.getTurns() == flash::WarpTurns::round_robin;
    if (geometry.pingPong && roles.getConsumers() < 2) {
      error = "flash.warp_specialize: turns(round_robin) needs two or three consumer warpgroups";
      return {};
    }
    geometry.producerRegisters = uint32_t(roles.getProducerRegisters());
    geometry.consumerRegisters = uint32_t(roles.getConsumerRegisters());
  }
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
  const flash::TileSchedule schedule = tileLoop.getSchedule();
  geometry.persistent = schedule != flash::TileSchedule::one_per_block;
  geometry.splitsTail = schedule == flash::TileSchedule::split_tail;
  if (geometry.persistent && !geometry.producerWarpgroup) {
    error = "schedule(" + stringifyTileSchedule(schedule).str() +
            ") needs the producer warpgroup that loads a tile's key blocks ahead: flash.stream load(tma_producer)";
    return {};
  }
  if (geometry.splitsTail && masked) {
    error = "schedule(split_tail) takes kernels without a mask, whose tiles are alike; a masked kernel takes "
            "schedule(persistent)";
    return {};
  }

  // The kernel's parameters, in order: which of the attention kernels' launch values each one is (its
  // name and kind: dialects/AttentionParameters.h; the names are recorded on the kernel in flash.parameters,
  // from which the launcher packs its arguments) and the value it becomes.
  using abi::Parameter;
  struct KernelParameterValue {
    Parameter which;
    Value *value;
  };
  SmallVector<KernelParameterValue> parameters;
  const unsigned tensors = hasLse ? 5 : 4;
  static constexpr Parameter kPointers[] = {Parameter::q, Parameter::k, Parameter::v, Parameter::o, Parameter::lse};
  static constexpr Parameter kFirstStrides[] = {Parameter::q_stride_batch, Parameter::k_stride_batch,
                                                Parameter::v_stride_batch, Parameter::o_stride_batch,
                                                Parameter::lse_stride_batch};
  SmallVector<Value> pointers(tensors);
  SmallVector<SmallVector<Value, 3>> strides(tensors);
  for (unsigned i = 0; i < tensors; ++i)
    parameters.push_back({kPointers[i], &pointers[i]});
  for (unsigned i = 0; i < tensors; ++i) { // (batch, head, row) element strides; the logsumexp's (batch, head)
    strides[i].resize(i == 4 ? 2 : 3);
    for (unsigned s = 0; s < strides[i].size(); ++s)
      parameters.push_back({abi::after(kFirstStrides[i], s), &strides[i][s]});
  }
  for (auto [which, value] : {std::pair{Parameter::seqlen_q, &seqlenQ}, {Parameter::seqlen_k, &seqlenK},
                              {Parameter::group, &kvGroup}, {Parameter::heads, &heads}, {Parameter::batch, &batch}})
    parameters.push_back({which, value});
  for (auto [magic, divisor] : {std::pair{Parameter::query_blocks_magic, &queryBlocksDivisor},
                                {Parameter::heads_magic, &headsDivisor}, {Parameter::group_magic, &groupDivisor}}) {
    parameters.push_back({magic, &divisor->magic});
    parameters.push_back({abi::after(magic, 1), &divisor->shift}); // its _shift follows
  }
  Value scale;
  parameters.push_back({Parameter::scale, &scale});
  if (geometry.persistent) { // the schedule's tail slices and their divisor
    parameters.push_back({Parameter::tail_slices, &tailHeads});
    parameters.push_back({Parameter::tail_slices_magic, &tailDivisor.magic});
    parameters.push_back({Parameter::tail_slices_shift, &tailDivisor.shift});
  }
  if (geometry.splitsTail) { // the split tail's tiles, part slots per tile, counters and parts
    parameters.push_back({Parameter::split_tiles, &tailTiles});
    parameters.push_back({Parameter::split_part_slots, &partSlots});
    parameters.push_back({Parameter::split_counters, &tailCounters});
    parameters.push_back({Parameter::split_parts, &tailParts});
  }
  if (geometry.tma) { // the K and V tensor maps (CUtensorMap, 128 bytes, by value)
    parameters.push_back({Parameter::k_tensor_map, &keyMap});
    parameters.push_back({Parameter::v_tensor_map, &valueMap});
  }
  auto typeOf = [&](abi::ParameterKind kind) -> Type {
    switch (kind) {
    case abi::ParameterKind::pointer:
      return LLVM::LLVMPointerType::get(context, 1);
    case abi::ParameterKind::i64:
      return i64;
    case abi::ParameterKind::i32:
      return i32;
    case abi::ParameterKind::f32:
      return f32;
    case abi::ParameterKind::tensor_map: // generic: by value in the parameter space (see below)
      return LLVM::LLVMPointerType::get(context);
    }
    llvm_unreachable("unknown parameter kind");
  };
  SmallVector<Type> argTypes;
  SmallVector<StringRef> parameterNames;
  for (const KernelParameterValue &parameter : parameters) {
    argTypes.push_back(typeOf(abi::kindOf(parameter.which)));
    parameterNames.push_back(abi::nameOf(parameter.which));
  }
  auto kernel = createKernel(argTypes, parameterNames, geometry.launchThreads());
  kernel->setAttr(flash::FlashDialect::kScheduleAttrName, b.getStringAttr(stringifyTileSchedule(schedule)));
  for (unsigned i = argTypes.size() - (geometry.tma ? 2 : 0); i < argTypes.size(); ++i) {
    // By value in the parameter space, where TMA reads them: grid_constant keeps NVPTX from copying them
    // to local memory (TMA would get that copy's address).
    kernel.setArgAttr(i, LLVM::LLVMDialect::getByValAttrName(),
                      TypeAttr::get(LLVM::LLVMArrayType::get(b.getI8Type(), 128)));
    kernel.setArgAttr(i, LLVM::LLVMDialect::getAlignAttrName(), b.getI64IntegerAttr(64));
    kernel.setArgAttr(i, NVVM::NVVMDialect::getGridConstantAttrName(), UnitAttr::get(context));
  }
  // The dynamic shared memory a launch gives it: `stages` pairs of K and V tiles, and what the path adds.
  kernel->setAttr(flash::FlashDialect::kSharedMemoryAttrName, b.getI64IntegerAttr(geometry.sharedBytes()));

  Block *entry = kernel.addEntryBlock(b);
  b.setInsertionPointToStart(entry);
  for (auto [parameter, argument] : llvm::zip_equal(parameters, entry->getArguments()))
    *parameter.value = argument;
  const Value tensorOperands[] = {operands.query, operands.key, operands.value, operands.output, operands.logsumexp};
  for (unsigned i = 0; i < tensors; ++i)
    memrefs[tensorOperands[i]] =
        MemRefArg{pointers[i], SmallVector<Value>(strides[i].begin(), strides[i].end()), i == 1 || i == 2};
  scalars[operands.scale] = scale;

  tid = NVVM::ThreadIdXOp::create(b, loc, i32);
  sharedBase = LLVM::AddressOfOp::create(b, loc, LLVM::LLVMPointerType::get(context, 3), "flash_shared_memory");
  deriveThreadIndices();
  if (geometry.wgmma)
    initBarriers();
  keyValueHeads = fastDivide(heads, groupDivisor);

  source.walk([&](scf::ForOp loop) {
    for (auto get : loop.getBody()->getOps<flash::StreamGetOp>())
      if (get.getSource() == operands.key) {
        keyLoops.push_back(loop);
        break;
      }
  });
  // How the key loop runs its blocks (flash-schedule-key-loops).
  for (scf::ForOp loop : keyLoops)
    if (auto schedule = loop->getAttrOfType<flash::KeyLoopAttr>(flash::FlashDialect::kKeyLoopAttrName))
      keyLoopSchedule = schedule;
  if (keyLoopSchedule) {
    if (keyLoops.size() != 1)
      error = "flash.key_loop: its schedules take a tile with one key loop; this one has " +
              std::to_string(keyLoops.size());
    else if ((keyLoopSchedule.getPipelined() || keyLoopSchedule.getShortLastBlock()) && !geometry.wgmma)
      error = "flash.key_loop: pipelined and short_last_block take sm_90a's wgmma path";
    else if (keyLoopSchedule.getShortLastBlock() >= geometry.blockN)
      error = "flash.key_loop: short_last_block must be fewer keys than a block's " + std::to_string(geometry.blockN);
    else if (keyLoopSchedule.getWarpgroupEnds() && !geometry.producerWarpgroup)
      error = "flash.key_loop: warpgroup_ends needs the producer warpgroup that keeps loading for the warpgroups "
              "still computing (flash.warp_specialize)";
    if (!error.empty())
      return {};
  }
  pipelinePV = keyLoopSchedule && keyLoopSchedule.getPipelined();
  if (failed(emitBlock(source.getBody().front()))) {
    kernel.erase();
    return {};
  }
  LLVM::ReturnOp::create(b, loc, ValueRange{});
  return kernel;
}

/// The kernel function next to `source`, one thread's program of `threads` threads, with its parameters'
/// types and names and the kernel's configuration, and the dynamic shared memory it addresses
/// (flash_shared_memory, declared once per module); the builder is left at the module's start.
LLVM::LLVMFuncOp KernelEmitter::createKernel(ArrayRef<Type> argTypes, ArrayRef<StringRef> names, int64_t threads) {
  MLIRContext *context = source.getContext();
  auto moduleOp = source->getParentOfType<ModuleOp>();
  b.setInsertionPoint(source);
  auto kernel = LLVM::LLVMFuncOp::create(b, loc, source.getName(),
                                         LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(context), argTypes));
  kernel->setAttr("nvvm.kernel", UnitAttr::get(context));
  kernel->setAttr(flash::FlashDialect::kParametersAttrName, b.getStrArrayAttr(names));
  kernel->setAttr("nvvm.maxntid", b.getDenseI32ArrayAttr({int32_t(threads), 1, 1}));
  // One block per SM is enough: without this ptxas caps registers to fit several blocks and spills.
  kernel->setAttr("nvvm.minctasm", b.getI32IntegerAttr(1));
  kernel->setAttr(flash::FlashDialect::kConfigAttrName, config);
  b.setInsertionPointToStart(moduleOp.getBody());
  if (!moduleOp.lookupSymbol("flash_shared_memory"))
    LLVM::GlobalOp::create(b, loc, LLVM::LLVMArrayType::get(b.getI8Type(), 0), /*isConstant=*/false,
                           LLVM::Linkage::External, "flash_shared_memory", Attribute(),
                           /*alignment=*/geometry.wgmma ? 1024 : 16, // wgmma: swizzle atoms
                           /*addrSpace=*/3);
  return kernel;
}

/// The kernel's operands found by what its tile ops do with them, not by their position: Q and K the memrefs
/// read into flash.qk's operands, V into flash.pv's, O and lse those flash.normalize's results are written to
/// (O through a conversion to 16 bits), the scale flash.normalize's. Every argument must be one of them.
LogicalResult KernelEmitter::findOperands() {
  auto readFrom = [](Value tile) -> Value {
    if (auto get = tile.getDefiningOp<flash::StreamGetOp>())
      return get.getSource();
    auto read = tile.getDefiningOp<vector::TransferReadOp>();
    return read ? read.getBase() : Value();
  };
  source.walk([&](Operation *op) {
    if (auto qk = dyn_cast<flash::QKOp>(op)) {
      operands.query = readFrom(qk.getQuery());
      operands.key = readFrom(qk.getKey());
    } else if (auto pv = dyn_cast<flash::PVOp>(op)) {
      operands.value = readFrom(pv.getValue());
    } else if (auto write = dyn_cast<vector::TransferWriteOp>(op)) {
      Value written = write.getVector();
      if (auto truncate = written.getDefiningOp<arith::TruncFOp>())
        written = truncate.getIn();
      if (auto normalize = written.getDefiningOp<flash::NormalizeOp>()) {
        (written == normalize.getOutput() ? operands.output : operands.logsumexp) = write.getBase();
        operands.scale = normalize.getScale();
      }
    }
  });
  auto missing = [&](const char *what) { return failMissing(std::string("the kernel has no ") + what); };
  if (!operands.query || !operands.key)
    return missing("Q·Kᵀ (flash.qk) of tiles read from its arguments");
  if (!operands.value)
    return missing("P·V (flash.pv) of a value tile read from its arguments");
  if (!operands.output)
    return missing("output written from flash.normalize");
  for (BlockArgument argument : source.getArguments())
    if (!llvm::is_contained(ArrayRef<Value>{operands.query, operands.key, operands.value, operands.output,
                                            operands.logsumexp, operands.scale},
                            argument)) {
      error = "argument " + std::to_string(argument.getArgNumber()) +
              " is none of the kernel's Q, K, V, O, logsumexp and scale";
      return failure();
    }
  if (!isa<BlockArgument>(operands.scale)) {
    error = "the softmax scale must be an argument of the kernel";
    return failure();
  }
  return success();
}

/// What an op of a stage before the GPU lowering's input says the IR still needs ("" for other ops).
std::string KernelEmitter::earlierStageError(Operation *op) {
  if (isa<flash::AttentionOp>(op))
    return "is problem-level IR; run the tiling passes first";
  if (isa<flash::RowMaxOp, flash::ExpScoresOp>(op))
    return "belongs to the two-pass form; run flash-fuse-online-softmax first";
  if (isa<scf::ParallelOp>(op))
    return "is the tiled kernel's loop over tiles; run flash-schedule-tiles first";
  return "";
}

/// Fails naming what the IR lacks: the first op of an earlier stage (which says which passes to run), else
/// `otherwise`.
LogicalResult KernelEmitter::failMissing(const std::string &otherwise) {
  source.walk([&](Operation *op) {
    std::string problem = earlierStageError(op);
    if (problem.empty())
      return WalkResult::advance();
    (void)fail(op, problem);
    return WalkResult::interrupt();
  });
  if (error.empty())
    error = otherwise;
  return failure();
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
      .Case<flash::TileLoopOp>([&](flash::TileLoopOp tileLoop) -> LogicalResult {
        if (tileKernel)
          return emitTileGrid(tileLoop);
        // One thread block per (query block, head, batch): a one-dimensional grid replaces the loop, query
        // blocks fastest so that neighbouring blocks share K and V in L2, and last query block first: under
        // a causal mask the last blocks see the most keys, and starting the longest work first leaves the
        // short blocks for the last wave. (A 1-D grid has room for 2^31 - 1 blocks; y and z would stop
        // at 65535 heads or batches.) The divisions use the launch's fast divisors.
        Block &body = tileLoop.getBody().front();
        gridIndices.assign(body.getArguments().begin(), body.getArguments().end());
        if (geometry.persistent)
          return emitPersistentGrid(body);
        SmallVector<Value> indices = mapGrid(NVVM::BlockIdXOp::create(b, loc, i32));
        for (auto [index, value] : llvm::zip(gridIndices, indices))
          scalars[index] = value;
        return emitBlock(body);
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
      .Case<vector::TransferReadOp>([&](auto read) { return tileKernel ? emitTileRead(read) : emitRead(read); })
      .Case<vector::TransferWriteOp>([&](auto write) { return tileKernel ? emitTileWrite(write) : emitWrite(write); })
      .Case<flash::MmaOp>([&](auto mma) { return emitMma(mma); })
      .Case<flash::AtomicAddOp>([&](flash::AtomicAddOp add) -> LogicalResult {
        return tileKernel ? emitTileAtomicAdd(add) : fail(add, "runs in tile kernels so far");
      })
      .Case<flash::StreamOp>([&](auto stream) { return tileKernel ? emitTileStream(stream) : success(); })
      .Case<flash::WarpSpecializeOp>([&](auto) { return success(); }) // read up front (emit)
      .Case<flash::StreamGetOp>([&](auto get) { return tileKernel ? emitTileStreamGet(get) : emitStreamGet(get); })
      .Case<flash::StreamPrefetchOp>([&](flash::StreamPrefetchOp prefetch) -> LogicalResult {
        if (!tileKernel)
          return emitStreamPrefetch(prefetch);
        if (!tileStream || !tileStream->first || !scalars.count(prefetch.getStart()))
          return fail(prefetch, "must be inside the loop of a tile kernel's stream, its start computed");
        issueTileStreamCopies(scalars[prefetch.getStart()]);
        return success();
      })
      .Case<flash::QKOp>([&](auto qk) { return emitQK(qk); })
      .Case<flash::MaskOp>([&](auto mask) { return emitMask(mask); })
      .Case<flash::OnlineSoftmaxOp>([&](auto softmax) { return emitOnlineSoftmax(softmax); })
      .Case<flash::RescaleOp>([&](auto rescale) { return emitRescale(rescale); })
      .Case<arith::TruncFOp>([&](auto truncate) { return emitTruncate(truncate); })
      .Case<flash::PVOp>([&](auto pv) { return emitPV(pv); })
      .Case<flash::NormalizeOp>([&](auto normalize) { return emitNormalize(normalize); })
      .Case<flash::RowMaxOp, flash::ExpScoresOp, flash::AttentionOp, scf::ParallelOp>(
          [&](Operation *o) { return fail(o, earlierStageError(o)); })
      .Default([&](Operation *o) { return fail(o, "is not supported by the GPU lowering"); });
}

/// (query block, head, batch) of thread block `block` (see the flash.tile_loop case of emitOp), or of a
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
  const int64_t rowGroups = rowGroupsOf(type.getDimSize(0));
  if (type.getRank() == 1) {
    fragment.kind = Fragment::Kind::Rows;
    fragment.regs.assign(2 * rowGroups, fill);
  } else {
    fragment.kind = Fragment::Kind::Accumulator;
    fragment.cols = type.getDimSize(1);
    fragment.regs.assign(rowGroups * (fragment.cols / 8) * 4, fill);
    fragment.splat = fill;
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

/// The output tile of a key loop: the iter_arg that flash.rescale takes and flash.pv's result goes back to
/// (-1: none).
static int64_t carriedOutputIndex(scf::ForOp loop) {
  int64_t outputIndex = -1;
  for (auto pv : loop.getBody()->getOps<flash::PVOp>()) {
    auto rescale = pv.getAccumulator().getDefiningOp<flash::RescaleOp>();
    auto carried = rescale ? dyn_cast<BlockArgument>(rescale.getAccumulator()) : BlockArgument();
    if (carried && carried.getOwner() == loop.getBody() && carried.getArgNumber() > 0 &&
        loop.getBody()->getTerminator()->getOperand(carried.getArgNumber() - 1) == pv.getResult())
      outputIndex = carried.getArgNumber() - 1;
  }
  return outputIndex;
}

/// For an op of the pipelined key loop (pipelinePV): the loop's carried output tile, which the deferred P·V
/// accumulates into; null for any other op.
Value KernelEmitter::pipelinedOutput(Operation *op) {
  if (!pipelinePV || keyLoops.empty() || !keyLoops.front()->isProperAncestor(op))
    return {};
  const int64_t outputIndex = carriedOutputIndex(keyLoops.front());
  return outputIndex < 0 ? Value() : keyLoops.front().getRegionIterArgs()[outputIndex];
}

LogicalResult KernelEmitter::emitForLoop(scf::ForOp loop) {
  for (Value init : loop.getInitArgs())
    if (!tiles.count(init))
      return fail(loop, "carries a value that is not a tile");
    else if (tileKernel && tiles[init].regs.empty())
      return fail(loop, "carries a tile whose rows its warps cannot split (16 rows per warp)");
  if (!keyLoops.empty() && loop == keyLoops.front() && failed(startPipeline(loop)))
    return failure();
  if (tileKernel && !loop.getBody()->getOps<flash::StreamGetOp>().empty() &&
      (!tileStream || failed(startTileStream(loop))))
    return tileStream ? failure() : fail(loop, "reads a stream's blocks, but its tile loop has no flash.stream");
  const int64_t outputIndex = carriedOutputIndex(loop);
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
    Value isShort = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, left, constI32(shortLastKeys()));
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
          peeledKeys = shortLastKeys();
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
  return success();
}

LogicalResult KernelEmitter::emitQK(flash::QKOp op) {
  Fragment &query = tiles[op.getQuery()], &key = tiles[op.getKey()];
  if (query.kind != Fragment::Kind::AOperand || key.kind != Fragment::Kind::Shared)
    return fail(op, "needs the query tile in registers and the key tile in shared memory");
  Fragment scores;
  scores.cols = geometry.blockN;
  // The key block's start (wgmma: its slot is released once Q·Kᵀ has read it).
  auto keyBlock = op.getKey().getDefiningOp<flash::StreamGetOp>();
  Value keyStart = keyBlock ? scalars.lookup(keyBlock.getIndices().back()) : Value();
  if (geometry.wgmma && !keyStart)
    return fail(op, "needs the key block of a stream (flash.stream_get)");
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
      wgmmaPV(deferred.probs, deferred.value, tiles[pipelinedOutput(op)], /*wait=*/false, 0, deferred.accumulate);
    if (geometry.pingPong)
      passTurn(warpgroup);
    NVVM::WgmmaWaitGroupSyncOp::create(b, loc, emittingFirstBlock ? 0 : 1);
    releaseKeySlot(keyStart);
    pinAfterWait(scores.regs);
    hideUnreadKeys();
    tiles[op.getScores()] = scores;
    return success(); // the next block's copy waits for the slot the P·V reads (retireDeferredPV)
  }
  if (geometry.wgmma) {
    wgmmaQK(query, key.shared, scores, /*wait=*/true, keys);
    hideUnreadKeys();
    releaseKeySlot(keyStart);
  } else {
    // Q in registers (A layout), or when it stays in shared memory this lane's ldmatrix address; K K-major.
    ProductOperand a = query.regs.empty()
                           ? ProductOperand{ProductOperand::Layout::SharedKMajor, {}, query.shared}
                           : ProductOperand{ProductOperand::Layout::ARegisters, query.regs, {}, geometry.headDim / 16};
    mmaSyncProduct(a, {ProductOperand::Layout::SharedKMajor, {}, key.shared}, geometry.blockN, geometry.headDim,
                   scores.regs);
  }
  tiles[op.getScores()] = scores;
  return success();
}

/// f32 accumulator tile -> pairs of f16/bf16 packed in i32: [r][j][pair], pair 0 = row g, 1 = row g + 8.
LogicalResult KernelEmitter::emitTruncate(arith::TruncFOp op) {
  if (pipelinedOutput(op)) {
    // The probabilities of the key loop. The previous block's P·V retires first (unless a stream's
    // prefetch into its slot, earlier in the block, retired it: emitStreamPrefetch): its A registers (the
    // previous probabilities) are read until then, and these would take their place (ptxas serialises the
    // wgmma otherwise, C7513). The output is rescaled after (flash.rescale comes later).
    bool prefetchedBefore = false;
    for (Operation *before = op->getPrevNode(); before && !prefetchedBefore; before = before->getPrevNode())
      prefetchedBefore = isa<flash::StreamPrefetchOp>(before);
    if (!emittingFirstBlock && !prefetchedBefore)
      retireDeferredPV(op);
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
