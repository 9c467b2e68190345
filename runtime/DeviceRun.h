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
  /// `repeats` CUDA-event timings, rotating through the copies; each launch waited for, or all of them
  /// queued back to back (`back_to_back`, see benchmark()).
  BenchReport run(const Kernel &kernel, int repeats, int warmup, bool back_to_back = false);
  /// Runs `kernel` back to back for about `ms` milliseconds: the GPU's clock and power settle as under a
  /// sustained load (after an idle gap or another kernel they differ for ~100 ms).
  void warmUp(const Kernel &kernel, double ms);
  const ProblemShape &shape() const; ///< resolved (kv_heads and scale filled in)

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace flashjit
