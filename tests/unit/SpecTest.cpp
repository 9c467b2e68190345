// AttentionSpec: names, validation, and the default kernels.
#include "runtime/flashjit.h"

#include <gtest/gtest.h>

#include <set>

using flashjit::AttentionSpec;
using flashjit::Causal;
using flashjit::DType;

TEST(AttentionSpec, NamesSayWhatTheKernelIsSpecialisedFor) {
  EXPECT_EQ((AttentionSpec{128, DType::bf16, Causal::none, true}).name(), "attention_fwd_d128_bf16_lse");
  EXPECT_EQ((AttentionSpec{64, DType::f16, Causal::bottom_right, false}).name(),
            "attention_fwd_d64_f16_causal_br");
  EXPECT_EQ((AttentionSpec{64, DType::f16, Causal::top_left, true}).name(),
            "attention_fwd_d64_f16_causal_tl_lse");
}

TEST(AttentionSpec, HeadDimMustBeAMultipleOf8UpTo256) {
  for (int ok : {8, 64, 96, 128, 256})
    EXPECT_NO_THROW(flashjit::validate(AttentionSpec{ok})) << ok;
  for (int bad : {0, -64, 7, 100, 264, 512}) {
    try {
      flashjit::validate(AttentionSpec{bad});
      ADD_FAILURE() << "head_dim " << bad << " was accepted";
    } catch (const flashjit::Error &error) {
      EXPECT_EQ(error.code(), flashjit::Error::Code::Unsupported);
      EXPECT_NE(std::string(error.what()).find("head_dim = " + std::to_string(bad) + " is not supported"),
                std::string::npos)
          << error.what();
    }
  }
}

TEST(AttentionSpec, DefaultSpecsCoverHeadDimsCausalAndDtypes) {
  std::vector<AttentionSpec> specs = flashjit::defaultSpecs();
  ASSERT_EQ(specs.size(), 8u);
  std::set<std::string> names;
  for (const AttentionSpec &spec : specs) {
    names.insert(spec.name());
    EXPECT_NO_THROW(flashjit::validate(spec));
    for (const char *chip : {"sm_80", "sm_86", "sm_89", "sm_90", "sm_90a"})
      EXPECT_NO_THROW(flashjit::validate(flashjit::defaultConfig(spec, chip))) << spec.name() << chip;
  }
  EXPECT_EQ(names.size(), 8u);
  EXPECT_TRUE(names.count("attention_fwd_d64_f16_lse"));
  EXPECT_TRUE(names.count("attention_fwd_d128_bf16_causal_br_lse"));
}

TEST(AttentionSpec, EnumsPrint) {
  EXPECT_STREQ(flashjit::toString(DType::f16), "f16");
  EXPECT_STREQ(flashjit::toString(DType::bf16), "bf16");
  EXPECT_STREQ(flashjit::toString(Causal::none), "none");
  EXPECT_STREQ(flashjit::toString(Causal::top_left), "top_left");
  EXPECT_STREQ(flashjit::toString(Causal::bottom_right), "bottom_right");
}

TEST(Version, IsSemantic) { EXPECT_STREQ(flashjit::version(), "0.1.0"); }

TEST(TuningSpace, EveryConfigurationIsValidAndFitsRegisters) {
  for (const AttentionSpec &spec : flashjit::defaultSpecs()) {
    std::vector<flashjit::KernelConfig> space = flashjit::tuningSpace(spec, "sm_90");
    EXPECT_GE(space.size(), 4u) << spec.name();
    for (const flashjit::KernelConfig &config : space) {
      EXPECT_NO_THROW(flashjit::validate(config)) << config.str();
      int rowGroups = config.block_m / (16 * config.warps); // 16-row groups per warp
      EXPECT_TRUE(rowGroups == 1 || rowGroups == 2) << config.str();
      if (rowGroups == 2) { // registers: the accumulator and scores of 32 rows per warp
        EXPECT_LE(config.block_n, 64) << config.str();
        if (spec.head_dim > 64 && config.block_n == 64)
          EXPECT_EQ(config.stages, 2) << config.str();
      }
      EXPECT_EQ(config.chip, "sm_90");
      if (spec.head_dim > 64)
        EXPECT_LE(config.block_n, 64) << config.str();
    }
  }
}
