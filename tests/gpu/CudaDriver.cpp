#include "CudaDriver.h"

#include <dlfcn.h>

namespace flashjit::gpu {

CudaDriver &CudaDriver::get() {
  static CudaDriver driver = [] {
    CudaDriver d;
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library)
      throw std::runtime_error(std::string("no CUDA driver: cannot load libcuda.so.1 (") + dlerror() + ")");
#define FLASHJIT_RESOLVE(name)                                                                                 \
  d.name = reinterpret_cast<decltype(d.name)>(dlsym(library, #name));                                          \
  if (!d.name)                                                                                                 \
    throw std::runtime_error("the CUDA driver is too old: it lacks " #name);
    FLASHJIT_CUDA_FUNCTIONS(FLASHJIT_RESOLVE)
#undef FLASHJIT_RESOLVE
    d.check(d.cuInit(0), "cuInit");
    return d;
  }();
  return driver;
}

void CudaDriver::check(CUresult result, const char *what) const {
  if (result == CUDA_SUCCESS)
    return;
  const char *name = nullptr;
  if (cuGetErrorString)
    cuGetErrorString(result, &name);
  throw std::runtime_error(std::string(what) + " failed: " + (name ? name : "unknown CUDA error") + " (" +
                           std::to_string(int(result)) + ")");
}

} // namespace flashjit::gpu
