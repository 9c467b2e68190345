// Division by a divisor fixed for a launch, without a divide instruction (Granlund and Montgomery; CUTLASS's
// FastDivmod): the host computes (magic, shift) once, the kernel computes n / d as
// mulhi(2n, magic) >> shift. Exact for every n < 2^31 and every d from 1 to 2^31 - 1.
#pragma once

#include <cstdint>

namespace flashjit {

struct FastDivisor {
  uint32_t magic = 1u << 31; ///< ceil(2^(31 + l) / d) with l = ceil(log2 d)
  uint32_t shift = 0;         ///< l
};

inline FastDivisor fastDivisor(uint32_t d) {
  uint32_t l = 0;
  while ((uint64_t(1) << l) < d)
    ++l;
  // 2^(31 + l) / d < 2^32 because d > 2^(l - 1) (and is 2^31 for d = 1): the magic number fits 32 bits.
  // n·magic / 2^(31 + l) is n / d plus less than 1/d, so its floor is n / d for n < 2^31.
  return {uint32_t(((uint64_t(1) << (31 + l)) + d - 1) / d), l};
}

/// What the kernel computes (here for tests): 2n < 2^32, and mulhi(2n, magic) = n·magic / 2^31.
inline uint32_t fastDivide(uint32_t n, FastDivisor divisor) {
  return uint32_t((uint64_t(2 * n) * divisor.magic) >> 32) >> divisor.shift;
}

} // namespace flashjit
