// The split tail of persistent kernels without a mask (runtime/SplitTail.h, evaluating the formulas of
// dialects/SplitTailTiles.h that the kernel emits in compiler/LowerToGPUSplitTail.cpp): every (tile, key
// block) run exactly once, each tail tile's parts numbered 0 .. parts - 1 by the blocks that hold its
// pieces, within the workspace's part slots, and the plan splitting only where it leaves the busiest block
// less work.
#include "runtime/SplitTail.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <utility>

using flashjit::SplitTail;

namespace {

/// Walks each block's tiles for `tiles` tiles under `s` as the kernel does (its k-th tile for k below its
/// tile count: a whole tile, or a piece of a tail tile and its part) and checks what each block computes.
void expectEveryKeyBlockOnce(int64_t tiles, const SplitTail &s) {
  const int64_t fullTiles = tiles - s.tiles, keyBlocks = s.key_blocks;
  ASSERT_EQ(s.tilesBeforeTail(tiles), fullTiles);
  std::map<std::pair<int64_t, int64_t>, int> runs; // (tile, key block) -> times run
  std::map<int64_t, std::set<int64_t>> parts;      // tail tile -> the part indices its pieces take
  for (int64_t block = 0; block < s.blocks; ++block) {
    const int64_t wholeTiles = s.wholeTilesOfBlock(tiles, block);
    ASSERT_EQ(s.tilesOfBlock(tiles, block), wholeTiles + s.piecesOfBlock(block));
    for (int64_t k = 0; k < s.tilesOfBlock(tiles, block); ++k) {
      const SplitTail::BlockTile tile = s.tileOfBlock(tiles, block, k);
      ASSERT_EQ(tile.piece, k >= wholeTiles);
      ASSERT_LT(tile.first, tile.end) << "an empty piece: block " << block << " tile " << k;
      ASSERT_LE(tile.end, keyBlocks);
      for (int64_t key = tile.first; key < tile.end; ++key)
        ++runs[{tile.tile, key}];
      if (!tile.piece) {
        ASSERT_EQ(tile.tile, k * s.blocks + block);
        ASSERT_LT(tile.tile, fullTiles);
        continue;
      }
      ASSERT_LT(tile.tailTile, s.tiles);
      ASSERT_EQ(tile.tile, fullTiles + tile.tailTile);
      const auto tileParts = s.partsOfTailTile(tile.tailTile, block);
      ASSERT_EQ(tileParts.firstBlock, s.firstBlockOf(tile.tailTile));
      ASSERT_EQ(tileParts.lastBlock, s.lastBlockOf(tile.tailTile));
      ASSERT_GE(block, tileParts.firstBlock);
      ASSERT_LE(block, tileParts.lastBlock);
      ASSERT_EQ(tileParts.part, block - tileParts.firstBlock);
      ASSERT_EQ(tileParts.parts, tileParts.lastBlock - tileParts.firstBlock + 1);
      ASSERT_LE(tileParts.parts, s.part_slots) << "more parts than the workspace has slots";
      parts[tile.tailTile].insert(tileParts.part);
      // A tile in one piece is written by its block alone; a shared one by its last part.
      EXPECT_EQ(tileParts.shared == 0, tile.first == 0 && tile.end == keyBlocks);
    }
  }
  ASSERT_EQ(int64_t(runs.size()), tiles * keyBlocks) << "tiles " << tiles << " tail " << s.tiles;
  for (const auto &[where, count] : runs)
    ASSERT_EQ(count, 1) << "tile " << where.first << " key block " << where.second;
  for (const auto &[tile, indices] : parts) // parts 0 .. parts - 1, each once
    EXPECT_EQ(int64_t(indices.size()), s.lastBlockOf(tile) - s.firstBlockOf(tile) + 1)
        << "tail tile " << tile << ": " << indices.size() << " parts";
}

/// The tail's key blocks, block by block: each block's run [runStart(b), runStart(b + 1)) in order, the
/// runs together [0, L); its pieces those of the tail tiles the run touches, in order, holding exactly the
/// run's key blocks.
void expectRunsCoverTheTailOnce(const SplitTail &s) {
  ASSERT_EQ(s.runStart(0), 0);
  ASSERT_EQ(s.runStart(s.blocks), s.tailKeyBlocks());
  for (int64_t block = 0; block < s.blocks; ++block) {
    const int64_t first = s.runStart(block), end = s.runStart(block + 1);
    ASSERT_LE(first, end);
    int64_t next = first; // the run's next key block, over the tail's
    for (int64_t j = 0; j < s.piecesOfBlock(block); ++j) {
      const SplitTail::Piece piece = s.pieceOfBlock(block, j);
      ASSERT_EQ(piece.tile * s.key_blocks + piece.first, next) << "block " << block << " piece " << j;
      next = piece.tile * s.key_blocks + piece.end;
    }
    ASSERT_EQ(next, end) << "block " << block;
  }
}

TEST(SplitTail, EveryKeyBlockOnceWithAndWithoutTail) {
  for (int64_t blocks : {int64_t(1), int64_t(7), int64_t(132)})
    for (int64_t tiles : {blocks + 1, 2 * blocks + 3, int64_t(2048), int64_t(4096), int64_t(880), int64_t(133)})
      for (int64_t keyBlocks : {int64_t(1), int64_t(3), int64_t(12), int64_t(16), int64_t(133)}) {
        if (tiles <= blocks)
          continue;
        expectEveryKeyBlockOnce(tiles, SplitTail{0, keyBlocks, blocks, 0}); // no tail: T mod G blocks take one more
        expectEveryKeyBlockOnce(tiles, flashjit::planSplitTail(tiles, keyBlocks, blocks));
        expectEveryKeyBlockOnce(tiles, flashjit::lastWaveSplit(tiles, keyBlocks, blocks));
      }
}

TEST(SplitTail, TheRunsCoverTheTailsKeyBlocksOnceInOrder) {
  for (int64_t blocks : {int64_t(1), int64_t(7), int64_t(132)})
    for (int64_t tail : {int64_t(1), int64_t(5), blocks, blocks + 5})
      for (int64_t keyBlocks : {int64_t(1), int64_t(3), int64_t(16), int64_t(133)}) {
        const SplitTail s{tail, keyBlocks, blocks, 0};
        if (flashjit::splitTailFits(s))
          expectRunsCoverTheTailOnce(s);
      }
}

TEST(SplitTail, LastWaveSharesOneTileOverEveryBlock) {
  // 133 tiles of 133 key blocks on 132 blocks: the last tile alone, one key block (or two) a block.
  SplitTail s = flashjit::lastWaveSplit(133, 133, 132);
  EXPECT_EQ(s.tiles, 1);
  EXPECT_EQ(s.part_slots, 132);
  expectEveryKeyBlockOnce(133, s);
}

TEST(SplitTail, PlanSplitsThePapersGridAndNotWhereItCannotGain) {
  // d128, 16 heads x 16k tokens in 128-row tiles on 132 multiprocessors: 2048 tiles, 15.5 waves.
  SplitTail twoK = flashjit::planSplitTail(2048, 16, 132);
  EXPECT_GT(twoK.tiles, 0);
  EXPECT_EQ((2048 - twoK.tiles) % 132, 0);
  EXPECT_LT(flashjit::splitTailLoad(2048, 16, 132, twoK.tiles), flashjit::splitTailLoad(2048, 16, 132, 0));
  // Whole waves: nothing to split. One key block a tile: pieces would only add their overhead.
  EXPECT_EQ(flashjit::planSplitTail(132 * 8, 16, 132).tiles, 0);
  EXPECT_EQ(flashjit::planSplitTail(2048, 1, 132).tiles, 0);
  // Fewer tiles than blocks: the grid shrinks to the tiles, every block takes one.
  EXPECT_EQ(flashjit::planSplitTail(100, 16, 132).tiles, 0);
}

TEST(SplitTail, FitsOnlyWhereTheKernelCanNumberIt) {
  EXPECT_TRUE(flashjit::splitTailFits(SplitTail{68, 16, 132, 0}));
  EXPECT_FALSE(flashjit::splitTailFits(SplitTail{4, 32, 132, 0}))
      << "L = 128 < G: a block's run would be empty";
  EXPECT_FALSE(flashjit::splitTailFits(SplitTail{1 << 20, 1 << 10, 132, 0})) << "L x G past 2^31";
  EXPECT_EQ(flashjit::lastWaveSplit(4096, 32, 132).tiles, 0); // 4 tiles x 32 key blocks < 132
}

TEST(SplitTail, WorkspaceHasACounterPerTileAndWarpgroupAndASlotPerPart) {
  SplitTail s = flashjit::lastWaveSplit(2048, 16, 132); // 68 tiles, 3 parts at most
  EXPECT_EQ(s.tiles, 68);
  EXPECT_EQ(s.part_slots, 3);
  EXPECT_EQ(flashjit::splitTailCounterBytes(s, 2), 68 * 2 * 4);
  EXPECT_EQ(flashjit::splitTailPartBytes(s, 2, 128), 68 * 3 * 2 * 128 * (64 + 4) * 4);
  EXPECT_EQ(flashjit::splitTailPartBytes(SplitTail{}, 2, 128), 0);
}

TEST(SplitTail, TheEnvironmentsModeChoosesThePlan) {
  const SplitTail planned = flashjit::planSplitTail(2048, 16, 132), wave = flashjit::lastWaveSplit(2048, 16, 132);
  auto same = [](const SplitTail &a, const SplitTail &b) {
    return a.tiles == b.tiles && a.key_blocks == b.key_blocks && a.blocks == b.blocks && a.part_slots == b.part_slots;
  };
  EXPECT_TRUE(same(flashjit::splitTailFor("", 2048, 16, 132), planned));
  EXPECT_TRUE(same(flashjit::splitTailFor("wave", 2048, 16, 132), wave));
  EXPECT_EQ(flashjit::splitTailFor("0", 2048, 16, 132).tiles, 0);
  EXPECT_EQ(flashjit::splitTailFor("0", 2048, 16, 132).key_blocks, 16);
}

} // namespace
