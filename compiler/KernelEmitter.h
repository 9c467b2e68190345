// The GPU lowering's kernel emitter (flash-lower-to-gpu): the distributed forms of tiles and the
// emitter's state, shared by its files by concern: LowerToGPU.cpp (the pass, the walk, the grid),
// LowerToGPULoads.cpp (the K/V pipeline, the query, tile kernels' streams), LowerToGPUProducts.cpp
// (products by layout: mma.sync and wgmma, flash.mma), LowerToGPURows.cpp (mask, online softmax, rescale,
// normalize), LowerToGPUEpilogue.cpp (the output and logsumexp writes, tile kernels' writes and atomic
// adds), LowerToGPUHopper.cpp (the sm_90a path's rings, producer warpgroup, ping-pong and persistent
// tiles), LowerToGPUSplitTail.cpp and LowerToGPUTileKernel.cpp (tile kernels' entry and shared tiles).
// Internal: MLIR headers, included by those files only.
#pragma once

#include "dialects/FlashDialect.h"
#include "compiler/MaskArithmetic.h"
#include "dialects/KernelConfigRules.h"
#include "dialects/PersistentTiles.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"

#include <optional>
#include <string>

namespace flashjit::gpu {

using namespace mlir;

constexpr float kLog2E = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
/// Conditional rescaling (FlashAttention-3): a warp moves its rows' running maxima only when some row's
/// block maximum passes its running maximum by more than this many powers of two (see emitOnlineSoftmax).
constexpr float kRescaleThreshold = 8.0f;

/// A tile distributed over the threads of the block (see the file comment).
struct Fragment {
  enum class Kind { Accumulator, Rows, AOperand, Shared } kind = Kind::Accumulator;
  SmallVector<Value> regs; ///< Accumulator: [r][j][4] f32, or [r][j][2] i32 when packed; Rows: [r][2]
  int64_t cols = 0;        ///< Accumulator: columns of the tile
  bool packed = false;     ///< Accumulator holding 16-bit pairs
  Value release;           ///< Shared, wgmma path: the empty mbarrier to arrive on once the tile is read
  Value ready, readyParity; ///< Shared, V with a producer warpgroup: the full mbarrier to wait on first
  Value shared;            ///< Shared: the tile's first byte in shared memory; AOperand: this lane's
                           ///< first ldmatrix address when the query stays in shared memory (no regs),
                           ///< or on the wgmma path the swizzled tile's first byte
  /// Accumulator, tile kernels on wgmma: where the warpgroups split the tile's columns rather than its rows
  /// (a product of 64 rows over several warpgroups), each warpgroup's columns: it holds every row of
  /// columns [warpgroup x splitColumns, + splitColumns). 0: the warps split the rows.
  int64_t splitColumns = 0;
  Value splat; ///< Accumulator from a splat constant: its value (a product that splits columns lays it out)
};

/// The kernel's fixed shape, from its configuration and its head dimension.
struct Geometry {
  int64_t blockM, blockN, headDim, warps, stages, rowGroups; // rowGroups: 16-row groups per warp
  // Hopper (sm_90a): Q·Kᵀ and P·V by wgmma, one warpgroup (4 warps, 64 rows) per 64 query rows, Q, K and V
  // in shared memory in the 128-byte swizzled layout, read through matrix descriptors.
  bool wgmma = false;
  bool tma = false; // wgmma path with `tma`: thread 0 loads K/V tiles with TMA, the full mbarriers count 1
  // tma with a producer warpgroup (warp specialisation): one more warpgroup, after the consumers, whose
  // first lane issues every K/V load; the consumers (threads()) never wait for a slot to be free. Registers
  // are allocated per warpgroup: the producer gives its own back (setmaxnreg), the consumers take them.
  bool producerWarpgroup = false;
  // producerWarpgroup with turns(round_robin): ping-pong (each warpgroup issues its wgmmas between a
  // named-barrier wait and an arrive on the next one's barrier, round robin).
  bool pingPong = false;
  // producerWarpgroup, persistent: a grid of at most one block per multiprocessor, each looping over
  // (query block, head, batch) tiles; the producer loads the next tile's first K/V blocks while the
  // consumers finish the current one, and the K/V rings' phases run on from tile to tile.
  bool persistent = false;
  // persistent without a causal mask: the tiles go round robin, and the last partial wave's tiles (the
  // runtime's tail, 0 for none) are split along their keys over every block (LowerToGPUSplitTail.cpp).
  // Under one, pairs of query blocks and a tail of slices dealt tile by tile (persistentTile).
  bool splitsTail = false;
  // Conditional rescaling (emitOnlineSoftmax, emitRescale): the configuration's conditional_rescale, and
  // always where the mma.sync path keeps the query tile in shared memory (there it pays; on other mma.sync
  // kernels its branch costs more than it saves; measured: compiler/Hopper.md, 'Measurements behind the
  // lowering's choices').
  bool conditionalRescale = false;
  // wgmma path, the configuration's mma_row_sum: P·V runs head_dim + 8 columns wide, the last 8 read from a
  // tile of ones, so that the output accumulator's last column tile holds each row's running sum (complete:
  // every thread of a quad holds it), rescaled with the output; the softmax adds up no probabilities.
  bool mmaRowSum = false;
  std::string chip;
  int64_t threads() const { return 32 * warps; } // the consumers: every thread that computes
  int64_t launchThreads() const { return threads() + (producerWarpgroup ? 128 : 0); }
  // With a producer warpgroup: the registers per thread it keeps and each computing thread gets
  // (setmaxnreg), as its flash.warp_specialize says.
  uint32_t producerRegisters = 0, consumerRegisters = 0;
  int64_t sharedRowBytes() const { return (headDim + 8) * 2; } // 16 bytes of padding: no bank conflicts
  // One K or V buffer: padded rows (mma.sync), or 128-byte swizzled rows without padding (wgmma).
  int64_t sharedTileBytes() const { return blockN * (wgmma ? headDim * 2 : sharedRowBytes()); }
  int64_t sharedBytes() const { return sharedMemoryBytes(chip, blockM, blockN, warps, stages, headDim, mmaRowSum); }
  // mma.sync: the query stays in shared memory (padded rows) and is read by ldmatrix at every Q·Kᵀ. The
  // wgmma path always keeps it there (swizzled), where Q·Kᵀ reads it through a matrix descriptor.
  bool queryInShared() const { return wgmma || queryStaysInShared(blockM, warps, headDim); }
  int64_t queryOffset() const { return stages * 2 * sharedTileBytes(); } // after the K/V buffers
  int64_t warpgroups() const { return warps / 4; } // wgmma path: the computing warpgroups, 64 rows each
  // wgmma path: the mbarriers after the query tile: full[stages], empty[stages], then one per warpgroup for
  // its query rows; with a producer warpgroup these are the K slots' and the V slots' follow: full[stages],
  // empty[stages].
  int64_t onesOffset() const { return queryOffset() + blockM * headDim * 2; } // mmaRowSum: 1024-byte aligned
  int64_t barrierOffset() const { return onesOffset() + (mmaRowSum ? kOnesTileBytes : 0); }
  int64_t outputColumns() const { return headDim + (mmaRowSum ? 8 : 0); } // the P·V accumulator's
  int64_t barrierCount() const { return (producerWarpgroup ? 4 : 2) * stages + warpgroups(); }
  // Where the V ring's mbarriers start (with a producer warpgroup), and whether mbarrier `i` is a full one
  // or a warpgroup's query barrier.
  int64_t valueBarrierOffset() const { return 2 * stages + warpgroups(); }
  bool isFullBarrier(int64_t i) const {
    return (producerWarpgroup && i >= valueBarrierOffset() ? i - valueBarrierOffset() : i) < stages;
  }
  bool isQueryBarrier(int64_t i) const { return i >= 2 * stages && i < valueBarrierOffset(); }
};

/// An operand of a product as it lies, from which the product's lowering picks its instructions (not from
/// the operand's role: Q, K, P, V alike).
struct ProductOperand {
  enum class Layout {
    ARegisters,        ///< registers in mma.sync's A layout: [row group][k / 16][4] i32
    PackedAccumulator, ///< an accumulator-layout tile packed to 16-bit pairs: [row group][k / 8][2] i32
    SharedKMajor,      ///< shared memory, k contiguous (A: [M][K]; B: [N][K])
    SharedMNMajor,     ///< shared memory, M or N contiguous (B: [K][N], read transposed)
  } layout;
  ArrayRef<Value> regs;
  Value shared;       ///< the tile's first byte (an mma.sync A operand: this lane's ldmatrix address)
  int64_t slices = 0; ///< ARegisters: 16-column k-slices per row group
  int64_t tiles = 0;  ///< PackedAccumulator: 8-column tiles per row group
  /// Swizzled shared memory (wgmma): the tile's rows, 128 bytes each, between its 64-column chunks.
  int64_t rows = 0;
  /// SharedMNMajor (wgmma): where the second 64-column chunk lies when not `rows` x 128 bytes on.
  Value secondChunk;
  /// Padded shared memory (mma.sync): bytes per row; 0 for a K/V tile's (head_dim + 8 halves).
  int64_t rowBytes = 0;

