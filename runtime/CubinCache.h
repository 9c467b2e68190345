// Machine code (cubin) for compiled kernels, cached on disk next to the PTX so that a process that finds a
// kernel in the cache skips the CUDA driver's JIT as well as MLIR.
#pragma once

#include "runtime/flashjit.h"

#include <string>

namespace flashjit {

struct Cubin {
  std::string image;
  bool from_cache = false; ///< read from the disk cache rather than produced by the driver's JIT
};

/// The cubin of `kernel` for the current context's device: the disk cache's entry, keyed by the device's
/// chip, the driver's version and the PTX's checksum, or else the driver's JIT of the PTX (cuLink*), which
/// is then stored. Throws Error(DriverError) with the JIT's log when the driver rejects the PTX.
Cubin cubinFor(const CompiledKernel &kernel);

/// Adds the cubin counters to `stats`; resets them.
void addCubinStats(CacheStats &stats);
void clearCubinStats();

} // namespace flashjit
