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
  // Hopper: FlashAttention-3's structure, computing warpgroups fed by a producer warpgroup, each one's
  // softmax under its previous block's P·V and the others' wgmmas (ping-pong). Head dim 128: two of
  // them, 128x192 (598-716 TFLOP/s on the H100, 2k-16k tokens); head dim 64: three, 192x128, whose
  // softmax (as long as the GEMMs at this head size) then has two warpgroups' wgmmas to hide under
  // (448-537 TFLOP/s, against 446-481 for 64x128 over one warpgroup).
  const bool wide = spec.head_dim == 128;
  KernelConfig fa3{wide ? 128 : 192, wide ? 192 : 128, /*warps=*/wide ? 8 : 12, /*stages=*/2, chip};
  if (usesWgmma(chip, fa3.block_m, fa3.block_n, fa3.warps, spec.head_dim)) {
    config = fa3;
    config.tma = config.warp_specialized = config.wg_overlap = true;
  }
  return config;
}

// Conditional rescaling on the wgmma path (the output rescaled only when a row's maximum grew past 2^8)
// won or lost by configuration on the H200 (benchmarks/results/h200-sm90a-conditional-rescale-ab.txt, 2k
// and 4k tokens): one warpgroup (d64 64x128) +1.5%, persistent 128x128 over two ping-ponging warpgroups
// +3-4% at head_dim 128 without a mask and +1.4% with one, but -8.5% at head_dim 64 under a causal mask
// (its branch, benchmarks/results/h100-sm90a-soft-exp2-and-rescale-branch-ab.txt); 128x192 and three
// warpgroups within 1%. The tuner tries it where it won: one warpgroup, and persistent
// blocks of two at head_dim 128.
namespace {
KernelConfig withConditionalRescale(KernelConfig config) {
  config.conditional_rescale = true;
  return config;
}

// The row sums by the P·V wgmma (mma_row_sum, head_dim 64), against the softmax's additions, on the H100
// (benchmarks/results/h100-sm90a-mma-row-sum-ab.txt, 2k / 4k tokens): persistent 128x128 over two
// ping-ponging warpgroups +0.7/+3.7% without a mask, +2.2/+4.0% under a causal one; one warpgroup
// (64x128) with conditional rescaling within 1% (-2.3% causal at 4k), without it -2..-5%: there ptxas
// serialises its wgmmas (C7511) and the space leaves it out. The tuner tries it on the persistent blocks
// of two at head_dim 64.
KernelConfig withMmaRowSum(KernelConfig config) {
  config.mma_row_sum = true;
  return config;
}
} // namespace

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
  // where it does not spill). Three computing warpgroups (192 rows over 12 warps, FlashAttention-3's tile
  // at head_dim 64) get at most 160 registers each next to a producer: key blocks up to 128 at head_dim
  // 64, 64 at 128 (ptxas -v: wider ones spill). The overlapped ones are also tried as persistent blocks
  // (one per multiprocessor, looping over pairs of a head's query blocks from both ends), whose
  // warpgroups go on to their next tiles at their own pace: on the H200, against one block per tile,
  // head_dim 128 128x192 +2% at 2k tokens without a mask, +5% under a causal mask; head_dim 64 192x128
  // +1.5% at 2k, -2% at 4k without, +0.8..+4.7% under a causal mask at 2k-4k. Not three at head_dim
  // 128: compile() refuses them under a bottom-right mask (they spill there); without one they assemble
  // without spills but were not measured.
  std::vector<KernelConfig> space;
  const bool hopper = isHopper(chip);
  for (auto [blockM, warps] : {std::pair{64, 4}, std::pair{128, 8}, std::pair{128, 4}, std::pair{192, 12}})
    for (int blockN : {32, 64, 128, 192, 256})
      for (int stages : {2, 3}) {
        const int widestKeyBlock = usesWgmma(chip, blockM, blockN, warps, spec.head_dim)
                                       ? (spec.head_dim > 64 ? 192 : 256)
                                       : (spec.head_dim > 64 ? 64 : 128);
        if (blockN > widestKeyBlock || (warps == 12 && blockN > (spec.head_dim > 64 ? 64 : 128)))
          continue;
        if (blockM / warps > 16 && (blockN > 64 || (spec.head_dim > 64 && blockN == 64 && (stages > 2 || !hopper))))
          continue;
        if (!gpuLoweringError(blockM, blockN, warps, stages, spec.head_dim, chip).empty()) // shared memory, warps
          continue;
        KernelConfig config{blockM, blockN, warps, stages, chip};
        config.tma = usesWgmma(chip, blockM, blockN, warps, spec.head_dim);
        space.push_back(config);
        if (config.tma && warps == 4) // one warpgroup: also with conditional rescaling (see below)
          space.push_back(withConditionalRescale(config));
        if (config.tma && warps >= 8) {
          config.warp_specialized = true;
          space.push_back(config);
          if (blockN <= 192) {
            config.wg_overlap = true;
            space.push_back(config);
            if (warps == 8 || spec.head_dim == 64) { // three warpgroups at 128: see above
              config.persistent = true;
              space.push_back(config);
              if (warps == 8 && spec.head_dim == 128)
                space.push_back(withConditionalRescale(config));
              if (warps == 8 && spec.head_dim == 64)
                space.push_back(withMmaRowSum(config));
            }
          }
        }
      }
  return space;
}

} // namespace flashjit
