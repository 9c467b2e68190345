// The kernels the main job builds and the configuration each gets until the autotuner picks one.
#include "runtime/flashjit.h"

namespace flashjit {

std::vector<AttentionSpec> defaultSpecs() {
  std::vector<AttentionSpec> specs;
  for (int headDim : {64, 128})
    for (Causal causal : {Causal::none, Causal::bottom_right})
      for (DType dtype : {DType::f16, DType::bf16})
        specs.push_back(AttentionSpec{headDim, dtype, causal, /*logsumexp=*/true});
  return specs;
}

KernelConfig defaultConfig(const AttentionSpec &spec, const std::string &chip) {
  // 16 query rows per warp (4 warps, 64 rows) keep Q, S and the accumulator in registers without
  // spilling; wide key blocks while the head is small.
  KernelConfig config;
  config.block_m = 64;
  config.block_n = spec.head_dim <= 64 ? 128 : 64;
  config.warps = 4;
  config.stages = 2;
  config.chip = chip;
  return config;
}

} // namespace flashjit
