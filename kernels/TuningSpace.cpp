// The kernels the main job builds and the configuration each gets until the autotuner picks one.
#include "kernels/TuningSpace.h"
#include "dialects/KernelConfigRules.h"

namespace flashjit::kernels {

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
  // them, 128x192; head dim 64: three, 192x128, whose softmax (as long as the GEMMs at this head size)
  // then has two warpgroups' wgmmas to hide under (measured: benchmarks/NOTES.md, 'Measurements behind
  // the tuning space's choices').
  const bool wide = spec.head_dim == 128;
  KernelConfig fa3{wide ? 128 : 192, wide ? 192 : 128, /*warps=*/wide ? 8 : 12, /*stages=*/2, chip};
  if (usesWgmma(chip, fa3.block_m, fa3.block_n, fa3.warps, spec.head_dim)) {
    config = fa3;
    config.tma = config.warp_specialized = config.wg_overlap = true;
  }
  return config;
}

// Conditional rescaling on the wgmma path (the output rescaled only when a row's maximum grew past 2^8)
// won or lost by configuration; where it lost under a causal mask, its branch is what cost (measured:
// benchmarks/NOTES.md, 'Measurements behind the tuning space's choices'). The tuner tries it where it
// won: one warpgroup, and persistent blocks of two at head_dim 128.
namespace {
KernelConfig withConditionalRescale(KernelConfig config) {
  config.conditional_rescale = true;
  return config;
}

// The row sums by the P·V wgmma (mma_row_sum, head_dim 64), against the softmax's additions (measured:
// benchmarks/NOTES.md, 'Measurements behind the tuning space's choices'): on one warpgroup without
// conditional rescaling ptxas serialises its wgmmas (C7511) and the space leaves it out. The tuner tries
// it on the persistent blocks of two at head_dim 64.
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
  // head_dim 64 and 192 at 128 (ptxas -v: 0 spills). It loads K and V by TMA (faster than cp.async),
  // and with two computing warpgroups (8 warps) is also tried with a producer
  // warpgroup (warp_specialized; with one, the producer's registers would halve the blocks per SM), with
  // and without the softmax overlapped with the previous block's P·V (wg_overlap; key blocks up to 192,
  // where it does not spill). Three computing warpgroups (192 rows over 12 warps, FlashAttention-3's tile
  // at head_dim 64) get at most 160 registers each next to a producer: key blocks up to 128 at head_dim
  // 64, 64 at 128 (ptxas -v: wider ones spill). The overlapped ones are also tried as persistent blocks
  // (one per multiprocessor, looping over pairs of a head's query blocks from both ends), whose
  // warpgroups go on to their next tiles at their own pace. Not three at head_dim 128: compile() refuses
  // them under a bottom-right mask (they spill there); without one they assemble without spills but were
  // not measured. (TMA's and the persistent blocks' readings: benchmarks/NOTES.md, 'Measurements behind
  // the tuning space's choices'.)
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

} // namespace flashjit::kernels
