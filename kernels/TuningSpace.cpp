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
  KernelConfig config{64, spec.head_dim <= 64 ? 128 : 64, /*warps=*/4, /*stages=*/2, chip};
  config.tma = usesWgmma(chip, config.block_m, config.block_n, config.warps, spec.head_dim);
  // Hopper at head_dim 128: FlashAttention-3's structure, two computing warpgroups fed by a producer
  // warpgroup, the softmax under the previous block's P·V (610-719 TFLOP/s on the H100, 2k-16k tokens).
  if (spec.head_dim == 128 && usesWgmma(chip, 128, 192, 8, spec.head_dim)) {
    config = KernelConfig{128, 192, /*warps=*/8, /*stages=*/2, chip};
    config.tma = config.warp_specialized = config.wg_overlap = true;
  }
  return config;
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
  // head_dim 64 and 192 at 128 (ptxas -v: 0 spills). It loads K and V by TMA (4-10% over cp.async at
  // head_dim 128 on the H100), and with two computing warpgroups (8 warps) is also tried with a producer
  // warpgroup (warp_specialized; with one, the producer's registers would halve the blocks per SM), with
  // and without the softmax overlapped with the previous block's P·V (wg_overlap; key blocks up to 192,
  // where it does not spill).
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
        KernelConfig config{blockM, blockN, warps, stages, chip};
        config.tma = usesWgmma(chip, blockM, blockN, warps, spec.head_dim);
        space.push_back(config);
        if (config.tma && warps == 8) {
          config.warp_specialized = true;
          space.push_back(config);
          if (blockN <= 192) {
            config.wg_overlap = true;
            space.push_back(config);
          }
        }
      }
  return space;
}

} // namespace flashjit
