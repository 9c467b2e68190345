// The CUDA driver API, loaded at run time with dlopen("libcuda.so.1") so that the program starts (and
// fails with a clear message) on machines without a GPU or driver. cuda.h supplies the types only.
#pragma once

#include <cuda.h>

#include <stdexcept>
#include <string>

namespace flashjit::gpu {

struct CudaDriver {
#define FLASHJIT_CUDA_FUNCTIONS(X)                                                                           \
  X(cuInit) X(cuDeviceGet) X(cuDeviceGetName) X(cuDeviceGetAttribute) X(cuDriverGetVersion)                   \
  X(cuDevicePrimaryCtxRetain) X(cuCtxSetCurrent) X(cuModuleLoadDataEx) X(cuModuleGetFunction)                  \
  X(cuModuleUnload) X(cuFuncSetAttribute) X(cuFuncGetAttribute) X(cuMemAlloc_v2) X(cuMemFree_v2)               \
  X(cuMemcpyHtoD_v2) X(cuMemcpyDtoH_v2) X(cuMemsetD8_v2) X(cuLaunchKernel) X(cuCtxSynchronize)                 \
  X(cuGetErrorString) X(cuEventCreate) X(cuEventRecord) X(cuEventSynchronize) X(cuEventElapsedTime)            \
  X(cuEventDestroy_v2)
#define FLASHJIT_DECLARE(name) decltype(&::name) name = nullptr;
  FLASHJIT_CUDA_FUNCTIONS(FLASHJIT_DECLARE)
#undef FLASHJIT_DECLARE

  /// Loads libcuda.so.1 and resolves every entry point; throws std::runtime_error saying what is missing.
  static CudaDriver &get();

  /// Throws std::runtime_error with the driver's name for `result` unless it is CUDA_SUCCESS.
  void check(CUresult result, const char *what) const;
};

} // namespace flashjit::gpu