  bool inShared() const { return layout == Layout::SharedKMajor || layout == Layout::SharedMNMajor; }
};

/// Where a memref argument of the tile-level function went in the kernel's arguments.
struct MemRefArg {
  Value pointer;
  SmallVector<Value> strides; // element strides of the outer dimensions (batch, head[, row])
  bool isKeyValue = false;
};

/// Who copies rows (KernelEmitter::copyRowsToShared): `thread` of `count` threads, into a swizzled tile of
/// `layoutRows` rows (0: the rows copied). Default: every computing thread (tid of threads()).
struct RowCopiers {
  Value thread;
  int64_t count = 0, layoutRows = 0;
  int64_t columns = 0; ///< the rows' elements (0: head_dim)
};

class KernelEmitter {
public:
  KernelEmitter(func::FuncOp source, flash::KernelConfigAttr config) : source(source), config(config) {}

  std::string error;

  /// Builds the kernel next to `source`; returns null (and sets `error`) on failure.
  LLVM::LLVMFuncOp emit();

private:
  func::FuncOp source;
  flash::KernelConfigAttr config;
  Geometry geometry{};
  OpBuilder b{source.getContext()};
  Location loc = source.getLoc();
  Type i32, i64, f32, element;
  NVVM::MMATypes mmaType = NVVM::MMATypes::bf16;

