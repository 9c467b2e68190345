// Interpret mode: the tile-level IR after tiling, fusion and causal classification, run on the CPU,
// matches a float64 reference on shapes with tails, both causal alignments, seqlen_q != seqlen_k in both
// directions, and rows that see no key.
#include "runtime/flashjit.h"
#include "runtime/flashjit_testing.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <tuple>

using namespace flashjit;

namespace {

KernelConfig smallConfig(int blockM, int blockN) {
  KernelConfig config;
  config.block_m = blockM;
  config.block_n = blockN;
  config.warps = 1;
  return config;
}

std::string describe(const CheckReport &r) {
  return "rel " + std::to_string(r.rel_error) + ", lse rel " + std::to_string(r.lse_rel_error) +
         ", rows " + std::to_string(r.rows_checked) + ", empty " + std::to_string(r.empty_rows) +
         " (wrong " + std::to_string(r.empty_rows_wrong) + "), NaN " + std::to_string(r.nan_count);
}

using Lengths = std::tuple<int, int>;                // seqlen_q, seqlen_k
using Case = std::tuple<Lengths, Causal, int, int>;  // lengths, causal, block_m, block_n

class InterpretF32 : public ::testing::TestWithParam<Case> {};

std::string caseName(const ::testing::TestParamInfo<Case> &info) {
  const Lengths &lengths = std::get<0>(info.param);
  return "q" + std::to_string(std::get<0>(lengths)) + "_k" + std::to_string(std::get<1>(lengths)) + "_" +
         toString(std::get<1>(info.param)) + "_m" + std::to_string(std::get<2>(info.param)) + "_n" +
         std::to_string(std::get<3>(info.param));
}

TEST_P(InterpretF32, MatchesFloat64Reference) {
  auto [lengths, causal, blockM, blockN] = GetParam();
  AttentionSpec spec{32, DType::f32, causal, true};
  ProblemShape shape;
  shape.batch = 2;
  shape.heads = 2;
  shape.seqlen_q = std::get<0>(lengths);
  shape.seqlen_k = std::get<1>(lengths);
  CheckReport report = interpretAndCheck(spec, smallConfig(blockM, blockN), shape, /*seed=*/7);
  EXPECT_TRUE(report.passed) << describe(report);
  EXPECT_LT(report.rel_error, 1e-5) << describe(report);
  EXPECT_EQ(report.nan_count, 0);
  EXPECT_EQ(report.rows_checked, 4L * shape.seqlen_q);
}

INSTANTIATE_TEST_SUITE_P(
    TailsAndAlignments, InterpretF32,
    ::testing::Combine(::testing::Values(Lengths{1, 1}, Lengths{7, 7}, Lengths{64, 64}, Lengths{127, 129},
                                         Lengths{129, 127}, Lengths{1, 100}, Lengths{100, 1},
                                         Lengths{33, 200}, Lengths{200, 33}),
                       ::testing::Values(Causal::none, Causal::top_left, Causal::bottom_right),
                       ::testing::Values(16, 64), ::testing::Values(16, 32)),
    caseName);

TEST(Interpret, RowsThatSeeNoKeyGiveZeroAndMinusInfinity) {
  // Bottom-right alignment with seqlen_q > seqlen_k: query rows i < seqlen_q - seqlen_k see no key.
  AttentionSpec spec{64, DType::f32, Causal::bottom_right, true};
  ProblemShape shape;
  shape.heads = 3;
  shape.seqlen_q = 100;
  shape.seqlen_k = 30;
  CheckReport report = interpretAndCheck(spec, smallConfig(32, 16), shape, 3);
  EXPECT_TRUE(report.passed) << describe(report);
  EXPECT_EQ(report.empty_rows, 3L * 70);
  EXPECT_EQ(report.empty_rows_wrong, 0);
}

TEST(Interpret, EveryTileStageComputesTheSameAttention) {
  AttentionSpec spec{64, DType::f32, Causal::top_left, true};
  ProblemShape shape;
  shape.seqlen_q = 90;
  shape.seqlen_k = 75;
  for (Stage stage : {Stage::tiled, Stage::fused, Stage::causal, Stage::scheduled}) {
    CheckReport report = interpretAndCheck(spec, smallConfig(32, 16), shape, 11, stage);
    EXPECT_TRUE(report.passed) << toString(stage) << ": " << describe(report);
  }
  EXPECT_THROW(interpretAndCheck(spec, smallConfig(32, 16), shape, 11, Stage::flash), Error);
}

TEST(Interpret, ScheduledStageOfHopperConfigurationsComputesTheSameAttention) {
  // The scheduled stage of sm_90a kernels carries every schedule op: a producer warpgroup
  // (flash.warp_specialize), the key loop's schedule (#flash.key_loop: pipelined, the first block ahead, the
  // short last block, per-warpgroup ends), the stream's blocks and prefetches; none changes the numbers.
  struct Case {
    int blockM, blockN, warps;
    bool wgOverlap, tma, warpSpecialized, persistent;
  };
  for (Case c : {Case{128, 128, 8, true, true, false, false}, Case{128, 192, 8, true, true, true, false},
                 Case{192, 128, 12, true, true, true, true}, Case{128, 256, 8, false, false, false, false}}) {
    for (auto [dtype, causal] : {std::pair{DType::f32, Causal::none}, {DType::f32, Causal::bottom_right},
                                 {DType::bf16, Causal::top_left}}) {
      AttentionSpec spec{64, dtype, causal, true};
      KernelConfig config;
      config.block_m = c.blockM;
      config.block_n = c.blockN;
      config.warps = c.warps;
      config.chip = "sm_90a";
      config.wg_overlap = c.wgOverlap;
      config.tma = c.tma;
      config.warp_specialized = c.warpSpecialized;
      config.persistent = c.persistent;
      ProblemShape shape;
      shape.seqlen_q = 200;
      shape.seqlen_k = 330;
      CheckReport report = interpretAndCheck(spec, config, shape, 13, Stage::scheduled);
      EXPECT_TRUE(report.passed) << c.blockM << "x" << c.blockN << ": " << describe(report);
      EXPECT_LT(report.rel_error, dtype == DType::f32 ? 1e-5 : toleranceFor(dtype))
          << c.blockM << "x" << c.blockN << ": " << describe(report);
    }
  }
}

TEST(Interpret, GroupedHeadsBatchesAndBothLayouts) {
  for (Layout layout : {Layout::BSHD, Layout::BHSD}) {
    AttentionSpec spec{64, DType::f32, Causal::none, true};
    ProblemShape shape;
    shape.batch = 2;
    shape.heads = 4;
    shape.kv_heads = 2;
    shape.seqlen_q = 40;
    shape.seqlen_k = 50;
    shape.layout = layout;
    shape.softmax_scale = 0.3f; // not the default 1/sqrt(64)
    CheckReport report = interpretAndCheck(spec, smallConfig(16, 16), shape, 5);
    EXPECT_TRUE(report.passed) << describe(report);
  }
}

TEST(Interpret, HalfPrecisionWithinTolerance) {
  for (DType dtype : {DType::f16, DType::bf16}) {
    for (Causal causal : {Causal::none, Causal::bottom_right}) {
      AttentionSpec spec{128, dtype, causal, true};
      ProblemShape shape;
      shape.seqlen_q = 129;
      shape.seqlen_k = 200;
      KernelConfig config = defaultConfig(spec, "sm_80");
      CheckReport report = interpretAndCheck(spec, config, shape, 1);
      EXPECT_TRUE(report.passed) << toString(dtype) << ": " << describe(report);
      EXPECT_LT(report.rel_error, toleranceFor(dtype));
    }
  }
}

TEST(Interpret, WithoutLogsumexp) {
  AttentionSpec spec{64, DType::f32, Causal::bottom_right, false};
  ProblemShape shape;
  shape.seqlen_q = 50;
  shape.seqlen_k = 20;
  CheckReport report = interpretAndCheck(spec, smallConfig(16, 16), shape, 2);
  EXPECT_TRUE(report.passed) << describe(report);
  EXPECT_EQ(report.empty_rows, 30);
}

TEST(Interpret, RejectsBadShapes) {
  AttentionSpec spec{64, DType::f32};
  ProblemShape shape;
  shape.seqlen_q = 0;
  EXPECT_THROW(interpretAndCheck(spec, smallConfig(16, 16), shape), Error);
  shape.seqlen_q = 8;
  shape.heads = 3;
  shape.kv_heads = 2;
  EXPECT_THROW(interpretAndCheck(spec, smallConfig(16, 16), shape), Error);
}

// The checker itself must catch wrong answers, NaNs and wrong empty rows.
TEST(Reference, CatchesWrongOutputs) {
  AttentionSpec spec{16, DType::f32, Causal::bottom_right, true};
  ProblemShape shape;
  shape.seqlen_q = 6;
  shape.seqlen_k = 4;
  AttentionData data = randomAttentionData(spec, shape, 9);

  // A correct answer, from the interpreter, first.
  std::vector<float> output(data.outputElements()), lse(data.lseElements());
  CheckReport good = interpretAndCheck(spec, smallConfig(16, 16), shape, 9);
  ASSERT_TRUE(good.passed);
  EXPECT_EQ(good.empty_rows, 2);
  EXPECT_EQ(good.rows_over_tolerance, 0);
  EXPECT_EQ(describeWrongRows(good, shape), "");

  // All zeros and -inf: right only for the two empty rows.
  std::fill(lse.begin(), lse.end(), -std::numeric_limits<float>::infinity());
  CheckReport zeros = compareWithReference(data, output, lse);
  EXPECT_FALSE(zeros.passed);
  EXPECT_EQ(zeros.empty_rows_wrong, 0);
  EXPECT_GT(zeros.rel_error, 0.1);
  // Rows 2..5 see keys and are wrong; the worst element is in one of them, and the log line says so.
  EXPECT_EQ(zeros.rows_over_tolerance, 4);
  EXPECT_GE(zeros.worst_row, 2);
  EXPECT_LT(zeros.worst_column, 16);
  EXPECT_EQ(describeWrongRows(zeros, shape).rfind("4 rows over tolerance, worst at batch 0, head 0, row ", 0), 0u);

  // A NaN never passes.
  output[0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(compareWithReference(data, output, lse).nan_count, 1);

  // An empty row (row 0) with a non-zero output is wrong.
  std::fill(output.begin(), output.end(), 0.0f);
  output[0] = 1.0f;
  EXPECT_EQ(compareWithReference(data, output, lse).empty_rows_wrong, 1);
}

TEST(Reference, RoundsToDTypes) {
  EXPECT_EQ(roundToDType(DType::f32, 1.0f + 1e-7f), 1.0f + 1e-7f);
  EXPECT_EQ(roundToDType(DType::bf16, 1.0f + 1.0f / 256), 1.0f);          // tie to even
  EXPECT_EQ(roundToDType(DType::bf16, 1.0f + 3.0f / 256), 1.0f + 4.0f / 256);
  EXPECT_EQ(roundToDType(DType::f16, 1.0f + 1.0f / 4096), 1.0f);
  EXPECT_EQ(roundToDType(DType::f16, 1.0f + 3.0f / 2048), 1.0f + 2.0f / 1024);
  EXPECT_EQ(roundToDType(DType::f16, 70000.0f), std::numeric_limits<float>::infinity());
}

TEST(Reference, LayoutStrides) {
  EXPECT_EQ(layoutStrides(Layout::BSHD, 2, 3, 5, 8), (std::array<int64_t, 4>{120, 8, 24, 1}));
  EXPECT_EQ(layoutStrides(Layout::BHSD, 2, 3, 5, 8), (std::array<int64_t, 4>{120, 40, 8, 1}));
}


// A sliding window (keys at most `window_left` left of the causal diagonal) runs through the same mask
// interface as the causal masks: its block classes skip the blocks left of every row's window, mask the
// window's edges and leave the blocks inside every row's window unmasked.
using WindowCase = std::tuple<Lengths, Causal, int, std::tuple<int, int>>; // lengths, alignment, window, blocks

class InterpretWindow : public ::testing::TestWithParam<WindowCase> {};

std::string windowCaseName(const ::testing::TestParamInfo<WindowCase> &info) {
  auto [lengths, causal, window, blocks] = info.param;
  return "q" + std::to_string(std::get<0>(lengths)) + "_k" + std::to_string(std::get<1>(lengths)) + "_" +
         toString(causal) + "_w" + std::to_string(window) + "_m" + std::to_string(std::get<0>(blocks)) + "_n" +
         std::to_string(std::get<1>(blocks));
}

TEST_P(InterpretWindow, MatchesFloat64Reference) {
  auto [lengths, causal, window, blocks] = GetParam();
  AttentionSpec spec{32, DType::f32, causal, true, window};
  ProblemShape shape;
  shape.batch = 2;
  shape.heads = 2;
  shape.seqlen_q = std::get<0>(lengths);
  shape.seqlen_k = std::get<1>(lengths);
  for (Stage stage : {Stage::fused, Stage::causal, Stage::scheduled}) {
    CheckReport report =
        interpretAndCheck(spec, smallConfig(std::get<0>(blocks), std::get<1>(blocks)), shape, /*seed=*/9, stage);
    EXPECT_TRUE(report.passed) << toString(stage) << ": " << describe(report);
    EXPECT_LT(report.rel_error, 1e-5) << toString(stage) << ": " << describe(report);
    EXPECT_EQ(report.nan_count, 0);
    EXPECT_EQ(report.rows_checked, 4L * shape.seqlen_q);
  }
}

INSTANTIATE_TEST_SUITE_P(
    TailsAlignmentsAndWidths, InterpretWindow,
    ::testing::Combine(::testing::Values(Lengths{1, 1}, Lengths{7, 7}, Lengths{64, 64}, Lengths{127, 129},
                                         Lengths{129, 127}, Lengths{33, 200}, Lengths{200, 33}),
                       ::testing::Values(Causal::top_left, Causal::bottom_right), ::testing::Values(0, 5, 40, 1000),
                       ::testing::Values(std::tuple<int, int>{16, 16}, std::tuple<int, int>{64, 32})),
    windowCaseName);

TEST(Interpret, WindowRowsThatSeeNoKeyGiveZeroAndMinusInfinity) {
  // Bottom-right, seqlen_q > seqlen_k: rows i < seqlen_q - seqlen_k see no key, window or not.
  AttentionSpec spec{64, DType::f32, Causal::bottom_right, true, /*window_left=*/8};
  ProblemShape shape;
  shape.heads = 2;
  shape.seqlen_q = 100;
  shape.seqlen_k = 30;
  CheckReport report = interpretAndCheck(spec, smallConfig(32, 16), shape, 3);
  EXPECT_TRUE(report.passed) << describe(report);
  EXPECT_EQ(report.empty_rows, 2L * 70);
  EXPECT_EQ(report.empty_rows_wrong, 0);
}

TEST(Interpret, WindowNeedsACausalMaskAndRunsOnlyInTheInterpreter) {
  AttentionSpec spec{64, DType::bf16, Causal::none, true, /*window_left=*/8};
  EXPECT_THROW(validate(spec), Error);
  spec.causal = Causal::top_left;
  spec.window_left = -2;
  EXPECT_THROW(validate(spec), Error);
  spec.window_left = 8;
  EXPECT_NO_THROW(validate(spec));
  EXPECT_EQ(spec.name(), "attention_fwd_d64_bf16_causal_tl_wl8_lse");
  try {
    compile(spec, defaultConfig(spec, "sm_80"));
    FAIL() << "a window compiled for the GPU";
  } catch (const Error &error) {
    EXPECT_EQ(error.code(), Error::Code::Unsupported);
    EXPECT_NE(std::string(error.what()).find("window_left"), std::string::npos) << error.what();
  }
}

} // namespace
