// dialects/Rounding.h: f32 to bf16 and f16, to nearest with ties to even, against the compiler's own
// conversion to _Float16 and a direct bf16 reference, over every f32 exponent with random mantissas and
// the edges (ties, the largest f16, overflow, subnormals, zeros, infinities, NaN).
#include "dialects/Rounding.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace {

float fromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

uint32_t bitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

/// Values to round: every exponent with random mantissas, both signs, and the edges.
std::vector<float> samples() {
  std::mt19937 generator(17);
  std::vector<float> values = {0.0f, -0.0f, 1.0f, 65504.0f, 65519.99f, 65520.0f, 65536.0f, 1e30f,
                               std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                               std::ldexp(1.0f, -14), std::ldexp(1.0f, -24), std::ldexp(1.0f, -25),
                               std::ldexp(3.0f, -26), std::ldexp(1.0f, -30)};
  for (uint32_t exponent = 0; exponent < 255; ++exponent)
    for (int i = 0; i < 200; ++i) {
      uint32_t mantissa = generator() & 0x7fffffu;
      if (i < 8) // ties and near-ties for both roundings
        mantissa = (mantissa & ~0x1fffu) | (i % 2 ? 0x1000u : 0x0fffu);
      if (i >= 8 && i < 16)
        mantissa = (mantissa & ~0xffffu) | (i % 2 ? 0x8000u : 0x7fffu);
      for (uint32_t sign : {0u, 0x80000000u})
        values.push_back(fromBits(sign | exponent << 23 | mantissa));
    }
  return values;
}

TEST(Rounding, F16MatchesTheCompilersConversion) {
  for (float value : samples()) {
    const float expected = static_cast<float>(static_cast<_Float16>(value));
    ASSERT_EQ(bitsOf(flashjit::roundToF16(value)), bitsOf(expected)) << value << " (bits " << std::hex
                                                                      << bitsOf(value) << ")";
  }
  EXPECT_TRUE(std::isnan(flashjit::roundToF16(std::numeric_limits<float>::quiet_NaN())));
}

TEST(Rounding, BF16KeepsTheUpperHalfRoundedToEven) {
  for (float value : samples()) {
    const uint32_t bits = bitsOf(value), low = bits & 0xffffu;
    uint32_t expected = bits & 0xffff0000u;
    if (low > 0x8000u || (low == 0x8000u && (bits & 0x10000u)))
      expected += 0x10000u;
    if ((bits & 0x7fffffffu) <= 0x7f800000u) // NaN is checked apart
      ASSERT_EQ(bitsOf(flashjit::roundToBF16(value)), expected) << value;
  }
  EXPECT_TRUE(std::isnan(flashjit::roundToBF16(std::numeric_limits<float>::quiet_NaN())));
}

} // namespace
