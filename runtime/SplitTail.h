// The split tail of a persistent kernel without a causal mask (compiler/LowerToGPUSplitTail.cpp): its
// last `tiles` tiles are dealt by key blocks, block b of G taking key blocks [b L / G, (b + 1) L / G) of
// their L = tiles x nkb, tile by tile; the blocks that share a tile each leave a part in a workspace and
// the last combines them. The mapping is written once, in dialects/SplitTailTiles.h, which the kernel
// emits and this file evaluates on the host, to plan the tail for a launch and size its workspace.
// Header-only so that its unit test can reach it.
#pragma once

#include "dialects/SplitTailTiles.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace flashjit {

/// The split tail's formulas (dialects/SplitTailTiles.h) on the host.
class HostSplitTailTiles {
public:
  using Formulas = tiles::SplitTailTiles<tiles::HostTileArithmetic>;
  HostSplitTailTiles() : formulas(arithmetic) {}
  HostSplitTailTiles(const HostSplitTailTiles &) = delete; // the formulas hold a reference to the arithmetic
  Formulas *operator->() { return &formulas; }

private:
  tiles::HostTileArithmetic arithmetic;
  Formulas formulas;
};

struct SplitTail {
  int64_t tiles = 0;      ///< R: the last tiles, dealt by key blocks (0: none)
  int64_t key_blocks = 0; ///< nkb: key blocks per tile
  int64_t blocks = 0;     ///< G: the grid
  int64_t part_slots = 0; ///< the most parts (blocks) any tail tile has: the workspace's slots per tile

  int64_t tailKeyBlocks() const { return HostSplitTailTiles()->tailKeyBlocks(tiles, key_blocks); }
  /// Block `block`'s run of the tail's key blocks: [runStart(block), runStart(block + 1)).
  int64_t runStart(int64_t block) const { return HostSplitTailTiles()->runStart(block, blocks, tailKeyBlocks()); }
  /// The tail tiles block `block`'s run touches (its pieces), from tail tile runStart / nkb on.
  int64_t piecesOfBlock(int64_t block) const {
    if (key_blocks == 0) // no keys: every run is empty, and nothing to divide by
      return 0;
    return HostSplitTailTiles()->piecesOfRun(runStart(block), runStart(block + 1), key_blocks);
  }
  /// The blocks whose runs hold tail tile `tile`'s first and last key blocks (its parts are those blocks,
  /// in order), and block `block`'s part of it.
  HostSplitTailTiles::Formulas::Parts partsOfTailTile(int64_t tile, int64_t block) const {
    return HostSplitTailTiles()->partsOfTailTile(tile, block, blocks, key_blocks, tailKeyBlocks());
  }
  int64_t firstBlockOf(int64_t tile) const { return partsOfTailTile(tile, /*block=*/0).firstBlock; }
  int64_t lastBlockOf(int64_t tile) const { return partsOfTailTile(tile, /*block=*/0).lastBlock; }

  /// F: the tiles before the tail, of `allTiles`.
  int64_t tilesBeforeTail(int64_t allTiles) const {
    return HostSplitTailTiles()->tilesBeforeTail(allTiles, 1, 1, tiles);
  }
  /// Block `block`'s whole tiles k G + block < F (F = allTiles - R): F / G with a tail (F is then a
  /// multiple of G), one more on the first T mod G blocks without one.
  int64_t wholeTilesOfBlock(int64_t allTiles, int64_t block) const {
    return HostSplitTailTiles()->wholeTilesOfBlock(tilesBeforeTail(allTiles), block, blocks);
  }
  /// Block `block`'s tiles: its whole ones, then its pieces.
  int64_t tilesOfBlock(int64_t allTiles, int64_t block) const {
    return HostSplitTailTiles()->tilesOfBlock(wholeTilesOfBlock(allTiles, block), piecesOfBlock(block));
  }

  /// Block `block`'s `piece`-th piece: tail tile runStart / nkb + piece, its key blocks [first, end) within
  /// the tile.
  struct Piece {
    int64_t tile, first, end;
  };
  Piece pieceOfBlock(int64_t block, int64_t piece) const {
    HostSplitTailTiles formulas;
    const int64_t first = runStart(block), end = runStart(block + 1);
    const int64_t tile = formulas->tailTileOfPiece(piece, first, key_blocks);
    const auto keys = formulas->pieceKeyBlocks(tile, first, end, key_blocks);
    return {tile, keys.first, keys.end};
  }

  /// Block `block`'s k-th tile (k < tilesOfBlock), as the kernel takes it: a whole tile (all its key
  /// blocks) or a piece of tail tile `tailTile` (its key blocks [first, end)).
  struct BlockTile {
    bool piece;
    int64_t tile;     ///< of all: slice x query blocks + query block
    int64_t tailTile; ///< a piece's, else -1
    int64_t first, end;
  };
  BlockTile tileOfBlock(int64_t allTiles, int64_t block, int64_t k) const {
    HostSplitTailTiles formulas;
    const int64_t wholeTiles = wholeTilesOfBlock(allTiles, block);
    if (!formulas->isPiece(k, wholeTiles))
      return {false, formulas->wholeTile(k, block, blocks), -1, 0, key_blocks};
    const Piece piece = pieceOfBlock(block, formulas->pieceOf(k, wholeTiles));
    return {true, formulas->tileOfTailTile(tilesBeforeTail(allTiles), piece.tile), piece.tile, piece.first,
            piece.end};
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
