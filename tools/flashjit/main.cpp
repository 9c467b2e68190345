// flashjit: the command-line tool. `flashjit kernels` is the main job (compile the default kernels, and on a
// GPU also check and time them); `ir` prints a stage of one kernel, `compile` writes its PTX (and every
// stage), `run` checks one kernel against a float64 reference (on the GPU, or --interpret on the CPU),
// `bench` times it, `info` shows the driver, the GPU and the cache.
#include "Ptxas.h"
#include "runtime/flashjit.h"
#include "runtime/flashjit_testing.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

namespace {

const std::map<std::string, flashjit::DType> kDTypes = {
    {"f16", flashjit::DType::f16}, {"bf16", flashjit::DType::bf16}, {"f32", flashjit::DType::f32}};
const std::vector<std::string> kDTypeNames = {"f16", "bf16", "f32"};
const std::map<std::string, flashjit::Causal> kCausalModes = {
    {"none", flashjit::Causal::none},
    {"top_left", flashjit::Causal::top_left},
    {"bottom_right", flashjit::Causal::bottom_right}};
const std::vector<std::string> kCausalNames = {"none", "top_left", "bottom_right"};

/// Command-line options that describe one kernel: its spec and, optionally, its configuration.
struct KernelOptions {
  flashjit::AttentionSpec spec;
  std::string dtype = "bf16", causal = "none";
  flashjit::KernelConfig config;
  std::string chip = "sm_80";
  CLI::Option *blockM = nullptr, *blockN = nullptr, *warps = nullptr, *stages = nullptr, *chipOption = nullptr;

  void addTo(CLI::App *command) {
    command->add_option("--head-dim", spec.head_dim, "head dimension")->capture_default_str();
    command->add_option("--dtype", dtype, "element type of Q, K, V and O (f32: interpreter only)")
        ->check(CLI::IsMember(kDTypeNames))
        ->capture_default_str();
    command->add_option("--causal", causal, "causal mask and its alignment")
        ->check(CLI::IsMember(kCausalNames))
        ->capture_default_str();
    command->add_flag("!--no-lse", spec.logsumexp, "do not write the logsumexp of each query row");
    command->add_option("--window-left", spec.window_left,
                        "with --causal: also hide keys more than this many left of the diagonal (a sliding window; "
                        "the interpreter runs it, GPU kernels do not yet); -1: no window")
        ->capture_default_str();
    chipOption = command->add_option("--chip", chip, "target chip: sm_80, sm_86, sm_89, sm_90 or sm_90a "
                                                     "(run and bench on a GPU: the GPU's chip)")
                     ->capture_default_str();
    blockM = command->add_option("--block-m", config.block_m, "query rows per thread block");
    blockN = command->add_option("--block-n", config.block_n, "keys per step of the key loop");
    warps = command->add_option("--warps", config.warps, "warps per thread block");
    stages = command->add_option("--stages", config.stages, "K/V pipeline stages");
    command->add_flag("--wg-overlap", config.wg_overlap,
                      "sm_90a wgmma path: overlap each block's softmax with the previous block's P·V");
    command->add_flag("--tma", config.tma, "sm_90a wgmma path: load K/V tiles with TMA");
    command->add_flag("--warp-specialized", config.warp_specialized,
                      "with --tma: a producer warpgroup issues the loads (and with --wg-overlap and 8 or 12 warps, "
                      "ping-pong)");
    command->add_flag("--persistent", config.persistent,
                      "with --warp-specialized: one block per multiprocessor, each looping over tiles");
    command->add_flag("--conditional-rescale", config.conditional_rescale,
                      "rescale the output only where a row's maximum grew by more than 2^8 (exact)");
    command->add_flag("--mma-row-sum", config.mma_row_sum,
                      "sm_90a wgmma path: sum the rows of P in the P·V wgmma (a column of ones next to V)");
  }

  flashjit::AttentionSpec resolvedSpec() const {
    flashjit::AttentionSpec resolved = spec;
    resolved.dtype = kDTypes.at(dtype);
    resolved.causal = kCausalModes.at(causal);
    return resolved;
  }

