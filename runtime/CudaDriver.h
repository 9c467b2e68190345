// The CUDA driver API, loaded at run time with dlopen("libcuda.so.1"), so that flashjit (and every program
// using it) starts on machines without a GPU and fails with a clear Error only when a GPU is needed.
// cuda.h supplies the types; nothing links libcuda.
#pragma once

#include <cuda.h>

#include <string>

namespace flashjit {

struct CudaDriver {
#define FLASHJIT_CUDA_FUNCTIONS(X)                                                                           \
  X(cuInit) X(cuDriverGetVersion) X(cuDeviceGetCount) X(cuDeviceGet) X(cuDeviceGetName)                       \
  X(cuDeviceGetAttribute) X(cuDevicePrimaryCtxRetain) X(cuCtxGetCurrent) X(cuCtxSetCurrent) X(cuCtxGetDevice)                   \
  X(cuModuleLoadDataEx) X(cuModuleGetFunction) X(cuModuleUnload) X(cuFuncSetAttribute) X(cuFuncGetAttribute)  \
  X(cuMemAlloc_v2) X(cuMemFree_v2) X(cuMemcpyHtoD_v2) X(cuMemcpyDtoH_v2) X(cuMemsetD8_v2) X(cuLaunchKernel)   \
  X(cuCtxSynchronize) X(cuGetErrorName) X(cuGetErrorString) X(cuEventCreate) X(cuEventRecord)                 \
  X(cuEventSynchronize) X(cuEventElapsedTime) X(cuEventDestroy_v2) X(cuTensorMapEncodeTiled)    \
  X(cuMemsetD32Async)
#define FLASHJIT_DECLARE(name) decltype(&::name) name = nullptr;
  FLASHJIT_CUDA_FUNCTIONS(FLASHJIT_DECLARE)
#undef FLASHJIT_DECLARE

  /// Loads libcuda.so.1, resolves every entry point and initializes the driver; throws Error(NoDevice)
  /// saying what is missing. Thread-safe; the driver loads once per process.
  static CudaDriver &get();

  /// Throws Error(DriverError) with `what` and the driver's name for `result` unless it is CUDA_SUCCESS.
  void check(CUresult result, const char *what) const;

  /// Makes sure the calling thread has a current context: device 0's primary context if none.
  void ensureContext() const;

  /// The chip kernels are compiled for on `device`: its own (sm_90a, Hopper's architecture-specific path,
  /// on an sm_90 GPU), or FLASHJIT_CHIP where that code can run on it (sm_90: the mma.sync path on an
  /// H100); Error(InvalidArgument) if not.
  std::string targetChipOf(CUdevice device) const;
  /// The chip of `device`, such as "sm_90" for compute capability 9.0.
  std::string chipOf(CUdevice device) const;
};

} // namespace flashjit
