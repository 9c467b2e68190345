// The kernels the main job builds and the configuration each gets until the autotuner picks one.
#include "dialects/KernelConfigRules.h"
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
  return KernelConfig{64, spec.head_dim <= 64 ? 128 : 64, /*warps=*/4, /*stages=*/2, chip};
}

std::vector<KernelConfig> tuningSpace(const AttentionSpec &spec, const std::string &chip) {
  // One 16-row group per warp (64 rows over 4 warps, 128 over 8) keeps Q, the scores and the output
  // accumulator in registers; key blocks from 32 to 128, or to 64 for heads over 64 (128 spills);
  // double or triple buffering of K and V where shared memory allows. Two row groups per warp (128 rows
  // over 4 warps), where each K/V fragment read from shared memory feeds two MMAs, hold twice the
  // accumulator: key blocks up to 64; for larger heads (whose query tile then stays in shared memory),
  // key blocks of 64 only with double buffering on sm_90 (ptxas -v: with three stages, or for sm_80, the
  // kernel spills).
  // The wgmma path (sm_90a) keeps no K/V fragments in registers: wider key blocks fit, up to 256 keys at
  // head_dim 64 and 192 at 128 (ptxas -v: 0 spills).
  std::vector<KernelConfig> space;
  const bool hopper = isHopper(chip);
  for (auto [blockM, warps] : {std::pair{64, 4}, std::pair{128, 8}, std::pair{128, 4}})
    for (int blockN : {32, 64, 128, 192, 256})
      for (int stages : {2, 3}) {
        const int widestKeyBlock = usesWgmma(chip, blockM, blockN, warps, spec.head_dim)
                                       ? (spec.head_dim > 64 ? 192 : 256)
                                       : (spec.head_dim > 64 ? 64 : 128);
        if (blockN > widestKeyBlock)
          continue;
        if (blockM / warps > 16 && (blockN > 64 || (spec.head_dim > 64 && blockN == 64 && (stages > 2 || !hopper))))
          continue;
        if (sharedMemoryBytes(chip, blockM, blockN, warps, stages, spec.head_dim) > sharedMemoryLimit(chip))
          continue;
        space.push_back(KernelConfig{blockM, blockN, warps, stages, chip});
      }
  return space;
}

} // namespace flashjit
