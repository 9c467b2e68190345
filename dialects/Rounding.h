// How an f32 value rounds to the 16-bit element types of flash tiles (bf16, f16): to nearest, ties to even,
// as arith.truncf and the tensor cores' conversions do. Plain C++ (no MLIR), used by the interpreter
// (truncf) and by the float64 reference's inputs (runtime/Reference.cpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace flashjit {

/// The nearest bf16 value (ties to even), returned as f32; NaN stays NaN.
inline float roundToBF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) // NaN stays NaN
    return value;
  bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&value, &bits, sizeof bits);
  return value;
}

/// The nearest f16 value (ties to even), returned as f32: ±inf from 65520 up (the midpoint past 65504, the
/// largest f16, rounds to the even neighbour, 2^16), subnormals below 2^-14 in steps of 2^-24; NaN stays NaN.
inline float roundToF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const uint32_t sign = bits & 0x80000000u, magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) // NaN stays NaN
    return value;
  if (magnitude >= 0x477ff000u) // 65520 and up (and inf)
    return sign ? -INFINITY : INFINITY;
  if (magnitude < 0x38800000u) // below 2^-14: f16 subnormals, multiples of 2^-24 (exact in f32 at this scale)
    return std::nearbyint(value * 16777216.0f) / 16777216.0f;
  // A normal f16: 10 of f32's 23 mantissa bits, rounded to nearest even (a carry moves the exponent up).
  uint32_t rounded = (magnitude + 0xfffu + ((magnitude >> 13) & 1u)) & ~0x1fffu;
  rounded |= sign;
  std::memcpy(&value, &rounded, sizeof rounded);
  return value;
}

} // namespace flashjit
