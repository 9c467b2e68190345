// flash-lower-to-gpu, products by layout: C (+)= A·B on mma.sync.m16n8k16 and on wgmma.mma_async m64nNk16,
// the instructions picked from how the operands lie (ProductOperand: registers in the A layout, a packed
// accumulator, shared memory K-major or MN-major in the padded or the 128-byte swizzled layout), whatever
// the operands hold; Q·Kᵀ and P·V (emitQK, emitPV, wgmmaQK, wgmmaPV) are named forms of them. flash.mma in
// tile kernels (emitMma) finds its operands' layouts in #flash.layouts, stages an accumulator that a product
// reads transposed, and on wgmma splits a 64-row product's columns over the warpgroups.
#include "compiler/KernelEmitter.h"

namespace flashjit::gpu {

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
    return loadMatrices(sharedAt(aBase, constI32(r * 16 * rowBytesOf(a) + slice * 32)), 4, NVVM::MMALayout::row);
  case ProductOperand::Layout::SharedMNMajor:
    // [K][M] in shared memory: ldmatrix.trans of the four 8x8 matrices (k 0-7 | 8-15) x (m 0-7 | 8-15),
    // from this lane's address (see transposedALaneOffset), gives them in the A layout.
    return loadMatrices(sharedAt(aBase, constI32(slice * 16 * rowBytesOf(a) + r * 32)), 4, NVVM::MMALayout::col);
  }
  llvm_unreachable("unknown A operand layout");
}

/// The byte offset of this lane's ldmatrix row address in an A operand held [K][M] (M contiguous) for
/// ldmatrix.x4.trans: k = lane % 8 + 8·(lane / 16), m = `firstRow` + 8·((lane / 8) % 2), so that lanes
/// 0-7, 8-15, 16-23 and 24-31 address the matrices of A's registers a0..a3.
Value KernelEmitter::transposedALaneOffset(Value firstRow, int64_t rowBytes) {
  Value k = add(arith::RemUIOp::create(b, loc, lane, constI32(8)),
                mul(arith::DivUIOp::create(b, loc, lane, constI32(16)), constI32(8)));
  Value m = add(firstRow, mul(arith::RemUIOp::create(b, loc, arith::DivUIOp::create(b, loc, lane, constI32(8)),
                                                     constI32(2)),
                              constI32(8)));
  return add(mul(k, constI32(rowBytes)), mul(m, constI32(2)));
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
                                   SmallVector<Value> &c, int64_t rowGroups) {
  const int64_t slices = k / 16, columnTiles = n / 8, rowBytes = rowBytesOf(bOperand);
  const int64_t groups = rowGroups ? rowGroups : geometry.rowGroups;
  const int64_t step = groups == 1 ? 2 : 1; // B by ldmatrix.x4 where one row group leaves the registers
  if (bOperand.layout == ProductOperand::Layout::SharedKMajor) {
    // ldmatrix.x4 address of this lane: rows j·8 + lane % 8, columns kk·16 + 8·(lane / 8).
    Value matrixRow = arith::RemUIOp::create(b, loc, lane, constI32(8));
    Value matrixColumn = arith::DivUIOp::create(b, loc, lane, constI32(8));
    Value laneOffset = add(mul(matrixRow, constI32(rowBytes)), mul(matrixColumn, constI32(16)));
    Value aBase = a.inShared() ? opaqueCopy(a.shared) : Value();
    for (int64_t kk = 0; kk < slices; kk += step) {
      const int64_t count = std::min<int64_t>(step, slices - kk); // slices read by this step
      SmallVector<Value> aRegs; // [slice][row group][4]
      for (int64_t s = 0; s < count; ++s)
        for (int64_t r = 0; r < groups; ++r) {
          SmallVector<Value> quad = aFragment(a, aBase, r, kk + s);
          aRegs.append(quad.begin(), quad.end());
        }
      for (int64_t j = 0; j < columnTiles; ++j) {
        Value address = sharedAt(bOperand.shared, add(laneOffset, constI32(j * 8 * rowBytes + kk * 32)));
        SmallVector<Value> bRegs = loadMatrices(address, 2 * count, NVVM::MMALayout::row);
        for (int64_t s = 0; s < count; ++s)
          for (int64_t r = 0; r < groups; ++r)
            mma(ValueRange(ArrayRef<Value>(aRegs).slice((s * groups + r) * 4, 4)),
                ValueRange(ArrayRef<Value>(bRegs).slice(s * 2, 2)), c, (r * columnTiles + j) * 4);
      }
    }
    return;
  }
  assert(bOperand.layout == ProductOperand::Layout::SharedMNMajor && "an mma.sync B operand is in shared memory");
  // ldmatrix.x4.trans address of this lane: k row kk·16 + lane % 16, columns jd·8 + 8·(lane / 16).
  Value aBase = a.inShared() ? opaqueCopy(a.shared) : Value();
  Value laneOffset = add(mul(arith::RemUIOp::create(b, loc, lane, constI32(16)), constI32(rowBytes)),
                         mul(arith::DivUIOp::create(b, loc, lane, constI32(16)), constI32(16)));
  for (int64_t jd = 0; jd < columnTiles; jd += step) {
    const int64_t count = std::min<int64_t>(step, columnTiles - jd); // column tiles read by this step
    for (int64_t kk = 0; kk < slices; ++kk) {
      Value address = sharedAt(bOperand.shared, add(laneOffset, constI32(kk * 16 * rowBytes + jd * 16)));
      SmallVector<Value> bRegs = loadMatrices(address, 2 * count, NVVM::MMALayout::col);
      for (int64_t t = 0; t < count; ++t)
        for (int64_t r = 0; r < groups; ++r)
          mma(aFragment(a, aBase, r, kk), ValueRange(ArrayRef<Value>(bRegs).slice(t * 2, 2)), c,
              (r * columnTiles + jd + t) * 4);
    }
  }
}

