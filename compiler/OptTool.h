// Entry point of flashjit-opt, kept inside libflashjit so the executable stays a thin wrapper and
// LLVM/MLIR live in one place.
#pragma once

#include "runtime/FlashjitExport.h"

namespace flashjit {

/// Runs the mlir-opt-style driver over the flash dialect and flashjit's passes; returns the exit code.
FLASHJIT_API int runOptTool(int argc, char **argv);

} // namespace flashjit
