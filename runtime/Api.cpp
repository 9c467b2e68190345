// The plain-C++ half of the public API: names, validation, errors, and the entry points into the compiler
// (compiler/Pipeline.h). No MLIR here.
#include "runtime/flashjit.h"
#include "compiler/Pipeline.h"
#include "dialects/KernelConfigRules.h"
#include "kernels/TuningSpace.h"

namespace flashjit {

const char *version() { return FLASHJIT_VERSION; }

const char *toString(DType dtype) {
  switch (dtype) {
  case DType::f16:
    return "f16";
  case DType::bf16:
    return "bf16";
  case DType::f32:
    return "f32";
  }
  return "?";
}

const char *toString(Causal causal) {
  switch (causal) {
  case Causal::none:
    return "none";
  case Causal::top_left:
    return "top_left";
  case Causal::bottom_right:
    return "bottom_right";
  }
  return "?";
}

const char *toString(Stage stage) {
  switch (stage) {
  case Stage::flash:
    return "flash";
  case Stage::tiled:
    return "tiled";
  case Stage::fused:
    return "fused";
  case Stage::causal:
    return "causal";
  case Stage::scheduled:
    return "scheduled";
  case Stage::gpu:
    return "gpu";
  case Stage::llvm:
    return "llvm";
  }
  return "?";
}

const std::vector<Stage> &allStages() {
  static const std::vector<Stage> stages = {Stage::flash,     Stage::tiled, Stage::fused, Stage::causal,
                                            Stage::scheduled, Stage::gpu,   Stage::llvm};
  return stages;
}

std::string AttentionSpec::name() const {
  static const char *const causalTags[] = {"", "_causal_tl", "_causal_br"};
  return "attention_fwd_d" + std::to_string(head_dim) + "_" + toString(dtype) +
         causalTags[static_cast<int>(causal)] + (window_left >= 0 ? "_wl" + std::to_string(window_left) : "") +
         (logsumexp ? "_lse" : "");
}

std::string KernelConfig::str() const {
  return "#flash.config<block_m = " + std::to_string(block_m) + ", block_n = " + std::to_string(block_n) +
         ", warps = " + std::to_string(warps) + ", stages = " + std::to_string(stages) + ", chip = \"" +
         chip + "\"" + (wg_overlap ? ", wg_overlap = true" : "") + (tma ? ", tma = true" : "") +
         (warp_specialized ? ", warp_specialized = true" : "") + (persistent ? ", persistent = true" : "") +
         (conditional_rescale ? ", conditional_rescale = true" : "") + (mma_row_sum ? ", mma_row_sum = true" : "") +
         ">";
}

Error::Error(Code code, const std::string &message) : std::runtime_error(message), code_(code) {}

void validate(const AttentionSpec &spec) {
  std::string problem = headDimError(spec.head_dim);
  if (!problem.empty())
    throw Error(Error::Code::Unsupported, "attention spec: " + problem);
  if (spec.dtype != DType::f16 && spec.dtype != DType::bf16 && spec.dtype != DType::f32)
    throw Error(Error::Code::Unsupported,
                "attention spec: dtype must be f16 or bf16 (or f32 in the CPU interpreter)");
  if (spec.causal != Causal::none && spec.causal != Causal::top_left &&
      spec.causal != Causal::bottom_right)
    throw Error(Error::Code::Unsupported,
                "attention spec: causal must be none, top_left or bottom_right");
  if (spec.window_left < -1)
    throw Error(Error::Code::InvalidArgument, "attention spec: window_left must be -1 (no window) or at least 0, got " +
                                                  std::to_string(spec.window_left));
  if (spec.window_left >= 0 && spec.causal == Causal::none)
    throw Error(Error::Code::Unsupported, "attention spec: window_left needs a causal mask (top_left or "
                                          "bottom_right): the window lies to the left of its diagonal");
}

std::string attentionIR(const AttentionSpec &spec, const KernelConfig &config, Stage stage) {
  return compiler::attentionIR(spec, config, stage);
}

CompiledKernel compile(const AttentionSpec &spec, const KernelConfig &config) {
  return compiler::compile(spec, config);
}

std::vector<AttentionSpec> defaultSpecs() { return kernels::defaultSpecs(); }

KernelConfig defaultConfig(const AttentionSpec &spec, const std::string &chip) {
  return kernels::defaultConfig(spec, chip);
}

std::vector<KernelConfig> tuningSpace(const AttentionSpec &spec, const std::string &chip) {
  return kernels::tuningSpace(spec, chip);
}

void validate(const KernelConfig &config) {
  std::string problem =
      kernelConfigError(config.block_m, config.block_n, config.warps, config.stages, config.chip, config.mma_row_sum);
  if (!problem.empty())
    throw Error(Error::Code::Unsupported, "kernel config: " + problem);
}

} // namespace flashjit
