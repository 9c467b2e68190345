// The launch-time divisors of the grid mapping: exact for every dividend below 2^31.
#include "runtime/FastDivisor.h"

#include <gtest/gtest.h>

#include <random>

using flashjit::fastDivide;
using flashjit::fastDivisor;

TEST(FastDivisor, ExactForSmallAndExtremeDividends) {
  std::mt19937 random(7);
  std::vector<uint32_t> divisors = {1, 2, 3, 5, 7, 16, 31, 32, 33, 63, 100, 127, 128, 1000, 4095, 65535, 65536,
                                    1u << 20, (1u << 30) + 1, 0x7fffffffu};
  for (int i = 0; i < 200; ++i)
    divisors.push_back(1 + random() % 100000);
  for (uint32_t d : divisors) {
    auto divisor = fastDivisor(d);
    std::vector<uint32_t> dividends = {0, 1, d - 1, d, d + 1, 2 * d - 1, 0x7ffffffeu, 0x7fffffffu};
    for (int i = 0; i < 2000; ++i)
      dividends.push_back(random() & 0x7fffffffu);
    for (uint32_t n : dividends) {
      if (n > 0x7fffffffu)
        continue;
      ASSERT_EQ(fastDivide(n, divisor), n / d) << n << " / " << d;
    }
  }
}
