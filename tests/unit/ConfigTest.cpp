// KernelConfig validation: each rule rejects what it should, with a message naming the field.
#include "runtime/TargetChip.h"
#include "runtime/flashjit.h"

#include <gtest/gtest.h>

using flashjit::Error;
using flashjit::KernelConfig;

namespace {

KernelConfig config(int blockM, int blockN, int warps, int stages, const std::string &chip = "sm_80") {
  return KernelConfig{blockM, blockN, warps, stages, chip};
}

/// The message validate() throws for `c`, or "" if it accepts it.
std::string rejection(const KernelConfig &c) {
  try {
    flashjit::validate(c);
  } catch (const Error &error) {
    EXPECT_EQ(error.code(), Error::Code::Unsupported);
    return error.what();
  }
  return "";
}

} // namespace

TEST(KernelConfig, DefaultIsValid) { EXPECT_EQ(rejection(KernelConfig{}), ""); }

TEST(KernelConfig, BoundariesAreValid) {
  EXPECT_EQ(rejection(config(16, 16, 1, 1)), "");
  EXPECT_EQ(rejection(config(256, 256, 16, 8, "sm_90a")), "");
  EXPECT_EQ(rejection(config(64, 32, 4, 3, "sm_89")), "");
}

TEST(KernelConfig, BlockMMustBeAMultipleOf16UpTo256) {
  EXPECT_NE(rejection(config(100, 64, 4, 2)).find("block_m = 100 is not supported: it must be a multiple "
                                                  "of 16 from 16 to 256"),
            std::string::npos);
  EXPECT_NE(rejection(config(0, 64, 1, 2)).find("block_m = 0"), std::string::npos);
  EXPECT_NE(rejection(config(272, 64, 1, 2)).find("block_m = 272"), std::string::npos);
}

TEST(KernelConfig, BlockNMustBeAMultipleOf16UpTo256) {
  EXPECT_NE(rejection(config(128, 8, 4, 2)).find("block_n = 8 is not supported"), std::string::npos);
  EXPECT_NE(rejection(config(128, 512, 4, 2)).find("block_n = 512"), std::string::npos);
}

TEST(KernelConfig, WarpsMustBeAPowerOfTwoUpTo16) {
  EXPECT_NE(rejection(config(128, 64, 3, 2)).find("warps = 3 is not supported: it must be 1, 2, 4, 8, 12 or 16 (12: three warpgroups, sm_90a's wgmma path only)"),
            std::string::npos);
  EXPECT_NE(rejection(config(128, 64, 32, 2)).find("warps = 32"), std::string::npos);
}

TEST(KernelConfig, WarpsSplitQueryRowsIn16s) {
  EXPECT_NE(rejection(config(32, 64, 4, 2)).find("block_m = 32 cannot be split over warps = 4"),
            std::string::npos);
  EXPECT_NE(rejection(config(32, 64, 4, 2)).find("multiple of 16 * warps = 64"), std::string::npos);
}

TEST(KernelConfig, StagesFrom1To8) {
  EXPECT_NE(rejection(config(128, 64, 4, 0)).find("stages = 0 is not supported: it must be from 1 to 8"),
            std::string::npos);
  EXPECT_NE(rejection(config(128, 64, 4, 9)).find("stages = 9"), std::string::npos);
}

TEST(KernelConfig, ChipMustBeKnown) {
  std::string message = rejection(config(128, 64, 4, 2, "sm_75"));
  EXPECT_NE(message.find("chip = \"sm_75\" is not supported"), std::string::npos);
  EXPECT_NE(message.find("sm_80, sm_86, sm_89, sm_90, sm_90a"), std::string::npos);
}

TEST(KernelConfig, PrintsAsTheIRSpellsIt) {
  EXPECT_EQ(config(128, 64, 4, 2, "sm_90a").str(),
            "#flash.config<block_m = 128, block_n = 64, warps = 4, stages = 2, chip = \"sm_90a\">");
}