  DenseMap<Value, Value> scalars;
  DenseMap<Value, Fragment> tiles;
  DenseMap<Value, Value> halfPairs; // f16: each i32 register's one bitcast to vector<2xf16>
  DenseMap<Value, Value> rescaleNeeded; // correction tile -> warp-uniform i1: some correction is not 1
  DenseMap<Value, MemRefArg> memrefs;
  // The kernel function's operands by role (findOperands): memrefs Q, K, V, O, lse (null if not written), the
  // f32 softmax scale.
  struct {
    Value query, key, value, output, logsumexp, scale;
  } operands;
  Value tid, lane, warp, group, quadLane, seqlenQ, seqlenK, kvGroup, sharedBase;
  Value heads, batch; // of the query: kernel arguments
  struct Divisor {
    Value magic, shift; // runtime/FastDivisor.h: n / d = mulhi(2n, magic) >> shift for n < 2^31
  } queryBlocksDivisor, headsDivisor, groupDivisor;
  // persistent: how many (head, batch) slices the schedule's tail deals tile by tile, and its divisor
  // (see persistentTile).
  Value tailHeads;
  Divisor tailDivisor;
  // splitsTail: the launch's tail tiles, the part slots per tail tile, the counters (one per tail tile
  // and warpgroup) and the parts' slots; this block's whole tiles (its tail pieces follow), the current
  // tile's key range, and after flash.normalize whether this warpgroup writes the tile.
  Value tailTiles, partSlots, tailCounters, tailParts;
  Value fullTilesOfBlock, pieceStart, pieceEnd, writesTile;
  Value keyValueHeads; // heads / kvGroup, the K and V tensors' head count
  SmallVector<Value> gridIndices; // the flash.tile_loop's (query block, head, batch) indices
  // The tile's indices computed afresh for its writes (emitWrite), shared by the writes emitted into the
  // same block (the output and the logsumexp): in a persistent block each copy costs the tile's divisions.
  SmallVector<Value> writeGrid;
  Block *writeGridBlock = nullptr;

