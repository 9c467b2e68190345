// The split tail of a persistent kernel without a causal mask (compiler/LowerToGPUSplitTail.cpp): its
// last `tiles` tiles are dealt by key blocks, block b of G taking key blocks [b L / G, (b + 1) L / G) of
// their L = tiles x nkb, tile by tile; the blocks that share a tile each leave a part in a workspace and
// the last combines them. This file mirrors the kernel's mapping, plans the tail for a launch and sizes
// its workspace. Header-only so that its unit test can reach it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace flashjit {

struct SplitTail {
  int64_t tiles = 0;      ///< R: the last tiles, dealt by key blocks (0: none)
  int64_t key_blocks = 0; ///< nkb: key blocks per tile
  int64_t blocks = 0;     ///< G: the grid
  int64_t part_slots = 0; ///< the most parts (blocks) any tail tile has: the workspace's slots per tile

  int64_t tailKeyBlocks() const { return tiles * key_blocks; }
  /// Block `block`'s run of the tail's key blocks: [runStart(block), runStart(block + 1)).
  int64_t runStart(int64_t block) const { return block * tailKeyBlocks() / blocks; }
  /// The tail tiles block `block`'s run touches (its pieces), from tail tile runStart / nkb on.
  int64_t piecesOfBlock(int64_t block) const {
    const int64_t first = runStart(block), end = runStart(block + 1);
    return end > first ? (end + key_blocks - 1) / key_blocks - first / key_blocks : 0;
  }
  /// The blocks whose runs hold tail tile `tile`'s first and last key blocks (its parts are those blocks,
  /// in order): the last block whose run starts at or before key block y is ceil((y + 1) G / L) - 1.
  int64_t firstBlockOf(int64_t tile) const { return lastRunAtOrBefore(tile * key_blocks); }
  int64_t lastBlockOf(int64_t tile) const { return lastRunAtOrBefore(tile * key_blocks + key_blocks - 1); }

  /// Block `block`'s whole tiles k G + block < F (F = tiles - R): F / G with a tail (F is then a
  /// multiple of G), one more on the first T mod G blocks without one.
  int64_t wholeTilesOfBlock(int64_t allTiles, int64_t block) const {
    return (allTiles - tiles + blocks - 1 - block) / blocks;
  }
  /// Block `block`'s `piece`-th piece: tail tile runStart / nkb + piece, its key blocks [first, end) within
  /// the tile.
  struct Piece {
    int64_t tile, first, end;
  };
  Piece pieceOfBlock(int64_t block, int64_t piece) const {
    const int64_t tile = runStart(block) / key_blocks + piece, tileStart = tile * key_blocks;
    return {tile, std::max(runStart(block), tileStart) - tileStart,
            std::min(runStart(block + 1), tileStart + key_blocks) - tileStart};
  }

private:
  int64_t lastRunAtOrBefore(int64_t keyBlock) const {
    return ((keyBlock + 1) * blocks + tailKeyBlocks() - 1) / tailKeyBlocks() - 1;
  }
};

/// The kernel computes b L / G, (b + 1) L / G and (y + 1) G / L in 32 bits: L G must stay below 2^31.
/// And each block's run must hold at least one key block (L >= G), so that every block between a tile's
/// first and last part has a piece of it.
inline bool splitTailFits(const SplitTail &s) {
  const int64_t keyBlocks = s.tailKeyBlocks();
  return s.tiles > 0 && s.key_blocks > 0 && keyBlocks >= s.blocks &&
         (keyBlocks + s.key_blocks) * s.blocks < (int64_t(1) << 31);
}

/// Estimates in key blocks: a tile's prologue and epilogue (as kTileOverhead in PersistentSchedule.h), a
/// part's store to the workspace, and each other part's read by the warpgroup that combines them (from
/// L2, after the fence).
constexpr double kPieceOverhead = 1.25;
constexpr double kPartStore = 0.25;
constexpr double kPartRead = 0.5;

