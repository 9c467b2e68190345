// The attention kernels' default specs, configurations and tuning spaces (TuningSpace.cpp). The public API
// (runtime/flashjit.h: defaultSpecs, defaultConfig, tuningSpace) gives them to users and the autotuner.
#pragma once

#include "runtime/flashjit_types.h"

#include <string>
#include <vector>

namespace flashjit::kernels {

/// The specs the main job compiles: head_dim {64, 128} x causal {none, bottom_right} x {f16, bf16}.
std::vector<AttentionSpec> defaultSpecs();

/// A configuration that suits `spec` on `chip` until the autotuner picks a better one.
KernelConfig defaultConfig(const AttentionSpec &spec, const std::string &chip);

/// The configurations the autotuner tries for `spec` on `chip`; each assembles without spilling.
std::vector<KernelConfig> tuningSpace(const AttentionSpec &spec, const std::string &chip);

} // namespace flashjit::kernels
