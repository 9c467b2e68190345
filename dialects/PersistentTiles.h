// Which tiles a persistent block runs under a causal mask, written once for the kernel and the host. Plain
// C++ (no MLIR): templates over an arithmetic `A`, evaluated on int64 by the runtime's schedule
// (runtime/PersistentSchedule.h: its choice of the tail, and its tests that every tile runs once) and
// emitted as IR by the GPU lowering (LowerToGPUHopper.cpp), so that the two cannot drift apart.
//
// A tile is (query block, slice), a slice one (head, batch). The tiles come in items, dealt one per wave
// of `blocks` blocks: in wave w block b takes item blocks·w + b, or blocks·w + blocks − 1 − b if w is odd
// (what one wave gives a block more the next gives it less). The items, in order: the lead slices' pairs
// of query blocks (i with n − 1 − i: under a causal mask every pair holds about n + 1 key blocks); for odd
// n, each lead slice's middle query block; then the last `tailSlices` slices' tiles one by one, from the
// last query block down, slices fastest. Block b's k-th tile: its pairs' tiles first, two each, then its
// single tiles; the kernel carries it encoded as 2 × item (+ 1 for a pair's second).
//
// `A` gives a Value type and constant, add, sub, mul, divU, ceilDivU, shrU (by a constant), andOf, ult,
// ugt, uge, ne, select, zext (i1 to an integer), minU, maxU and divide(x, d, divisor): x / max(1, d), where
// the kernel divides by the launch's fast divisor of that name instead. The split tail's formulas
// (dialects/SplitTailTiles.h) use the same arithmetic.
#pragma once

#include <cstdint>

