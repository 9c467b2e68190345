// The interleaved-chain reduction behind the softmax's row maxima: every operand combined exactly once, at
// the depth the chains promise.
#include "compiler/ChainedReduce.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

using flashjit::reduceInChains;

namespace {
struct Node {
  std::string operands; // sorted: which operands went in
  int depth = 0;        // combines on the longest path to this value
};

int ceilLog2(size_t n) {
  int bits = 0;
  while ((size_t(1) << bits) < n)
    ++bits;
  return bits;
}
} // namespace

TEST(ChainedReduce, CombinesEveryOperandOnceAtTheChainsDepth) {
  for (size_t chains : {1, 2, 4, 8})
    for (size_t n = 1; n <= 70; ++n) {
      std::vector<Node> leaves;
      std::string expected;
      for (size_t i = 0; i < n; ++i) {
        leaves.push_back({std::string(1, char('!' + i)), 0});
        expected += char('!' + i);
      }
      int combines = 0;
      Node root = reduceInChains(leaves, chains, [&](const Node &x, const Node &y) {
        ++combines;
        std::string both = x.operands + y.operands;
        std::sort(both.begin(), both.end());
        return Node{both, std::max(x.depth, y.depth) + 1};
      });
      EXPECT_EQ(root.operands, expected) << n << " values, " << chains << " chains";
      EXPECT_EQ(combines, int(n) - 1) << n << " values, " << chains << " chains";
      size_t used = std::min(chains, n);
      EXPECT_EQ(root.depth, int((n + used - 1) / used) - 1 + ceilLog2(used)) << n << " values, " << chains << " chains";
    }
}

TEST(ChainedReduce, MaximumAsOneChainGivesIt) {
  std::vector<float> values = {3.5f, -1.0f, 7.25f, 7.0f, -20.0f, 0.0f, 7.25f, 2.0f, -3.0f};
  float chain = values[0];
  for (float v : values)
    chain = std::max(chain, v);
  EXPECT_EQ(reduceInChains(values, 4, [](float x, float y) { return std::max(x, y); }), chain);
}
