// flashjit's public types: what a kernel is specialised for (AttentionSpec), how it is mapped onto the GPU
// (KernelConfig), the stages of its IR, the kernel compiled to PTX with its parameters (CompiledKernel), and
// the Error every call reports. The compiler works on these alone; runtime/flashjit.h adds the services
// (compile, cache, load, launch, tune, check) above it.
#pragma once

#include "FlashjitExport.h" // the same folder: in the source tree and where it is installed

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace flashjit {

/// Element type of Q, K, V and O. f32 runs only in the CPU interpreter (for checking numerics).
enum class DType { f16, bf16, f32 };
enum class Causal { none, top_left, bottom_right };

FLASHJIT_API const char *toString(DType dtype);
FLASHJIT_API const char *toString(Causal causal);

/// The stages a kernel's IR goes through, each printable and replayable with flashjit-opt:
/// flash (problem level) -> tiled (two-pass tile form) -> fused (online softmax) -> causal (key blocks
/// classified into full and masked) -> gpu (one thread's program: NVVM ops, mma.sync, cp.async) ->
/// llvm (LLVM dialect only). PTX comes after llvm, from compile().
enum class Stage { flash, tiled, fused, causal, scheduled, gpu, llvm };
FLASHJIT_API const char *toString(Stage stage);
FLASHJIT_API const std::vector<Stage> &allStages();

/// What a forward-attention kernel is specialised for. Sequence lengths, batch, heads and strides are
/// run-time arguments of the kernel, not part of the spec.
struct AttentionSpec {
  int head_dim = 128;
  DType dtype = DType::bf16;
  Causal causal = Causal::none;
  bool logsumexp = true; ///< also write the logsumexp of each query row
  /// With a causal mask: keys more than this many to the left of the diagonal are hidden too (a sliding
  /// window, FlashAttention's window_size = (window_left, 0)); -1: no window. The CPU interpreter runs
  /// it; GPU kernels do not yet.
  int window_left = -1;

  /// A short stable name, e.g. "attention_fwd_d128_bf16_causal_br_lse" (a window adds "_wl128").
  FLASHJIT_API std::string name() const;
};

/// How a kernel is tiled and mapped onto the GPU.
struct KernelConfig {
  int block_m = 128;         ///< query rows per thread block
  int block_n = 64;          ///< keys per step of the key loop
  int warps = 4;             ///< warps per thread block; they split the query rows
  int stages = 2;            ///< K/V shared-memory buffers in the pipeline
  std::string chip = "sm_80"; ///< target: sm_80, sm_86, sm_89, sm_90 or sm_90a
  /// sm_90a's wgmma path only: each warpgroup issues a key block's P·V after the next block's Q·Kᵀ and
  /// runs that block's softmax while it computes (FlashAttention-3's intra-warpgroup overlap).
  bool wg_overlap = false;
  /// sm_90a's wgmma path only: one thread loads each K/V tile with TMA (tensor maps built at launch)
  /// instead of every thread's cp.async.
  bool tma = false;
  /// With tma: one more warpgroup (the producer) issues every K/V load and the others only compute
  /// (FlashAttention-3's warp specialisation); with wg_overlap and 8 or 12 warps, ping-pong between the
  /// two or three computing warpgroups.
  bool warp_specialized = false;
  /// With warp_specialized: at most one thread block per multiprocessor, each looping over (query block,
  /// head, batch) tiles, paired so that causal work is balanced; the producer loads a tile's first K/V
  /// blocks while the consumers finish the previous one.
  bool persistent = false;
  /// Rescale the output accumulator only where a row's maximum grew by more than a factor 2^8 (each row
  /// otherwise keeps its old maximum, so that its correction is 1); exact. The mma.sync kernels whose query
  /// tile stays in shared memory (128 rows over 4 warps at head_dim 128) always do this.
  bool conditional_rescale = false;
  /// sm_90a's wgmma path only: each key block's P·V also sums the rows of P (a column of ones next to V,
  /// eight more columns of wgmma), replacing the softmax's per-score additions.
  bool mma_row_sum = false;

  /// The configuration as the IR spells it: #flash.config<block_m = 128, ...>.
  FLASHJIT_API std::string str() const;
};

/// Every error flashjit reports: what is wrong and what is supported.
class FLASHJIT_API Error : public std::runtime_error {
public:
  enum class Code {
    InvalidArgument, ///< a null or misaligned pointer, an inconsistent stride, a non-positive size
    Unsupported,     ///< valid but not supported (yet): a head dimension, a configuration, a grid size
    NoDevice,        ///< no CUDA driver, or no GPU it can use
    DriverError,     ///< the CUDA driver failed (message has its error name); includes JIT logs
    Internal         ///< a bug in flashjit
  };
  Error(Code code, const std::string &message);
  Code code() const { return code_; }

private:
  Code code_;
};

/// Throws Error(Unsupported) naming the offending field when the spec or configuration is not supported.
FLASHJIT_API void validate(const AttentionSpec &spec);
FLASHJIT_API void validate(const KernelConfig &config);

/// One parameter of a compiled kernel, as the lowering recorded it (names such as "q", "q_stride_row",
/// "seqlen_k", "scale", "k_tensor_map"): Kernel::launch packs a kernel's arguments from its list.
struct KernelParameter {
  enum class Kind { pointer, i64, i32, f32, tensor_map }; ///< tensor_map: a 128-byte CUtensorMap by value
  std::string name;
  Kind kind = Kind::pointer;
  bool operator==(const KernelParameter &other) const { return name == other.name && kind == other.kind; }
};

/// A kernel compiled to PTX, and how to launch it.
///
/// Grid: (ceil(seqlen_q / block_m) * heads * batch, 1, 1), query blocks fastest (the last query block
/// first); block: (threads, 1, 1); dynamic shared memory: shared_memory bytes. Arguments: `parameters`,
/// in order. A persistent kernel's grid is min(items, multiprocessors) and its query-block divisor that of
/// the pairs per head (at least 1): runtime/PersistentSchedule.h says what an item is and how the launch
/// chooses the tail.
struct CompiledKernel {
  std::string name; ///< the entry point in the PTX
  std::string ptx;
  std::string chip;
  int threads = 0;
  int block_m = 0;
  int shared_memory = 0;
  int tma_box_rows = 0;  ///< > 0: the kernel takes TMA tensor maps of K and V with boxes of this many rows
  bool persistent = false; ///< the kernel loops over tiles: launch at most one block per multiprocessor
  bool split_tail = false; ///< persistent, the last partial wave split along the keys (runtime/SplitTail.h)
  std::vector<KernelParameter> parameters; ///< the kernel's parameters, in order (its ABI)
  double compile_ms = 0; ///< flash IR to PTX, in this process
  /// Where compile_ms went, in order: building the flash IR, each lowering stage, translation to LLVM IR,
  /// LLVM's optimisation, the NVPTX backend, and "dump" after each stage written to FLASHJIT_DUMP_DIR
  /// (empty when the kernel came from the cache).
  std::vector<std::pair<std::string, double>> phase_ms;
};


} // namespace flashjit