  // The K/V pipeline (see the file comment).
  SmallVector<scf::ForOp> keyLoops; // loops that read K, in program order
  Value pipelineEnd;                // keys past this are never read
  Value keySlice, valueSlice;       // the [seqlen_k, head_dim] slices of K and V this block reads
  Value keyValueBatch, keyValueHead; // their batch and K/V head (TMA coordinates)
  Value keyMap, valueMap;           // tma: the kernel's CUtensorMap parameters
  struct {
    Value tile, address;            // a query tile whose registers startPipeline loads (loadQueryOperand)
  } pendingQuery;
  Value pipelineStart;              // the first key block's start (wgmma path: slots and phases count from it)
  // persistent: the tile the loop is at (k, counted from 0 in this block: see persistentTile), the key
  // blocks this block's earlier tiles went through (where the K/V slots and phases go on from), the query
  // mbarrier's parity for this tile, and how many of this block's items are pairs of query blocks.
  Value currentTile, blocksBefore, queryParity, pairsOfBlock;
  // persistent: this block's tile count, and whether each warpgroup copies its next tile's query under the
  // current tile's last block (prefetchNextQuery), from the query read's indices recomputed for that tile.
  Value tileCount;
  vector::TransferReadOp queryRead;
  bool prefetchesQuery = false;
  // wgmma path, FlashAttention-3's intra-warpgroup pipelining (pipelinePV): a key block's P·V is issued in
  // the next iteration, right after that block's Q·Kᵀ, and runs while the warpgroup does the softmax.
  struct DeferredPV {
    SmallVector<Value> probs; // the block's packed probabilities
    Value value, release;     // its V tile, and the slot's empty mbarrier
    Value pending;            // i1: a block waits for its P·V (false before the first block)
    Value accumulate;         // i1: the P·V adds to the output (false: the first, which overwrites it)
  } deferred, nextDeferred;
  bool pipelinePV = false;
  // How the key loop runs its blocks (its #flash.key_loop; null: a plain loop): pipelinePV, the first block
  // ahead, the peeled short last block, per-warpgroup ends.
  flash::KeyLoopAttr keyLoopSchedule;
  // The keys a peeled short last block's products cover (peelsShortLastBlock).
  int64_t shortLastKeys() const { return keyLoopSchedule ? keyLoopSchedule.getShortLastBlock() : 0; }
  // Emitting the pipelined loop's first key block ahead of the loop (emitForLoop): no P·V before
  // it to issue or retire, and the output, not yet written, is not rescaled.
  bool emittingFirstBlock = false;
  int64_t peeledKeys = 0; // emitting the peeled short last key block: its products' keys (else 0)
  Value pipelinedOutput(Operation *op);

  LogicalResult fail(Operation *op, const Twine &message) {
    error = (op->getName().getStringRef() + ": " + message).str();
    return failure();
  }

