#include "dialects/KernelConfigRules.h"

#include <algorithm>

namespace flashjit {

const std::vector<std::string> &supportedChips() {
  static const std::vector<std::string> chips = {"sm_80", "sm_86", "sm_89", "sm_90", "sm_90a"};
  return chips;
}

static std::string joined(const std::vector<std::string> &items) {
  std::string out;
  for (const std::string &item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string kernelConfigError(int64_t blockM, int64_t blockN, int64_t warps, int64_t stages,
                              std::string_view chip, bool mmaRowSum) {
  // Tensor-core MMA tiles are 16 rows tall and 16 deep, so both block sizes are multiples of 16.
  if (blockM < 16 || blockM > 256 || blockM % 16 != 0)
    return "block_m = " + std::to_string(blockM) +
           " is not supported: it must be a multiple of 16 from 16 to 256";
  if (blockN < 16 || blockN > 256 || blockN % 16 != 0)
    return "block_n = " + std::to_string(blockN) +
           " is not supported: it must be a multiple of 16 from 16 to 256";
  if (warps != 1 && warps != 2 && warps != 4 && warps != 8 && warps != 12 && warps != 16)
    return "warps = " + std::to_string(warps) +
           " is not supported: it must be 1, 2, 4, 8, 12 or 16 (12: three warpgroups, sm_90a's wgmma path only)";
  // Warps split the query rows, 16 rows (one MMA tile) or more each, never the keys.
  if (blockM % (16 * warps) != 0)
    return "block_m = " + std::to_string(blockM) + " cannot be split over warps = " +
           std::to_string(warps) + ": each warp owns a multiple of 16 query rows, so block_m must "
           "be a multiple of 16 * warps = " + std::to_string(16 * warps);
  if (stages < 1 || stages > 8)
    return "stages = " + std::to_string(stages) + " is not supported: it must be from 1 to 8";
  const std::vector<std::string> &chips = supportedChips();
  if (std::find(chips.begin(), chips.end(), chip) == chips.end())
    return "chip = \"" + std::string(chip) + "\" is not supported: it must be one of " + joined(chips);
  if (mmaRowSum && chip != "sm_90a")
    return "mma_row_sum needs chip sm_90a (its row sums come from the P·V wgmma), got chip " + std::string(chip);
  return "";
}

std::string headDimError(int64_t headDim) {
  // Rows of Q, K, V are loaded 16 bytes (8 half-precision elements) at a time.
  if (headDim < 8 || headDim > 256 || headDim % 8 != 0)
    return "head_dim = " + std::to_string(headDim) +
           " is not supported: it must be a multiple of 8 from 8 to 256";
  return "";
}

bool queryStaysInShared(int64_t blockM, int64_t warps, int64_t headDim) {
  return blockM / (16 * warps) * headDim > 128;
}

int64_t sharedMemoryBytes(std::string_view chip, int64_t blockM, int64_t blockN, int64_t warps, int64_t stages,
                          int64_t headDim, bool mmaRowSum) {
  const int64_t rowBytes = (headDim + 8) * 2, outputStaging = blockM * rowBytes;
  // wgmma: K/V slots, the query (where each warpgroup also stages its output rows), the tile of ones, then
  // mbarriers: a full and an empty one per K slot and per V slot (one pair per slot where K and V share
  // it), and one per warpgroup for its query rows.
  if (usesWgmma(chip, blockM, blockN, warps, headDim))
    return (stages * 2 * blockN + blockM) * headDim * 2 + (mmaRowSum ? kOnesTileBytes : 0) +
           (4 * stages + warps / 4) * 8;
  int64_t keyValue = stages * 2 * blockN * rowBytes;
  if (queryStaysInShared(blockM, warps, headDim))
    return keyValue + blockM * rowBytes;
  return std::max(keyValue, outputStaging);
}

bool usesWgmma(std::string_view chip, int64_t blockM, int64_t blockN, int64_t warps, int64_t headDim) {
  return chip == "sm_90a" && blockM == 16 * warps && warps % 4 == 0 && blockN % 64 == 0 && blockN <= 256 &&
         (headDim == 64 || headDim == 128);
}

bool isHopper(std::string_view chip) { return chip == "sm_90" || chip == "sm_90a"; }

bool hasProducerWarpgroup(std::string_view chip, int64_t blockM, int64_t blockN, int64_t warps, int64_t headDim,
                          bool tma, bool warpSpecialized) {
  return usesWgmma(chip, blockM, blockN, warps, headDim) && tma && warpSpecialized;
}

int64_t consumerRegisters(int64_t warps) {
  return std::min<int64_t>(256, (65536 - 128 * kProducerRegisters) / (32 * warps) / 8 * 8);
}

bool takesTurns(bool producerWarpgroup, bool wgOverlap, int64_t warps) {
  return producerWarpgroup && wgOverlap && warps >= 8;
}

bool pipelinesProducts(std::string_view chip, int64_t blockM, int64_t blockN, int64_t warps, int64_t headDim,
                       bool wgOverlap, size_t keyLoops) {
  return usesWgmma(chip, blockM, blockN, warps, headDim) && wgOverlap && keyLoops == 1;
}

int64_t shortLastBlockKeys(int64_t blockN) { return blockN == 192 ? 128 : blockN / 2; }

int64_t sharedMemoryLimit(std::string_view chip) {
  if (chip == "sm_80")
    return 163 * 1024;
  if (chip == "sm_86" || chip == "sm_89")
    return 99 * 1024;
  if (isHopper(chip))
    return 227 * 1024;
  return 0;
}

std::string gpuLoweringError(int64_t blockM, int64_t blockN, int64_t warps, int64_t stages, int64_t headDim,
                             std::string_view chip, bool mmaRowSum) {
  // Each key block's copy group is waited for with stages - 2 newer groups in flight.
  if (stages < 2)
    return "stages = " + std::to_string(stages) +
           " is not supported on the GPU: the K/V pipeline needs 2 to 8 buffers (one to compute on while the "
           "next block is copied)";
  // The mma.sync path splits copies and rows over power-of-two warp counts only.
  if (warps == 12 && !usesWgmma(chip, blockM, blockN, warps, headDim))
    return "warps = 12 (three warpgroups) needs the wgmma path: chip sm_90a, block_m = 192, block_n a multiple "
           "of 64 up to 256 and head_dim 64 or 128";
  // At head_dim 128 the descriptor's leading offset is V's own second 64-column chunk: no room for ones.
  if (mmaRowSum && (headDim != 64 || !usesWgmma(chip, blockM, blockN, warps, headDim)))
    return "mma_row_sum needs the wgmma path at head_dim 64 (got " + std::to_string(headDim) +
           "): chip sm_90a, block_m = 16 x warps in whole warpgroups, block_n a multiple of 64 up to 256";
  int64_t bytes = sharedMemoryBytes(chip, blockM, blockN, warps, stages, headDim, mmaRowSum),
          limit = sharedMemoryLimit(chip);
  if (bytes > limit)
    return "the configuration needs " + std::to_string(bytes) + " bytes of shared memory; " + std::string(chip) +
           " allows " + std::to_string(limit) + ": lower stages or block_n";
  return "";
}

} // namespace flashjit
