// The compiler pipeline behind the public API (attentionIR, compile): build a kernel's IR, run the passes
// up to a stage or to PTX, and (interpret mode) run the tile-level IR on the CPU. Plain C++ interface;
// MLIR stays in Pipeline.cpp.
#pragma once

#include "compiler/Interpreter.h"
#include "runtime/flashjit.h"

#include <string>
#include <vector>

namespace flashjit {

/// Builds the kernel at a tile-level `stage` and interprets it over `args` (Q, K, V, O, [lse], scale).
/// Returns "" on success or what went wrong.
std::string interpretAttentionKernel(const AttentionSpec &spec, const KernelConfig &config, Stage stage,
                                     const std::vector<InterpreterArg> &args);

} // namespace flashjit
