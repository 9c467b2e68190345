// Inputs for timing kernels, prepared once and shared by every kernel timed on them (benchmark() makes
// its own; the autotuner times all its candidates on one set).
#pragma once

#include "runtime/flashjit.h"

#include <memory>

namespace flashjit {

class BenchInputs {
public:
  /// Random inputs of `shape` on the GPU, in as many copies as it takes to keep them out of the L2
  /// cache between launches, with their output buffers.
  BenchInputs(const AttentionSpec &spec, const ProblemShape &shape);
  ~BenchInputs();

  /// Times `kernel` (of the spec the inputs were made for): `warmup` launches, then the median of
  /// `repeats` CUDA-event timings, rotating through the copies.
  BenchReport run(const Kernel &kernel, int repeats, int warmup);
  const ProblemShape &shape() const; ///< resolved (kv_heads and scale filled in)

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace flashjit