namespace flashjit::tiles {

/// The fast divisors a persistent kernel receives (their launch values: max(1, d)).
enum class Divisor { queryBlockPairs, tailSlices };

template <class A> class PersistentTiles {
public:
  using V = typename A::Value;

  /// `alternating` false: every wave in order (block b takes items b, b + blocks, ...); the kernels, all
  /// under a causal mask, alternate.
  explicit PersistentTiles(A &a, bool alternating = true) : a(a), alternating(alternating) {}

  /// Where block `block` of `blocks` takes its item in wave `wave`.
  V slotInWave(V wave, V block, V blocks) {
    if (!alternating)
      return block;
    V odd = a.ne(a.andOf(wave, a.constant(1)), a.constant(0));
    return a.select(odd, a.sub(a.sub(blocks, a.constant(1)), block), block);
  }

  /// Of items 0 .. total − 1, how many block `block` takes: one a wave.
  V itemsOfBlock(V total, V block, V blocks) {
    V waves = a.divU(total, blocks);
    V left = a.sub(total, a.mul(waves, blocks));
    V more = a.ult(slotInWave(waves, block, blocks), left);
    return a.add(waves, a.zext(more));
  }

  struct TileCount {
    V pairs; ///< the block's items that are pairs (its first 2 × pairs tiles)
    V tiles; ///< all its tiles
  };

  /// Block `block`'s tiles, for `queryBlocks` query blocks a slice, heads × batch slices and the last
  /// `tailSlices` of them dealt tile by tile.
  TileCount tilesOfBlock(V queryBlocks, V heads, V batch, V tailSlices, V block, V blocks) {
    V one = a.constant(1);
    V leadSlices = a.sub(a.mul(heads, batch), tailSlices);
    V leadPairs = a.mul(leadSlices, a.shrU(queryBlocks, one));
    V items = a.add(a.mul(leadSlices, a.shrU(a.add(queryBlocks, one), one)), a.mul(tailSlices, queryBlocks));
    TileCount count;
    count.pairs = itemsOfBlock(leadPairs, block, blocks);
    count.tiles = a.add(count.pairs, itemsOfBlock(items, block, blocks));
    return count;
  }

  /// Block `block`'s k-th tile, encoded 2 × item (+ 1 for the second of a pair); `pairsOfBlock` from
  /// tilesOfBlock.
  V tileCode(V k, V block, V blocks, V pairsOfBlock) {
    V one = a.constant(1);
    V inPairs = a.ult(k, a.mul(pairsOfBlock, a.constant(2)));
    V wave = a.select(inPairs, a.shrU(k, one), a.sub(k, pairsOfBlock));
    V item = a.add(a.mul(wave, blocks), slotInWave(wave, block, blocks));
    V second = a.select(inPairs, a.andOf(k, one), a.constant(0));
    return a.add(a.mul(item, a.constant(2)), second);
  }

  struct Tile {
    V queryBlock, slice;
  };

  /// The tile encoded `code` (tileCode).
  Tile tileOf(V code, V queryBlocks, V heads, V batch, V tailSlices) {
    V one = a.constant(1);
    V lastBlock = a.sub(queryBlocks, one);
    V pairsPerSlice = a.shrU(queryBlocks, one);
    V item = a.shrU(code, one);
    V second = a.ne(a.andOf(code, one), a.constant(0));
    V leadSlices = a.sub(a.mul(heads, batch), tailSlices);
    V leadPairs = a.mul(leadSlices, pairsPerSlice);
    V isPair = a.ult(item, leadPairs);
    // A pair: query block i from the start or n − 1 − i from the end of slice item / pairsPerSlice.
    V pairSlice = a.divide(item, pairsPerSlice, Divisor::queryBlockPairs);
    V fromStart = a.sub(item, a.mul(pairSlice, pairsPerSlice));
    V pairBlock = a.select(second, fromStart, a.sub(lastBlock, fromStart));
    // A middle query block, else one of the tail's tiles: t = wave-major index over (query block from the
    // last, slice).
    V leadItems = a.add(leadPairs, a.mul(leadSlices, a.andOf(queryBlocks, one)));
    V isLead = a.ult(item, leadItems);
    V tail = a.sub(item, leadItems);
    V tailRank = a.divide(tail, tailSlices, Divisor::tailSlices);
    V tailSlice = a.add(leadSlices, a.sub(tail, a.mul(tailRank, tailSlices)));
    V otherSlice = a.select(isLead, a.sub(item, leadPairs), tailSlice);
    V otherBlock = a.select(isLead, pairsPerSlice, a.sub(lastBlock, tailRank));
    V slice = a.select(isPair, pairSlice, otherSlice);
    V queryBlock = a.select(isPair, pairBlock, otherBlock);
    return {queryBlock, slice};
  }

private:
  A &a;
  bool alternating;
};

/// The formulas on the host, on int64_t, their values never negative (the kernel computes unsigned, in 32
/// bits: runtime/PersistentSchedule.h checks that a launch's items fit, runtime/SplitTail.h its split tail).
struct HostTileArithmetic {
  using Value = int64_t;
  int64_t constant(int64_t c) { return c; }
  int64_t add(int64_t x, int64_t y) { return x + y; }
  int64_t sub(int64_t x, int64_t y) { return x - y; }
  int64_t mul(int64_t x, int64_t y) { return x * y; }
  int64_t divU(int64_t x, int64_t y) { return x / y; }
  int64_t ceilDivU(int64_t x, int64_t y) { return (x + y - 1) / y; }
  int64_t shrU(int64_t x, int64_t y) { return x >> y; }
  int64_t andOf(int64_t x, int64_t y) { return x & y; }
  int64_t ult(int64_t x, int64_t y) { return x < y; }
  int64_t ugt(int64_t x, int64_t y) { return x > y; }
  int64_t uge(int64_t x, int64_t y) { return x >= y; }
  int64_t ne(int64_t x, int64_t y) { return x != y; }
  int64_t select(int64_t c, int64_t x, int64_t y) { return c ? x : y; }
  int64_t zext(int64_t x) { return x; }
  int64_t minU(int64_t x, int64_t y) { return x < y ? x : y; }
  int64_t maxU(int64_t x, int64_t y) { return x > y ? x : y; }
  int64_t divide(int64_t x, int64_t d, Divisor) { return x / (d > 1 ? d : 1); }
};

} // namespace flashjit::tiles
