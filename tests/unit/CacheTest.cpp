// The kernel cache: memory and disk hits skip the compiler, damaged entries are rebuilt, writes are atomic,
// FLASHJIT_CACHE=0 keeps the disk out, and concurrent requests for one kernel compile it once.
#include "runtime/flashjit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <unistd.h>

using namespace flashjit;
namespace fs = std::filesystem;

namespace {

class KernelCacheTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("flashjit-cache-test-" + std::to_string(getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    setenv("FLASHJIT_CACHE_DIR", dir.c_str(), 1);
    unsetenv("FLASHJIT_CACHE");
    clearCache(/*disk=*/false);
  }
  void TearDown() override {
    clearCache(false);
    fs::remove_all(dir);
    unsetenv("FLASHJIT_CACHE_DIR");
    unsetenv("FLASHJIT_CACHE");
  }

  std::vector<fs::path> entries() const {
    std::vector<fs::path> files;
    if (fs::exists(dir))
      for (const auto &entry : fs::directory_iterator(dir))
        files.push_back(entry.path());
    return files;
  }

  fs::path dir;
  AttentionSpec spec{64, DType::bf16, Causal::bottom_right, true};
  KernelConfig config = KernelConfig{64, 32, 4, 2, "sm_80"};
};

} // namespace

TEST_F(KernelCacheTest, MemoryThenDiskHitsSkipTheCompiler) {
  CompiledKernel first = compileCached(spec, config);
  EXPECT_EQ(cacheStats().compilations, 1);
  ASSERT_EQ(entries().size(), 1u);
  EXPECT_EQ(entries()[0].extension(), ".fjk");

  CompiledKernel again = compileCached(spec, config);
  EXPECT_EQ(cacheStats().compilations, 1);
  EXPECT_EQ(cacheStats().memory_hits, 1);
  EXPECT_EQ(again.ptx, first.ptx);

  clearCache(false); // a new process: memory is empty, the disk is not
  CompiledKernel fromDisk = compileCached(spec, config);
  CacheStats stats = cacheStats();
  EXPECT_EQ(stats.compilations, 0);
  EXPECT_EQ(stats.disk_hits, 1);
  EXPECT_EQ(fromDisk.ptx, first.ptx);
  EXPECT_EQ(fromDisk.name, first.name);
  EXPECT_EQ(fromDisk.shared_memory, first.shared_memory);
  EXPECT_EQ(fromDisk.threads, first.threads);
  EXPECT_EQ(fromDisk.block_m, first.block_m);
  EXPECT_EQ(fromDisk.parameters, first.parameters);
  EXPECT_EQ(stats.directory, dir.string());
  EXPECT_GT(stats.disk_bytes, (long long)first.ptx.size());
}

/// "name:kind" of each parameter, in order.
static std::vector<std::string> describe(const std::vector<KernelParameter> &parameters) {
  const char *const kinds[] = {"pointer", "i64", "i32", "f32", "tensor_map"};
  std::vector<std::string> described;
  for (const KernelParameter &parameter : parameters)
    described.push_back(parameter.name + ":" + kinds[int(parameter.kind)]);
  return described;
}

// The kernel's parameters are what its lowering recorded (the launcher packs arguments from them), and a
// disk entry keeps them: the tensors, their strides, the sizes, the divisors, the scale; then what a
// persistent kernel without a causal mask takes (its schedule's tail and the split tail's workspace) and,
// with TMA, the K and V tensor maps.
TEST_F(KernelCacheTest, KernelsCarryTheirParameters) {
  using Names = std::vector<std::string>;
  const Names common = {"q:pointer", "k:pointer", "v:pointer", "o:pointer", "lse:pointer",
                        "q_stride_batch:i64", "q_stride_head:i64", "q_stride_row:i64",
                        "k_stride_batch:i64", "k_stride_head:i64", "k_stride_row:i64",
                        "v_stride_batch:i64", "v_stride_head:i64", "v_stride_row:i64",
                        "o_stride_batch:i64", "o_stride_head:i64", "o_stride_row:i64",
                        "lse_stride_batch:i64", "lse_stride_head:i64",
                        "seqlen_q:i32", "seqlen_k:i32", "group:i32", "heads:i32", "batch:i32",
                        "query_blocks_magic:i32", "query_blocks_shift:i32", "heads_magic:i32", "heads_shift:i32",
                        "group_magic:i32", "group_shift:i32", "scale:f32"};
  EXPECT_EQ(describe(compileCached(spec, config).parameters), common);

  AttentionSpec plain{64, DType::bf16, Causal::none, /*logsumexp=*/false};
  KernelConfig persistent{128, 128, 8, 2, "sm_90a"};
  persistent.tma = persistent.warp_specialized = persistent.persistent = true;
  Names expected = common;
  expected.erase(std::remove_if(expected.begin(), expected.end(),
                                [](const std::string &name) { return name.rfind("lse", 0) == 0; }),
                 expected.end());
  for (const char *name : {"tail_slices:i32", "tail_slices_magic:i32", "tail_slices_shift:i32", "split_tiles:i32",
                           "split_part_slots:i32", "split_counters:pointer", "split_parts:pointer",
                           "k_tensor_map:tensor_map", "v_tensor_map:tensor_map"})
    expected.push_back(name);
  EXPECT_EQ(describe(compileCached(plain, persistent).parameters), expected);
  clearCache(false);
  EXPECT_EQ(describe(compileCached(plain, persistent).parameters), expected);
  EXPECT_EQ(cacheStats().disk_hits, 1);
}

