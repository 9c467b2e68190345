// Which dialects and passes flashjit's compiler uses: the flash dialect plus the upstream dialects and
// passes on the way to PTX. Shared by flashjit-opt and the in-process pipeline.
#pragma once

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace flashjit {

/// Adds the flash dialect and the upstream dialects (and their interfaces) the lowering goes through.
void registerCompilerDialects(mlir::DialectRegistry &registry);

/// Registers flashjit's passes and the upstream passes the pipeline runs, by their command-line names.
void registerCompilerPasses();

} // namespace flashjit
