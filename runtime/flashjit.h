// flashjit's public C++ API: describe an attention kernel, check it, and get its IR.
// (Compiling to PTX, launching and autotuning arrive with the compiler and runtime.)
#pragma once

#include "runtime/FlashjitExport.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace flashjit {

/// The library's version, e.g. "0.1.0".
FLASHJIT_API const char *version();

enum class DType { f16, bf16 };
enum class Causal { none, top_left, bottom_right };

FLASHJIT_API const char *toString(DType dtype);
FLASHJIT_API const char *toString(Causal causal);

/// What a forward-attention kernel is specialised for. Sequence lengths, batch, heads and strides are
/// run-time arguments of the kernel, not part of the spec.
struct AttentionSpec {
  int head_dim = 128;
  DType dtype = DType::bf16;
  Causal causal = Causal::none;
  bool logsumexp = true; ///< also write the logsumexp of each query row

  /// A short stable name, e.g. "attention_fwd_d128_bf16_causal_br_lse".
  FLASHJIT_API std::string name() const;
};

/// How a kernel is tiled and mapped onto the GPU.
struct KernelConfig {
  int block_m = 128;         ///< query rows per thread block
  int block_n = 64;          ///< keys per step of the key loop
  int warps = 4;             ///< warps per thread block; they split the query rows
  int stages = 2;            ///< K/V shared-memory buffers in the pipeline
  std::string chip = "sm_80"; ///< target: sm_80, sm_86, sm_89, sm_90 or sm_90a

  /// The configuration as the IR spells it: #flash.config<block_m = 128, ...>.
  FLASHJIT_API std::string str() const;
};

/// Every error flashjit reports: what is wrong and what is supported.
class FLASHJIT_API Error : public std::runtime_error {
public:
  enum class Code { InvalidArgument, Unsupported, Internal };
  Error(Code code, const std::string &message);
  Code code() const { return code_; }

private:
  Code code_;
};

/// Throws Error(Unsupported) naming the offending field when the spec or configuration is not supported.
FLASHJIT_API void validate(const AttentionSpec &spec);
FLASHJIT_API void validate(const KernelConfig &config);

/// The kernel's IR at the problem level (stage "flash"): one function holding flash.attention, with the
/// configuration attached. Verified before it is returned; replayable with flashjit-opt.
FLASHJIT_API std::string attentionIR(const AttentionSpec &spec, const KernelConfig &config);

/// The specs the main job compiles: head_dim {64, 128} x causal {none, bottom_right} x {f16, bf16}.
FLASHJIT_API std::vector<AttentionSpec> defaultSpecs();

/// A configuration that suits `spec` on `chip` until the autotuner picks a better one.
FLASHJIT_API KernelConfig defaultConfig(const AttentionSpec &spec, const std::string &chip);

} // namespace flashjit