  // --- small builders -------------------------------------------------------------------------
  Value constI32(int64_t v) { return arith::ConstantIntOp::create(b, loc, i32, v); }
  Value constI64(int64_t v) { return arith::ConstantIntOp::create(b, loc, i64, v); }
  Value constF32(float v) { return arith::ConstantFloatOp::create(b, loc, cast<FloatType>(f32), APFloat(v)); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value toI64(Value x) { return arith::ExtSIOp::create(b, loc, i64, x); }
  Value lessThan(Value x, Value y) { return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x, y); }
  /// Whether the output and logsumexp of query row `row` are stored: below seqlen_q, and where a split
  /// tail's part leaves the tile to another warpgroup (writesTile false), not at all.
  Value rowWritten(Value row) {
    Value below = lessThan(row, seqlenQ);
    return writesTile ? Value(arith::AndIOp::create(b, loc, below, writesTile)) : below;
  }
  Value maxF(Value x, Value y) { return arith::MaxNumFOp::create(b, loc, x, y); }
  /// Makes this thread's view of shared memory (copies it waited for) visible to its async-proxy reads
  /// (wgmma).
  void fenceAsyncProxy() {
    NVVM::FenceProxyOp::create(b, loc, NVVM::ProxyKind::async_shared,
                               NVVM::SharedSpaceAttr::get(b.getContext(), NVVM::SharedSpace::shared_cta));
  }
  /// n / d for n < 2^31 by the launch's (magic, shift) for d: no divide instruction (a 32-bit unsigned
  /// division is ~20 dependent instructions, and the grid mapping's three chained ones delayed the first
  /// copy of every thread block).
  Value fastDivide(Value n, const Divisor &d) {
    Value twice = arith::ShLIOp::create(b, loc, n, constI32(1));
    Value high = arith::MulUIExtendedOp::create(b, loc, twice, d.magic).getHigh();
    return arith::ShRUIOp::create(b, loc, high, d.shift);
  }
  Value intrinsic(StringRef name, Type result, ValueRange args) {
    return LLVM::CallIntrinsicOp::create(b, loc, result, b.getStringAttr(name), args).getResult(0);
  }
  Value exp2(Value x) { return intrinsic("llvm.nvvm.ex2.approx.ftz.f", f32, x); }
  Value quadShuffleXor(Value x, int64_t offset) {
    return NVVM::ShflOp::create(b, loc, f32, constI32(-1), x, constI32(offset), constI32(0x1f),
                                NVVM::ShflKind::bfly, UnitAttr());
  }
  Value sharedAt(Value base, Value byteOffset) {
    return LLVM::GEPOp::create(b, loc, base.getType(), b.getI8Type(), base, ValueRange{byteOffset});
  }
  /// `value` (an i32, an i64 or a pointer) through an opaque copy that LLVM cannot see through, so that what is
  /// computed from it stays where it is emitted. Without it LLVM's LICM hoists each `base + constant`
  /// address out of the key loop into a 64-bit register of its own (16 query-fragment addresses at
  /// head_dim 128), and GVN reuses the prologue's row and address arithmetic in the epilogue, keeping
  /// it live across the key loops: registers the accumulators need.
  Value opaqueCopy(Value value) {
    bool pointer = isa<LLVM::LLVMPointerType>(value.getType());
    // Shared-memory addresses fit 32 bits (and are 32-bit pointers: see emitPTX); global ones and i64
    // values (strides) need 64: a 32-bit register would truncate them.
    bool wide = pointer ? cast<LLVM::LLVMPointerType>(value.getType()).getAddressSpace() != 3
                        : value.getType() == i64;
    Value bits = pointer ? Value(LLVM::PtrToIntOp::create(b, loc, wide ? i64 : i32, value)) : value;
    Value copy = LLVM::InlineAsmOp::create(b, loc, bits.getType(), ValueRange{bits},
                                           wide ? "mov.b64 $0, $1;" : "mov.b32 $0, $1;",
                                           wide ? "=l,l" : "=r,r", /*has_side_effects=*/true,
                                           /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
                                           LLVM::AsmDialectAttr(), ArrayAttr())
                     .getResult(0);
    return pointer ? Value(LLVM::IntToPtrOp::create(b, loc, value.getType(), copy)) : copy;
  }
  /// A fresh read of a special register (`%ctaid.x`, `%nctaid.x`): LLVM cannot reuse an earlier read
  /// (an NVVM intrinsic it would), so that what derives from it is computed where it is used, not held
  /// through the key loops.
  Value readSpecialRegister(StringRef name) {
    return LLVM::InlineAsmOp::create(b, loc, i32, ValueRange{}, ("mov.u32 $0, " + name + ";").str(), "=r",
                                     /*has_side_effects=*/true, /*is_align_stack=*/false,
                                     LLVM::tailcallkind::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr())
        .getResult(0);
  }
  Value globalElement(Value base, Value elementOffset, Type elementType) {
    return LLVM::GEPOp::create(b, loc, base.getType(), elementType, base, ValueRange{elementOffset});
  }

  /// lane, warp, group and quadLane from tid.
  void deriveThreadIndices() {
    lane = arith::RemUIOp::create(b, loc, tid, constI32(32));
    warp = arith::DivUIOp::create(b, loc, tid, constI32(32));
    group = arith::DivUIOp::create(b, loc, lane, constI32(4));
    quadLane = arith::RemUIOp::create(b, loc, lane, constI32(4));
  }

  /// After a loop: what follows derives its thread indices and shared addresses from fresh opaque copies,
  /// so that no index or address computed before the loop stays live through it (see opaqueCopy). (Doing
  /// the same at the top of each key block costs time: compiler/Hopper.md, 'Measurements behind the
  /// lowering's choices'.)
  void refreshThreadIndices() {
    tid = opaqueCopy(tid);
    sharedBase = opaqueCopy(sharedBase);
    deriveThreadIndices();
  }

  /// This thread's warpgroup (4 warps, 64 query rows on the wgmma path).
  Value warpgroupIndex() { return arith::DivUIOp::create(b, loc, warp, constI32(4)); }