/// The wgmma matrix descriptor of an operand in the 128-byte swizzled layout (64-column chunks of 128-byte
/// rows, 8-row swizzle atoms of 1024 bytes) that starts at shared `address`: bits 0-13 the address / 16,
/// 16-29 the leading byte offset / 16, 32-45 the stride between 8-row atoms / 16 (1024 bytes), 62-63 the
/// swizzle mode (1: 128 bytes). The leading offset is unused by K-major operands (1); for MN-major ones it
/// is the distance between 64-column chunks.
Value KernelEmitter::matrixDescriptor(Value address, int64_t leadingBytes) {
  Value offset = LLVM::PtrToIntOp::create(b, loc, i32, address);
  Value field = arith::ShRUIOp::create(b, loc, arith::AndIOp::create(b, loc, offset, constI32(0x3FFFF)), constI32(4));
  const uint64_t fixed = (uint64_t(leadingBytes >> 4) << 16) | (uint64_t(1024 >> 4) << 32) | (uint64_t(1) << 62);
  return arith::OrIOp::create(b, loc, arith::ExtUIOp::create(b, loc, i64, field),
                              arith::ConstantIntOp::create(b, loc, i64, int64_t(fixed)));
}

/// The descriptor of the operand `bytes` (a multiple of 16) further than the one `descriptor` describes:
/// one 64-bit add to the address field, which cannot carry out of it (shared memory ends below 2^18).
/// (wgmmaPV's tile of ones also moves the leading offset: `bytes` then holds that change << 16 too.)
Value KernelEmitter::descriptorPlus(Value descriptor, int64_t bytes) {
  if (bytes == 0)
    return descriptor;
  return arith::AddIOp::create(b, loc, descriptor, arith::ConstantIntOp::create(b, loc, i64, bytes >> 4));
}

