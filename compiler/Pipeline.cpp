// Stages of a kernel's IR: flash -> tiled -> fused -> causal. Each stage is the previous one after its
// pass and a clean-up (canonicalize, cse), so each printed stage reads on its own.
#include "compiler/Pipeline.h"
#include "compiler/Passes.h"
#include "compiler/Registration.h"
#include "kernels/AttentionKernel.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/raw_ostream.h"

namespace flashjit {

using namespace mlir;

namespace {

/// One kernel's IR in a context of its own, with every diagnostic collected for error messages.
class KernelIR {
public:
  KernelIR(const AttentionSpec &spec, const KernelConfig &config)
      : context(registry(), MLIRContext::Threading::DISABLED),
        handler(&context, [this](Diagnostic &diagnostic) {
          diagnostics += diagnostic.str() + "\n";
          return success();
        }),
        name(spec.name()) {
    validate(spec);
    validate(config);
    module = buildAttentionModule(context, spec, config);
    if (failed(verify(*module)))
      fail("the generated IR does not verify");
  }

  /// Runs the passes that take the flash stage to `stage`.
  void lowerTo(Stage stage) {
    PassManager pm(&context, ModuleOp::getOperationName());
    auto cleanUp = [&] {
      pm.addPass(createCanonicalizerPass());
      pm.addPass(createCSEPass());
    };
    if (stage >= Stage::tiled) {
      pm.addPass(createTileAttention());
      cleanUp();
    }
    if (stage >= Stage::fused) {
      pm.addPass(createFuseOnlineSoftmax());
      cleanUp();
    }
    if (stage >= Stage::causal) {
      pm.addPass(createClassifyCausalBlocks());
      cleanUp();
    }
    if (failed(pm.run(*module)))
      fail(std::string("lowering to the ") + toString(stage) + " stage failed");
  }

  std::string print() {
    std::string text;
    llvm::raw_string_ostream os(text);
    module->print(os, OpPrintingFlags().printNameLocAsPrefix(true));
    return text;
  }

  func::FuncOp function() { return *module->getOps<func::FuncOp>().begin(); }

private:
  static DialectRegistry registry() {
    DialectRegistry registry;
    registerCompilerDialects(registry);
    return registry;
  }

  [[noreturn]] void fail(const std::string &what) {
    throw Error(Error::Code::Internal, name + ": " + what + ":\n" + diagnostics);
  }

  MLIRContext context;
  std::string diagnostics;
  ScopedDiagnosticHandler handler;
  std::string name;
  OwningOpRef<ModuleOp> module;
};

} // namespace

std::string attentionIR(const AttentionSpec &spec, const KernelConfig &config, Stage stage) {
  KernelIR kernel(spec, config);
  kernel.lowerTo(stage);
  return kernel.print();
}

std::string interpretAttentionKernel(const AttentionSpec &spec, const KernelConfig &config, Stage stage,
                                     const std::vector<InterpreterArg> &args) {
  KernelIR kernel(spec, config);
  kernel.lowerTo(stage);
  return interpret(kernel.function(), args);
}

} // namespace flashjit
