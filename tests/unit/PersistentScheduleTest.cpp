// The persistent kernels' schedule (runtime/PersistentSchedule.h): every tile exactly once whatever the
// tail, the cost model's key blocks per mask, and the tail the launch chooses evening the blocks' work.
#include "runtime/PersistentSchedule.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

using flashjit::mask::Alignment;
using flashjit::mask::Mask;
using flashjit::PersistentSchedule;

namespace {

const Mask kNone = Mask::none(), kTopLeft = Mask::causal(Alignment::top_left),
           kBottomRight = Mask::causal(Alignment::bottom_right);

/// Each block's tiles, in the order it runs them, checked to cover every (query block, slice) once.
void expectEveryTileOnce(const PersistentSchedule &s) {
  std::set<std::pair<int64_t, int64_t>> seen;
  int64_t count = 0;
  for (int64_t block = 0; block < s.blocks; ++block)
    for (int64_t k = 0; k < flashjit::tilesOfBlock(s, block); ++k) {
      flashjit::ScheduledTile tile = flashjit::persistentTile(s, block, k);
      ASSERT_GE(tile.query_block, 0);
      ASSERT_LT(tile.query_block, s.query_blocks);
      ASSERT_GE(tile.slice, 0);
      ASSERT_LT(tile.slice, s.slices);
      seen.insert({tile.query_block, tile.slice});
      ++count;
    }
  EXPECT_EQ(count, s.query_blocks * s.slices) << "n " << s.query_blocks << " slices " << s.slices << " tail "
                                              << s.tail_slices << " blocks " << s.blocks;
  EXPECT_EQ(int64_t(seen.size()), count);
}

double meanBlock(const PersistentSchedule &s, const std::vector<int64_t> &keyBlocks) {
  double total = 0;
  for (int64_t keys : keyBlocks)
    total += (keys + flashjit::kTileOverhead) * double(s.slices);
  return total / double(s.blocks);
}

} // namespace

TEST(PersistentSchedule, EveryTileOnceWhateverTheTail) {
  for (int64_t n : {1, 2, 3, 4, 7, 16})
    for (int64_t slices : {1, 2, 5, 33})
      for (int64_t multiprocessors : {1, 4, 132})
        for (int64_t tail = 0; tail <= slices; tail += (slices > 5 ? 8 : 1)) {
          PersistentSchedule s{n, slices, tail, 0};
          s.blocks = std::min(s.items(), multiprocessors);
          expectEveryTileOnce(s);
        }
}

TEST(PersistentSchedule, PairsFirstThenTheTailLongestFirst) {
  // Four slices of 4 query blocks, one of them the tail, on 3 blocks: 6 lead pairs, then 4 single tiles.
  PersistentSchedule s{4, 4, 1, 3};
  EXPECT_EQ(s.leadPairs(), 6);
  EXPECT_EQ(s.items(), 10);
  // Block 0: items 0 (wave 0), 5 (wave 1, reversed), 6 (wave 2), 11 > 9: none.
  ASSERT_EQ(flashjit::tilesOfBlock(s, 0), 2 + 2 + 1);
  auto tile = [&](int64_t block, int64_t k) {
    flashjit::ScheduledTile t = flashjit::persistentTile(s, block, k);
    return std::pair{t.query_block, t.slice};
  };
  EXPECT_EQ(tile(0, 0), (std::pair<int64_t, int64_t>{3, 0})); // pair 0: the last query block first
  EXPECT_EQ(tile(0, 1), (std::pair<int64_t, int64_t>{0, 0}));
  EXPECT_EQ(tile(0, 2), (std::pair<int64_t, int64_t>{2, 2})); // pair 5: slice 2's second pair
  EXPECT_EQ(tile(0, 3), (std::pair<int64_t, int64_t>{1, 2}));
  EXPECT_EQ(tile(0, 4), (std::pair<int64_t, int64_t>{3, 3})); // item 6: the tail's longest tile
  // Block 2 takes item 9 in wave 3 (reversed): the tail's shortest tile.
  EXPECT_EQ(tile(2, flashjit::tilesOfBlock(s, 2) - 1), (std::pair<int64_t, int64_t>{0, 3}));
}

