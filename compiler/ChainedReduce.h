// Reductions in a few interleaved chains, for row maxima built as IR. One chain of n combines waits out the
// ALU latency (~4 cycles) at every step; `chains` independent ones let the GPU issue their combines back to
// back, at depth about n / chains + log2 chains. A full tree (chains = n) would be shallower still, but
// its first level keeps n / 2 more values live: the tightest sm_90a kernels then spill.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <utility>
#include <vector>

namespace flashjit {

/// Value i goes to chain i % chains; the chains' results are then combined pairwise. `combine` must be
/// associative and commutative (a maximum, a sum), and `values` not empty.
template <typename T, typename Combine>
T reduceInChains(const std::vector<T> &values, std::size_t chains, Combine combine) {
  assert(!values.empty() && chains > 0 && "reduceInChains of no values or no chains");
  std::vector<T> partial(values.begin(), values.begin() + std::min(chains, values.size()));
  for (std::size_t i = partial.size(); i < values.size(); ++i)
    partial[i % chains] = combine(partial[i % chains], values[i]);
  while (partial.size() > 1) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i + 1 < partial.size(); i += 2)
      partial[kept++] = combine(partial[i], partial[i + 1]);
    if (partial.size() % 2 == 1)
      partial[kept++] = std::move(partial.back());
    partial.resize(kept);
  }
  return std::move(partial.front());
}

} // namespace flashjit
