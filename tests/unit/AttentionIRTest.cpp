// The kernel generator's problem-level IR: what it contains, and that bad input never reaches MLIR.
#include "runtime/flashjit.h"

#include <gtest/gtest.h>

using flashjit::AttentionSpec;
using flashjit::Causal;
using flashjit::DType;

namespace {
bool contains(const std::string &text, const std::string &piece) {
  return text.find(piece) != std::string::npos;
}
} // namespace

TEST(AttentionIR, HoldsOneAttentionOpWithTheConfig) {
  AttentionSpec spec{128, DType::bf16, Causal::bottom_right, true};
  flashjit::KernelConfig config = flashjit::defaultConfig(spec, "sm_90");
  std::string ir = flashjit::attentionIR(spec, config);
  EXPECT_TRUE(contains(ir, "func.func @attention_fwd_d128_bf16_causal_br_lse(")) << ir;
  EXPECT_TRUE(contains(ir, "flash.config = " + config.str())) << ir;
  EXPECT_TRUE(contains(ir, "flash.attention %q, %k, %v scale %scale into %o, lse %lse causal(bottom_right)"))
      << ir;
  EXPECT_TRUE(contains(ir, "memref<?x?x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>")) << ir;
  EXPECT_TRUE(contains(ir, "memref<?x?x?xf32, strided<[?, ?, 1], offset: ?>>")) << ir;
}

TEST(AttentionIR, NonCausalWithoutLogsumexp) {
  AttentionSpec spec{64, DType::f16, Causal::none, false};
  std::string ir = flashjit::attentionIR(spec, flashjit::defaultConfig(spec, "sm_80"));
  EXPECT_TRUE(contains(ir, "flash.attention %q, %k, %v scale %scale into %o :")) << ir;
  EXPECT_FALSE(contains(ir, "lse")) << ir;
  EXPECT_FALSE(contains(ir, "causal(")) << ir;
  EXPECT_TRUE(contains(ir, "xf16")) << ir;
}

TEST(AttentionIR, TopLeftAlignment) {
  AttentionSpec spec{64, DType::bf16, Causal::top_left, true};
  EXPECT_TRUE(contains(flashjit::attentionIR(spec, flashjit::defaultConfig(spec, "sm_80")),
                       "causal(top_left)"));
}

TEST(AttentionIR, RejectsBadInputBeforeBuildingIR) {
  AttentionSpec spec;
  flashjit::KernelConfig config;
  config.warps = 5;
  EXPECT_THROW(flashjit::attentionIR(spec, config), flashjit::Error);
  spec.head_dim = 12;
  EXPECT_THROW(flashjit::attentionIR(spec, flashjit::KernelConfig{}), flashjit::Error);
}

// compile() says where its time went: every stage, then LLVM IR, LLVM's optimisation and the NVPTX
// backend, in order, adding up to no more than the whole.
TEST(AttentionIR, CompileReportsWhereItsTimeWent) {
  AttentionSpec spec{64, DType::bf16, Causal::bottom_right, true};
  flashjit::CompiledKernel kernel = flashjit::compile(spec, flashjit::defaultConfig(spec, "sm_90"));
  std::vector<std::string> names;
  double sum = 0;
  for (const auto &[phase, ms] : kernel.phase_ms) {
    names.push_back(phase);
    EXPECT_GE(ms, 0) << phase;
    sum += ms;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"build", "tiled", "fused", "causal", "scheduled", "gpu", "llvm", "llvm-ir",
                                             "llvm-opt", "nvptx"}));
  EXPECT_GT(sum, 0);
  EXPECT_LE(sum, kernel.compile_ms);
}