// The query tile stays in shared memory only where registers cannot hold it (two 16-row groups per warp
// at head_dim > 64), and then has bytes of its own after the K/V buffers.
TEST(KernelConfig, QueryTileGetsItsOwnSharedMemoryOnlyWhenRegistersCannotHoldIt) {
  auto bytes = [](int headDim, int blockM, int blockN, int warps) {
    flashjit::AttentionSpec spec{headDim, flashjit::DType::bf16, flashjit::Causal::none, true};
    return flashjit::compile(spec, KernelConfig{blockM, blockN, warps, 2, "sm_90"}).shared_memory;
  };
  const int row128 = (128 + 8) * 2, row64 = (64 + 8) * 2;
  EXPECT_EQ(bytes(128, 64, 64, 4), 2 * 2 * 64 * row128);                  // one group: Q in registers
  EXPECT_EQ(bytes(64, 128, 32, 4), 2 * 2 * 32 * row64);                   // two groups at d64: registers
  EXPECT_EQ(bytes(128, 128, 32, 4), 2 * 2 * 32 * row128 + 128 * row128);  // two groups at d128: shared
}

// Valid configurations the GPU lowering cannot build are the user's choice, reported as Unsupported with
// what to change, not as internal errors.
TEST(KernelConfig, CompileRejectsWhatTheGPUCannotRun) {
  flashjit::AttentionSpec spec{128, flashjit::DType::bf16, flashjit::Causal::none, true};
  auto compileError = [&](const KernelConfig &c) -> std::string {
    try {
      flashjit::compile(spec, c);
    } catch (const Error &error) {
      EXPECT_EQ(error.code(), Error::Code::Unsupported);
      return error.what();
    }
    return "";
  };
  EXPECT_NE(compileError(config(64, 64, 4, 1, "sm_90")).find("stages = 1 is not supported on the GPU: the K/V "
                                                              "pipeline needs 2 to 8 buffers"),
            std::string::npos);
  // Three warpgroups (12 warps, 192 rows) only on the wgmma path.
  EXPECT_EQ(compileError(config(192, 128, 12, 2, "sm_90a")), "");
  EXPECT_NE(compileError(config(192, 128, 12, 2, "sm_90")).find("warps = 12 (three warpgroups) needs the wgmma path"),
            std::string::npos);
  std::string tooBig = compileError(config(128, 128, 4, 4, "sm_80"));
  EXPECT_NE(tooBig.find("bytes of shared memory; sm_80 allows 166912: lower stages or block_n"), std::string::npos);
  // wg_overlap: only on the wgmma path (sm_90a, whole warpgroups of 16-row warps, block_n % 64 == 0).
  KernelConfig overlap = config(128, 128, 8, 2, "sm_90a");
  overlap.wg_overlap = true;
  EXPECT_EQ(overlap.str(), "#flash.config<block_m = 128, block_n = 128, warps = 8, stages = 2, chip = \"sm_90a\", "
                           "wg_overlap = true>");
  EXPECT_EQ(compileError(overlap), "");
  overlap.chip = "sm_90";
  EXPECT_NE(compileError(overlap).find("wg_overlap needs the wgmma path"), std::string::npos);
  KernelConfig tma = config(64, 128, 4, 3, "sm_90a");
  tma.tma = true;
  EXPECT_EQ(tma.str(), "#flash.config<block_m = 64, block_n = 128, warps = 4, stages = 3, chip = \"sm_90a\", tma = true>");
  EXPECT_EQ(compileError(tma), "");
  tma.block_n = 32;
  EXPECT_NE(compileError(tma).find("tma needs the wgmma path"), std::string::npos);
  // warp_specialized: a producer warpgroup issuing TMA loads, so only with tma; with wg_overlap, 256-key
  // blocks would spill.
  KernelConfig specialized = config(128, 128, 8, 2, "sm_90a");
  specialized.warp_specialized = true;
  EXPECT_NE(compileError(specialized).find("warp_specialized needs tma"), std::string::npos);
  specialized.tma = true;
  EXPECT_EQ(specialized.str(), "#flash.config<block_m = 128, block_n = 128, warps = 8, stages = 2, chip = "
                               "\"sm_90a\", tma = true, warp_specialized = true>");
  EXPECT_EQ(compileError(specialized), "");
  specialized.wg_overlap = true;
  EXPECT_EQ(compileError(specialized), "");
  spec.head_dim = 64; // 256-key blocks fit shared memory at head_dim 64
  specialized.block_n = 256;
  EXPECT_NE(compileError(specialized).find("warp_specialized with wg_overlap supports block_n up to 192"),
            std::string::npos);
  // Three computing warpgroups overlap the softmax only next to a producer warpgroup.
  KernelConfig three = config(192, 128, 12, 2, "sm_90a");
  three.tma = three.wg_overlap = true;
  EXPECT_NE(compileError(three).find("wg_overlap on 12 warps needs warp_specialized"), std::string::npos);
  three.warp_specialized = true;
  EXPECT_EQ(compileError(three), "");
  // persistent: blocks loop over tiles, which the producer warpgroup loads ahead.
  three.persistent = true;
  EXPECT_EQ(three.str(), "#flash.config<block_m = 192, block_n = 128, warps = 12, stages = 2, chip = \"sm_90a\", "
                         "wg_overlap = true, tma = true, warp_specialized = true, persistent = true>");
  EXPECT_EQ(compileError(three), "");
  // ... also under a causal mask at head_dim 64, but not at 128 under a bottom-right one (it spills), where
  // 8 warps compile.
  spec.causal = flashjit::Causal::bottom_right;
  EXPECT_EQ(compileError(three), "");
  spec.head_dim = 128;
  three.block_n = 64;
  EXPECT_NE(compileError(three).find("persistent on 12 warps under a bottom_right causal mask supports head_dim 64 only"),
            std::string::npos);
  spec.causal = flashjit::Causal::top_left;
  EXPECT_EQ(compileError(three), "");
  spec.causal = flashjit::Causal::bottom_right;
  KernelConfig two = config(128, 128, 8, 2, "sm_90a");
  two.tma = two.wg_overlap = two.warp_specialized = two.persistent = true;
  EXPECT_EQ(compileError(two), "");
  // conditional_rescale: on any path, printed last.
  two.conditional_rescale = true;
  EXPECT_EQ(two.str(), "#flash.config<block_m = 128, block_n = 128, warps = 8, stages = 2, chip = \"sm_90a\", "
                       "wg_overlap = true, tma = true, warp_specialized = true, persistent = true, "
                       "conditional_rescale = true>");
  EXPECT_EQ(compileError(two), "");
  KernelConfig ampere = config(64, 64, 4, 2, "sm_80");
  ampere.conditional_rescale = true;
  EXPECT_EQ(compileError(ampere), "");
  // mma_row_sum: sm_90a's wgmma path at head_dim 64 only, printed last; its tile of ones in shared memory.
  two.conditional_rescale = false;
  two.mma_row_sum = true;
  EXPECT_EQ(two.str(), "#flash.config<block_m = 128, block_n = 128, warps = 8, stages = 2, chip = \"sm_90a\", "
                       "wg_overlap = true, tma = true, warp_specialized = true, persistent = true, "
                       "mma_row_sum = true>");
  EXPECT_NE(compileError(two).find("mma_row_sum needs the wgmma path at head_dim 64 (got 128)"), std::string::npos);
  spec.head_dim = 64;
  EXPECT_EQ(compileError(two), "");
  KernelConfig withoutRowSum = two;
  withoutRowSum.mma_row_sum = false;
  EXPECT_EQ(flashjit::compile(spec, two).shared_memory, flashjit::compile(spec, withoutRowSum).shared_memory + 2048);
  KernelConfig noWgmma = config(64, 64, 4, 2, "sm_90");
  noWgmma.mma_row_sum = true;
  EXPECT_NE(rejection(noWgmma).find("mma_row_sum needs chip sm_90a"), std::string::npos);
  spec.head_dim = 128;
  spec.causal = flashjit::Causal::none;
  three.warp_specialized = false;
  EXPECT_NE(compileError(three).find("persistent needs warp_specialized"), std::string::npos);
}

// FLASHJIT_CHIP may pick code that runs on the GPU: an older chip, or sm_90a only on Hopper itself.
TEST(KernelConfig, TargetChipMustRunOnTheGpu) {
  const std::vector<std::string> chips = {"sm_80", "sm_86", "sm_89", "sm_90", "sm_90a"};
  auto targetChipError = [&](std::string_view target, std::string_view device) {
    return flashjit::targetChipError(target, device, chips);
  };
  EXPECT_EQ(targetChipError("sm_90a", "sm_90"), "");
  EXPECT_EQ(targetChipError("sm_80", "sm_90"), "");
  EXPECT_EQ(targetChipError("sm_90", "sm_90"), "");
  EXPECT_EQ(targetChipError("sm_90", "sm_80"),
            "code for sm_90 cannot run on this GPU (sm_80): it needs a newer GPU");
  EXPECT_EQ(targetChipError("sm_90a", "sm_100"),
            "code for sm_90a cannot run on this GPU (sm_100): architecture-specific code runs only on its own "
            "architecture");
  EXPECT_EQ(targetChipError("sm_75", "sm_90"),
            "chip sm_75 is not supported: it must be one of sm_80, sm_86, sm_89, sm_90, sm_90a");
}
