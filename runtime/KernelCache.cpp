// The kernel cache behind compileCached(): memory first, then disk, then the compiler. Entries are
// self-describing text headers followed by the PTX; a checksum guards against truncation and corruption.
#include "runtime/flashjit.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace flashjit {

namespace fs = std::filesystem;

namespace {

constexpr const char *kMagic = "flashjit-kernel-cache 1";

uint64_t fnv1a(const std::string &bytes) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : bytes)
    hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

std::string hex(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

/// The cache directory, or "" when the disk cache is off.
std::string cacheDirectory() {
  const char *enabled = std::getenv("FLASHJIT_CACHE");
  if (enabled && std::string(enabled) == "0")
    return "";
  if (const char *dir = std::getenv("FLASHJIT_CACHE_DIR"); dir && *dir)
    return dir;
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/flashjit";
  return "";
}

std::string keyOf(const AttentionSpec &spec, const KernelConfig &config) {
  return std::string("flashjit ") + version() + " " + spec.name() + " " + config.str();
}

std::string serialize(const std::string &key, const CompiledKernel &kernel) {
  std::ostringstream out;
  out << kMagic << "\nkey " << key << "\nname " << kernel.name << "\nchip " << kernel.chip << "\nthreads "
      << kernel.threads << "\nblock_m " << kernel.block_m << "\nshared_memory " << kernel.shared_memory
      << "\ncompile_ms " << kernel.compile_ms << "\nchecksum " << hex(fnv1a(kernel.ptx)) << "\nsize "
      << kernel.ptx.size() << "\n\n"
      << kernel.ptx;
  return out.str();
}

/// Parses an entry; false if it is damaged or belongs to another key.
bool deserialize(const std::string &bytes, const std::string &key, CompiledKernel &kernel) {
  std::istringstream in(bytes);
  std::string line, checksum;
  size_t size = 0;
  if (!std::getline(in, line) || line != kMagic)
    return false;
  std::map<std::string, std::string> fields;
  while (std::getline(in, line) && !line.empty()) {
    size_t space = line.find(' ');
    if (space == std::string::npos)
      return false;
    fields[line.substr(0, space)] = line.substr(space + 1);
  }
  try {
    if (fields.at("key") != key)
      return false;
    kernel.name = fields.at("name");
    kernel.chip = fields.at("chip");
    kernel.threads = std::stoi(fields.at("threads"));
    kernel.block_m = std::stoi(fields.at("block_m"));
    kernel.shared_memory = std::stoi(fields.at("shared_memory"));
    kernel.compile_ms = std::stod(fields.at("compile_ms"));
    checksum = fields.at("checksum");
    size = std::stoull(fields.at("size"));
  } catch (const std::exception &) {
    return false;
  }
  std::streampos start = in.tellg();
  if (start < 0 || bytes.size() - size_t(start) != size)
    return false;
  kernel.ptx = bytes.substr(size_t(start));
  return hex(fnv1a(kernel.ptx)) == checksum;
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
    copy.directory = cacheDirectory();
    std::error_code error;
    if (!copy.directory.empty() && fs::is_directory(copy.directory, error))
      for (const auto &entry : fs::directory_iterator(copy.directory, error))
        if (entry.is_regular_file(error))
          copy.disk_bytes += (long long)entry.file_size(error);
    return copy;
  }

  void clear(bool disk) {
    std::lock_guard<std::mutex> lock(mutex);
    memory.clear();
    stats = CacheStats();
    std::string dir = cacheDirectory();
    std::error_code error;
    if (disk && !dir.empty() && fs::is_directory(dir, error))
      for (const auto &entry : fs::directory_iterator(dir, error))
        if (entry.path().extension() == ".fjk")
          fs::remove(entry.path(), error);
  }

private:
  CompiledKernel build(const AttentionSpec &spec, const KernelConfig &config, const std::string &key) {
    std::string dir = cacheDirectory();
    std::string path = dir.empty() ? "" : dir + "/" + hex(fnv1a(key)) + ".fjk";
    if (!path.empty()) {
      std::ifstream file(path, std::ios::binary);
      if (file) {
        std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        CompiledKernel kernel;
        if (deserialize(bytes, key, kernel)) {
          std::lock_guard<std::mutex> lock(mutex);
          ++stats.disk_hits;
          return kernel;
        }
        std::error_code error;
        fs::remove(path, error); // damaged or foreign: never trusted
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
      store(dir, path, serialize(key, kernel));
    return kernel;
  }

  /// Writes to a temporary file in the same directory, then renames it over the entry: readers see the
  /// old entry, no entry, or the whole new one. A cache that cannot be written is skipped, not fatal.
  static void store(const std::string &dir, const std::string &path, const std::string &bytes) {
    std::error_code error;
    fs::create_directories(dir, error);
    std::ostringstream temporary;
    temporary << path << ".tmp." << getpid() << "." << std::this_thread::get_id();
    {
      std::ofstream file(temporary.str(), std::ios::binary | std::ios::trunc);
      if (!file)
        return;
      file.write(bytes.data(), std::streamsize(bytes.size()));
      if (!file.flush())
        return;
    }
    fs::rename(temporary.str(), path, error);
    if (error)
      fs::remove(temporary.str(), error);
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