/// The busiest block's work (in key blocks) with the last `tail` of `tiles` tiles split, 0 for none; as if
/// the busiest also combined the tile with the most parts.
inline double splitTailLoad(int64_t tiles, int64_t keyBlocks, int64_t blocks, int64_t tail) {
  const double whole = double(keyBlocks) + kPieceOverhead;
  if (tail == 0)
    return double((tiles + blocks - 1) / blocks) * whole;
  SplitTail s{tail, keyBlocks, blocks, 0};
  double busiest = 0;
  for (int64_t block = 0; block < blocks; ++block) {
    const double run = double(s.runStart(block + 1) - s.runStart(block));
    busiest = std::max(busiest, run + double(s.piecesOfBlock(block)) * (kPieceOverhead + kPartStore));
  }
  int64_t mostParts = 1;
  for (int64_t tile = 0; tile < tail; ++tile)
    mostParts = std::max(mostParts, s.lastBlockOf(tile) - s.firstBlockOf(tile) + 1);
  return double((tiles - tail) / blocks) * whole + busiest + double(mostParts - 1) * kPartRead;
}

/// `s` with its part slots counted: the most blocks any of its tail tiles spans.
inline SplitTail withPartSlots(SplitTail s) {
  s.part_slots = 0;
  for (int64_t tile = 0; tile < s.tiles; ++tile)
    s.part_slots = std::max(s.part_slots, s.lastBlockOf(tile) - s.firstBlockOf(tile) + 1);
  return s;
}

/// The tail for a launch of `tiles` tiles of `keyBlocks` key blocks each on `blocks` blocks: none, the
/// last partial wave (tiles mod G), or that and one more wave, whichever leaves the busiest block the
/// least work (splitTailLoad) among those the kernel can number (splitTailFits).
inline SplitTail planSplitTail(int64_t tiles, int64_t keyBlocks, int64_t blocks) {
  SplitTail best{0, keyBlocks, blocks, 0};
  if (tiles <= blocks || keyBlocks <= 0 || blocks <= 0)
    return best;
  double bestLoad = splitTailLoad(tiles, keyBlocks, blocks, 0);
  for (int64_t tail : {tiles % blocks, tiles % blocks + blocks}) {
    SplitTail s{tail, keyBlocks, blocks, 0};
    if (tail == 0 || tail > tiles || !splitTailFits(s))
      continue;
    const double load = splitTailLoad(tiles, keyBlocks, blocks, tail);
    if (load < bestLoad - 1e-9) {
      best = s;
      bestLoad = load;
    }
  }
  return withPartSlots(best);
}

/// The last partial wave alone (tiles mod G) as the tail, where the kernel can number it; else none. (A
/// tail with the most parts per tile: FLASHJIT_SPLIT_TAIL=wave, for tests.)
inline SplitTail lastWaveSplit(int64_t tiles, int64_t keyBlocks, int64_t blocks) {
  SplitTail s{blocks > 0 && tiles > blocks ? tiles % blocks : 0, keyBlocks, blocks, 0};
  return splitTailFits(s) ? withPartSlots(s) : SplitTail{0, keyBlocks, blocks, 0};
}

/// The tail a launch gets under FLASHJIT_SPLIT_TAIL's value `mode`: "0" none, "wave" lastWaveSplit, anything
/// else (unset) planSplitTail.
inline SplitTail splitTailFor(const std::string &mode, int64_t tiles, int64_t keyBlocks, int64_t blocks) {
  if (mode == "0")
    return SplitTail{0, keyBlocks, blocks, 0};
  return mode == "wave" ? lastWaveSplit(tiles, keyBlocks, blocks) : planSplitTail(tiles, keyBlocks, blocks);
}

/// The workspace of a kernel with `warpgroups` consumer warpgroups at `headDim`, in two buffers: the
/// counters, a 32-bit word per (tail tile, warpgroup), zero between launches (the runtime zeroes them when it
/// allocates them, each tile's last part resets its own); the parts, a slot per (tail tile, part,
/// warpgroup) of 128 threads x (head_dim / 2 outputs + 2 maxima + 2 sums) floats.
inline int64_t splitTailCounterBytes(const SplitTail &s, int64_t warpgroups) { return s.tiles * warpgroups * 4; }
inline int64_t splitTailPartBytes(const SplitTail &s, int64_t warpgroups, int64_t headDim) {
  return s.tiles * s.part_slots * warpgroups * 128 * (headDim / 2 + 4) * 4;
}

} // namespace flashjit
