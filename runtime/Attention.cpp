// attention(): the tuned configuration for the current GPU and shape (or the default one with
// FLASHJIT_TUNE=0), kernel cache, one load per CUDA context, launch.
#include "runtime/CudaDriver.h"
#include "runtime/flashjit.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>

namespace flashjit {

void attention(const AttentionSpec &spec, const AttentionArgs &args, void *stream) {
  validate(spec);
  validate(spec, args);
  CudaDriver &cuda = CudaDriver::get();
  cuda.ensureContext();
  CUcontext context = nullptr;
  cuda.check(cuda.cuCtxGetCurrent(&context), "cuCtxGetCurrent");
  CUdevice device;
  cuda.check(cuda.cuCtxGetDevice(&device), "cuCtxGetDevice");
  std::string chip = cuda.chipOf(device);

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

  // Modules belong to a context: loaded kernels are kept per (context, spec, chip). Loads are rare
  // (once per kernel and context), so one lock around them is enough.
  static std::mutex mutex;
  static std::map<std::tuple<CUcontext, std::string>, std::shared_ptr<Kernel>> loaded;
  std::shared_ptr<Kernel> kernel;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto key = std::make_tuple(context, spec.name() + " " + config.str());
    std::shared_ptr<Kernel> &slot = loaded[key];
    if (!slot)
      slot = Kernel::load(spec, compileCached(spec, config));
    kernel = slot;
  }
  kernel->launch(args, stream);
}

} // namespace flashjit