  /// Row of the tile (0..block_m) held by this thread's half `half` of row group `r`, of `rowGroups` per warp
  /// (0: the kernel's).
  Value tileRow(int64_t r, int64_t half, int64_t rowGroups = 0) {
    return add(mul(warp, constI32(16 * (rowGroups ? rowGroups : geometry.rowGroups))),
               add(group, constI32(r * 16 + half * 8)));
  }
  /// The 16-row groups of each warp in a tile of `rows` rows (the warps split the rows).
  int64_t rowGroupsOf(int64_t rows) const { return rows / (16 * geometry.warps); }

  // --- the walk -------------------------------------------------------------------------------
  static std::string earlierStageError(Operation *op);
  LogicalResult findOperands();
  LLVM::LLVMFuncOp createKernel(ArrayRef<Type> argTypes, ArrayRef<StringRef> names, int64_t threads);
  LogicalResult failMissing(const std::string &otherwise);
  LogicalResult emitBlock(Block &block);
  LogicalResult emitOp(Operation *op);
  LogicalResult emitScalar(Operation *op);
  SmallVector<Value> mapGrid(Value block);
  Value recompute(Value value, SmallVector<Value> &freshGrid);
  LogicalResult emitConstant(arith::ConstantOp op);
  LogicalResult emitForLoop(scf::ForOp loop);
  LogicalResult emitIf(scf::IfOp branch);
  LogicalResult emitRead(vector::TransferReadOp op);
  LogicalResult emitStreamGet(flash::StreamGetOp op);
  LogicalResult emitStreamPrefetch(flash::StreamPrefetchOp op);
  LogicalResult emitWrite(vector::TransferWriteOp op);
  Value stagedOutput(Value row, Value column);
  LogicalResult emitQK(flash::QKOp op);
  LogicalResult emitMask(flash::MaskOp op);
  LogicalResult emitOnlineSoftmax(flash::OnlineSoftmaxOp op);
  LogicalResult emitRescale(flash::RescaleOp op);
  LogicalResult emitTruncate(arith::TruncFOp op);
  LogicalResult emitPV(flash::PVOp op);
  LogicalResult emitNormalize(flash::NormalizeOp op);