TEST(PersistentSchedule, KeyBlocksFollowTheMask) {
  using V = std::vector<int64_t>;
  EXPECT_EQ(flashjit::keyBlocksPerQueryBlock(kNone, 300, 1000, 128, 192), (V{6, 6, 6}));
  EXPECT_EQ(flashjit::keyBlocksPerQueryBlock(kTopLeft, 512, 512, 128, 128), (V{1, 2, 3, 4}));
  EXPECT_EQ(flashjit::keyBlocksPerQueryBlock(kTopLeft, 512, 512, 128, 192), (V{1, 2, 2, 3}));
  // Bottom-right, 256 more keys than queries: every row sees them.
  EXPECT_EQ(flashjit::keyBlocksPerQueryBlock(kBottomRight, 256, 512, 128, 128), (V{3, 4}));
  // Bottom-right with fewer keys than queries: the first rows see none.
  EXPECT_EQ(flashjit::keyBlocksPerQueryBlock(kBottomRight, 512, 200, 128, 128), (V{0, 0, 1, 2}));
}

TEST(PersistentSchedule, TheChosenTailEvensCausalWork) {
  // The papers' grid (16k tokens, hidden 2048) at head_dim 64 (32 heads), 128 x 128 tiles, 132 blocks:
  // 2048 equal pairs leave the busiest block 16 / 15.52 of the mean; the tail brings it within 1%.
  for (int64_t seqlen : {1024, 2048, 4096, 8192, 16384}) {
    const int64_t slices = 32 * (16384 / seqlen);
    std::vector<int64_t> keyBlocks = flashjit::keyBlocksPerQueryBlock(kBottomRight, seqlen, seqlen, 128, 128);
    PersistentSchedule pairsOnly{int64_t(keyBlocks.size()), slices, 0, 132};
    const double before = flashjit::busiestBlock(pairsOnly, keyBlocks) / meanBlock(pairsOnly, keyBlocks);
    PersistentSchedule chosen = flashjit::planPersistentSchedule(keyBlocks, slices, 132, slices);
    expectEveryTileOnce(chosen);
    const double after = flashjit::busiestBlock(chosen, keyBlocks) / meanBlock(chosen, keyBlocks);
    EXPECT_GT(before, 1.025) << seqlen;
    EXPECT_LT(after, 1.01) << seqlen;
    EXPECT_GT(chosen.tail_slices, 0) << seqlen;
  }
}

TEST(PersistentSchedule, EqualTilesKeepPairsAndTheTailRespectsItsBound) {
  // Without a mask and with an even query-block count every item is a pair of equal tiles: no tail helps.
  std::vector<int64_t> keyBlocks = flashjit::keyBlocksPerQueryBlock(kNone, 2048, 2048, 128, 128);
  EXPECT_EQ(flashjit::planPersistentSchedule(keyBlocks, 256, 132, 256).tail_slices, 0);
  // No tail allowed, odd query-block counts too (the planner's step through the tails stays positive).
  for (int64_t seqlen : {2048, 1300})
    EXPECT_EQ(flashjit::planPersistentSchedule(
                  flashjit::keyBlocksPerQueryBlock(kNone, seqlen, seqlen, 128, 128), 160, 132, 0)
                  .tail_slices,
              0);
  // Without alternation: block b takes items b, b + G, ...
  PersistentSchedule plain{8, 40, 0, 132, false};
  EXPECT_EQ(flashjit::persistentTile(plain, 5, 2).slice, (132 + 5) / 4);
  std::vector<int64_t> causal = flashjit::keyBlocksPerQueryBlock(kTopLeft, 2048, 2048, 128, 128);
  EXPECT_LE(flashjit::planPersistentSchedule(causal, 256, 132, 3).tail_slices, 3);
  // Fewer items than multiprocessors: one block an item.
  PersistentSchedule small = flashjit::planPersistentSchedule(causal, 2, 132, 2);
  EXPECT_LE(small.blocks, small.items());
  expectEveryTileOnce(small);
}

TEST(PersistentSchedule, RefusesMoreItemsThanTheKernelCanNumber) {
  // 2 x items + 1 must fit 31 bits: 2^30 - 1 items do, 2^30 do not.
  PersistentSchedule fits{2, (int64_t(1) << 30) - 1, 0, 132};
  EXPECT_EQ(flashjit::numberingProblem(fits), "");
  PersistentSchedule tooMany{2, int64_t(1) << 30, 0, 132};
  EXPECT_EQ(flashjit::numberingProblem(tooMany),
            "a persistent kernel numbers its tiles in 32 bits: 1073741824 items (query-block pairs and tiles) of "
            "at most 1073741823; use a configuration without persistent");
}
