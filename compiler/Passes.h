// flashjit's passes, declared in Passes.td. Include only from .cpp files that work with MLIR.
#pragma once

#include "mlir/Pass/Pass.h"

namespace flashjit {

#define GEN_PASS_DECL
#include "compiler/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "compiler/Passes.h.inc"

} // namespace flashjit
