#include "runtime/CubinCache.h"

#include "runtime/CudaDriver.h"
#include "runtime/DiskCache.h"

#include <atomic>
#include <map>
#include <vector>

namespace flashjit {

namespace {

constexpr const char *kMagic = "flashjit-cubin-cache 1";

std::atomic<long> links{0}, diskHits{0}, corrupt{0};

/// The driver's JIT: PTX in, cubin out, with the error log in the Error when it fails.
std::string link(const CompiledKernel &kernel) {
  CudaDriver &cuda = CudaDriver::get();
  std::vector<char> log(16384, 0);
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {log.data(), reinterpret_cast<void *>(uintptr_t(log.size()))};
  CUlinkState state = nullptr;
  cuda.check(cuda.cuLinkCreate_v2(2, options, values, &state), "cuLinkCreate");
  CUresult result = cuda.cuLinkAddData_v2(state, CU_JIT_INPUT_PTX, const_cast<char *>(kernel.ptx.c_str()),
                                          kernel.ptx.size() + 1, kernel.name.c_str(), 0, nullptr, nullptr);
  void *image = nullptr;
  size_t size = 0;
  if (result == CUDA_SUCCESS)
    result = cuda.cuLinkComplete(state, &image, &size);
  std::string cubin = result == CUDA_SUCCESS ? std::string(static_cast<char *>(image), size) : std::string();
  cuda.cuLinkDestroy(state);
  if (result != CUDA_SUCCESS) {
    const char *name = nullptr;
    cuda.cuGetErrorName(result, &name);
    throw Error(Error::Code::DriverError, "the CUDA driver could not compile the PTX of " + kernel.name + " (" +
                                              (name ? name : "unknown error") + "):\n" + log.data());
  }
  ++links;
  return cubin;
}

} // namespace

Cubin cubinFor(const CompiledKernel &kernel) {
  CudaDriver &cuda = CudaDriver::get();
  CUdevice device;
  cuda.check(cuda.cuCtxGetDevice(&device), "cuCtxGetDevice");
  int driver = 0;
  cuda.check(cuda.cuDriverGetVersion(&driver), "cuDriverGetVersion");
  std::string key = "flashjit " + std::string(version()) + " " + kernel.name + " on " + cuda.chipOf(device) +
                    " driver " + std::to_string(driver) + " ptx " + disk::hex(disk::fnv1a(kernel.ptx)) + " " +
                    std::to_string(kernel.ptx.size());
  std::string dir = disk::directory();
  std::string path = dir.empty() ? "" : disk::pathFor(dir, key, ".cubin");
  Cubin cubin;
  if (!path.empty()) {
    std::map<std::string, std::string> fields;
    disk::ReadResult result = disk::read(path, kMagic, key, fields, cubin.image);
    if (result == disk::ReadResult::hit) {
      ++diskHits;
      cubin.from_cache = true;
      return cubin;
    }
    if (result == disk::ReadResult::damaged)
      ++corrupt;
  }
  cubin.image = link(kernel);
  if (!path.empty())
    disk::write(path, kMagic, key, {{"kernel", kernel.name}}, cubin.image);
  return cubin;
}

void addCubinStats(CacheStats &stats) {
  stats.cubin_links = links;
  stats.cubin_disk_hits = diskHits;
  stats.corrupt_entries += corrupt;
}

void clearCubinStats() {
  links = 0;
  diskHits = 0;
  corrupt = 0;
}

} // namespace flashjit
