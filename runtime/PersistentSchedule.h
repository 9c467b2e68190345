// How a persistent kernel under a causal mask shares a launch's tiles among its blocks, one tile being
// (query block, slice), a slice one (head, batch); without a mask the tiles are alike and go round robin,
// the last partial wave split by keys (runtime/SplitTail.h, whose mapping is written once too, in
// dialects/SplitTailTiles.h). The kernel computes its k-th tile itself from
// the formulas of dialects/PersistentTiles.h, which this file evaluates on the host to choose their one
// free parameter, the tail, for each launch (and which the unit tests check cover every tile once).
// Header-only so that its unit test can reach it.
//
// The tiles come in items, dealt one per wave: in wave w block b takes item G w + b (G blocks), under a
// causal mask (`alternating`) G w + G - 1 - b if w is odd, so that what one wave gives a block more the
// next gives it less.
// The items, in order: the lead slices' pairs of query blocks (i with n - 1 - i: under a causal mask every
// pair holds about n + 1 key blocks); for odd n, each lead slice's middle query block; then the last
// tail_slices slices' tiles one by one, from the last query block down, slices fastest (longest first
// under a causal mask; a kernel without a mask has no tail). Equal pairs alone leave the last wave on
// some blocks only (2048 pairs on 132 blocks: 68 take 16, 64 take 15, ~3% of the run idle); short tiles
// at the end even the sums out.
#pragma once

#include "dialects/Mask.h"
#include "dialects/PersistentTiles.h"
#include "runtime/flashjit.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace flashjit {

struct PersistentSchedule {
  int64_t query_blocks = 0; ///< per slice (n)
  int64_t slices = 0;       ///< heads x batch
  int64_t tail_slices = 0;  ///< the last slices, dealt tile by tile
  int64_t blocks = 0;       ///< the grid: min(items, multiprocessors)
  bool alternating = true;  ///< odd waves in reverse order (the kernels with a causal mask)

  int64_t leadSlices() const { return slices - tail_slices; }
  int64_t leadPairs() const { return leadSlices() * (query_blocks / 2); }
  int64_t leadItems() const { return leadSlices() * ((query_blocks + 1) / 2); }
  int64_t items() const { return leadItems() + tail_slices * query_blocks; }
};

/// Why the kernel cannot number `s`'s tiles ("" if it can): it encodes a tile as 2 x item (+ 1 for a
/// pair's second) in 32 bits.
inline std::string numberingProblem(const PersistentSchedule &s) {
  if (2 * s.items() + 1 <= 0x7fffffff)
    return "";
  return "a persistent kernel numbers its tiles in 32 bits: " + std::to_string(s.items()) +
         " items (query-block pairs and tiles) of at most 1073741823; use a configuration without persistent";
}

/// The kernel's formulas (dialects/PersistentTiles.h) on the host, for `s`.
class HostTiles {
public:
  explicit HostTiles(const PersistentSchedule &s) : s(s), formula(arithmetic, s.alternating) {}
  tiles::PersistentTiles<tiles::HostTileArithmetic> *operator->() { return &formula; }
  tiles::PersistentTiles<tiles::HostTileArithmetic>::TileCount tilesOfBlock(int64_t block) {
    return formula.tilesOfBlock(s.query_blocks, s.slices, 1, s.tail_slices, block, s.blocks);
  }

private:
  const PersistentSchedule &s;
  tiles::HostTileArithmetic arithmetic;
  tiles::PersistentTiles<tiles::HostTileArithmetic> formula;
};

/// Where block `block` takes its item in wave `wave`.
inline int64_t slotInWave(const PersistentSchedule &s, int64_t wave, int64_t block) {
  return HostTiles(s)->slotInWave(wave, block, s.blocks);
}

/// Of items 0 .. total - 1, how many block `block` takes: one a wave.
inline int64_t itemsOfBlock(const PersistentSchedule &s, int64_t total, int64_t block) {
  return HostTiles(s)->itemsOfBlock(total, block, s.blocks);
}

inline int64_t tilesOfBlock(const PersistentSchedule &s, int64_t block) { return HostTiles(s).tilesOfBlock(block).tiles; }

struct ScheduledTile {
  int64_t query_block, slice;
};

/// Block `block`'s k-th tile (k < tilesOfBlock): its pairs' tiles first, two each, then its single tiles.
inline ScheduledTile persistentTile(const PersistentSchedule &s, int64_t block, int64_t k) {
  HostTiles tiles(s);
  const int64_t code = tiles->tileCode(k, block, s.blocks, tiles.tilesOfBlock(block).pairs);
  const auto tile = tiles->tileOf(code, s.query_blocks, s.slices, 1, s.tail_slices);
  return {tile.queryBlock, tile.slice};
}

