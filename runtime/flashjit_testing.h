// Test support, part of the public API: random attention inputs and the float64 reference that kernels
// are checked against. Used by interpret mode, the unit tests and the GPU tests.
#pragma once

#include "flashjit.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace flashjit {

/// Element strides of a [batch, heads, seqlen, head_dim] tensor stored in `layout`.
FLASHJIT_API std::array<int64_t, 4> layoutStrides(Layout layout, int64_t batch, int64_t heads, int64_t seqlen,
                                     int64_t headDim);

/// One problem's inputs (random, never all zeros; rounded to the spec's dtype) and its geometry.
struct AttentionData {
  AttentionSpec spec;
  ProblemShape shape; ///< with kv_heads and softmax_scale resolved
  std::vector<float> q, k, v;
  std::array<int64_t, 4> qStrides, kvStrides; ///< O uses qStrides; lse is [batch, heads, seqlen_q]

  int64_t outputElements() const { return int64_t(shape.batch) * shape.heads * shape.seqlen_q * spec.head_dim; }
  int64_t lseElements() const { return int64_t(shape.batch) * shape.heads * shape.seqlen_q; }
};

/// Checks the shape (positive sizes, kv_heads dividing heads, positive scale) and throws Error naming
/// the offending field; resolves kv_heads = 0 and softmax_scale = 0 to their defaults.
FLASHJIT_API ProblemShape resolveShape(const AttentionSpec &spec, const ProblemShape &shape);

/// `text` as a JSON string: quoted, with quotes and backslashes escaped and newlines turned to spaces
/// (for the reports flashjit and its tools write).
FLASHJIT_API std::string jsonString(const std::string &text);

/// Standard-normal inputs from `seed`, rounded to the spec's dtype.
FLASHJIT_API AttentionData randomAttentionData(const AttentionSpec &spec, const ProblemShape &shape, unsigned seed);

/// The rounding applied when a value is stored in the spec's dtype.
FLASHJIT_API float roundToDType(DType dtype, float value);

/// Compares O (in the layout of Q) and, if the spec writes it, lse ([batch, heads, seqlen_q]) with the
/// float64 reference on the given rows (flat indices b·heads·seqlen_q + h·seqlen_q + i); all rows if
/// `rows` is empty.
FLASHJIT_API CheckReport compareWithReference(const AttentionData &data, const std::vector<float> &output,
                                 const std::vector<float> &lse, const std::vector<int64_t> &rows = {});

/// checkOnDevice for any way of launching: `launch` gets device buffers holding random inputs of `shape`
/// (from `seed`) and NaN-poisoned outputs, and must start the computation on the default stream.
FLASHJIT_API CheckReport checkOnDevice(const AttentionSpec &spec, const ProblemShape &shape, unsigned seed,
                                       int sampled_rows, const std::function<void(const AttentionArgs &)> &launch);

/// Where a check went wrong, for logs: "N rows over tolerance, worst at batch b, head h, row i, column c"
/// (empty when no row is over tolerance).
FLASHJIT_API std::string describeWrongRows(const CheckReport &report, const ProblemShape &shape);

/// The tolerance on relative error for a dtype: f32 1e-5, f16 2e-3, bf16 1e-2.
FLASHJIT_API double toleranceFor(DType dtype);

/// body(0), ..., body(count - 1), each once, on `threads` threads (0: one per core), for tools that
/// compile many kernels at once; body must not throw.
inline void forEachInParallel(size_t count, unsigned threads, const std::function<void(size_t)> &body) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers(threads ? threads : std::max(1u, std::thread::hardware_concurrency()));
  for (std::thread &worker : workers)
    worker = std::thread([&] {
      for (size_t i; (i = next++) < count;)
        body(i);
    });
  for (std::thread &worker : workers)
    worker.join();
}

} // namespace flashjit
