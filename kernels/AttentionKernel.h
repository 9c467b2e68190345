// The forward-attention kernel generator: spec + configuration -> problem-level flash IR.
#pragma once

#include "runtime/flashjit_types.h"

namespace mlir {
class MLIRContext;
class ModuleOp;
} // namespace mlir

namespace flashjit {

/// Builds (unverified) the module of one kernel: a function named spec.name() whose arguments are
/// Q, K, V, O, [lse], scale, holding one flash.attention, with `config` attached as flash.config.
/// The caller owns the returned module.
mlir::ModuleOp buildAttentionModule(mlir::MLIRContext &context, const AttentionSpec &spec,
                                    const KernelConfig &config);

} // namespace flashjit
