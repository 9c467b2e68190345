// PTX emission, in-process: an LLVM-dialect module -> LLVM IR -> O1 -> NVPTX backend -> PTX text.
// No subprocess, no temporary files, no libdevice.
#pragma once

#include "compiler/PhaseTimer.h"

#include <string>

namespace mlir {
class DialectRegistry;
class ModuleOp;
} // namespace mlir

namespace flashjit {

/// Adds the translations from the builtin, LLVM and NVVM dialects to LLVM IR.
void registerPTXTranslations(mlir::DialectRegistry &registry);

/// The PTX ISA version flashjit emits for `chip` ("8.0" for every supported chip: CUDA 12 and newer
/// drivers JIT it, and sm_90a needs at least 8.0).
const char *ptxVersionFor(const std::string &chip);

/// Translates `module` (kernels as llvm.func with nvvm.kernel) to PTX for `chip`. On failure returns ""
/// and sets `error`. With `phases`, appends the time of the translation to LLVM IR, LLVM's optimisation
/// and the NVPTX backend.
std::string emitPTX(mlir::ModuleOp module, const std::string &chip, std::string &error,
                    PhaseTimes *phases = nullptr);

} // namespace flashjit
