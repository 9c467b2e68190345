// The TMA view of K and V for kernels with `tma` (sm_90a's wgmma path): how a [batch, kv_heads, seqlen_k,
// head_dim] tensor with element strides (batch, head, row) becomes the 4-dimensional tensor map that
// cuTensorMapEncodeTiled takes, innermost dimension first. The box is 64 columns (128 bytes, the span of
// the 128-byte swizzle the kernel reads through its matrix descriptors) by block_n rows; a head_dim 128
// tile takes two boxes. Rows past seqlen_k are outside the tensor, so TMA fills them with zeros, as the
// cp.async path does. Header-only so that its unit test can reach it.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace flashjit {

struct TensorMapLayout {
  std::array<uint64_t, 4> dims{};    ///< elements: head_dim, seqlen_k, kv_heads, batch
  std::array<uint64_t, 3> strides{}; ///< bytes between consecutive rows, heads and batches
  std::array<uint32_t, 4> box{};     ///< 64 columns, box_rows rows, one head, one batch
};

/// The tensor map of one K or V tensor, or an error saying why TMA cannot describe it (TMA needs strides
/// that are positive multiples of 16 bytes below 2^40).
inline std::string tensorMapLayout(int headDim, int seqlen, int kvHeads, int batch, const long long strides[3],
                                   int elementBytes, int boxRows, TensorMapLayout &layout) {
  layout.dims = {uint64_t(headDim), uint64_t(seqlen), uint64_t(kvHeads), uint64_t(batch)};
  const long long rowHeadBatch[3] = {strides[2], strides[1], strides[0]};
  static const char *names[3] = {"row", "head", "batch"};
  for (int i = 0; i < 3; ++i) {
    const long long bytes = rowHeadBatch[i] * elementBytes;
    if (bytes <= 0 || bytes % 16 != 0 || bytes >= (1LL << 40))
      return std::string("the ") + names[i] + " stride (" + std::to_string(rowHeadBatch[i]) +
             " elements) is not a positive multiple of 16 bytes below 2^40, which TMA needs";
    layout.strides[i] = uint64_t(bytes);
  }
  layout.box = {64, uint32_t(boxRows), 1, 1};
  return "";
}

} // namespace flashjit