/// The key blocks each query block's tile goes through (dialects/Mask.h): seqlen_k / block_n without a
/// mask; under a causal mask up to the diagonal of the block's last row.
inline std::vector<int64_t> keyBlocksPerQueryBlock(const mask::Mask &mask, int64_t seqlenQ, int64_t seqlenK,
                                                    int64_t blockM, int64_t blockN) {
  mask::HostArithmetic arithmetic;
  mask::MaskFormula<mask::HostArithmetic> formula(mask, arithmetic);
  const int64_t diagonal = formula.diagonal(seqlenQ, seqlenK);
  std::vector<int64_t> keyBlocks;
  for (int64_t first = 0;; first += blockM) {
    const int64_t last = std::min(first + blockM, seqlenQ) - 1;
    const mask::VisibleRange<int64_t> keys = formula.keysOfRows(first, last, diagonal, seqlenK);
    keyBlocks.push_back(std::max<int64_t>(0, (keys.end + blockN - 1) / blockN - keys.begin / blockN));
    if (first + blockM >= seqlenQ)
      return keyBlocks;
  }
}

/// A tile's work in key blocks: its key loop and, outside it, about a key block's worth more (at head_dim
/// 64 a tile's prologue and epilogue are ~590 instructions a warp, a key block ~440).
constexpr double kTileOverhead = 1.25;

/// The busiest block's work under `s` (kTileOverhead and keyBlocks per query block).
inline double busiestBlock(const PersistentSchedule &s, const std::vector<int64_t> &keyBlocks) {
  const int64_t n = s.query_blocks;
  double pairCost = 0; // the lead pairs' mean: equal under a causal mask with block_m = block_n
  for (int64_t i = 0; i < n / 2; ++i)
    pairCost += (keyBlocks[i] + keyBlocks[n - 1 - i] + 2 * kTileOverhead) / double(n / 2);
  const double middleCost = keyBlocks[n / 2] + kTileOverhead;
  std::vector<double> load(size_t(s.blocks));
  for (int64_t block = 0; block < s.blocks; ++block) {
    const int64_t pairs = itemsOfBlock(s, s.leadPairs(), block);
    load[block] = pairs * pairCost + (itemsOfBlock(s, s.leadItems(), block) - pairs) * middleCost;
  }
  for (int64_t item = s.leadItems(); item < s.items(); ++item) {
    const int64_t wave = item / s.blocks, slot = item % s.blocks;
    const int64_t queryBlock = n - 1 - (item - s.leadItems()) / s.tail_slices;
    load[slotInWave(s, wave, slot)] += keyBlocks[queryBlock] + kTileOverhead; // its own inverse: that slot's block
  }
  return *std::max_element(load.begin(), load.end());
}

/// Under a causal mask: the alternating schedule of `slices` slices of `keyBlocks.size()` query blocks on
/// `multiprocessors` blocks whose busiest block has the least work, over tails of at most eight waves of
/// tiles and at most `maxTailSlices` slices (the caller's bound on the tail's K and V in L2), at most 48 of
/// them tried (their cost: compiler/Hopper.md, 'Measurements behind the lowering's choices'); the
/// shortest tail of equals. Equal pairs alone where every tile is alike.
inline PersistentSchedule planPersistentSchedule(const std::vector<int64_t> &keyBlocks, int64_t slices,
                                                 int64_t multiprocessors, int64_t maxTailSlices) {
  PersistentSchedule best;
  double bestLoad = 0;
  const int64_t n = int64_t(keyBlocks.size());
  if (slices <= 0 || n == 0 || multiprocessors <= 0)
    return {n, std::max<int64_t>(0, slices), 0, 0, true};
  const int64_t longest = std::min({slices, maxTailSlices, std::max<int64_t>(1, 8 * multiprocessors / n)});
  const bool alike = std::equal(keyBlocks.begin() + 1, keyBlocks.end(), keyBlocks.begin()) && n % 2 == 0;
  const int64_t stride = alike ? longest + 1 : std::max<int64_t>(1, (longest + 47) / 48);
  for (int64_t tail = 0; tail <= longest; tail += stride) {
    PersistentSchedule s{n, slices, tail, 0, true};
    s.blocks = std::min(s.items(), multiprocessors);
    const double load = busiestBlock(s, keyBlocks);
    if (tail == 0 || load < bestLoad - 1e-9) {
      best = s;
      bestLoad = load;
    }
  }
  return best;
}

} // namespace flashjit
