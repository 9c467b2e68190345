// The mask interface (dialects/Mask.h): which keys a query row sees, and the block classes derived from
// it (which key blocks a query block needs fully, partly or not at all, and the converse), checked against
// a brute force over every (row, key) pair of small shapes, with the visibility rule written out here.
#include "dialects/Mask.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace flashjit::mask;

namespace {

/// Row i sees key j: the rule as the documentation states it.
bool seesByDefinition(const Mask &mask, int64_t seqlenQ, int64_t seqlenK, int64_t i, int64_t j) {
  const int64_t d = mask.alignment == Alignment::bottom_right ? seqlenK - seqlenQ : 0;
  if (j < 0 || j >= seqlenK)
    return false;
  if (mask.hasRight() && j > i + d + mask.right)
    return false;
  if (mask.hasLeft() && j < i + d - mask.left)
    return false;
  return true;
}

std::vector<Mask> masks() {
  std::vector<Mask> all = {Mask::none()};
  for (Alignment alignment : {Alignment::top_left, Alignment::bottom_right}) {
    all.push_back(Mask::causal(alignment));
    for (int64_t left : {0, 1, 7, 16, 40, 500})
      all.push_back(Mask::slidingWindow(alignment, left));
    all.push_back({alignment, 5, 3});           // a band on both sides
    all.push_back({alignment, kUnbounded, 9});  // causal shifted right
    all.push_back({alignment, 12, kUnbounded}); // only a left bound
  }
  return all;
}

std::string describe(const Mask &mask, int64_t seqlenQ, int64_t seqlenK) {
  return std::string(mask.alignment == Alignment::bottom_right ? "bottom_right" : "top_left") + " left " +
         std::to_string(mask.left) + " right " + std::to_string(mask.right) + ", seqlen_q " +
         std::to_string(seqlenQ) + ", seqlen_k " + std::to_string(seqlenK);
}

const std::vector<std::pair<int64_t, int64_t>> kLengths = {{1, 1},    {7, 7},   {64, 64}, {100, 37},
                                                           {37, 100}, {129, 127}, {1, 90}, {90, 1}};

TEST(Mask, VisibleFollowsTheDefinition) {
  for (const Mask &mask : masks())
    for (auto [seqlenQ, seqlenK] : kLengths)
      for (int64_t i = 0; i < seqlenQ; ++i)
        for (int64_t j = 0; j < seqlenK; ++j)
          ASSERT_EQ(visible(mask, seqlenQ, seqlenK, i, j), seesByDefinition(mask, seqlenQ, seqlenK, i, j))
              << describe(mask, seqlenQ, seqlenK) << ", row " << i << ", key " << j;
}

/// The class of a block pair from every (row, key) pair in it (rows and keys clipped to their lengths;
/// a key block reaching past seqlen_k is never full: its keys past the end need the mask).
BlockClass classByBruteForce(const Mask &mask, int64_t seqlenQ, int64_t seqlenK, int64_t q0, int64_t blockM,
                             int64_t k0, int64_t blockN) {
  bool any = false, all = k0 + blockN <= seqlenK && q0 + blockM <= seqlenQ;
  for (int64_t i = q0; i < std::min(q0 + blockM, seqlenQ); ++i)
    for (int64_t j = k0; j < std::min(k0 + blockN, seqlenK); ++j) {
      bool sees = seesByDefinition(mask, seqlenQ, seqlenK, i, j);
      any |= sees;
      all &= sees;
    }
  return !any ? BlockClass::skipped : all ? BlockClass::full : BlockClass::partial;
}

TEST(Mask, KeyBlockClassesOfEveryQueryBlock) {
  for (const Mask &mask : masks())
    for (auto [seqlenQ, seqlenK] : kLengths)
      for (int64_t blockM : {1, 16, 64})
        for (int64_t blockN : {1, 16, 32})
          for (int64_t q0 = 0; q0 < seqlenQ; q0 += blockM)
            for (int64_t k0 = 0; k0 < seqlenK; k0 += blockN) {
              // The key-block class is of the query block's real rows: a padded last query block is
              // judged by its rows below seqlen_q.
              const int64_t rows = std::min(blockM, seqlenQ - q0);
              ASSERT_EQ(keyBlockClass(mask, seqlenQ, seqlenK, q0, blockM, k0, blockN),
                        classByBruteForce(mask, seqlenQ, seqlenK, q0, rows, k0, blockN))
                  << describe(mask, seqlenQ, seqlenK) << ", query block " << q0 << "+" << blockM
                  << ", key block " << k0 << "+" << blockN;
            }
}

TEST(Mask, QueryBlockClassesOfEveryKeyBlock) {
  for (const Mask &mask : masks())
    for (auto [seqlenQ, seqlenK] : kLengths)
      for (int64_t blockM : {1, 16, 64})
        for (int64_t blockN : {1, 16, 32})
          for (int64_t k0 = 0; k0 < seqlenK; k0 += blockN)
            for (int64_t q0 = 0; q0 < seqlenQ; q0 += blockM)
              ASSERT_EQ(queryBlockClass(mask, seqlenQ, seqlenK, k0, blockN, q0, blockM),
                        classByBruteForce(mask, seqlenQ, seqlenK, q0, blockM, k0, blockN))
                  << describe(mask, seqlenQ, seqlenK) << ", key block " << k0 << "+" << blockN
                  << ", query block " << q0 << "+" << blockM;
}

TEST(Mask, KeyRangesOfRowsBoundTheirKeys) {
  // begin/end: the first and one past the last key some row sees; fullBegin/fullEnd: every row.
  HostArithmetic a;
  for (const Mask &mask : masks())
    for (auto [seqlenQ, seqlenK] : kLengths) {
      MaskFormula<HostArithmetic> f(mask, a);
      const int64_t d = f.diagonal(seqlenQ, seqlenK);
      for (int64_t first = 0; first < seqlenQ; ++first)
        for (int64_t last : {first, std::min(seqlenQ - 1, first + 5), seqlenQ - 1}) {
          const VisibleRange<int64_t> keys = f.keysOfRows(first, last, d, seqlenK);
          for (int64_t j = 0; j < seqlenK; ++j) {
            bool some = false, every = true;
            for (int64_t i = first; i <= last; ++i) {
              some |= seesByDefinition(mask, seqlenQ, seqlenK, i, j);
              every &= seesByDefinition(mask, seqlenQ, seqlenK, i, j);
            }
            // Some row sees j only inside [begin, end); every row sees j inside [fullBegin, fullEnd).
            if (some)
              ASSERT_TRUE(j >= keys.begin && j < keys.end) << describe(mask, seqlenQ, seqlenK) << ", key " << j;
            ASSERT_EQ(every, j >= keys.fullBegin && j < keys.fullEnd)
                << describe(mask, seqlenQ, seqlenK) << ", rows " << first << ".." << last << ", key " << j;
          }
        }
    }
}

TEST(Mask, Errors) {
  EXPECT_EQ(maskError(Mask::causal(Alignment::top_left)), "");
  EXPECT_NE(maskError({Alignment::top_left, -2, 0}).find("left"), std::string::npos);
  EXPECT_TRUE(Mask::causal(Alignment::bottom_right).isCausal());
  EXPECT_FALSE(Mask::slidingWindow(Alignment::bottom_right, 4).isCausal());
  EXPECT_FALSE(Mask::none().hidesKeys());
}

} // namespace
