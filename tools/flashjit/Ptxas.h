// Offline check of generated PTX with NVIDIA's ptxas (when the CUDA toolkit is installed): registers,
// spills and shared memory, as the main job and CI report them.
#pragma once

#include <string>
#include <vector>

namespace flashjit::tools {

struct PtxasReport {
  bool ran = false;       ///< ptxas was found and ran
  bool ok = false;        ///< it assembled the PTX
  int registers = 0;
  int spillStores = 0;    ///< bytes
  int spillLoads = 0;     ///< bytes
  int sharedStatic = 0;   ///< bytes of static shared memory
  std::vector<std::string> warnings; ///< ptxas's warnings and numbered advisories, such as C7517/C7519 (a
                                     ///< wgmma wait or fence it had to inject) or C7514 (serialized wgmma)
  std::string log;        ///< what ptxas printed
};

/// Assembles `ptx` for `chip` with `ptxas -v` (found in $CUDA_HOME/bin or /usr/local/cuda/bin).
PtxasReport runPtxas(const std::string &ptx, const std::string &chip);

} // namespace flashjit::tools