/// One wgmma.mma_async.m64nNk16 with A either from 4 registers of this warp (mma.sync's A layout: `a`) or,
/// K-major, through the matrix descriptor `a[0]` (an i64), and B through `descriptor` (`transposeB`:
/// MN-major), accumulating into `accumulators` (N / 2 f32 registers in mma.sync's C layout, 8 columns
/// after 8 columns) unless `overwrite`, or, given `accumulate` (an i1), where it is true. Inline PTX:
/// MLIR's wgmma op has no register A operand, and one emitter keeps both forms alike.
void KernelEmitter::wgmma(int64_t n, ValueRange a, Value descriptor, SmallVector<Value> &accumulators,
                          bool overwrite, bool transposeB, Value accumulate, bool transposeA) {
  overwrite = overwrite && !accumulate;
  const int64_t count = n / 2, aCount = a.size(), scaleD = count + aCount + 1;
  const bool aInShared = aCount == 1;
  // scale-d is a predicate operand: 0 (overwrite) or 1 (accumulate). Overwriting takes no accumulator
  // inputs, so no registers are zeroed for it.
  const char *type = mmaType == NVVM::MMATypes::bf16 ? "bf16" : "f16";
  std::string text = "{\n.reg .pred p;\nsetp.ne.b32 p, $" + std::to_string(scaleD) +
                     ", 0;\nwgmma.mma_async.sync.aligned.m64n" + std::to_string(n) + "k16.f32." + type + "." + type +
                     " {";
  for (int64_t i = 0; i < count; ++i)
    text += (i ? ", $" : "$") + std::to_string(i);
  text += "}, ";
  if (aInShared) {
    text += "$" + std::to_string(count);
  } else {
    text += "{";
    for (int64_t i = 0; i < aCount; ++i)
      text += (i ? ", $" : "$") + std::to_string(count + i);
    text += "}";
  }
  text += ", $" + std::to_string(count + aCount) + ", p, 1, 1, " + (aInShared ? (transposeA ? "1, " : "0, ") : "") +
          (transposeB ? "1" : "0") + ";\n}";
  std::string constraints;
  for (int64_t i = 0; i < count; ++i)
    constraints += "=f,";
  constraints += aInShared ? "l,l,r" : "r,r,r,r,l,r";
  for (int64_t i = 0; i < count && !overwrite; ++i)
    constraints += "," + std::to_string(i);
  SmallVector<Value> operands(a.begin(), a.end());
  operands.push_back(descriptor);
  operands.push_back(accumulate ? arith::ExtUIOp::create(b, loc, i32, accumulate).getResult()
                                : constI32(overwrite ? 0 : 1));
  if (!overwrite)
    operands.append(accumulators.begin(), accumulators.end());
  auto resultType = LLVM::LLVMStructType::getLiteral(b.getContext(), SmallVector<Type>(count, f32));
  Value result = LLVM::InlineAsmOp::create(b, loc, resultType, operands, text, constraints, /*has_side_effects=*/true,
                                           /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
                                           LLVM::AsmDialectAttr(), ArrayAttr())
                     .getResult(0);
  for (int64_t i = 0; i < count; ++i)
    accumulators[i] = LLVM::ExtractValueOp::create(b, loc, result, i);
}

