// The kernel cache behind compileCached(): memory first, then disk, then the compiler. Entries are
// self-describing text headers followed by the PTX; a checksum guards against truncation and corruption.
#include "runtime/DiskCache.h"
#include "runtime/flashjit.h"

#include <algorithm>
#include <future>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>

namespace flashjit {

namespace {

constexpr const char *kMagic = "flashjit-kernel-cache 1";
/// The kernels' launch contract beyond their parameter lists (which every entry carries: the launcher packs
/// arguments by their names), such as the grid a launch gives them and what a parameter means; part of
/// every key, so that a new contract does not launch an entry that an older build compiled. 2: persistent
/// kernels take the schedule's tail (runtime/PersistentSchedule.h); 3: persistent kernels without a causal
/// mask take tiles in round robin and the split tail's tiles, part slots and workspace
/// (runtime/SplitTail.h); 4: entries carry the kernel's parameters; 5: and its tile schedule (split_tail).
constexpr int kKernelAbi = 5;

const char *const kParameterKinds[] = {"pointer", "i64", "i32", "f32", "tensor_map"};

/// "q:pointer,k:pointer,...,scale:f32": a kernel's parameters as an entry holds them.
std::string encodeParameters(const std::vector<KernelParameter> &parameters) {
  std::string text;
  for (const KernelParameter &parameter : parameters)
    text += (text.empty() ? "" : ",") + parameter.name + ":" + kParameterKinds[int(parameter.kind)];
  return text;
}

/// The parameters encodeParameters wrote; false if `text` is malformed.
bool decodeParameters(const std::string &text, std::vector<KernelParameter> &parameters) {
  std::istringstream items(text);
  for (std::string item; std::getline(items, item, ',');) {
    const size_t colon = item.find(':');
    if (colon == std::string::npos || colon == 0)
      return false;
    const std::string kind = item.substr(colon + 1);
    auto found = std::find(std::begin(kParameterKinds), std::end(kParameterKinds), kind);
    if (found == std::end(kParameterKinds))
      return false;
    parameters.push_back({item.substr(0, colon), KernelParameter::Kind(found - std::begin(kParameterKinds))});
  }
  return !parameters.empty();
}

std::string keyOf(const AttentionSpec &spec, const KernelConfig &config) {
  return std::string("flashjit ") + version() + " abi " + std::to_string(kKernelAbi) + " " + spec.name() + " " +
         config.str();
}

std::map<std::string, std::string> fieldsOf(const CompiledKernel &kernel) {
  std::ostringstream compileMs;
  compileMs << kernel.compile_ms;
  return {{"name", kernel.name},
          {"chip", kernel.chip},
          {"threads", std::to_string(kernel.threads)},
          {"block_m", std::to_string(kernel.block_m)},
          {"shared_memory", std::to_string(kernel.shared_memory)},
          {"tma_box_rows", std::to_string(kernel.tma_box_rows)},
          {"persistent", kernel.persistent ? "1" : "0"},
          {"split_tail", kernel.split_tail ? "1" : "0"},
          {"parameters", encodeParameters(kernel.parameters)},
          {"compile_ms", compileMs.str()}};
}

/// The kernel an entry describes; false if a field is missing or malformed.
bool kernelOf(const std::map<std::string, std::string> &fields, std::string ptx, CompiledKernel &kernel) {
  try {
    kernel.name = fields.at("name");
    kernel.chip = fields.at("chip");
    kernel.threads = std::stoi(fields.at("threads"));
    kernel.block_m = std::stoi(fields.at("block_m"));
    kernel.shared_memory = std::stoi(fields.at("shared_memory"));
    kernel.tma_box_rows = fields.count("tma_box_rows") ? std::stoi(fields.at("tma_box_rows")) : 0;
    kernel.persistent = fields.count("persistent") && fields.at("persistent") == "1";
    kernel.split_tail = fields.count("split_tail") && fields.at("split_tail") == "1";
    kernel.compile_ms = std::stod(fields.at("compile_ms"));
    if (!decodeParameters(fields.at("parameters"), kernel.parameters))
      return false;
  } catch (const std::exception &) {
    return false;
  }
  kernel.ptx = std::move(ptx);
  return true;
}

class KernelCache {
public:
  /// The first thread to ask for a key builds it; later ones (concurrent or not) share its result.
  CompiledKernel get(const AttentionSpec &spec, const KernelConfig &config) {
    std::string key = keyOf(spec, config);
    std::promise<CompiledKernel> promise;
    std::shared_future<CompiledKernel> future;
    bool owner = false;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto found = memory.find(key);
      if (found != memory.end()) {
        ++stats.memory_hits;
        future = found->second;
      } else {
        future = promise.get_future().share();
        memory[key] = future;
        owner = true;
      }
    }
    if (owner) {
      try {
        promise.set_value(build(spec, config, key));
      } catch (...) {
        promise.set_exception(std::current_exception());
        std::lock_guard<std::mutex> lock(mutex);
        memory.erase(key); // a later call tries again
      }
    }
    return future.get();
  }

  CacheStats snapshot() {
    std::lock_guard<std::mutex> lock(mutex);
    CacheStats copy = stats;
    copy.directory = disk::directory();
    copy.disk_bytes = disk::sweep(copy.directory, /*remove=*/false);
    return copy;
  }

  void clear(bool removeDisk) {
    std::lock_guard<std::mutex> lock(mutex);
    memory.clear();
    stats = CacheStats();
    if (removeDisk)
      disk::sweep(disk::directory(), /*remove=*/true);
  }

private:
  CompiledKernel build(const AttentionSpec &spec, const KernelConfig &config, const std::string &key) {
    std::string dir = disk::directory();
    std::string path = dir.empty() ? "" : disk::pathFor(dir, key, ".fjk");
    if (!path.empty()) {
      std::map<std::string, std::string> fields;
      std::string ptx;
      disk::ReadResult result = disk::read(path, kMagic, key, fields, ptx);
      CompiledKernel kernel;
      if (result == disk::ReadResult::hit && kernelOf(fields, std::move(ptx), kernel)) {
        std::lock_guard<std::mutex> lock(mutex);
        ++stats.disk_hits;
        return kernel;
      }
      if (result != disk::ReadResult::missing) {
        std::lock_guard<std::mutex> lock(mutex);
        ++stats.corrupt_entries;
      }
    }
    CompiledKernel kernel = compile(spec, config);
    {
      std::lock_guard<std::mutex> lock(mutex);
      ++stats.compilations;
    }
    if (!path.empty())
      disk::write(path, kMagic, key, fieldsOf(kernel), kernel.ptx);
    return kernel;
  }

  std::mutex mutex;
  std::map<std::string, std::shared_future<CompiledKernel>> memory;
  CacheStats stats;
};

KernelCache &cache() {
  static KernelCache instance;
  return instance;
}

} // namespace

CompiledKernel compileCached(const AttentionSpec &spec, const KernelConfig &config) {
  validate(spec);
  validate(config);
  return cache().get(spec, config);
}

CacheStats cacheStats() { return cache().snapshot(); }

void clearCache(bool disk) { cache().clear(disk); }

} // namespace flashjit
