// attention(): the tuned configuration for the current GPU and shape (or the default one with
// FLASHJIT_TUNE=0), kernel cache, one load per CUDA context, launch.
#include "runtime/CudaDriver.h"
#include "runtime/flashjit.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>

namespace flashjit {

namespace {

/// What picks the kernel of a call: the context, the spec and the sequence lengths (the tuning key's
/// buckets are coarser; exact lengths keep this lookup trivial).
using CallKey = std::tuple<CUcontext, int, int, int, bool, int64_t, int64_t, int>; // ..., window_left

/// The kernel for a call not seen before: the tuned (or default) configuration, compiled through the
/// kernel cache and loaded once per (context, kernel, configuration).
std::shared_ptr<Kernel> kernelFor(const AttentionSpec &spec, const AttentionArgs &args, CUcontext context) {
  CudaDriver &cuda = CudaDriver::get();
  CUdevice device;
  cuda.check(cuda.cuCtxGetDevice(&device), "cuCtxGetDevice");
  std::string chip = cuda.targetChipOf(device);
  const char *tuneSetting = std::getenv("FLASHJIT_TUNE");
  KernelConfig config = defaultConfig(spec, chip);
  if (!(tuneSetting && std::string(tuneSetting) == "0")) {
    ProblemShape shape;
    shape.batch = args.batch;
    shape.heads = args.heads;
    shape.kv_heads = args.kv_heads;
    shape.seqlen_q = args.seqlen_q;
    shape.seqlen_k = args.seqlen_k;
    shape.softmax_scale = args.softmax_scale;
    config = tune(spec, shape).best;
  }
  // Modules belong to a context: loaded kernels are kept per (context, spec, configuration).
  static std::mutex mutex;
  static std::map<std::tuple<CUcontext, std::string>, std::shared_ptr<Kernel>> loaded;
  std::lock_guard<std::mutex> lock(mutex);
  std::shared_ptr<Kernel> &slot = loaded[std::make_tuple(context, spec.name() + " " + config.str())];
  if (!slot)
    slot = Kernel::load(spec, compileCached(spec, config));
  return slot;
}

} // namespace

void attention(const AttentionSpec &spec, const AttentionArgs &args, void *stream) {
  validate(spec);
  validate(spec, args);
  CudaDriver &cuda = CudaDriver::get();
  cuda.ensureContext();
  CUcontext context = nullptr;
  cuda.check(cuda.cuCtxGetCurrent(&context), "cuCtxGetCurrent");

  // Repeated calls (the common case) find their kernel here without building any key string: the host
  // cost of a call stays that of the launch.
  static std::mutex mutex;
  static std::map<CallKey, std::shared_ptr<Kernel>> calls;
  CallKey key{context, spec.head_dim, int(spec.dtype), int(spec.causal), spec.logsumexp, args.seqlen_q, args.seqlen_k,
              spec.window_left};
  std::shared_ptr<Kernel> kernel;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (auto found = calls.find(key); found != calls.end())
      kernel = found->second;
  }
  if (!kernel) {
    kernel = kernelFor(spec, args, context);
    std::lock_guard<std::mutex> lock(mutex);
    if (calls.size() >= 4096) // many distinct lengths: start over rather than grow without bound
      calls.clear();
    calls[key] = kernel;
  }
  kernel->launch(args, stream);
}

} // namespace flashjit