  Value sliceBase(const MemRefArg &memref, Value batch, Value head, Type elementType);
  void copyRowsToShared(Value base, Value rowStride, Value firstRow, Value limit, int64_t rows, Value sharedTile,
                        bool swizzled = false, RowCopiers copiers = {});
  LogicalResult writeOutputByWarpgroup(const MemRefArg &memref, const Fragment &fragment, Value base, Value q0);
  void writeOutputFromRegisters(const MemRefArg &memref, const Fragment &fragment, Value base, Value q0);
  void copyQueryRows(const MemRefArg &memref, Value batch, Value head, Value q0);
  void prefetchNextQuery();
  bool derivesFromGrid(Value value) const;
  SmallVector<Value> aFragment(const ProductOperand &a, Value aBase, int64_t r, int64_t slice);
  Value transposedALaneOffset(Value firstRow, int64_t rowBytes);
  void mmaSyncProduct(const ProductOperand &a, const ProductOperand &bOperand, int64_t n, int64_t k,
                      SmallVector<Value> &c, int64_t rowGroups = 0);
  int64_t rowBytesOf(const ProductOperand &operand) const {
    return operand.rowBytes ? operand.rowBytes : geometry.sharedRowBytes();
  }
  // The Hopper path (LowerToGPUHopper.cpp).
  Value swizzledAddress(Value tile, int64_t rows, Value row, Value column);
  Value matrixDescriptor(Value address, int64_t leadingBytes);
  Value descriptorPlus(Value descriptor, int64_t bytes);
  void initBarriers();
  Value barrierAt(int64_t index);
  Value slotBarrier(Value blockStart, bool empty, Value &parity, bool value = false);
  void waitBarrier(Value barrier, Value parity);
  void loadBlockByTma(Value blockStart);
  void issueTmaLoad(Value blockStart);
  void loadTilesByTma(Value blockStart, bool value, Value full, int64_t bytes);
  void releaseKeySlot(Value blockStart);
  void runProducerWarpgroup();
  void loadPipelineBlocks();
  void letWarpgroupZeroGoFirst();
  void passTurn(Value warpgroup);
  bool skipsKeyBlocksPerWarpgroup(scf::ForOp loop) const;
  Value warpgroupKeyEnd(scf::ForOp loop, Value lower, Value upper);
  void takeIdleTurns(Value lower, Value from, Value upper);
  Value queryBarrier();
  void warpgroupBarrier();
  void namedBarrier(Value id, bool arrive, int64_t threads = 256);
  void wgmma(int64_t n, ValueRange a, Value descriptor, SmallVector<Value> &accumulators, bool overwrite,
             bool transposeB, Value accumulate = {}, bool transposeA = false);
  void wgmmaProduct(const ProductOperand &a, const ProductOperand &bOperand, int64_t n, int64_t k,
                    SmallVector<Value> &c, bool overwrite, Value accumulate = {});
  void wgmmaQK(Fragment &query, Value keyTile, Fragment &scores, bool wait, int64_t keys = 0);
  void wgmmaPV(ArrayRef<Value> probs, Value valueTile, Fragment &output, bool wait, int64_t keys = 0,
               Value accumulate = {});
  bool peelsShortLastBlock(scf::ForOp loop) const;
  bool runsFirstBlockAhead() const;
  void pinAfterWait(SmallVector<Value> &regs);
  SmallVector<Value> flattenDeferred(const DeferredPV &state);
  DeferredPV unflattenDeferred(ValueRange flat, size_t probCount);
  DeferredPV noDeferredPV(Value firstValueTile);
  SmallVector<Value> unwrittenRegisters(size_t count);
  void retireDeferredPV(Operation *at);
  void drainDeferredPV(Fragment &output, Value shortLast);
  void issueBlockCopy(Value blockStart);
  Value blockIndex(Value blockStart);
  Value bufferOf(Value blockStart, bool value);
  LogicalResult startPipeline(scf::ForOp firstLoop);
  LogicalResult setPipelineBounds(scf::ForOp firstLoop);
  Value pipelineBlocks();
  LogicalResult emitPersistentGrid(Block &body);
  struct TileArithmetic; // dialects/PersistentTiles.h's and SplitTailTiles.h's formulas as IR (below)
  Value persistentTile(Value k);
  // The split tail (LowerToGPUSplitTail.cpp).
  struct SplitTailSizes {
    Value block, blocks, keyBlocks, tailKeyBlocks, first, end, fullTiles;
  };
  SplitTailSizes splitTailSizes();
  Value splitTileCount();
  Value isTailPiece(Value k);
  Value tailTileOf(const SplitTailSizes &s, Value k);
  Value splitTile(Value k);
  void setPieceKeys(Value k);
  void clampToPiece(scf::ForOp loop, Value &lower, Value &upper);
  Value combineTailParts(Fragment &output, Fragment &rowMax, Fragment &rowSum, Value scale);
  SmallVector<Value> exchangeTailParts(ArrayRef<Value> own, Value tailTile, Value part, Value parts, Value scale);
  SmallVector<Value> mergePart(ArrayRef<Value> own, Value slot, Value scale);
  Value tailSlot(Value tailTile, Value part);
  SmallVector<Value> mapPersistentTile(Value tile);
  void loadQueryOperand(const MemRefArg &memref, ValueRange indices, Value result, Fragment &fragment);
  SmallVector<Value> loadQueryRegisters(Value address);
  void mma(ValueRange a, ValueRange bRegs, SmallVector<Value> &c, int64_t offset);
  SmallVector<Value> loadMatrices(Value address, int count, NVVM::MMALayout layout);
  SmallVector<Value> flatten(ValueRange values);

