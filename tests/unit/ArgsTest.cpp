// Launch arguments are checked before anything reaches the GPU, with messages naming the field; without a
// CUDA driver, the runtime fails with one clear NoDevice error.
#include "runtime/flashjit.h"

#include <gtest/gtest.h>

#include <cstdint>

using namespace flashjit;

namespace {

// Stand-in device addresses: validate() only looks at their values.
void *address(uintptr_t value) { return reinterpret_cast<void *>(value); }

AttentionArgs goodArgs() {
  AttentionArgs args;
  args.q = address(0x10000);
  args.k = address(0x20000);
  args.v = address(0x30000);
  args.o = address(0x40000);
  args.lse = static_cast<float *>(address(0x50000));
  args.batch = 2;
  args.heads = 4;
  args.kv_heads = 2;
  args.seqlen_q = 100;
  args.seqlen_k = 70;
  for (long long *strides : {args.q_strides, args.o_strides})
    strides[0] = 100 * 4 * 64, strides[1] = 64, strides[2] = 4 * 64;
  for (long long *strides : {args.k_strides, args.v_strides})
    strides[0] = 70 * 2 * 64, strides[1] = 64, strides[2] = 2 * 64;
  return args;
}

std::string rejection(const AttentionSpec &spec, const AttentionArgs &args, Error::Code expected) {
  try {
    validate(spec, args);
  } catch (const Error &error) {
    EXPECT_EQ(int(error.code()), int(expected)) << error.what();
    return error.what();
  }
  return "";
}

const AttentionSpec kSpec{64, DType::bf16, Causal::bottom_right, true};

} // namespace

TEST(AttentionArgs, GoodArgumentsPass) { EXPECT_NO_THROW(validate(kSpec, goodArgs())); }

TEST(AttentionArgs, NullAndMisalignedPointers) {
  AttentionArgs args = goodArgs();
  args.v = nullptr;
  EXPECT_EQ(rejection(kSpec, args, Error::Code::InvalidArgument), "attention arguments: v is null");
  args = goodArgs();
  args.o = address(0x40008);
  EXPECT_EQ(rejection(kSpec, args, Error::Code::InvalidArgument),
            "attention arguments: o is not 16-byte aligned");
  args = goodArgs();
  args.lse = nullptr;
  EXPECT_NE(rejection(kSpec, args, Error::Code::InvalidArgument)
                .find("lse is null, but attention_fwd_d64_bf16_causal_br_lse writes the logsumexp"),
            std::string::npos);
  AttentionSpec noLse = kSpec;
  noLse.logsumexp = false;
  EXPECT_NO_THROW(validate(noLse, args));
}

TEST(AttentionArgs, SizesMustBePositiveAndHeadsGrouped) {
  AttentionArgs args = goodArgs();
  args.seqlen_k = 0;
  EXPECT_EQ(rejection(kSpec, args, Error::Code::InvalidArgument),
            "attention arguments: seqlen_k = 0 must be positive");
  args = goodArgs();
  args.batch = -1;
  EXPECT_EQ(rejection(kSpec, args, Error::Code::InvalidArgument),
            "attention arguments: batch = -1 must be positive");
  args = goodArgs();
  args.kv_heads = 3;
  EXPECT_EQ(rejection(kSpec, args, Error::Code::InvalidArgument),
            "attention arguments: kv_heads = 3 must be positive and divide heads = 4");
  args = goodArgs();
  args.softmax_scale = -0.5f;
  EXPECT_NE(rejection(kSpec, args, Error::Code::InvalidArgument).find("softmax_scale = -0.5"), std::string::npos);
}

TEST(AttentionArgs, StridesMustBeMultiplesOf8) {
  AttentionArgs args = goodArgs();
  args.k_strides[2] = 100;
  EXPECT_EQ(rejection(kSpec, args, Error::Code::InvalidArgument),
            "attention arguments: k row stride = 100 must be a positive multiple of 8 elements (tiles move in "
            "16-byte pieces)");
  args = goodArgs();
  args.q_strides[1] = 0;
  EXPECT_NE(rejection(kSpec, args, Error::Code::InvalidArgument).find("q head stride = 0"), std::string::npos);
}

TEST(AttentionArgs, ManyHeadsAndBatchesFitTheOneDimensionalGrid) {
  AttentionArgs args = goodArgs();
  args.heads = 70000;
  args.kv_heads = 0;
  args.batch = 70000;
  EXPECT_NO_THROW(validate(kSpec, args));
}

TEST(Runtime, WithoutADriverTheErrorSaysSo) {
  try {
    DeviceInfo info = deviceInfo();
    GTEST_SKIP() << "a GPU is present: " << info.name;
  } catch (const Error &error) {
    EXPECT_EQ(int(error.code()), int(Error::Code::NoDevice)) << error.what();
    EXPECT_NE(std::string(error.what()).find("CUDA driver"), std::string::npos) << error.what();
    // Loading a kernel fails the same way, before any work on the GPU side.
    AttentionSpec spec{64, DType::bf16};
    CompiledKernel kernel;
    kernel.name = "k";
    kernel.ptx = ".version 8.0";
    EXPECT_THROW(Kernel::load(spec, kernel), Error);
  }
}