  /// The default configuration for the spec and chip, with what the user gave on the command line.
  /// `gpuChip` (for kernels that run on the GPU) replaces the chip unless --chip was given.
  flashjit::KernelConfig resolvedConfig(const std::string &gpuChip = "") const {
    std::string target = gpuChip.empty() || chipOption->count() ? chip : gpuChip;
    flashjit::KernelConfig resolved = flashjit::defaultConfig(resolvedSpec(), target);
    if (blockM->count())
      resolved.block_m = config.block_m;
    if (blockN->count())
      resolved.block_n = config.block_n;
    if (warps->count())
      resolved.warps = config.warps;
    if (stages->count())
      resolved.stages = config.stages;
    resolved.wg_overlap = config.wg_overlap;
    resolved.tma = config.tma;
    resolved.warp_specialized = config.warp_specialized;
    resolved.persistent = config.persistent;
    resolved.conditional_rescale = config.conditional_rescale;
    resolved.mma_row_sum = config.mma_row_sum;
    return resolved;
  }
};

/// Options of `run` and `bench`: the problem's shape.
struct ProblemOptions {
  flashjit::ProblemShape shape;
  std::string layout = "BSHD";
  unsigned seed = 0;

  bool papersHeads = false; ///< bench and tune: heads 0 means 2048 / head_dim

  /// bench's and tune's defaults: the papers' grid point b4, seqlen 4096, heads 2048 / head_dim.
  static ProblemOptions papersPoint() {
    ProblemOptions options;
    options.shape = flashjit::ProblemShape{4, 0, 0, 4096, 4096, 0, flashjit::Layout::BSHD};
    options.papersHeads = true;
    return options;
  }

  /// The shape as given; with `papersHeads`, heads 0 (their default) means 2048 / head_dim, the hidden size
  /// of the FlashAttention papers' benchmarks.
  flashjit::ProblemShape resolvedShape(const flashjit::AttentionSpec &spec) const {
    flashjit::ProblemShape resolved = shape;
    resolved.layout = layout == "BSHD" ? flashjit::Layout::BSHD : flashjit::Layout::BHSD;
    if (papersHeads && resolved.heads == 0)
      resolved.heads = std::max(1, 2048 / spec.head_dim);
    return resolved;
  }