/// C[64, N] (+)= A[64, K]·B[K, N] for this warpgroup's 64 rows: one wgmma.m64nNk16 per 16 of K, issued
/// after a fence and committed as one group (the caller waits). The instructions follow from how the
/// operands lie: A from registers (a packed accumulator, mma.sync's A layout) or K-major through a matrix
/// descriptor; B K-major (wgmma's B as is) or MN-major (transposed B), through a descriptor. Both lie in
/// the 128-byte swizzled layout, 64 columns of 16-bit values a row, the next 64 `rows` x 128 bytes on: a
/// K-major operand steps 32 bytes per 16 of K inside a chunk, an MN-major one 16 rows (2048 bytes), its
/// chunks along N apart by the descriptor's leading offset (or, given `secondChunk`, the second chunk there:
/// the leading offset is the distance, 2048 bytes less per step). `c` holds N / 2 f32 registers in
/// mma.sync's C layout; the first wgmma overwrites them if `overwrite`, or accumulates where `accumulate`.
void KernelEmitter::wgmmaProduct(const ProductOperand &a, const ProductOperand &bOperand, int64_t n, int64_t k,
                                 SmallVector<Value> &c, bool overwrite, Value accumulate) {
  const bool aInShared = a.inShared(), transposeA = a.layout == ProductOperand::Layout::SharedMNMajor;
  const bool transposeB = bOperand.layout == ProductOperand::Layout::SharedMNMajor;
  assert((aInShared || a.layout == ProductOperand::Layout::PackedAccumulator) && "wgmma's A: shared or registers");
  // An MN-major A spans one 64-row chunk per warpgroup: its leading offset (to a next chunk) is unused.
  Value aDescriptor = aInShared ? matrixDescriptor(a.shared, transposeA ? a.rows * 128 : 16) : Value();
  Value bDescriptor;
  int64_t mnStep = 16 * 128; // an MN-major operand's bytes per 16 of K
  if (!transposeB) {
    bDescriptor = matrixDescriptor(bOperand.shared, 16);
  } else if (!bOperand.secondChunk) {
    bDescriptor = matrixDescriptor(bOperand.shared, bOperand.rows * 128);
  } else {
    Value second = LLVM::PtrToIntOp::create(b, loc, i32, bOperand.secondChunk);
    Value distance = arith::SubIOp::create(b, loc, second, LLVM::PtrToIntOp::create(b, loc, i32, bOperand.shared));
    Value leading = arith::ShLIOp::create(b, loc, arith::ExtUIOp::create(b, loc, i64, distance),
                                          arith::ConstantIntOp::create(b, loc, i64, 16 - 4));
    bDescriptor = arith::OrIOp::create(b, loc, matrixDescriptor(bOperand.shared, 0), leading);
    mnStep -= mnStep << 16; // the leading offset's field (bits 16-29) shrinks by as much: no borrow, it stays >= 0
  }
  auto kMajorStep = [](const ProductOperand &operand, int64_t kk) {
    return (kk / 4) * operand.rows * 128 + (kk % 4) * 32;
  };
  NVVM::WgmmaFenceAlignedOp::create(b, loc);
  for (int64_t kk = 0; kk < k / 16; ++kk) {
    SmallVector<Value> aOperands;
    if (aInShared)
      aOperands.push_back(descriptorPlus(aDescriptor, transposeA ? kk * 16 * 128 : kMajorStep(a, kk)));
    else
      aOperands = aFragment(a, Value(), 0, kk);
    Value bStep = descriptorPlus(bDescriptor, transposeB ? kk * mnStep : kMajorStep(bOperand, kk));
    wgmma(n, aOperands, bStep, c, /*overwrite=*/overwrite && kk == 0, transposeB, kk == 0 ? accumulate : Value(),
          transposeA);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
}

/// S = Q·Kᵀ for this warpgroup's 64 rows: Q and K K-major in shared memory (this warpgroup's rows 64 x 128
/// bytes further per warpgroup). The query stays in shared memory rather than registers: with A in
/// registers, ptxas (CUDA 13) gave the probabilities of P·V the query's registers when block_n = head_dim
/// (both products m64n{head_dim}k16), and Q·Kᵀ read them from the second key block on. The scores keep
/// mma.sync's accumulator layout, so the mask and the softmax take them as they are.
void KernelEmitter::wgmmaQK(Fragment &query, Value keyTile, Fragment &scores, bool wait, int64_t keys) {
  assert(query.shared && query.regs.empty() && "the wgmma path reads the query from shared memory");
  const int64_t n = keys ? keys : geometry.blockN; // the tile's first `keys` keys (peelsShortLastBlock)
  Value rows = sharedAt(query.shared, mul(warpgroupIndex(), constI32(64 * 128)));
  ProductOperand q{ProductOperand::Layout::SharedKMajor, {}, rows};
  q.rows = geometry.blockM;
  ProductOperand k{ProductOperand::Layout::SharedKMajor, {}, keyTile};
  k.rows = geometry.blockN;
  wgmmaProduct(q, k, n, geometry.headDim, scores.regs, /*overwrite=*/true);
  if (wait) {
    NVVM::WgmmaWaitGroupSyncOp::create(b, loc, 0);
    if (pipelinePV) // (the path without overlap, as measured, leaves the order to LLVM)
      pinAfterWait(scores.regs);
  }
}

/// O += P·V (O = P·V where `accumulate` is false) for this warpgroup's 64 rows: A = the probabilities (S's
/// accumulator layout packed to 16-bit pairs is the A layout), B = the value tile MN-major (head_dim
/// contiguous). With mmaRowSum (head_dim 64) the wgmma is 72 columns wide: its second 64-column chunk, of
/// which it reads 8 columns, is the tile of ones. Columns 64-71 of O then sum the rows of P.
void KernelEmitter::wgmmaPV(ArrayRef<Value> probs, Value valueTile, Fragment &output, bool wait, int64_t keys,
                            Value accumulate) {
  ProductOperand p{ProductOperand::Layout::PackedAccumulator, probs};
  p.tiles = geometry.blockN / 8;
  ProductOperand v{ProductOperand::Layout::SharedMNMajor, {}, valueTile};
  v.rows = geometry.blockN;
  if (geometry.mmaRowSum)
    v.secondChunk = sharedAt(sharedBase, constI32(geometry.onesOffset()));
  wgmmaProduct(p, v, geometry.outputColumns(), keys ? keys : geometry.blockN, output.regs, /*overwrite=*/false,
               accumulate);
  if (wait) {
    NVVM::WgmmaWaitGroupSyncOp::create(b, loc, 0);
    if (pipelinePV)
      pinAfterWait(output.regs);
  }
}

/// Ties `regs` (f32 or i32) to an empty asm statement with side effects, which keeps its place among the
/// wgmma instructions and waits: after a wait_group that retires their wgmma, no use moves above the wait
/// (CUTLASS's warpgroup_fence_operand); before one, their computation cannot sink below it (LLVM moved
/// the softmax's exponentials past the P·V wait, to their uses, which undid the overlap).
void KernelEmitter::pinAfterWait(SmallVector<Value> &regs) {
  std::string constraints;
  for (Value reg : regs)
    constraints += reg.getType() == f32 ? "=f," : "=r,";
  for (size_t i = 0; i < regs.size(); ++i)
    constraints += std::to_string(i) + (i + 1 < regs.size() ? "," : "");
  SmallVector<Type> types;
  for (Value reg : regs)
    types.push_back(reg.getType());
  auto type = LLVM::LLVMStructType::getLiteral(b.getContext(), types);
  Value pinned = LLVM::InlineAsmOp::create(b, loc, type, regs, "", constraints, /*has_side_effects=*/true,
                                           /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
                                           LLVM::AsmDialectAttr(), ArrayAttr())
                     .getResult(0);
  for (size_t i = 0; i < regs.size(); ++i)
    regs[i] = LLVM::ExtractValueOp::create(b, loc, pinned, i);
}

// --- Tile kernels ---------------------------------------------------------------------------------

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

/// On wgmma, where a product has 64 rows and the kernel several warpgroups (the backward's dQ of a query
/// block in a kernel whose warpgroups split a key block): each warpgroup's share of the columns, which it
/// computes for all 64 rows (FlashAttention-3 splits dQ so). 0 where the warpgroups split the rows.
int64_t KernelEmitter::columnSplitOf(flash::MmaOp op) const {
  const int64_t warpgroups = geometry.warps / 4, n = op.getN();
  if (!geometry.wgmma || warpgroups < 2 || op.getM() != 64 || n % warpgroups != 0 || !op.getLayoutsAttr())
    return 0;
  const int64_t share = n / warpgroups;
  const bool bMNMajor = op.getLayoutsAttr().getB() == flash::OperandLayout::shared_mn_major;
  return share % (bMNMajor ? 64 : 8) == 0 ? share : 0;
}

/// The operand `tile` of `op` as its layout says it lies (see flash-distribute), for the product routines;
/// with `splitColumns`, as the warpgroups read it when each computes those columns of all M rows.
FailureOr<ProductOperand> KernelEmitter::productOperand(flash::MmaOp op, Value tile, bool isA, int64_t splitColumns) {
  flash::OperandLayout layout = isA ? op.getLayoutsAttr().getA() : op.getLayoutsAttr().getB();
  auto refuse = [&](const Twine &message) -> FailureOr<ProductOperand> {
    (void)fail(op, message);
    return failure();
  };
  auto fragment = tiles.find(tile);
  if (fragment == tiles.end())
    return refuse("uses a tile the GPU lowering has not seen");
  if (fragment->second.splitColumns)
    return refuse("an operand whose warpgroups split its columns (a 64-row product over several warpgroups) "
                  "is not read by another product yet");
  if (layout == flash::OperandLayout::accumulator) {
    if (fragment->second.kind != Fragment::Kind::Accumulator || !fragment->second.packed)
      return refuse("layout 'accumulator' needs an earlier product converted to 16 bits");
    if (splitColumns)
      return refuse("a product whose warpgroups split its columns reads A from shared memory (each needs all "
                    "of its rows)");
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
  if (splitColumns) {
    // Every warpgroup reads all of A; of B, its columns: rows of a K-major B ([N][K]: 128 bytes each in
    // every 64-column chunk), 64-column chunks of an MN-major B ([K][N]).
    if (!isA) {
      const int64_t offset = kMajor ? splitColumns * 128 : splitColumns / 64 * stored.rows * 128;
      operand.shared = sharedAt(stored.start, mul(warpgroupIndex(), constI32(offset)));
    }
    return operand;
  }
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
  const int64_t splitColumns = columnSplitOf(op);
  FailureOr<ProductOperand> a = productOperand(op, op.getA(), /*isA=*/true, splitColumns);
  if (failed(a))
    return failure();
  FailureOr<ProductOperand> bOperand = productOperand(op, op.getB(), /*isA=*/false, splitColumns);
  if (failed(bOperand))
    return failure();
  Fragment result = accumulator->second;
  if (splitColumns && result.splitColumns != splitColumns) { // a splat laid out as the product splits it
    if (!result.splat)
      return fail(op, "accumulates into a tile laid out otherwise than its warpgroups split the columns");
    result.regs.assign(splitColumns / 8 * 4, result.splat);
    result.splitColumns = splitColumns;
  }
  if (geometry.wgmma) {
    wgmmaProduct(*a, *bOperand, splitColumns ? splitColumns : op.getN(), op.getK(), result.regs,
                 /*overwrite=*/false);
    NVVM::WgmmaWaitGroupSyncOp::create(b, loc, 0);
  } else {
    mmaSyncProduct(*a, *bOperand, op.getN(), op.getK(), result.regs, rowGroupsOf(op.getM()));
  }
  tiles[op.getResult()] = result;
  return success();
}

} // namespace flashjit::gpu
