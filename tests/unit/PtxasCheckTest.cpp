// The offline ptxas check (tools/flashjit/Ptxas.cpp) that CI runs over the tuning spaces: a wgmma chain
// without its wgmma.fence makes ptxas inject one and say so (C7519, printed as "info"), which the check must
// report as a warning; the same chain with the fence is clean.
#include "tools/flashjit/Ptxas.h"

#include <gtest/gtest.h>

#include <string>

namespace {

/// A kernel that zeroes 32 accumulators and runs two wgmma.m64n64k16 on them, with or without the
/// wgmma.fence the zeroing needs.
std::string wgmmaKernel(bool fence) {
  std::string accumulators, ptx = ".version 8.0\n.target sm_90a\n.address_size 64\n"
                                  ".visible .entry t(.param .u64 out, .param .u64 da, .param .u64 db)\n{\n"
                                  ".reg .f32 %f<32>;\n.reg .b64 %rd<3>;\n"
                                  "ld.param.u64 %rd0, [out];\nld.param.u64 %rd1, [da];\nld.param.u64 %rd2, [db];\n";
  for (int i = 0; i < 32; ++i) {
    ptx += "mov.f32 %f" + std::to_string(i) + ", 0f00000000;\n";
    accumulators += (i ? ",%f" : "%f") + std::to_string(i);
  }
  if (fence)
    ptx += "wgmma.fence.sync.aligned;\n";
  for (int i = 0; i < 2; ++i)
    ptx += "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {" + accumulators + "}, %rd1, %rd2, 1, 1, 1, 0, 0;\n";
  ptx += "wgmma.commit_group.sync.aligned;\nwgmma.wait_group.sync.aligned 0;\n";
  for (int i = 0; i < 32; ++i)
    ptx += "st.global.f32 [%rd0+" + std::to_string(4 * i) + "], %f" + std::to_string(i) + ";\n";
  return ptx + "ret;\n}\n";
}

TEST(PtxasCheck, ReportsAnInjectedWgmmaFence) {
  flashjit::tools::PtxasReport withFence = flashjit::tools::runPtxas(wgmmaKernel(true), "sm_90a");
  if (!withFence.ran)
    GTEST_SKIP() << "ptxas is not installed";
  ASSERT_TRUE(withFence.ok) << withFence.log;
  EXPECT_TRUE(withFence.warnings.empty()) << withFence.log;
  flashjit::tools::PtxasReport withoutFence = flashjit::tools::runPtxas(wgmmaKernel(false), "sm_90a");
  ASSERT_TRUE(withoutFence.ok) << withoutFence.log;
  ASSERT_FALSE(withoutFence.warnings.empty()) << withoutFence.log;
  EXPECT_NE(withoutFence.warnings.front().find("C7519"), std::string::npos) << withoutFence.warnings.front();
}

} // namespace
