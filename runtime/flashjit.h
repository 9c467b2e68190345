// flashjit's public C++ API: describe an attention kernel, get its IR, compile it to PTX (cached), load and
// launch it on a CUDA stream, or make the one call attention(); check and time kernels on the GPU.
#pragma once

#include "flashjit_types.h" // the same folder: in the source tree and where it is installed

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace flashjit {

/// The library's version, e.g. "0.1.0".
FLASHJIT_API const char *version();

/// The kernel's IR at `stage`: at "flash", one function holding flash.attention with the configuration
/// attached; later stages after the passes that produce them. Verified; replayable with flashjit-opt.
FLASHJIT_API std::string attentionIR(const AttentionSpec &spec, const KernelConfig &config,
                                     Stage stage = Stage::flash);

/// Compiles a kernel to PTX in-process (LLVM's NVPTX backend). Throws Error on unsupported input.
FLASHJIT_API CompiledKernel compile(const AttentionSpec &spec, const KernelConfig &config);

/// compile() behind a kernel cache: in memory, then on disk, where entries are keyed by flashjit's
/// version, the spec and the configuration (chip included); the CUDA driver keeps the machine code it
/// compiles from that PTX in its own cache (Kernel::load). The directory is $FLASHJIT_CACHE_DIR, else
/// ~/.cache/flashjit; FLASHJIT_CACHE=0 turns the disk cache off. Writes are atomic (temporary file +
/// rename); an entry whose checksum or size is wrong is removed and rebuilt. A hit never touches MLIR.
/// Thread-safe: many threads may ask for one kernel at once; it compiles once.
FLASHJIT_API CompiledKernel compileCached(const AttentionSpec &spec, const KernelConfig &config);

struct CacheStats {
  long compilations = 0;   ///< kernels compiled (cache misses)
  long memory_hits = 0;
  long disk_hits = 0;
  long corrupt_entries = 0; ///< disk entries found damaged, removed and rebuilt
  std::string directory;   ///< "" when the disk cache is off
  long long disk_bytes = 0; ///< size of the entries on disk
};
FLASHJIT_API CacheStats cacheStats();

/// Forgets the kernels held in memory (and the counters); with `disk`, also deletes the disk entries.
FLASHJIT_API void clearCache(bool disk);

/// Device pointers and element strides of one attention call. Strides are (batch, head, row) in elements;
/// the head dimension is contiguous. Pointers must be 16-byte aligned and strides multiples of 8.
struct AttentionArgs {
  const void *q = nullptr, *k = nullptr, *v = nullptr;
  void *o = nullptr;
  float *lse = nullptr; ///< [batch, heads, seqlen_q], contiguous; required when the spec writes lse
  int batch = 1, heads = 1, kv_heads = 0, seqlen_q = 0, seqlen_k = 0; ///< kv_heads 0: same as heads
  float softmax_scale = 0;                                              ///< 0: 1/sqrt(head_dim)
  long long q_strides[3] = {}, k_strides[3] = {}, v_strides[3] = {}, o_strides[3] = {};
};

/// Throws Error(InvalidArgument or Unsupported) naming what is wrong with `args` for a kernel of `spec`.
FLASHJIT_API void validate(const AttentionSpec &spec, const AttentionArgs &args);

/// A compiled kernel loaded into a CUDA context, ready to launch on any stream of that context.
class FLASHJIT_API Kernel {
public:
  /// Loads `compiled` into the calling thread's current CUDA context (or device 0's primary context if
  /// none is current). The CUDA driver is loaded on first use with dlopen("libcuda.so.1"). The driver's
  /// machine code for the PTX comes from the disk cache when it is there (see compileCached); otherwise
  /// the driver compiles it (its log is in the Error if it fails) and the cache keeps it.
  static std::shared_ptr<Kernel> load(const AttentionSpec &spec, const CompiledKernel &compiled);
  ~Kernel();
  Kernel(const Kernel &) = delete;
  Kernel &operator=(const Kernel &) = delete;

  /// Validates `args` and launches the kernel on `stream` (a CUstream; null is the legacy default
  /// stream). Asynchronous, like any CUDA launch.
  void launch(const AttentionArgs &args, void *stream = nullptr) const;

  const AttentionSpec &spec() const;
  const CompiledKernel &compiled() const;
  double load_ms() const;  ///< time load() took: the driver's JIT (or its cache) plus module load
  int registers() const;   ///< registers per thread of the machine code
  int spill_bytes() const; ///< local memory per thread (spills); 0 for a healthy kernel

private:
  struct Impl;
  explicit Kernel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The one call: picks the configuration for the current GPU and this shape's bucket (tune(): autotuned on
/// the first call for a new bucket and kept, also across processes; FLASHJIT_TUNE=0: the default
/// configuration), compiles it or takes it from the kernel cache, loads it once per CUDA context, and
/// launches it on `stream` (a CUstream; null: the default stream). Later calls with the same context,
/// spec and sequence lengths reuse that kernel directly (FLASHJIT_TUNE is read on the first). Thread-safe.
FLASHJIT_API void attention(const AttentionSpec &spec, const AttentionArgs &args, void *stream = nullptr);

/// The CUDA driver's version and device 0 (name, chip such as "sm_90", SM count); throws
/// Error(NoDevice) when there is no driver or no GPU. `chip` is the chip kernels are compiled for:
/// FLASHJIT_CHIP where set (Error(InvalidArgument) if its code cannot run on this GPU), else the GPU's.
struct DeviceInfo {
  int driver_version = 0;
  std::string name, chip;
  int multiprocessors = 0;
};
FLASHJIT_API DeviceInfo deviceInfo();

/// Memory layout of Q, K, V and O: [batch, seqlen, heads, head_dim] or [batch, heads, seqlen, head_dim].
enum class Layout { BSHD, BHSD };

/// The sizes of one attention problem (a kernel serves them all).
struct ProblemShape {
  int batch = 1;
  int heads = 1;
  int kv_heads = 0;          ///< heads of K and V; 0 means the same as `heads`
  int seqlen_q = 128;
  int seqlen_k = 128;
  float softmax_scale = 0;   ///< 0 means 1/sqrt(head_dim)
  Layout layout = Layout::BSHD;
};

/// How a kernel's output compared with a float64 reference on random inputs.
struct CheckReport {
  double max_abs_error = 0;     ///< max |O - reference|
  double rel_error = 0;         ///< max |O - reference| / max |reference|
  double lse_rel_error = 0;     ///< max |lse - reference| / max(1, |reference|), rows that see a key
  long rows_checked = 0;
  long empty_rows = 0;          ///< rows that see no key (possible with bottom-right alignment)
  long empty_rows_wrong = 0;    ///< of those, rows whose output is not 0 or whose lse is not -inf
  long nan_count = 0;           ///< NaNs in O and lse (outputs are poisoned with NaN before the run)
  long rows_over_tolerance = 0; ///< rows whose own max |O - reference| / max |reference| is over tolerance
  /// Where max_abs_error is: the query row as (batch * heads + head) * seqlen_q + row, and the column of
  /// head_dim (-1: no finite output was compared).
  long worst_row = -1;
  int worst_column = -1;
  long nan_rows = 0;            ///< rows with a NaN in O or lse; the first of them (as worst_row) and its column
  long first_nan_row = -1;      ///< (-1 for the lse)
  int first_nan_column = -1;
  std::vector<long> nan_row_list; ///< the rows with a NaN, in the order checked (at most 4096)
  double tolerance = 0;         ///< bound on rel_error and lse_rel_error for the dtype
  bool passed = false;
};

/// Interpret mode: runs the kernel's tile-level IR on the CPU over random inputs from `seed`, and
/// compares every row of O and lse with a float64 reference. Tolerances: f32 1e-5, f16 2e-3, bf16 1e-2.
/// `stage` picks which tile-level form runs (tiled, fused, causal or scheduled). Throws Error for unsupported
/// specs, configurations or shapes.
FLASHJIT_API CheckReport interpretAndCheck(const AttentionSpec &spec, const KernelConfig &config,
                                           const ProblemShape &shape, unsigned seed = 0,
                                           Stage stage = Stage::causal);

/// Runs `kernel` on the GPU (the current CUDA context, else device 0's) over random inputs from `seed`,
/// with O and lse poisoned with NaN first, and compares them with a float64 reference: every row when
/// `sampled_rows` is 0, else that many random rows across all batches and heads. Same tolerances as
/// interpretAndCheck.
FLASHJIT_API CheckReport checkOnDevice(const Kernel &kernel, const ProblemShape &shape, unsigned seed = 0,
                                       int sampled_rows = 0);

/// Forward FLOPs of one attention call, counted as the FlashAttention papers do: 4 * batch * heads *
/// seqlen_q * seqlen_k * head_dim, halved when causal with seqlen_q = seqlen_k (other causal shapes count
/// the (query, key) pairs that are visible).
FLASHJIT_API double attentionFlops(const AttentionSpec &spec, const ProblemShape &shape);

struct BenchReport {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  double flops = 0;  ///< attentionFlops of the shape
  double tflops = 0; ///< flops / median time
  int repeats = 0;
  int input_copies = 0; ///< copies of the inputs rotated between launches
  bool back_to_back = false; ///< the launches were queued back to back (else each was waited for)
};

/// Times `kernel` on `shape` with CUDA events: `warmup` launches, then `repeats` timed one by one. The
/// launches rotate between enough copies of the (random) inputs and outputs that the L2 cache cannot
/// keep them from one launch to the next. Each launch is waited for before the next, unless
/// `back_to_back`: then all are queued at once, an event between each two, as a model's layers run them
/// (no idle gaps: the GPU's clock and power settle as under sustained load).
FLASHJIT_API BenchReport benchmark(const Kernel &kernel, const ProblemShape &shape, int repeats = 20,
                                   int warmup = 3, bool back_to_back = false);

/// One configuration the autotuner tried.
struct TuneCandidate {
  KernelConfig config;
  int registers = 0, spill_bytes = 0, shared_memory = 0;
  double compile_ms = 0;        ///< wall time of the compile (in parallel with the others); ~0 from the cache
  double median_ms = 0, tflops = 0;
  int confirm_rounds = 0;       ///< > 0: a leader, timed again in that many interleaved rounds (their median)
  std::string skipped;          ///< why it was not timed (spills, too many registers, failed); "" if timed
};

struct TuneResult {
  std::string key;              ///< device, SM count, driver, flashjit version, spec, seqlen buckets
  KernelConfig best;
  std::vector<TuneCandidate> candidates; ///< what was tried (empty when read back from disk)
  bool from_store = false;      ///< found in memory or on disk: nothing was compiled or timed
  double tune_ms = 0;           ///< wall time of this tuning: compile, time, verify (0 from the store)
  CheckReport check;            ///< the winner's output against float64 on sampled rows
  std::string path;             ///< the JSON file that keeps it ("" when the disk cache is off)
};

struct TuneOptions {
  bool force = false;           ///< tune again even if a result is stored
  /// Each candidate runs back to back for warmup_ms, then `repeats` launches queued back to back are timed
  /// (benchmark()'s back_to_back): as a model runs attention, and as benchmarks/compare_torch.py times it.
  /// Launches each waited for, after a few warm-up launches, rank kernels differently from a sustained
  /// load (benchmarks/NOTES.md, 'Measurements behind the tuning space's choices').
  int repeats = 10;
  double warmup_ms = 100;
  bool back_to_back = true;
  int confirm_rounds = 3;       ///< rounds that time the leaders (within 10% of the fastest, up to 4) again
};

/// Autotunes `spec` for problems like `shape` on the current GPU: compiles every configuration of
/// tuningSpace() for the GPU's chip (or FLASHJIT_CHIP's) in parallel (through the kernel cache), drops
/// those that spill or cannot launch, times the rest with CUDA events on random inputs of `shape` (warm-up,
/// median, inputs rotated past the L2 cache), times the leaders again in interleaved rounds (so that a
/// clock dip during one candidate's turn does not decide), and checks the winner's output against float64
/// (falling back to the next if it fails). Results are kept in memory and as JSON in <cache dir>/tuning/,
/// keyed by device name, SM count, target chip, driver version, flashjit version, spec and the seqlens
/// rounded up to powers of two; a stored result is returned at once unless options.force. A file lock
/// makes a second process wait for the first one's result instead of tuning again. attention() calls this
/// unless FLASHJIT_TUNE=0.
FLASHJIT_API TuneResult tune(const AttentionSpec &spec, const ProblemShape &shape, const TuneOptions &options = {});

/// The specs the main job compiles: head_dim {64, 128} x causal {none, bottom_right} x {f16, bf16}.
FLASHJIT_API std::vector<AttentionSpec> defaultSpecs();

/// A configuration that suits `spec` on `chip` until the autotuner picks a better one.
FLASHJIT_API KernelConfig defaultConfig(const AttentionSpec &spec, const std::string &chip);

/// The default tuning space of `spec` on `chip`: the configurations the autotuner tries. Every one
/// compiles to PTX that ptxas assembles without spilling (checked in CI).
FLASHJIT_API std::vector<KernelConfig> tuningSpace(const AttentionSpec &spec, const std::string &chip);

} // namespace flashjit