// A kernel that takes TMA tensor maps says so from the disk as well (its launch appends them).
TEST_F(KernelCacheTest, DiskEntryKeepsTheTensorMapBox) {
  KernelConfig tma{64, 128, 4, 2, "sm_90a"};
  tma.tma = true;
  CompiledKernel first = compileCached(spec, tma);
  EXPECT_EQ(first.tma_box_rows, 128);
  clearCache(false);
  EXPECT_EQ(compileCached(spec, tma).tma_box_rows, 128);
  EXPECT_EQ(cacheStats().disk_hits, 1);
  EXPECT_EQ(compileCached(spec, config).tma_box_rows, 0);
}

// A warp-specialised kernel launches its producer warpgroup too: 384 threads for 8 warps, from the disk.
TEST_F(KernelCacheTest, DiskEntryKeepsTheProducerWarpgroup) {
  KernelConfig specialized{128, 128, 8, 2, "sm_90a"};
  specialized.tma = specialized.warp_specialized = true;
  EXPECT_EQ(compileCached(spec, specialized).threads, 384);
  clearCache(false);
  EXPECT_EQ(compileCached(spec, specialized).threads, 384);
  EXPECT_EQ(cacheStats().disk_hits, 1);
  specialized.warp_specialized = false;
  EXPECT_EQ(compileCached(spec, specialized).threads, 256);
}

// A persistent kernel is launched on at most one block per multiprocessor: the entry says so.
TEST_F(KernelCacheTest, DiskEntryKeepsPersistence) {
  KernelConfig persistent{128, 128, 8, 2, "sm_90a"};
  persistent.tma = persistent.warp_specialized = persistent.persistent = true;
  EXPECT_TRUE(compileCached(spec, persistent).persistent);
  clearCache(false);
  EXPECT_TRUE(compileCached(spec, persistent).persistent);
  EXPECT_EQ(cacheStats().disk_hits, 1);
  persistent.persistent = false;
  EXPECT_FALSE(compileCached(spec, persistent).persistent);
}

TEST_F(KernelCacheTest, AnotherConfigurationIsAnotherEntry) {
  compileCached(spec, config);
  KernelConfig other = config;
  other.chip = "sm_90";
  compileCached(spec, other);
  EXPECT_EQ(cacheStats().compilations, 2);
  EXPECT_EQ(entries().size(), 2u);
}