  // Tile kernels (LowerToGPUTileKernel.cpp): tiles and products alone, lowered from the ops themselves.
  struct SharedTile {
    Value start;                    ///< the tile's first byte
    int64_t rows = 0, columns = 0;  ///< stored [rows][columns], rows contiguous
  };
  bool tileKernel = false;
  DenseMap<Value, SharedTile> sharedTiles; // tiles that lie in shared memory
  int64_t sharedEnd = 0;                   // bytes of shared memory allocated so far
  bool sharedWritesPending = false;        // copies or stores into shared memory no product has waited for
  static bool isTileKernel(func::FuncOp function);
  LLVM::LLVMFuncOp emitTileKernel();
  LogicalResult emitTileRead(vector::TransferReadOp op);
  LogicalResult emitTileWrite(vector::TransferWriteOp op);
  LogicalResult emitTileAtomicAdd(flash::AtomicAddOp op);
  LogicalResult accumulatorDestination(Operation *op, Value vector, Value memref, ValueRange indices,
                                       const Fragment *&tile, MemRefArg *&destination, Value &row0, Value &column0);
  void forEachAccumulatorPair(const Fragment &tile, int64_t rows,
                              llvm::function_ref<void(Value, Value, Value, Value)> pair);
  LogicalResult emitMma(flash::MmaOp op);
  FailureOr<ProductOperand> productOperand(flash::MmaOp op, Value tile, bool isA, int64_t splitColumns = 0);
  int64_t columnSplitOf(flash::MmaOp op) const;
  SharedTile allocateSharedTile(int64_t rows, int64_t columns);
  void placeInShared(Value value, const SharedTile &stored);
  int64_t sharedTileBytes(int64_t rows, int64_t columns) const {
    return rows * (geometry.wgmma ? columns * 2 : paddedRowBytes(columns));
  }
  int64_t sharedAlignment() const { return geometry.wgmma ? 1024 : 128; } // wgmma: swizzle atoms
  // A tile kernel's stream (flash.stream): a ring of `stages` slots after the tiles before it, each slot a
  // block of every source, in the sources' order; cp.async copies, a group per block, issued stages - 1
  // blocks ahead of the loop's reads.
  struct TileStream {
    struct Source {
      Value memref;
      int64_t rows = 0, columns = 0, offset = 0; // its block's shape, and where it lies in a slot
    };
    SmallVector<Source> sources;
    int64_t stages = 0, start = 0, slotBytes = 0;
    Value first, step, end; // the streaming loop's first row, its step, its end (no copies at or past it)
  };
  std::optional<TileStream> tileStream;
  LogicalResult emitTileGrid(flash::TileLoopOp tiles);
  LogicalResult emitTileStream(flash::StreamOp op);
  LogicalResult startTileStream(scf::ForOp loop);
  LogicalResult emitTileStreamGet(flash::StreamGetOp op);
  void issueTileStreamCopies(Value blockStart);
  Value tileStreamSlot(Value blockStart, const TileStream::Source &source);
  int64_t paddedRowBytes(int64_t columns) const { return (columns + 8) * 2; }
  void stageAccumulator(Value tile, const Fragment &fragment, int64_t rows);
  void awaitSharedWrites();
};

/// The persistent tiles' and the split tail's formulas (dialects/PersistentTiles.h, SplitTailTiles.h) emitted
/// as i32 arith ops, in the order the formulas evaluate; their divisions by the launch's divisors are the
/// kernel's fast divisions.
struct KernelEmitter::TileArithmetic {
  using Value = mlir::Value;
  KernelEmitter &e;
  Value constant(int64_t c) { return e.constI32(c); }
  Value add(Value x, Value y) { return e.add(x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(e.b, e.loc, x, y); }
  Value mul(Value x, Value y) { return e.mul(x, y); }
  Value divU(Value x, Value y) { return arith::DivUIOp::create(e.b, e.loc, x, y); }
  Value ceilDivU(Value x, Value y) { return arith::CeilDivUIOp::create(e.b, e.loc, x, y); }
  Value shrU(Value x, Value y) { return arith::ShRUIOp::create(e.b, e.loc, x, y); }
  Value andOf(Value x, Value y) { return arith::AndIOp::create(e.b, e.loc, x, y); }
  Value ult(Value x, Value y) { return arith::CmpIOp::create(e.b, e.loc, arith::CmpIPredicate::ult, x, y); }
  Value ugt(Value x, Value y) { return arith::CmpIOp::create(e.b, e.loc, arith::CmpIPredicate::ugt, x, y); }
  Value uge(Value x, Value y) { return arith::CmpIOp::create(e.b, e.loc, arith::CmpIPredicate::uge, x, y); }
  Value ne(Value x, Value y) { return arith::CmpIOp::create(e.b, e.loc, arith::CmpIPredicate::ne, x, y); }
  Value select(Value c, Value x, Value y) { return arith::SelectOp::create(e.b, e.loc, c, x, y); }
  Value zext(Value x) { return arith::ExtUIOp::create(e.b, e.loc, e.i32, x); }
  Value minU(Value x, Value y) { return arith::MinUIOp::create(e.b, e.loc, x, y); }
  Value maxU(Value x, Value y) { return arith::MaxUIOp::create(e.b, e.loc, x, y); }
  Value divide(Value x, Value, tiles::Divisor divisor) {
    return e.fastDivide(x, divisor == tiles::Divisor::queryBlockPairs ? e.queryBlocksDivisor : e.tailDivisor);
  }
};

} // namespace flashjit::gpu