  void addTo(CLI::App *command) {
    command->add_option("--batch", shape.batch, "batch size")->capture_default_str();
    command->add_option("--heads", shape.heads,
                        papersHeads ? "query heads (0: 2048 / head dim, the papers' hidden size)" : "query heads")
        ->capture_default_str();
    command->add_option("--kv-heads", shape.kv_heads, "key/value heads (0: same as --heads)")
        ->capture_default_str();
    command->add_option("--seqlen-q", shape.seqlen_q, "query sequence length")->capture_default_str();
    command->add_option("--seqlen-k", shape.seqlen_k, "key/value sequence length")->capture_default_str();
    command->add_option("--scale", shape.softmax_scale, "softmax scale (0: 1/sqrt(head_dim))")
        ->capture_default_str();
    command->add_option("--layout", layout, "memory layout of Q, K, V, O")
        ->check(CLI::IsMember({"BSHD", "BHSD"}))
        ->capture_default_str();
    command->add_option("--seed", seed, "seed of the random inputs")->capture_default_str();
  }
};

std::string describe(const flashjit::ProblemShape &s) {
  std::ostringstream out;
  out << "batch " << s.batch << ", heads " << s.heads << " (kv " << (s.kv_heads ? s.kv_heads : s.heads)
      << "), seqlen_q " << s.seqlen_q << ", seqlen_k " << s.seqlen_k << ", "
      << (s.layout == flashjit::Layout::BSHD ? "BSHD" : "BHSD");
  return out.str();
}

void printCheck(const flashjit::CheckReport &report, const flashjit::ProblemShape &shape) {
  std::cout << "  max abs error " << report.max_abs_error << ", relative error " << report.rel_error
            << ", lse relative error " << report.lse_rel_error << "\n"
            << "  rows checked " << report.rows_checked << ", rows that see no key " << report.empty_rows
            << " (wrong: " << report.empty_rows_wrong << "), NaN " << report.nan_count << "\n"
            << (report.passed ? "PASS" : "FAIL") << " (tolerance " << report.tolerance << ")\n";
  if (!report.passed && report.rows_over_tolerance > 0)
    std::cout << "  " << flashjit::describeWrongRows(report, shape) << "\n";
}

/// The GPU's chip, or an Error(NoDevice) that says how to do without one.
std::string gpuChip(const char *command) {
  try {
    return flashjit::deviceInfo().chip;
  } catch (const flashjit::Error &error) {
    throw flashjit::Error(error.code(), std::string(command) + " needs a GPU: " + error.what() +
                                            (std::string(command) == "run" ? " (--interpret runs the kernel on the CPU)"
                                                                          : ""));
  }
}

/// A kernel from the cache (or compiled), loaded on the GPU, with what that cost.
std::shared_ptr<flashjit::Kernel> loadKernel(const flashjit::AttentionSpec &spec,
                                             const flashjit::KernelConfig &config) {
  flashjit::CacheStats before = flashjit::cacheStats();
  auto start = std::chrono::steady_clock::now();
  flashjit::CompiledKernel compiled = flashjit::compileCached(spec, config);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  bool compiled_now = flashjit::cacheStats().compilations > before.compilations;
  auto kernel = flashjit::Kernel::load(spec, compiled);
  std::cout << spec.name() << " " << config.str() << "\n  " << (compiled_now ? "compiled in " : "kernel cache hit in ")
            << std::fixed << std::setprecision(1) << ms << " ms; loaded in " << kernel->load_ms() << " ms (driver JIT or its cache; "
            << kernel->registers() << " registers, " << kernel->spill_bytes() << " bytes of local memory)\n"
            << std::defaultfloat << std::setprecision(6);
  return kernel;
}

/// `run`: one kernel on random inputs, on the GPU (or in the CPU interpreter), against float64.
int runProblem(const KernelOptions &options, const ProblemOptions &problem, bool interpret, int rows) {
  flashjit::AttentionSpec spec = options.resolvedSpec();
  flashjit::ProblemShape shape = problem.resolvedShape(spec);
  flashjit::CheckReport report;
  if (interpret) {
    flashjit::KernelConfig config = options.resolvedConfig();
    report = flashjit::interpretAndCheck(spec, config, shape, problem.seed);
    std::cout << spec.name() << " " << config.str() << " (interpreted)\n";
  } else {
    std::string chip = gpuChip("run");
    auto kernel = loadKernel(spec, options.resolvedConfig(chip));
    if (rows < 0) // every row while the float64 reference stays cheap, else a sample
      rows = flashjit::attentionFlops(spec, shape) <= 4e9 ? 0 : 1000;
    report = flashjit::checkOnDevice(*kernel, shape, problem.seed, rows);
  }
  std::cout << "  shape: " << describe(shape) << "\n";
  printCheck(report, shape);
  return report.passed ? 0 : 1;
}

/// `bench`: median time and TFLOP/s of one kernel (or every configuration of its tuning space).
int runBench(const KernelOptions &options, const ProblemOptions &problem, bool space, int repeats, int warmup,
             bool backToBack) {
  std::string chip = gpuChip("bench");
  flashjit::AttentionSpec spec = options.resolvedSpec();
  flashjit::ProblemShape shape = problem.resolvedShape(spec);
  std::cout << "shape: " << describe(shape) << "\n";
  std::vector<flashjit::KernelConfig> configs =
      space ? flashjit::tuningSpace(spec, chip) : std::vector{options.resolvedConfig(chip)};
  for (const flashjit::KernelConfig &config : configs) {
    auto kernel = loadKernel(spec, config);
    flashjit::BenchReport bench = flashjit::benchmark(*kernel, shape, repeats, warmup, backToBack);
    std::cout << "  median " << std::fixed << std::setprecision(3) << bench.median_ms << " ms (min " << bench.min_ms
              << ", max " << bench.max_ms << ", " << bench.repeats << " runs, " << bench.input_copies
              << " input copies" << (bench.back_to_back ? ", back to back" : "") << "), " << std::setprecision(1) << bench.tflops << " TFLOP/s\n"
              << std::defaultfloat << std::setprecision(6);
  }
  return 0;
}

/// `bench --grid`: the FlashAttention papers' grid (16k tokens, hidden 2048, seqlen 512 to 16k, head dim 64
/// and 128, causal off and on, bf16) with the tuned configuration of each point; JSON to `output`.
int runGrid(const std::string &output, int repeats, int warmup, bool backToBack) {
  flashjit::DeviceInfo device = flashjit::deviceInfo();
  std::ostringstream json;
  json << "{\n  \"device\": " << flashjit::jsonString(device.name) << ",\n  \"driver\": " << device.driver_version
       << ",\n  \"flashjit\": \"" << flashjit::version() << "\",\n  \"points\": [";
  std::cout << std::left << std::setw(6) << "d" << std::setw(8) << "causal" << std::setw(8) << "seqlen"
            << std::setw(36) << "tuned: block_m block_n warps stages" << std::setw(12) << "median ms"
            << "TFLOP/s\n";
  bool first = true;
  for (int headDim : {64, 128})
    for (bool causal : {false, true})
      for (int seqlen : {512, 1024, 2048, 4096, 8192, 16384}) {
        flashjit::AttentionSpec spec{headDim, flashjit::DType::bf16,
                                     causal ? flashjit::Causal::bottom_right : flashjit::Causal::none, true};
        flashjit::ProblemShape shape{16384 / seqlen, 2048 / headDim, 0, seqlen, seqlen, 0, flashjit::Layout::BSHD};
        flashjit::TuneResult tuned = flashjit::tune(spec, shape);
        auto kernel = flashjit::Kernel::load(spec, flashjit::compileCached(spec, tuned.best));
        flashjit::BenchReport bench = flashjit::benchmark(*kernel, shape, repeats, warmup, backToBack);
        std::ostringstream config;
        config << tuned.best.block_m << " " << tuned.best.block_n << " " << tuned.best.warps << " "
               << tuned.best.stages;
        std::cout << std::setw(6) << headDim << std::setw(8) << (causal ? "yes" : "no") << std::setw(8) << seqlen
                  << std::setw(36) << config.str() << std::setw(12) << std::fixed
                  << std::setprecision(3) << bench.median_ms << std::setprecision(1) << bench.tflops << "\n"
                  << std::defaultfloat << std::setprecision(6);
        json << (first ? "\n" : ",\n") << "    {\"head_dim\": " << headDim << ", \"causal\": "
             << (causal ? "true" : "false") << ", \"seqlen\": " << seqlen << ", \"batch\": " << shape.batch
             << ", \"heads\": " << shape.heads << ", \"block_m\": " << tuned.best.block_m << ", \"block_n\": "
             << tuned.best.block_n << ", \"warps\": " << tuned.best.warps << ", \"stages\": " << tuned.best.stages
             << ", \"median_ms\": " << bench.median_ms << ", \"tflops\": " << bench.tflops
             << ", \"tune_ms\": " << tuned.tune_ms << "}";
        first = false;
      }
  json << "\n  ]\n}\n";
  std::ofstream(output) << json.str();
  std::cout << "wrote " << output << "\n";
  return 0;
}

/// `tune`: autotune one spec for one shape and print every candidate, the winner marked.
int runTune(const KernelOptions &options, const ProblemOptions &problem, bool force) {
  gpuChip("tune");
  flashjit::AttentionSpec spec = options.resolvedSpec();
  flashjit::ProblemShape shape = problem.resolvedShape(spec);
  flashjit::TuneOptions tuneOptions;
  tuneOptions.force = force;
  flashjit::TuneResult result = flashjit::tune(spec, shape, tuneOptions);
  std::cout << spec.name() << ", " << describe(shape) << "\n" << result.key << "\n";
  if (result.from_store) {
    std::cout << "stored result (" << (result.path.empty() ? "memory" : result.path)
              << "): " << result.best.str() << "\n(--force tunes again)\n";
    return 0;
  }
  std::cout << std::left << "  " << std::setw(34) << "block_m block_n warps stages" << std::setw(11) << "registers"
            << std::setw(14) << "shared bytes" << std::setw(12) << "compile ms" << std::setw(11) << "median ms"
            << "TFLOP/s\n";
  for (const flashjit::TuneCandidate &c : result.candidates) {
    bool winner = c.skipped.empty() && c.config.str() == result.best.str();
    std::ostringstream config;
    config << c.config.block_m << " " << c.config.block_n << " " << c.config.warps << " " << c.config.stages;
    std::cout << (winner ? "* " : "  ") << std::setw(34) << config.str() << std::setw(11) << c.registers
              << std::setw(14) << c.shared_memory << std::setw(12) << std::fixed << std::setprecision(1)
              << c.compile_ms;
    if (c.skipped.empty())
      std::cout << std::setw(11) << std::setprecision(3) << c.median_ms << std::setw(9) << std::setprecision(1)
                << c.tflops << (c.confirm_rounds > 0 ? "leader, timed again" : "") << "\n";
    else
      std::cout << c.skipped << "\n";
    std::cout << std::defaultfloat << std::setprecision(6);
  }
  std::cout << "winner: " << result.best.str() << " (checked: relative error " << result.check.rel_error << ")\n"
            << "tuned in " << std::fixed << std::setprecision(1) << result.tune_ms / 1000 << " s; kept in "
            << (result.path.empty() ? "memory only" : result.path) << "\n";
  return 0;
}

std::string ptxasSummary(const flashjit::tools::PtxasReport &report) {
  if (!report.ran)
    return "ptxas not found";
  if (!report.ok)
    return "ptxas FAILED";
  std::string summary = std::to_string(report.registers) + " registers, spills " +
                        std::to_string(report.spillStores) + "/" + std::to_string(report.spillLoads) + " bytes";
  for (const std::string &warning : report.warnings)
    summary += "\n      " + warning;
  return summary;
}

/// `info`: the library, the CUDA driver and device 0, or why there is none.
int runInfo() {
  std::cout << "flashjit " << flashjit::version() << "\n";
  flashjit::CacheStats cache = flashjit::cacheStats();
  if (cache.directory.empty())
    std::cout << "kernel cache: memory only (FLASHJIT_CACHE=0)\n";
  else
    std::cout << "kernel cache: " << cache.directory << " (" << cache.disk_bytes << " bytes)\n";
  try {
    flashjit::DeviceInfo info = flashjit::deviceInfo();
    std::cout << "CUDA driver: " << info.driver_version / 1000 << "." << info.driver_version % 1000 / 10 << "\n"
              << "device 0: " << info.name << " (" << info.chip << ", " << info.multiprocessors << " SMs)\n";
  } catch (const flashjit::Error &error) {
    std::cout << "GPU: none (" << error.what() << ")\n";
  }
  return 0;
}

/// `kernels --ptx-dir`: the file one kernel's PTX goes to, named after its spec and configuration, e.g.
/// attention_fwd_d64_f16_lse.block_m64.block_n32.warps4.stages2.chipsm_80.ptx.
std::string ptxFileName(const flashjit::AttentionSpec &spec, const flashjit::KernelConfig &config) {
  std::string name = spec.name() + ".";
  for (char c : config.str().substr(config.str().find('<') + 1)) {
    if (c == ',')
      name += '.';
    else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_')
      name += c;
  }
  return name + ".ptx";
}

/// The main job: compile every default kernel (or, with `space`, every configuration of the default
/// tuning space) and summarise its PTX. Fails if ptxas rejects a kernel or reports spills or warnings
/// (such as a wgmma wait it had to inject), and, with `requirePtxas`, if ptxas is missing. On a GPU
/// (unless `gpu` is false), each kernel is also run on random inputs, checked against the float64
/// reference, and timed on the papers' grid point (seqlen 4096, hidden 2048, 16k tokens).
/// `wgOverlap`, `tma`, `warpSpecialized` and `persistent`, when any is given, are the knobs of every
/// configuration (persistent implies warp_specialized, which implies tma); configurations the compiler refuses them (not on the wgmma path), and
/// the space's warp-specialised duplicates, are skipped. `topLeft`: the masked kernels with a top-left
/// causal mask instead of their bottom-right one, and no others. `ptxDir`: each kernel's PTX is also written
/// there (ptxFileName). The tuning space compiles on every core; the report keeps its order.
int runKernels(std::string chip, bool chipGiven, bool space, bool requirePtxas, bool gpu, bool wgOverlap,
               bool tma, bool warpSpecialized, bool persistent, bool topLeft, const std::string &ptxDir) {
  std::string noGpu;
  if (gpu) {
    try {
      std::string gpuChip = flashjit::deviceInfo().chip;
      if (!chipGiven)
        chip = gpuChip;
      else if (chip != gpuChip)
        gpu = false, noGpu = "the GPU is " + gpuChip + ", not " + chip;
    } catch (const flashjit::Error &error) {
      gpu = false;
      noGpu = error.what();
    }
  }
  std::cout << "flashjit " << flashjit::version() << ": " << (space ? "tuning space" : "default kernels")
            << " for " << chip << "\n";
  int failures = 0, count = 0, skipped = 0;
  if (!ptxDir.empty())
    std::filesystem::create_directories(ptxDir);
  std::vector<flashjit::AttentionSpec> specs;
  for (flashjit::AttentionSpec spec : flashjit::defaultSpecs()) {
    if (topLeft && spec.causal == flashjit::Causal::none)
      continue;
    if (topLeft)
      spec.causal = flashjit::Causal::top_left;
    specs.push_back(spec);
  }
  // Every kernel's configuration (with the knobs given), then compile + ptxas for all of them: in the tuning
  // space on every core (compile times then include the contention), the default kernels one at a time.
  struct Job {
    flashjit::AttentionSpec spec;
    flashjit::KernelConfig config;
    flashjit::CompiledKernel kernel;
    flashjit::tools::PtxasReport ptxas;
    bool refused = false;       // knobs given and the compiler refuses them here
    std::exception_ptr failure; // any other error, rethrown in order
  };
  const bool knobsGiven = wgOverlap || tma || warpSpecialized || persistent;
  std::vector<Job> jobs;
  for (const flashjit::AttentionSpec &spec : specs)
    for (flashjit::KernelConfig config :
         space ? flashjit::tuningSpace(spec, chip) : std::vector{flashjit::defaultConfig(spec, chip)}) {
      if (knobsGiven) {
        if (config.warp_specialized)
          continue; // the same configuration as the one before it, once its knobs are set
        config.wg_overlap = wgOverlap;
        config.tma = tma || warpSpecialized || persistent;
        config.warp_specialized = warpSpecialized || persistent;
        config.persistent = persistent;
      }
      jobs.push_back({spec, config});
    }
  flashjit::forEachInParallel(jobs.size(), space ? 0 : 1, [&](size_t i) {
    Job &job = jobs[i];
    try {
      job.kernel = flashjit::compile(job.spec, job.config);
    } catch (const flashjit::Error &error) {
      if (knobsGiven && error.code() == flashjit::Error::Code::Unsupported)
        job.refused = true; // not on the wgmma path
      else
        job.failure = std::current_exception();
      return;
    } catch (...) {
      job.failure = std::current_exception();
      return;
    }
    job.ptxas = flashjit::tools::runPtxas(job.kernel.ptx, chip);
  });
  for (Job &job : jobs) {
    const flashjit::AttentionSpec &spec = job.spec;
    const flashjit::KernelConfig &config = job.config;
    const flashjit::CompiledKernel &kernel = job.kernel;
    const flashjit::tools::PtxasReport &ptxas = job.ptxas;
    if (job.failure)
      std::rethrow_exception(job.failure);
    if (job.refused) {
      ++skipped;
      continue;
    }
    ++count;
    if (!ptxDir.empty())
      std::ofstream(ptxDir + "/" + ptxFileName(spec, config)) << kernel.ptx;
    bool rejected = (ptxas.ran && (!ptxas.ok || ptxas.spillStores || ptxas.spillLoads || !ptxas.warnings.empty())) ||
                    (requirePtxas && !ptxas.ran);
    std::cout << std::left << std::setw(40) << spec.name() << " " << config.str() << "\n    compiled in "
              << std::fixed << std::setprecision(1) << kernel.compile_ms << " ms, " << kernel.ptx.size()
              << " bytes of PTX, " << kernel.threads << " threads, " << kernel.shared_memory
              << " bytes of shared memory; " << ptxasSummary(ptxas) << "\n";
    if (gpu && !rejected) {
      auto loaded = flashjit::Kernel::load(spec, kernel);
      flashjit::ProblemShape small{2, 4, 0, 777, 1000, 0, flashjit::Layout::BSHD};
      flashjit::CheckReport check = flashjit::checkOnDevice(*loaded, small, 1);
      flashjit::ProblemShape large{4, 2048 / spec.head_dim, 0, 4096, 4096, 0, flashjit::Layout::BSHD};
      flashjit::BenchReport bench = flashjit::benchmark(*loaded, large);
      rejected = !check.passed;
      std::cout << "    GPU: " << (check.passed ? "PASS" : "FAIL") << " (b2 h4 q777 k1000, every row: relative "
                << "error " << std::scientific << std::setprecision(2) << check.rel_error << ", lse "
                << check.lse_rel_error << ", NaN " << check.nan_count << "); " << std::fixed
                << std::setprecision(1) << bench.tflops << " TFLOP/s at b4 h" << large.heads << " seqlen 4096 ("
                << std::setprecision(3) << bench.median_ms << " ms)\n";
    }
    failures += rejected;
  }
  std::cout << count << " kernels, " << failures << (gpu ? " failed" : " rejected by ptxas (errors, spills, warnings)")
            << (wgOverlap || tma || warpSpecialized ? ", " + std::to_string(skipped) + " configurations skipped (refused with these knobs: not on the wgmma path, or past their limits)" : "")
            << "\n";
  if (!gpu)
    std::cout << "not run on a GPU: " << (noGpu.empty() ? "--no-gpu" : noGpu) << "\n";
  return failures ? 1 : 0;
}

/// `compile`: one kernel to PTX, and optionally every stage of its IR.
int runCompile(const KernelOptions &options, const std::string &output, const std::string &dumpDir,
               bool time, bool ptxas) {
  flashjit::AttentionSpec spec = options.resolvedSpec();
  flashjit::KernelConfig config = options.resolvedConfig();
  flashjit::CompiledKernel kernel = flashjit::compile(spec, config);
  std::string path = output.empty() ? spec.name() + ".ptx" : output;
  std::ofstream(path) << kernel.ptx;
  std::cout << "PTX: " << path << " (" << kernel.ptx.size() << " bytes; entry " << kernel.name << ", "
            << kernel.threads << " threads, block_m " << kernel.block_m << ", " << kernel.shared_memory
            << " bytes of dynamic shared memory)\n";
  if (time) {
    std::cout << "compile time: " << std::fixed << std::setprecision(1) << kernel.compile_ms
              << " ms (flash IR to PTX):";
    for (const auto &[phase, ms] : kernel.phase_ms)
      std::cout << " " << phase << " " << ms;
    std::cout << "\n";
  }
  if (!dumpDir.empty()) {
    std::filesystem::create_directories(dumpDir);
    int index = 0;
    for (flashjit::Stage stage : flashjit::allStages()) {
      std::string file = dumpDir + "/" + std::to_string(index++) + "-" + flashjit::toString(stage) + ".mlir";
      std::ofstream(file) << flashjit::attentionIR(spec, config, stage);
      std::cout << "stage " << flashjit::toString(stage) << ": " << file << "\n";
    }
    std::string file = dumpDir + "/" + std::to_string(index) + "-ptx.ptx";
    std::ofstream(file) << kernel.ptx;
    std::cout << "stage ptx: " << file << "\n";
  }
  if (ptxas) {
    flashjit::tools::PtxasReport report = flashjit::tools::runPtxas(kernel.ptx, config.chip);
    std::cout << "ptxas -arch=" << config.chip << ": " << ptxasSummary(report) << "\n";
    if (report.ran && !report.ok) {
      std::cerr << report.log;
      return 1;
    }
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"flashjit: a just-in-time compiler of FlashAttention kernels for NVIDIA GPUs"};
  app.set_version_flag("--version", std::string("flashjit ") + flashjit::version());
  app.require_subcommand(0, 1);

  std::string kernelsChip = "sm_80";
  bool kernelsSpace = false, kernelsRequirePtxas = false, kernelsNoGpu = false;
  CLI::App *kernels = app.add_subcommand("kernels", "compile the default kernels and summarise their PTX; on a "
                                                    "GPU, also check and time them");
  CLI::Option *kernelsChipOption =
      kernels->add_option("--chip", kernelsChip, "target chip: sm_80, sm_86, sm_89, sm_90 or sm_90a (default: "
                                                 "the GPU's, else sm_80)");
  kernels->add_flag("--no-gpu", kernelsNoGpu, "only compile, even on a machine with a GPU");
  kernels->add_flag("--tuning-space", kernelsSpace, "every configuration of the default tuning space");
  kernels->add_flag("--require-ptxas", kernelsRequirePtxas, "fail if ptxas is not installed");
  bool kernelsWgOverlap = false, kernelsTma = false, kernelsWarpSpecialized = false, kernelsPersistent = false;
  kernels->add_flag("--wg-overlap", kernelsWgOverlap,
                    "with wg_overlap (sm_90a wgmma path; other configurations are skipped)");
  kernels->add_flag("--tma", kernelsTma, "with tma (sm_90a wgmma path; other configurations are skipped)");
  kernels->add_flag("--warp-specialized", kernelsWarpSpecialized,
                    "with tma and a producer warpgroup (sm_90a wgmma path; other configurations are skipped)");
  kernels->add_flag("--persistent", kernelsPersistent,
                    "with tma, a producer warpgroup and one block per multiprocessor looping over tiles (sm_90a "
                    "wgmma path; other configurations are skipped)");
  std::string kernelsPtxDir;
  kernels->add_option("--ptx-dir", kernelsPtxDir,
                      "write each kernel's PTX into this folder (tests/check_ptx_hashes.sh compares their hashes)");
  bool kernelsTopLeft = false;
  kernels->add_flag("--top-left", kernelsTopLeft,
                    "the masked kernels with a top-left causal mask instead of a bottom-right one, and no others");

  KernelOptions irOptions;
  std::string stage = "flash";
  CLI::App *ir = app.add_subcommand("ir", "print one kernel's IR at a stage");
  irOptions.addTo(ir);
  std::vector<std::string> stageNames;
  for (flashjit::Stage s : flashjit::allStages())
    stageNames.push_back(flashjit::toString(s));
  ir->add_option("--stage", stage, "flash (problem level), tiled, fused, causal, gpu or llvm")
      ->check(CLI::IsMember(stageNames))
      ->capture_default_str();

  KernelOptions compileOptions;
  std::string compileOutput, dumpDir;
  bool compileTime = false, compilePtxas = false;
  CLI::App *compileCommand = app.add_subcommand("compile", "compile one kernel to PTX");
  compileOptions.addTo(compileCommand);
  compileCommand->add_option("-o,--output", compileOutput, "where to write the PTX (default: <kernel>.ptx)");
  compileCommand->add_option("--dump-dir", dumpDir, "write every stage (flash ... llvm, ptx) into this folder");
  compileCommand->add_flag("--time", compileTime, "print the compile time");
  compileCommand->add_flag("--ptxas", compilePtxas, "assemble with ptxas -v and print registers and spills");

  CLI::App *info = app.add_subcommand("info", "show the library version, the kernel cache, the CUDA driver and the GPU");
  CLI::App *cache = app.add_subcommand("cache", "manage the kernel cache");
  CLI::App *cacheClear = cache->add_subcommand("clear", "delete every cached kernel");
  cache->require_subcommand(1);

  KernelOptions runKernel;
  ProblemOptions runShape;
  CLI::App *run = app.add_subcommand("run", "run one kernel on random inputs and check it against a "
                                            "float64 reference");
  runKernel.addTo(run);
  runShape.addTo(run);
  bool runInterpret = false;
  int runRows = -1;
  run->add_flag("--interpret", runInterpret,
                "run the kernel's tile-level IR in the CPU interpreter instead of on a GPU");
  run->add_option("--rows", runRows, "query rows to check (0: every row; default: every row of small problems, "
                                     "1000 sampled rows of large ones)");

  KernelOptions benchKernel;
  ProblemOptions benchShape = ProblemOptions::papersPoint();
  bool benchSpace = false, benchGrid = false, benchBackToBack = false;
  std::string benchOutput = "bench-grid.json";
  int benchRepeats = 20, benchWarmup = 3;
  CLI::App *bench = app.add_subcommand("bench", "time one kernel on the GPU: median of CUDA-event timings, "
                                                "TFLOP/s (4 b h sq sk d, halved when causal)");
  benchKernel.addTo(bench);
  benchShape.addTo(bench);
  bench->add_flag("--tuning-space", benchSpace, "every configuration of the default tuning space");
  bench->add_option("--repeats", benchRepeats, "timed launches")->capture_default_str();
  bench->add_option("--warmup", benchWarmup, "launches before timing")->capture_default_str();
  bench->add_flag("--back-to-back", benchBackToBack, "queue the timed launches back to back (an event between "
                                                     "each two) instead of waiting for each");
  bench->add_flag("--grid", benchGrid, "the FlashAttention papers' grid (16k tokens, hidden 2048, seqlen 512 to "
                                       "16k, head dim 64 and 128, causal off and on, bf16), tuned configurations");
  bench->add_option("-o,--output", benchOutput, "JSON file of --grid")->capture_default_str();

  KernelOptions tuneKernel;
  ProblemOptions tuneShape = ProblemOptions::papersPoint();
  bool tuneForce = false;
  CLI::App *tuneCommand = app.add_subcommand("tune", "autotune one kernel for a shape on the GPU (results are "
                                                     "kept; attention() uses them)");
  tuneKernel.addTo(tuneCommand);
  tuneShape.addTo(tuneCommand);
  tuneCommand->add_flag("--force", tuneForce, "tune again even if a result is stored");

  CLI11_PARSE(app, argc, argv);

  try {
    if (kernels->parsed())
      return runKernels(kernelsChip, kernelsChipOption->count() > 0, kernelsSpace, kernelsRequirePtxas,
                        !kernelsNoGpu, kernelsWgOverlap, kernelsTma, kernelsWarpSpecialized, kernelsPersistent,
                        kernelsTopLeft, kernelsPtxDir);
    if (ir->parsed()) {
      flashjit::Stage chosen = flashjit::Stage::flash;
      for (flashjit::Stage candidate : flashjit::allStages())
        if (stage == flashjit::toString(candidate))
          chosen = candidate;
      std::cout << flashjit::attentionIR(irOptions.resolvedSpec(), irOptions.resolvedConfig(), chosen);
      return 0;
    }
    if (run->parsed())
      return runProblem(runKernel, runShape, runInterpret, runRows);
    if (bench->parsed()) {
      if (benchGrid) {
        gpuChip("bench");
        return runGrid(benchOutput, benchRepeats, benchWarmup, benchBackToBack);
      }
      return runBench(benchKernel, benchShape, benchSpace, benchRepeats, benchWarmup, benchBackToBack);
    }
    if (tuneCommand->parsed())
      return runTune(tuneKernel, tuneShape, tuneForce);
    if (info->parsed())
      return runInfo();
    if (cacheClear->parsed()) {
      flashjit::clearCache(/*disk=*/true);
      flashjit::CacheStats stats = flashjit::cacheStats();
      std::cout << "kernel cache cleared: " << (stats.directory.empty() ? "memory only" : stats.directory) << "\n";
      return 0;
    }
    if (compileCommand->parsed())
      return runCompile(compileOptions, compileOutput, dumpDir, compileTime, compilePtxas);
  } catch (const flashjit::Error &error) {
    std::cerr << "flashjit: error: " << error.what() << "\n";
    return 1;
  }
  std::cout << app.help();
  return 0;
}
