// The compiler's entry points: build a kernel's IR, run the passes up to a stage or to PTX, and (interpret
// mode) run the tile-level IR on the CPU. The public API (runtime/flashjit.h: attentionIR, compile, and
// interpret mode) is built on these. Plain C++ interface; MLIR stays in Pipeline.cpp.
#pragma once

#include "compiler/Interpreter.h"
#include "runtime/flashjit_types.h"

#include <string>
#include <vector>

namespace flashjit::compiler {

/// The kernel's IR at `stage`, verified and printed (flashjit-opt reads it back). Throws Error.
std::string attentionIR(const AttentionSpec &spec, const KernelConfig &config, Stage stage);

/// The kernel compiled to PTX in-process, with its launch facts (threads, shared memory, parameters) and
/// where the time went. Throws Error(Unsupported) for what the GPU lowering cannot build. With
/// FLASHJIT_DUMP_DIR set, every stage is also written there.
CompiledKernel compile(const AttentionSpec &spec, const KernelConfig &config);

/// Builds the kernel at a tile-level `stage` and interprets it over `args` (Q, K, V, O, [lse], scale).
/// Returns "" on success or what went wrong.
std::string interpretAttentionKernel(const AttentionSpec &spec, const KernelConfig &config, Stage stage,
                                     const std::vector<InterpreterArg> &args);

/// Parses `ir` (a module in the flash dialect's textual form), runs the pass pipeline `passes` on it (as
/// flashjit-opt's --pass-pipeline takes it; "" for none) and interprets its first function over `args`, e.g.
/// a tile kernel of products (tests/unit/ProductsTest.cpp). Returns "" on success or what went wrong.
FLASHJIT_API std::string interpretFunction(const std::string &ir, const std::vector<InterpreterArg> &args,
                                           const std::string &passes = "");

} // namespace flashjit::compiler
