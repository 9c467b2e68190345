#include "runtime/CudaDriver.h"
#include "dialects/KernelConfigRules.h"
#include "runtime/TargetChip.h"
#include "runtime/flashjit.h"

#include <cstdlib>
#include <dlfcn.h>

#include <string>

namespace flashjit {

CudaDriver &CudaDriver::get() {
  static CudaDriver driver = [] {
    CudaDriver d;
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library)
      throw Error(Error::Code::NoDevice,
                  std::string("no CUDA driver: cannot load libcuda.so.1 (") + dlerror() + ")");
#define FLASHJIT_RESOLVE(name)                                                                                 \
  d.name = reinterpret_cast<decltype(d.name)>(dlsym(library, #name));                                          \
  if (!d.name)                                                                                                 \
    throw Error(Error::Code::NoDevice, "the CUDA driver is too old: it lacks " #name);
    FLASHJIT_CUDA_FUNCTIONS(FLASHJIT_RESOLVE)
#undef FLASHJIT_RESOLVE
    CUresult result = d.cuInit(0);
    if (result != CUDA_SUCCESS) {
      const char *name = nullptr;
      d.cuGetErrorName(result, &name);
      throw Error(Error::Code::NoDevice, std::string("the CUDA driver cannot start: cuInit failed with ") +
                                             (name ? name : "an unknown error") + " (" +
                                             std::to_string(int(result)) + ")");
    }
    int devices = 0;
    d.cuDeviceGetCount(&devices);
    if (devices == 0)
      throw Error(Error::Code::NoDevice, "the CUDA driver sees no GPU");
    return d;
  }();
  return driver;
}

void CudaDriver::check(CUresult result, const char *what) const {
  if (result == CUDA_SUCCESS)
    return;
  const char *name = nullptr, *text = nullptr;
  cuGetErrorName(result, &name);
  cuGetErrorString(result, &text);
  throw Error(Error::Code::DriverError, std::string(what) + " failed: " + (name ? name : "unknown error") +
                                            (text ? std::string(" (") + text + ")" : std::string()));
}

void CudaDriver::ensureContext() const {
  CUcontext current = nullptr;
  check(cuCtxGetCurrent(&current), "cuCtxGetCurrent");
  if (current)
    return;
  CUdevice device;
  check(cuDeviceGet(&device, 0), "cuDeviceGet");
  check(cuDevicePrimaryCtxRetain(&current, device), "cuDevicePrimaryCtxRetain");
  check(cuCtxSetCurrent(current), "cuCtxSetCurrent");
}

std::string CudaDriver::chipOf(CUdevice device) const {
  int major = 0, minor = 0;
  check(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device), "cuDeviceGetAttribute");
  check(cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device), "cuDeviceGetAttribute");
  return "sm_" + std::to_string(major * 10 + minor);
}

std::string CudaDriver::targetChipOf(CUdevice device) const {
  std::string chip = chipOf(device);
  const char *requested = std::getenv("FLASHJIT_CHIP");
  if (!requested || !*requested) // wgmma, TMA and setmaxnreg (measured: benchmarks/NOTES.md)
    return chip == "sm_90" ? "sm_90a" : chip;
  std::string error = targetChipError(requested, chip, supportedChips());
  if (!error.empty())
    throw Error(Error::Code::InvalidArgument, "FLASHJIT_CHIP=" + std::string(requested) + ": " + error);
  return requested;
}

} // namespace flashjit
