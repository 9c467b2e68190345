// The C ABI over the C++ API: conversions, and exceptions turned into status codes + a per-thread message.
#include "runtime/flashjit_c.h"
#include "runtime/flashjit.h"

#include <cstring>
#include <memory>
#include <string>

struct flashjit_kernel {
  std::shared_ptr<flashjit::Kernel> kernel;
};

namespace {

thread_local std::string lastError;

flashjit_status statusOf(flashjit::Error::Code code) {
  switch (code) {
  case flashjit::Error::Code::InvalidArgument:
    return FLASHJIT_INVALID_ARGUMENT;
  case flashjit::Error::Code::Unsupported:
    return FLASHJIT_UNSUPPORTED;
  case flashjit::Error::Code::NoDevice:
    return FLASHJIT_NO_DEVICE;
  case flashjit::Error::Code::DriverError:
    return FLASHJIT_DRIVER_ERROR;
  case flashjit::Error::Code::Internal:
    return FLASHJIT_INTERNAL;
  }
  return FLASHJIT_INTERNAL;
}

/// Runs `body`, turning what it throws into a status and this thread's last error.
template <typename Body> flashjit_status guarded(Body body) {
  try {
    lastError.clear();
    body();
    return FLASHJIT_OK;
  } catch (const flashjit::Error &error) {
    lastError = error.what();
    return statusOf(error.code());
  } catch (const std::exception &error) {
    lastError = error.what();
    return FLASHJIT_INTERNAL;
  }
}

void require(bool ok, const char *message) {
  if (!ok)
    throw flashjit::Error(flashjit::Error::Code::InvalidArgument, message);
}

flashjit::AttentionSpec toSpec(const flashjit_spec *spec) {
  require(spec != nullptr, "spec is null");
  require(spec->dtype == FLASHJIT_F16 || spec->dtype == FLASHJIT_BF16, "spec.dtype must be FLASHJIT_F16 or FLASHJIT_BF16");
  require(spec->causal >= FLASHJIT_CAUSAL_NONE && spec->causal <= FLASHJIT_CAUSAL_BOTTOM_RIGHT,
          "spec.causal must be FLASHJIT_CAUSAL_NONE, _TOP_LEFT or _BOTTOM_RIGHT");
  return flashjit::AttentionSpec{spec->head_dim,
                                 spec->dtype == FLASHJIT_F16 ? flashjit::DType::f16 : flashjit::DType::bf16,
                                 static_cast<flashjit::Causal>(spec->causal), spec->logsumexp != 0};
}

flashjit::AttentionArgs toArgs(const flashjit_args *args) {
  require(args != nullptr, "args is null");
  flashjit::AttentionArgs out;
  out.q = args->q;
  out.k = args->k;
  out.v = args->v;
  out.o = args->o;
  out.lse = args->lse;
  out.batch = args->batch;
  out.heads = args->heads;
  out.kv_heads = args->kv_heads;
  out.seqlen_q = args->seqlen_q;
  out.seqlen_k = args->seqlen_k;
  out.softmax_scale = args->softmax_scale;
  std::memcpy(out.q_strides, args->q_strides, sizeof out.q_strides);
  std::memcpy(out.k_strides, args->k_strides, sizeof out.k_strides);
  std::memcpy(out.v_strides, args->v_strides, sizeof out.v_strides);
  std::memcpy(out.o_strides, args->o_strides, sizeof out.o_strides);
  return out;
}

} // namespace

extern "C" {

const char *flashjit_version(void) { return flashjit::version(); }

const char *flashjit_last_error(void) { return lastError.c_str(); }

flashjit_status flashjit_kernel_create(const flashjit_spec *spec, const flashjit_config *config,
                                       flashjit_kernel **kernel) {
  return guarded([&] {
    require(kernel != nullptr, "kernel (the output) is null");
    *kernel = nullptr;
    flashjit::AttentionSpec cppSpec = toSpec(spec);
    flashjit::KernelConfig cppConfig;
    if (config) {
      require(config->chip != nullptr, "config.chip is null");
      cppConfig = flashjit::KernelConfig{config->block_m, config->block_n, config->warps, config->stages,
                                         config->chip};
    } else {
      cppConfig = flashjit::defaultConfig(cppSpec, flashjit::deviceInfo().chip);
    }
    auto created = std::make_unique<flashjit_kernel>();
    created->kernel = flashjit::Kernel::load(cppSpec, flashjit::compileCached(cppSpec, cppConfig));
    *kernel = created.release();
  });
}

flashjit_status flashjit_attention(const flashjit_spec *spec, const flashjit_args *args, void *stream) {
  return guarded([&] { flashjit::attention(toSpec(spec), toArgs(args), stream); });
}

flashjit_status flashjit_kernel_launch(const flashjit_kernel *kernel, const flashjit_args *args, void *stream) {
  return guarded([&] {
    require(kernel != nullptr, "kernel is null");
    kernel->kernel->launch(toArgs(args), stream);
  });
}

void flashjit_kernel_destroy(flashjit_kernel *kernel) { delete kernel; }

flashjit_status flashjit_validate_args(const flashjit_spec *spec, const flashjit_args *args) {
  return guarded([&] { flashjit::validate(toSpec(spec), toArgs(args)); });
}

} // extern "C"
