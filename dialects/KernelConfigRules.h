// Which kernel configurations the compiler supports. Plain C++ (no MLIR), shared by the `#flash.config`
// attribute's verifier and the public API, so both reject the same configurations with the same words.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flashjit {

/// The chips flashjit can target: Ampere (sm_80, sm_86), Ada (sm_89) and Hopper (sm_90, sm_90a).
const std::vector<std::string> &supportedChips();

/// An empty string when the configuration is supported; otherwise one sentence naming the offending
/// parameter, its value and what is allowed. (`mmaRowSum`: the configuration's mma_row_sum.)
std::string kernelConfigError(int64_t blockM, int64_t blockN, int64_t warps, int64_t stages,
                              std::string_view chip, bool mmaRowSum = false);

/// An empty string when the head dimension is supported; otherwise why not.
std::string headDimError(int64_t headDim);

/// Whether the query tile stays in shared memory and is read (ldmatrix) at every Q·Kᵀ rather than kept in
/// registers: when a warp owns more query elements per row group than the registers can hold next to the
/// scores and the output accumulator (more than 128 per thread-row: two 16-row groups at head_dim 128).
bool queryStaysInShared(int64_t blockM, int64_t warps, int64_t headDim);

/// Bytes of shared memory a kernel needs on `chip`. The mma.sync path: `stages` buffers of one K and one V
/// tile, each block_n rows of head_dim + 8 16-bit elements (the padding keeps ldmatrix free of bank
/// conflicts), plus the block_m-row query tile when it stays in shared memory; at least the block_m-row
/// tile that stages Q in and O out (it reuses the K/V bytes). The wgmma path (usesWgmma): the same
/// buffers and the query tile, all unpadded (128-byte swizzled rows), with `mmaRowSum` a 2048-byte tile of
/// ones (16 keys of the column of ones that P·V sums the rows of P with), then the mbarriers.
int64_t sharedMemoryBytes(std::string_view chip, int64_t blockM, int64_t blockN, int64_t warps, int64_t stages,
                          int64_t headDim, bool mmaRowSum = false);

/// The bytes of the tile of ones behind the query tile (KernelConfig::mma_row_sum): two 8-row swizzle
/// atoms, the 16 keys one wgmma of P·V reads.
constexpr int64_t kOnesTileBytes = 2048;

/// Whether the GPU lowering runs Q·Kᵀ and P·V on wgmma (the sm_90a path): on sm_90a, with 16 query rows per
/// warp in whole warpgroups (4 warps), key blocks of a multiple of 64 up to 256 (each K/V buffer then
/// starts on a 1024-byte swizzle atom) and head_dim 64 or 128 (whose 16-byte copies keep each thread on
/// rows of one residue mod 8, as the swizzled layout needs).
bool usesWgmma(std::string_view chip, int64_t blockM, int64_t blockN, int64_t warps, int64_t headDim);

/// Whether `chip` is a Hopper GPU (sm_90, or sm_90a with its architecture-specific features).
bool isHopper(std::string_view chip);

/// Whether a kernel has a producer warpgroup (one warpgroup that issues the K/V loads by TMA while the
/// others compute): the wgmma path (usesWgmma) with tma and warp_specialized.
bool hasProducerWarpgroup(std::string_view chip, int64_t blockM, int64_t blockN, int64_t warps, int64_t headDim,
                          bool tma, bool warpSpecialized);

/// With a producer warpgroup: the registers per thread it keeps (setmaxnreg), and those of each thread of
/// `warps` computing warps: the rest of the block's 64K in multiples of 8, at most 256 (240 with two
/// computing warpgroups, 160 with three).
constexpr int64_t kProducerRegisters = 24;
int64_t consumerRegisters(int64_t warps);

/// Whether the computing warpgroups take turns to issue their products (ping-pong): with a producer
/// warpgroup, wg_overlap and two or three computing warpgroups.
bool takesTurns(bool producerWarpgroup, bool wgOverlap, int64_t warps);

/// Whether a kernel whose tiles have `keyLoops` key loops pipelines its products (FlashAttention-3's
/// intra-warpgroup overlap: a key block's P·V issued after the next block's Q·Kᵀ, running while the
/// warpgroup does that block's softmax): the wgmma path (usesWgmma) with wg_overlap and one key loop.
bool pipelinesProducts(std::string_view chip, int64_t blockM, int64_t blockN, int64_t warps, int64_t headDim,
                       bool wgOverlap, size_t keyLoops);

/// The keys of a short last key block that runs after the loop (the wgmma path's peeled block): the largest
/// multiple of 64 at most half of block_n, or 128 of 192 (wgmma n is any multiple of 8; these keep whole
/// 64-key chunks).
int64_t shortLastBlockKeys(int64_t blockN);

/// The most shared memory one thread block may use on `chip` (0 for an unknown chip).
int64_t sharedMemoryLimit(std::string_view chip);

/// Why the GPU lowering cannot build a valid configuration (too few stages for the K/V pipeline, or more
/// shared memory than `chip` has), with what to change; "" if it can.
std::string gpuLoweringError(int64_t blockM, int64_t blockN, int64_t warps, int64_t stages, int64_t headDim,
                             std::string_view chip, bool mmaRowSum = false);

} // namespace flashjit
