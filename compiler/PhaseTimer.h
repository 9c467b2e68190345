// Wall time of a compile's consecutive phases (flashjit compile --time prints them).
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace flashjit {

/// Milliseconds spent in each named phase, in order.
using PhaseTimes = std::vector<std::pair<std::string, double>>;

/// Appends to `phases` (when given) the time since the previous lap, or since construction.
class PhaseTimer {
public:
  explicit PhaseTimer(PhaseTimes *phases) : phases(phases) {}
  void lap(const std::string &phase) {
    auto now = std::chrono::steady_clock::now();
    if (phases)
      phases->emplace_back(phase, std::chrono::duration<double, std::milli>(now - last).count());
    last = now;
  }

private:
  PhaseTimes *phases;
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
};

} // namespace flashjit
