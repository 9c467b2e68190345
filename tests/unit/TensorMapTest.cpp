// The TMA view of K and V (runtime/TensorMap.h): dimensions innermost first, byte strides of rows, heads
// and batches, a 64-column box of block_n rows; strides TMA cannot take are refused with the reason.
#include "runtime/TensorMap.h"
#include "runtime/flashjit_testing.h"

#include <gtest/gtest.h>

using flashjit::TensorMapLayout;

TEST(TensorMap, DescribesBothLayoutsWithGroupedHeads) {
  // [batch 2, kv_heads 3, seqlen 333, head_dim 128] of 16-bit elements.
  for (flashjit::Layout layout : {flashjit::Layout::BSHD, flashjit::Layout::BHSD}) {
    std::array<int64_t, 4> strides = flashjit::layoutStrides(layout, 2, 3, 333, 128);
    const long long elementStrides[3] = {strides[0], strides[1], strides[2]};
    TensorMapLayout map;
    ASSERT_EQ(flashjit::tensorMapLayout(128, 333, 3, 2, elementStrides, 2, 192, map), "");
    EXPECT_EQ(map.dims, (std::array<uint64_t, 4>{128, 333, 3, 2}));
    EXPECT_EQ(map.box, (std::array<uint32_t, 4>{64, 192, 1, 1}));
    if (layout == flashjit::Layout::BSHD) // row after row of all heads
      EXPECT_EQ(map.strides, (std::array<uint64_t, 3>{3 * 128 * 2, 128 * 2, 333 * 3 * 128 * 2}));
    else // head after head
      EXPECT_EQ(map.strides, (std::array<uint64_t, 3>{128 * 2, 333 * 128 * 2, 3 * 333 * 128 * 2}));
  }
}

TEST(TensorMap, RefusesStridesTmaCannotTake) {
  TensorMapLayout map;
  const long long padded[3] = {1000 * 72, 1000 * 72, 72}; // 144-byte rows: a multiple of 16
  EXPECT_EQ(flashjit::tensorMapLayout(64, 1000, 1, 1, padded, 2, 64, map), "");
  const long long unaligned[3] = {1000 * 68, 1000 * 68, 68}; // 136-byte rows
  EXPECT_NE(flashjit::tensorMapLayout(64, 1000, 1, 1, unaligned, 2, 64, map)
                .find("the row stride (68 elements) is not a positive multiple of 16 bytes"),
            std::string::npos);
  const long long zero[3] = {0, 64, 64};
  EXPECT_NE(flashjit::tensorMapLayout(64, 1, 1, 1, zero, 2, 64, map).find("the batch stride"), std::string::npos);
}
