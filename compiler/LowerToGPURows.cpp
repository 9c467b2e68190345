// flash-lower-to-gpu, row operations: the mask (through the mask's formulas, dialects/Mask.h), the online
// softmax (row maxima by quad shuffles, exponentials on ex2.approx, conditional rescaling), the rescale of
// the output accumulator and the final normalisation (with the split tail's combine). Tiles are in the
// accumulator layout, row statistics in the row layout (LowerToGPU.cpp's file comment).
#include "compiler/KernelEmitter.h"
#include "compiler/ChainedReduce.h"

#include <limits>

namespace flashjit::gpu {

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
  if (emittingFirstBlock && op.getAccumulator() == pipelinedOutput(op)) { // not written yet (emitForLoop)
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

} // namespace flashjit::gpu