TEST_F(KernelCacheTest, CorruptedEntryIsRemovedAndRebuilt) {
  CompiledKernel first = compileCached(spec, config);
  fs::path entry = entries().at(0);
  {
    std::fstream file(entry, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(-100, std::ios::end);
    file.put('#'); // one byte of the PTX changes: the checksum no longer matches
  }
  clearCache(false);
  CompiledKernel rebuilt = compileCached(spec, config);
  CacheStats stats = cacheStats();
  EXPECT_EQ(stats.corrupt_entries, 1);
  EXPECT_EQ(stats.compilations, 1);
  EXPECT_EQ(rebuilt.ptx, first.ptx);

  clearCache(false);
  compileCached(spec, config); // the rebuilt entry is good again
  EXPECT_EQ(cacheStats().disk_hits, 1);
}

TEST_F(KernelCacheTest, TruncatedEntryIsRemovedAndRebuilt) {
  compileCached(spec, config);
  fs::path entry = entries().at(0);
  fs::resize_file(entry, fs::file_size(entry) / 2);
  clearCache(false);
  compileCached(spec, config);
  EXPECT_EQ(cacheStats().corrupt_entries, 1);
  EXPECT_EQ(cacheStats().compilations, 1);
}

TEST_F(KernelCacheTest, GarbageEntryIsNeverTrusted) {
  compileCached(spec, config);
  fs::path entry = entries().at(0);
  std::ofstream(entry, std::ios::trunc) << "not a cache entry";
  clearCache(false);
  CompiledKernel kernel = compileCached(spec, config);
  EXPECT_EQ(cacheStats().corrupt_entries, 1);
  EXPECT_NE(kernel.ptx.find(".entry"), std::string::npos);
}

TEST_F(KernelCacheTest, WritesLeaveNoTemporaryFiles) {
  for (int blockN : {32, 64}) {
    KernelConfig c = config;
    c.block_n = blockN;
    compileCached(spec, c);
  }
  for (const fs::path &file : entries())
    EXPECT_EQ(file.extension(), ".fjk") << file;
}

TEST_F(KernelCacheTest, DiskCacheCanBeTurnedOff) {
  setenv("FLASHJIT_CACHE", "0", 1);
  compileCached(spec, config);
  EXPECT_TRUE(entries().empty());
  EXPECT_EQ(cacheStats().directory, "");
  compileCached(spec, config); // memory still serves
  EXPECT_EQ(cacheStats().compilations, 1);
}

TEST_F(KernelCacheTest, ConcurrentRequestsCompileOnce) {
  std::vector<std::thread> threads;
  std::vector<std::string> ptx(8);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] { ptx[t] = compileCached(spec, config).ptx; });
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_EQ(cacheStats().compilations, 1);
  for (const std::string &text : ptx)
    EXPECT_EQ(text, ptx[0]);
  EXPECT_EQ(entries().size(), 1u);
}

TEST_F(KernelCacheTest, FailuresAreNotCached) {
  AttentionSpec f32{64, DType::f32};
  EXPECT_THROW(compileCached(f32, config), Error);
  EXPECT_THROW(compileCached(f32, config), Error);
  EXPECT_EQ(cacheStats().compilations, 0);
  EXPECT_TRUE(entries().empty());
}

TEST_F(KernelCacheTest, ClearingTheDiskRemovesEntries) {
  compileCached(spec, config);
  clearCache(true);
  EXPECT_TRUE(entries().empty());
  compileCached(spec, config);
  EXPECT_EQ(cacheStats().compilations, 1);
}

// The PTX entries are counted and cleared; files that are not flashjit's are left alone.
TEST_F(KernelCacheTest, EntriesAreCountedAndClearedOtherFilesKept) {
  compileCached(spec, config);
  std::ofstream(dir / "notes.txt") << "not a cache entry";
  long long ptxBytes = 0;
  for (const fs::path &entry : entries())
    if (entry.extension() == ".fjk")
      ptxBytes += (long long)fs::file_size(entry);
  ASSERT_GT(ptxBytes, 0);
  CacheStats stats = cacheStats();
  EXPECT_EQ(stats.directory, dir.string());
  EXPECT_EQ(stats.disk_bytes, ptxBytes); // notes.txt is not counted
  clearCache(true);
  std::vector<fs::path> left = entries();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].filename(), "notes.txt");
  EXPECT_EQ(cacheStats().disk_bytes, 0);
}

// The autotuner compiles a tuning space on several threads at once: different kernels compiled
// concurrently come out exactly as when compiled one by one.
TEST_F(KernelCacheTest, DifferentKernelsCompileInParallel) {
  std::vector<KernelConfig> configs = tuningSpace(spec, "sm_90");
  ASSERT_GE(configs.size(), 4u);
  configs.resize(4);
  std::vector<CompiledKernel> parallel(configs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < configs.size(); ++i)
    threads.emplace_back([&, i] { parallel[i] = compileCached(spec, configs[i]); });
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_EQ(cacheStats().compilations, long(configs.size()));
  for (size_t i = 0; i < configs.size(); ++i)
    EXPECT_EQ(parallel[i].ptx, compile(spec, configs[i]).ptx) << configs[i].str();
}
