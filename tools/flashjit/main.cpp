// flashjit: the command-line tool. `flashjit kernels` is the main job; `flashjit ir` prints one kernel.
#include "runtime/flashjit.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <map>
#include <string>

namespace {

const std::map<std::string, flashjit::DType> kDTypes = {{"f16", flashjit::DType::f16},
                                                        {"bf16", flashjit::DType::bf16}};
const std::vector<std::string> kDTypeNames = {"f16", "bf16"};
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
  CLI::Option *blockM = nullptr, *blockN = nullptr, *warps = nullptr, *stages = nullptr;

  void addTo(CLI::App *command) {
    command->add_option("--head-dim", spec.head_dim, "head dimension")->capture_default_str();
    command->add_option("--dtype", dtype, "element type of Q, K, V and O")
        ->check(CLI::IsMember(kDTypeNames))
        ->capture_default_str();
    command->add_option("--causal", causal, "causal mask and its alignment")
        ->check(CLI::IsMember(kCausalNames))
        ->capture_default_str();
    command->add_flag("!--no-lse", spec.logsumexp, "do not write the logsumexp of each query row");
    command->add_option("--chip", chip, "target chip: sm_80, sm_86, sm_89, sm_90 or sm_90a")
        ->capture_default_str();
    blockM = command->add_option("--block-m", config.block_m, "query rows per thread block");
    blockN = command->add_option("--block-n", config.block_n, "keys per step of the key loop");
    warps = command->add_option("--warps", config.warps, "warps per thread block");
    stages = command->add_option("--stages", config.stages, "K/V pipeline stages");
  }

  flashjit::AttentionSpec resolvedSpec() const {
    flashjit::AttentionSpec resolved = spec;
    resolved.dtype = kDTypes.at(dtype);
    resolved.causal = kCausalModes.at(causal);
    return resolved;
  }

  /// The default configuration for the spec and chip, with what the user gave on the command line.
  flashjit::KernelConfig resolvedConfig() const {
    flashjit::KernelConfig resolved = flashjit::defaultConfig(resolvedSpec(), chip);
    if (blockM->count())
      resolved.block_m = config.block_m;
    if (blockN->count())
      resolved.block_n = config.block_n;
    if (warps->count())
      resolved.warps = config.warps;
    if (stages->count())
      resolved.stages = config.stages;
    return resolved;
  }
};

int runKernels(const std::string &chip) {
  std::cout << "flashjit " << flashjit::version() << ": default kernels for " << chip << "\n";
  for (const flashjit::AttentionSpec &spec : flashjit::defaultSpecs()) {
    flashjit::KernelConfig config = flashjit::defaultConfig(spec, chip);
    std::string ir = flashjit::attentionIR(spec, config);
    std::cout << "\n// " << spec.name() << "  " << config.str() << "  (flash IR, verified)\n" << ir;
  }
  std::cout << "\nThe compiler to PTX is not built yet; these kernels stop at the problem-level IR.\n";
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"flashjit: a just-in-time compiler of FlashAttention kernels for NVIDIA GPUs"};
  app.set_version_flag("--version", std::string("flashjit ") + flashjit::version());
  app.require_subcommand(0, 1);

  std::string kernelsChip = "sm_80";
  CLI::App *kernels = app.add_subcommand("kernels", "build the default kernels and print their IR");
  kernels->add_option("--chip", kernelsChip, "target chip: sm_80, sm_86, sm_89, sm_90 or sm_90a")
      ->capture_default_str();

  KernelOptions irOptions;
  CLI::App *ir = app.add_subcommand("ir", "print one kernel's problem-level flash IR");
  irOptions.addTo(ir);

  CLI11_PARSE(app, argc, argv);

  try {
    if (kernels->parsed())
      return runKernels(kernelsChip);
    if (ir->parsed()) {
      std::cout << flashjit::attentionIR(irOptions.resolvedSpec(), irOptions.resolvedConfig());
      return 0;
    }
  } catch (const flashjit::Error &error) {
    std::cerr << "flashjit: error: " << error.what() << "\n";
    return 1;
  }
  std::cout << app.help();
  return 0;
}
